//! The `acme-crm` adapter: Acme CRM's webhooks (Standard Webhooks signatures) read as events about our
//! [`Customer`](gatehouse_kit::domain::Customer), and the customer routes under `/v1/acme-crm`.
//!
//! - `webhook`: reads a verified `customer.*` webhook into an [`InboundEvent`](gatehouse_kit::InboundEvent).
//! - `routes`: `GET /customers/{id}`, `GET /customers?limit=&cursor=` (cursor pagination over Acme's page
//!   numbers), `POST /customers`, `PATCH /customers/{id}` and `DELETE /customers/{id}`, translated into Acme's API
//!   calls and back.
//! - `ENTITIES`: the `customer` entity it declares for the gateway's read model.
//! - `dto`: Acme's customer as the vendor sends it and its translation to our domain (the anti-corruption layer,
//!   shared with the outbound routes).
//! - `openapi`: how those routes appear in the gateway's OpenAPI document.

mod cursor;
mod dto;
mod openapi;
mod routes;
mod webhook;

use gatehouse_kit::domain::Customer;
use gatehouse_kit::entity::{Answers, EntitySpec, Versioning};
use gatehouse_kit::outbound::RouteSpec;
use gatehouse_kit::{Adapter, VerifiedWebhook, WebhookError, WebhookOutcome};
use http::Method;

/// The customers the gateway's read model keeps: from `customer.created|updated` webhooks (`customer.deleted`
/// marks one gone) and from every answer carrying customers. Acme's customers carry no version or update time, so
/// states are ordered by when the gateway saw them.
static ENTITIES: [EntitySpec; 1] = [EntitySpec {
    kind: "customer",
    fields: Customer::FIELDS,
    read: routes::CUSTOMER,
    answers: &[
        Answers::page(Method::GET, routes::CUSTOMERS),
        Answers::one(Method::POST, routes::CUSTOMERS),
        Answers::one(Method::PATCH, routes::CUSTOMER),
    ],
    upserted_by: &["customer.created", "customer.updated"],
    deleted_by: &["customer.deleted"],
    versioning: Versioning::Observed,
}];

/// The Acme CRM adapter, configured as `adapter = "acme-crm"`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AcmeCrm;

/// This adapter's entry in the gateway's registry.
pub const DESCRIPTOR: gatehouse_kit::Descriptor =
    gatehouse_kit::Descriptor::plain(AcmeCrm::NAME, gatehouse_kit::descriptor::built::<AcmeCrm>);

impl AcmeCrm {
    /// The adapter's name in config.
    pub const NAME: &'static str = "acme-crm";

    pub fn new() -> Self {
        Self
    }
}

impl Adapter for AcmeCrm {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn default_scheme(&self) -> Option<&'static str> {
        Some("standard-webhooks")
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
        &ENTITIES
    }

    fn openapi(&self) -> gatehouse_kit::openapi::RouteDocs {
        openapi::docs()
    }
}
