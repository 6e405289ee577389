//! The `shopify` adapter: Shopify's webhooks (`X-Shopify-Hmac-Sha256`) read as our events, the JSON payload as
//! data.
//!
//! - `webhook`: reads a verified Shopify webhook into an [`InboundEvent`](gatehouse_kit::InboundEvent).

mod webhook;

use gatehouse_kit::{Adapter, VerifiedWebhook, WebhookError, WebhookOutcome};

/// The Shopify adapter, configured as `adapter = "shopify"`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Shopify;

/// This adapter's entry in the gateway's registry.
pub const DESCRIPTOR: gatehouse_kit::Descriptor =
    gatehouse_kit::Descriptor::plain(Shopify::NAME, gatehouse_kit::descriptor::built::<Shopify>);

impl Shopify {
    /// The adapter's name in config.
    pub const NAME: &'static str = "shopify";

    pub fn new() -> Self {
        Self
    }
}

impl Adapter for Shopify {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn default_scheme(&self) -> Option<&'static str> {
        Some("shopify")
    }

    fn interpret_webhook(&self, webhook: &VerifiedWebhook) -> Result<WebhookOutcome, WebhookError> {
        webhook::interpret(webhook).map(WebhookOutcome::Event)
    }

    fn event_id(&self, webhook: &VerifiedWebhook) -> Option<String> {
        webhook::event_id(webhook)
    }
}
