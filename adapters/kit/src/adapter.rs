//! The `Adapter` trait: what a vendor crate provides to the gateway.

use async_trait::async_trait;

use crate::entity::EntitySpec;
use crate::openapi::RouteDocs;
use crate::outbound::{DomainRequest, DomainResponse, OutboundError, RouteSpec, Upstream, UpstreamError};
use crate::webhook::{VerifiedWebhook, WebhookError, WebhookOutcome};

/// One vendor's anti-corruption layer. The gateway builds one per configured provider and shares it across requests.
#[async_trait]
pub trait Adapter: Send + Sync + 'static {
    /// The adapter's name as written in config (`adapter = "stripe"`).
    fn name(&self) -> &'static str;

    /// The name of the signature scheme the vendor uses (`scheme = "..."` in config), when it has a fixed one.
    /// `None` means config must name one (the `generic` adapter). A name, not a [`crate::Scheme`]: some schemes
    /// are built from config (Twilio's signs the public URL).
    fn default_scheme(&self) -> Option<&'static str>;

    /// Reads a verified webhook: the vendor's event id, our event type (without the provider prefix), the subject
    /// and the domain payload; or an immediate reply for handshakes that store nothing (Slack's url_verification).
    ///
    /// Must never panic, whatever the bytes: a body it cannot read is a [`WebhookError`].
    fn interpret_webhook(&self, webhook: &VerifiedWebhook) -> Result<WebhookOutcome, WebhookError>;

    /// The vendor's event id, read without the full translation (a header, or one field of the body), so that a
    /// webhook this adapter cannot translate (the vendor changed its payload) is still deduplicated by the vendor's
    /// own id when it is quarantined. `None` when it cannot be read; the gateway then deduplicates by the SHA-256 of
    /// the body.
    ///
    /// Whenever [`Self::interpret_webhook`] makes an event, this must give `None` or the same `provider_event_id`
    /// (the kit's conformance check holds every adapter to it). Must never panic.
    fn event_id(&self, webhook: &VerifiedWebhook) -> Option<String> {
        let _ = webhook;
        None
    }

    /// A vendor that sends several events in one request (SendGrid's Event Webhook) splits the verified request
    /// here into one webhook per event (see [`VerifiedWebhook::json_array_items`]); the gateway then reads, stores,
    /// deduplicates and, when one cannot be read, quarantines each on its own, and answers 2xx only once all are
    /// committed. `None` (the default, and for a body that is not a batch) keeps the request one webhook.
    fn split_batch(&self, webhook: &VerifiedWebhook) -> Option<Vec<VerifiedWebhook>> {
        let _ = webhook;
        None
    }

    /// The entities this adapter knows, for the gateway's read model (kept from webhooks and answers, and answered
    /// when the vendor cannot be reached); none by default. Each spec's `read` must be one of [`Self::routes`]
    /// (the kit's `testing::assert_entities` checks the declarations).
    fn entities(&self) -> &'static [EntitySpec] {
        &[]
    }

    /// The domain routes this adapter serves under `/v1/{provider}`; none for webhook-only vendors.
    fn routes(&self) -> &'static [RouteSpec] {
        &[]
    }

    /// How [`Self::routes`] appear in the gateway's OpenAPI document: one doc per route and the schemas they name
    /// (see [`crate::openapi`]); nothing by default, for webhook-only vendors. The gateway's tests check every
    /// registered adapter's docs against its routes ([`RouteDocs::problems`]).
    fn openapi(&self) -> RouteDocs {
        RouteDocs::default()
    }

    /// Serves one of [`Self::routes`] with its handler, which translates the domain request into vendor calls on
    /// `upstream` and the answers back; a request for a route the adapter does not declare is refused before any
    /// vendor call. Adapters do not override it: their routes carry their handlers.
    async fn call(&self, request: DomainRequest, upstream: &dyn Upstream) -> Result<DomainResponse, OutboundError> {
        let route = self
            .routes()
            .iter()
            .find(|route| route.method == request.method && route.path == request.route);
        match route {
            Some(route) => (route.handler)(&request, upstream).await,
            None => Err(OutboundError::InvalidRequest(format!(
                "{} has no route {} {}",
                self.name(),
                request.method,
                request.route
            ))),
        }
    }

    /// Checks a request without calling the vendor, for work accepted now and run later (deferred commands):
    /// `Err` with the same [`OutboundError::InvalidRequest`] that [`Self::call`] would answer.
    ///
    /// The default runs [`Self::call`] against an upstream that stops it at its first vendor request, so it
    /// checks everything an adapter checks before calling the vendor (the kit's convention: parse and validate
    /// the caller's request first). Override it if a route validates only after a vendor answer.
    async fn validate(&self, request: &DomainRequest) -> Result<(), OutboundError> {
        match self.call(request.clone(), &StopBeforeVendor).await {
            Err(error @ OutboundError::InvalidRequest(_)) => Err(error),
            _ => Ok(()),
        }
    }
}

/// The upstream [`Adapter::validate`] runs a route against: it refuses every vendor request.
struct StopBeforeVendor;

#[async_trait]
impl Upstream for StopBeforeVendor {
    async fn send(&self, _: crate::outbound::VendorRequest) -> Result<crate::outbound::VendorResponse, UpstreamError> {
        Err(UpstreamError::Connect("validation only: no vendor call".into()))
    }
}
