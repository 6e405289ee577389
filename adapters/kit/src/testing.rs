//! Conformance helpers every adapter's tests use: sign a body with the adapter's scheme, verify it as the gateway
//! would, and interpret it ([`deliver`], [`deliver_with`]).
//!
//! Every adapter's `tests/webhook.rs` also calls [`assert_conformance`] (or [`assert_conformance_with`] when the
//! adapter has no default scheme) with its sample bodies: every [`mutations`] of each sample and a few bodies that
//! are not JSON objects must never panic, and must give an error, a reply, or an event whose id, type and subject
//! the gateway can store (non-blank, at most 255 characters, no control characters; no whitespace in the type).
//! A new adapter calls it too, and [`assert_entities`] when it declares entities for the read model. An adapter
//! with outbound routes runs [`assert_route_conformance`] in its `tests/routes.rs`: the failure semantics every
//! route shares (policy errors passed through, vendor statuses mapped, garbage answers and vendor text kept from
//! callers, bad requests refused before any vendor request), so its own tests cover only what is particular to it.

mod conformance;
mod entities;
mod route_conformance;
mod routes;
mod upstream;

use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue};
use secrecy::SecretString;

use crate::adapter::Adapter;
use crate::signature::{Scheme, SignRequest, SigningKey, VerifyContext};
use crate::webhook::{VerifiedWebhook, WebhookError, WebhookOutcome};

pub use conformance::{assert_conformance, assert_conformance_with, mutations};
pub use entities::assert_entities;
pub use route_conformance::{RouteCase, assert_route_conformance};
pub use routes::{domain_request, invalid_request, vendor_failed};
pub use upstream::{FakeUpstream, ReplyBody};

/// The development secret adapters' tests sign with (valid for every scheme, including Standard Webhooks).
pub const TEST_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// The clock tests sign and verify at.
pub const TEST_NOW: u64 = 1_700_000_000;
/// A P-256 private key for tests (base64 PKCS#8 DER): what SendGrid signs with. Never use it for anything else.
pub const TEST_SENDGRID_PRIVATE_KEY: &str = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgvsOWNdkMkRBlPXrwVQw0ZzBMKr/E2VaU\
     96wnbrE53j+hRANCAAQACFPYNQxAO000mmmJYATi61WD65G7pCoL33yeUzDUfHhVIhg5INJZePXnsnHD+jirdPtoCQ2MwMQsqiky2sFB";
/// The public key of [`TEST_SENDGRID_PRIVATE_KEY`] (base64 DER SubjectPublicKeyInfo), as SendGrid's console shows
/// one: what a SendGrid verifier is configured with.
pub const TEST_SENDGRID_PUBLIC_KEY: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEAAhT2DUMQDtNNJppiWAE4utVg+uRu6QqC998nlMw1H\
     x4VSIYOSDSWXj157Jxw/o4q3T7aAkNjMDELKopMtrBQQ==";
/// A Standard Webhooks Ed25519 private key for tests (`whsk_`, the base64 32-byte seed): signs `v1a`.
pub const TEST_V1A_PRIVATE_KEY: &str = "whsk_5laf+QTEnvWCdKC8XkmrUfVwYaw4iLBDuQeZZZS/EYs=";
/// The public key of [`TEST_V1A_PRIVATE_KEY`] (`whpk_`): verifies `v1a`.
pub const TEST_V1A_PUBLIC_KEY: &str = "whpk_GzjGJPChJhsL4KcK1n/uz6CGLt6x/3UUYWtmrbpEp6M=";

/// The key tests sign with for `scheme` and the keys its verifier is configured with: a private key and its
/// public key for SendGrid; [`TEST_SECRET`] on both sides for every other scheme (Standard Webhooks signs `v1`;
/// use [`TEST_V1A_PRIVATE_KEY`] and [`TEST_V1A_PUBLIC_KEY`] for `v1a`).
///
/// # Panics
/// Never for the kit's schemes: the test keys suit them.
pub fn test_keys(scheme: &Scheme) -> (SigningKey, Vec<SigningKey>) {
    let secret = |text: &str| {
        scheme
            .signing_key(&SecretString::from(text))
            .unwrap_or_else(|e| panic!("a test key for {}: {e}", scheme.name()))
    };
    if scheme.key_kinds().takes_secrets() {
        (secret(TEST_SECRET), vec![secret(TEST_SECRET)])
    } else {
        let public = scheme
            .public_key(TEST_SENDGRID_PUBLIC_KEY)
            .unwrap_or_else(|e| panic!("a test public key for {}: {e}", scheme.name()));
        (secret(TEST_SENDGRID_PRIVATE_KEY), vec![public])
    }
}

/// Signs `body` with the adapter's default scheme, adds `extra` headers, verifies the result through the scheme (so
/// the round trip is checked too) and hands it to the adapter.
pub fn deliver(adapter: &dyn Adapter, body: &[u8], extra: &[(&str, &str)]) -> Result<WebhookOutcome, WebhookError> {
    let scheme = adapter
        .default_scheme()
        .and_then(Scheme::from_name)
        .expect("deliver() needs an adapter with a default scheme");
    deliver_with(adapter, &scheme, body, extra)
}

/// Like [`deliver`] with an explicit scheme (for adapters configured by the user).
pub fn deliver_with(
    adapter: &dyn Adapter,
    scheme: &Scheme,
    body: &[u8],
    extra: &[(&str, &str)],
) -> Result<WebhookOutcome, WebhookError> {
    adapter.interpret_webhook(&verified_with(scheme, body, extra))
}

/// `body` signed with `scheme` and its [`test_keys`], with the `extra` headers, and verified through the scheme
/// (at the URL query [`Scheme::signed_query`] gives, for Twilio), as the gateway would hand it to an adapter.
pub fn verified_with(scheme: &Scheme, body: &[u8], extra: &[(&str, &str)]) -> VerifiedWebhook {
    let (key, keys) = test_keys(scheme);
    let signed = scheme.sign(
        &key,
        SignRequest {
            body,
            timestamp: TEST_NOW,
            message_id: "msg_test_0001",
        },
    );
    let mut headers = HeaderMap::new();
    for (name, value) in signed
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .chain(extra.iter().copied())
    {
        headers.append(
            HeaderName::from_bytes(name.as_bytes()).expect("valid header name"),
            HeaderValue::from_str(value).expect("valid header value"),
        );
    }
    let query = scheme.signed_query(body);
    scheme
        .verify(
            headers,
            body.to_vec().into(),
            VerifyContext {
                keys: &keys,
                now: TEST_NOW,
                tolerance: Duration::from_secs(300),
                query: query.as_deref(),
            },
        )
        .expect("a freshly signed webhook verifies")
}

/// Unwraps an event outcome, failing the test on a reply.
pub fn expect_event(outcome: Result<WebhookOutcome, WebhookError>) -> crate::InboundEvent {
    match outcome {
        Ok(WebhookOutcome::Event(event)) => event,
        other => panic!("expected an event, got {other:?}"),
    }
}
