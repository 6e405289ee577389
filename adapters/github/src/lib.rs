//! The `github` adapter: GitHub's webhooks (`X-Hub-Signature-256`) read as our events, the JSON payload as data.
//!
//! - `webhook`: reads a verified GitHub delivery into an [`InboundEvent`](gatehouse_kit::InboundEvent).

mod webhook;

use gatehouse_kit::{Adapter, VerifiedWebhook, WebhookError, WebhookOutcome};

/// The GitHub adapter, configured as `adapter = "github"`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Github;

/// This adapter's entry in the gateway's registry.
pub const DESCRIPTOR: gatehouse_kit::Descriptor =
    gatehouse_kit::Descriptor::plain(Github::NAME, gatehouse_kit::descriptor::built::<Github>);

impl Github {
    /// The adapter's name in config.
    pub const NAME: &'static str = "github";

    pub fn new() -> Self {
        Self
    }
}

impl Adapter for Github {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn default_scheme(&self) -> Option<&'static str> {
        Some("github")
    }

    fn interpret_webhook(&self, webhook: &VerifiedWebhook) -> Result<WebhookOutcome, WebhookError> {
        webhook::interpret(webhook).map(WebhookOutcome::Event)
    }

    fn event_id(&self, webhook: &VerifiedWebhook) -> Option<String> {
        webhook::event_id(webhook)
    }
}
