//! The `slack` adapter: Slack's Events API (`X-Slack-Signature`) read as our events, the JSON payload as data;
//! Slack's `url_verification` handshake is answered at once.
//!
//! - `webhook`: reads a verified Slack request into an [`InboundEvent`](gatehouse_kit::InboundEvent) or a reply.

mod webhook;

use gatehouse_kit::{Adapter, VerifiedWebhook, WebhookError, WebhookOutcome};

/// The Slack adapter, configured as `adapter = "slack"`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Slack;

/// This adapter's entry in the gateway's registry.
pub const DESCRIPTOR: gatehouse_kit::Descriptor =
    gatehouse_kit::Descriptor::plain(Slack::NAME, gatehouse_kit::descriptor::built::<Slack>);

impl Slack {
    /// The adapter's name in config.
    pub const NAME: &'static str = "slack";

    pub fn new() -> Self {
        Self
    }
}

impl Adapter for Slack {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn default_scheme(&self) -> Option<&'static str> {
        Some("slack")
    }

    fn interpret_webhook(&self, webhook: &VerifiedWebhook) -> Result<WebhookOutcome, WebhookError> {
        webhook::interpret(webhook)
    }

    fn event_id(&self, webhook: &VerifiedWebhook) -> Option<String> {
        // An event callback's `event_id`, whatever shape the rest of the body has.
        webhook.json_text("/event_id")
    }
}
