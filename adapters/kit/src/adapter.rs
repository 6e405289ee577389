//! The `Adapter` trait: what a vendor crate provides to the gateway.

use async_trait::async_trait;

use crate::outbound::{DomainRequest, DomainResponse, OutboundError, RouteSpec, Upstream};
use crate::signature::Scheme;
use crate::webhook::{VerifiedWebhook, WebhookError, WebhookOutcome};

/// One vendor's anti-corruption layer. The gateway builds one per configured provider and shares it across requests.
#[async_trait]
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

    /// The domain routes this adapter serves under `/v1/{provider}`; none for webhook-only vendors.
    fn routes(&self) -> &'static [RouteSpec] {
        &[]
    }

    /// Serves one of [`Self::routes`]: translates the domain request into vendor calls on `upstream` and the
    /// answers back. Only called with a `request.route` and method from [`Self::routes`]. Must never panic.
    async fn call(&self, request: DomainRequest, upstream: &dyn Upstream) -> Result<DomainResponse, OutboundError> {
        let _ = upstream;
        Err(OutboundError::InvalidRequest(format!(
            "{} has no route {} {}",
            self.name(),
            request.method,
            request.route
        )))
    }
}
