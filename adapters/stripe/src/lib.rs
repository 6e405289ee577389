//! The `stripe` adapter: Stripe's webhook Events (`Stripe-Signature`) read as our events, with our
//! [`Payment`](gatehouse_kit::domain::Payment) as data for `payment_intent.*` events, and the payment routes under
//! `/v1/stripe`.
//!
//! - `webhook`: reads a verified Stripe Event into an [`InboundEvent`](gatehouse_kit::InboundEvent).
//! - `routes`: `POST /payments`, `GET /payments/{id}` and `POST /payments/{id}/cancel`, translated into Stripe's
//!   PaymentIntent API and back.
//! - `dto`: Stripe's PaymentIntent as the vendor sends it and its translation to our domain (the anti-corruption
//!   layer, shared with the outbound routes).
//! - `openapi`: how those routes appear in the gateway's OpenAPI document.

mod dto;
mod openapi;
mod routes;
mod webhook;

use gatehouse_kit::entity::EntitySpec;
use gatehouse_kit::outbound::RouteSpec;
use gatehouse_kit::{Adapter, VerifiedWebhook, WebhookError, WebhookOutcome};

/// The Stripe adapter, configured as `adapter = "stripe"`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stripe;

/// This adapter's entry in the gateway's registry.
pub const DESCRIPTOR: gatehouse_kit::Descriptor =
    gatehouse_kit::Descriptor::plain(Stripe::NAME, gatehouse_kit::descriptor::built::<Stripe>);

impl Stripe {
    /// The adapter's name in config.
    pub const NAME: &'static str = "stripe";

    pub fn new() -> Self {
        Self
    }
}

impl Adapter for Stripe {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn default_scheme(&self) -> Option<&'static str> {
        Some("stripe")
    }

    fn interpret_webhook(&self, webhook: &VerifiedWebhook) -> Result<WebhookOutcome, WebhookError> {
        webhook::interpret(webhook).map(WebhookOutcome::Event)
    }

    fn event_id(&self, webhook: &VerifiedWebhook) -> Option<String> {
        // The Event's `id` alone, whatever shape the rest of the body has.
        webhook.json_text("/id")
    }

    fn routes(&self) -> &'static [RouteSpec] {
        &routes::ROUTES
    }

    fn entities(&self) -> &'static [EntitySpec] {
        &routes::ENTITIES
    }

    fn openapi(&self) -> gatehouse_kit::openapi::RouteDocs {
        openapi::docs()
    }
}
