//! The `acme-crm` adapter: Acme CRM's webhooks (Standard Webhooks signatures) read as events about our
//! [`Customer`](gatehouse_kit::domain::Customer), and the customer routes under `/v1/acme-crm`.
//!
//! - `webhook`: reads a verified `customer.*` webhook into an [`InboundEvent`](gatehouse_kit::InboundEvent).
//! - `routes`: `GET /customers/{id}`, `GET /customers?limit=&cursor=` (cursor pagination over Acme's page
//!   numbers), `POST /customers` and `PATCH /customers/{id}`, translated into Acme's API calls and back.
//! - `dto`: Acme's customer as the vendor sends it and its translation to our domain (the anti-corruption layer,
//!   shared with the outbound routes).

mod dto;
mod routes;
mod webhook;

use async_trait::async_trait;
use gatehouse_kit::entity::EntitySpec;
use gatehouse_kit::outbound::{DomainRequest, DomainResponse, OutboundError, RouteSpec, Upstream};
use gatehouse_kit::{Adapter, Scheme, VerifiedWebhook, WebhookError, WebhookOutcome};

/// The Acme CRM adapter, configured as `adapter = "acme-crm"`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AcmeCrm;

impl AcmeCrm {
    /// The adapter's name in config.
    pub const NAME: &'static str = "acme-crm";

    pub fn new() -> Self {
        Self
    }
}

#[async_trait]
impl Adapter for AcmeCrm {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn default_scheme(&self) -> Option<Scheme> {
        Some(Scheme::StandardWebhooks)
    }

    fn interpret_webhook(&self, webhook: &VerifiedWebhook) -> Result<WebhookOutcome, WebhookError> {
        webhook::interpret(webhook).map(WebhookOutcome::Event)
    }

    fn event_id(&self, webhook: &VerifiedWebhook) -> Option<String> {
        webhook::event_id(webhook)
    }

    fn routes(&self) -> &'static [RouteSpec] {
        &routes::ROUTES
    }

    fn entities(&self) -> &'static [EntitySpec] {
        &routes::ENTITIES
    }

    async fn call(&self, request: DomainRequest, upstream: &dyn Upstream) -> Result<DomainResponse, OutboundError> {
        routes::call(request, upstream).await
    }
}
