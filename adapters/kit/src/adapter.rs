//! The `Adapter` trait: what a vendor crate provides to the gateway.

use crate::signature::Scheme;
use crate::webhook::{VerifiedWebhook, WebhookError, WebhookOutcome};

/// One vendor's anti-corruption layer. The gateway builds one per configured provider and shares it across requests.
pub trait Adapter: Send + Sync + 'static {
    /// The adapter's name as written in config (`adapter = "stripe"`).
    fn name(&self) -> &'static str;

    /// The signature scheme the vendor uses, when it has a fixed one. `None` means config must name one
    /// (the `generic` adapter).
    fn default_scheme(&self) -> Option<Scheme>;

    /// Reads a verified webhook: the vendor's event id, our event type (without the provider prefix), the subject
    /// and the domain payload; or an immediate reply for handshakes that store nothing (Slack's url_verification).
    ///
    /// Must never panic, whatever the bytes: a body it cannot read is a [`WebhookError`].
    fn interpret_webhook(&self, webhook: &VerifiedWebhook) -> Result<WebhookOutcome, WebhookError>;
}
