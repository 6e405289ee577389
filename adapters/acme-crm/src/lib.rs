//! The `acme-crm` adapter: Acme CRM's webhooks (Standard Webhooks signatures) read as events about our
//! [`Customer`](gatehouse_kit::domain::Customer).
//!
//! - `webhook`: reads a verified `customer.*` webhook into an [`InboundEvent`](gatehouse_kit::InboundEvent).
//! - `dto`: Acme's customer as the vendor sends it and its translation to our domain (the anti-corruption layer,
//!   shared with the outbound routes).

mod dto;
mod webhook;

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
}
