//! Webhook signature schemes, one file each behind the [`Scheme`] enum.
//!
//! Every scheme verifies the **raw bytes** of the body before anything parses them, tries every configured key
//! (secret rotation), compares MACs in constant time, checks the signed timestamp against a tolerance where the
//! scheme signs one, and never panics on malformed headers. Each scheme also signs, for tests and `gatehouse sign`.

mod github;
mod hmac_generic;
mod mac;
mod paddle;
mod shopify;
mod slack;
mod standard;
mod stripe;

use std::time::Duration;

use bytes::Bytes;
use http::HeaderMap;
use secrecy::{ExposeSecret, SecretBox, SecretString};

use crate::webhook::VerifiedWebhook;

pub use hmac_generic::{Encoding, HmacScheme};

/// A signature scheme, as named in config (`scheme = "stripe"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scheme {
    /// Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64>`; key `whsec_<base64>`.
    StandardWebhooks,
    /// Svix: Standard Webhooks with `svix-*` headers (the `webhook-*` ones are accepted too).
    Svix,
    /// Stripe: `Stripe-Signature: t=<ts>,v1=<hex>[,v1=...]`; `v0` is never accepted.
    Stripe,
    /// GitHub: `X-Hub-Signature-256: sha256=<hex>` over the body; no timestamp.
    Github,
    /// Shopify: `X-Shopify-Hmac-Sha256: <base64>` over the body; no timestamp.
    Shopify,
    /// Slack: `X-Slack-Signature: v0=<hex>` over `v0:<ts>:<body>`, with `X-Slack-Request-Timestamp`.
    Slack,
    /// Paddle Billing: `Paddle-Signature: ts=<ts>;h1=<hex>[;h1=...]` over `<ts>:<body>`.
    Paddle,
    /// A configurable HMAC-SHA256 scheme for vendors without an adapter.
    Hmac(HmacScheme),
}

/// Why a webhook failed verification. Messages name headers and reasons, never secrets or expected MACs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("signature header {0} is missing")]
    MissingHeader(String),
    #[error("header {header} is malformed: {reason}")]
    Malformed { header: String, reason: String },
    #[error("the signed timestamp is outside the allowed tolerance")]
    TimestampOutOfTolerance,
    #[error("no signature matches any configured secret")]
    NoMatch,
    #[error("the secret cannot be used with this scheme: {0}")]
    InvalidSecret(String),
}

/// A secret prepared for one scheme (Standard Webhooks keys are base64-decoded once, at start-up).
/// Holds key bytes in a [`SecretBox`]: no `Debug` output shows them and they are zeroed on drop.
pub struct SigningKey(SecretBox<[u8]>);

impl SigningKey {
    pub(crate) fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(SecretBox::new(bytes.into_boxed_slice()))
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        self.0.expose_secret()
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey([redacted])")
    }
}

/// What verification needs besides the request: the keys, the clock and the tolerance.
#[derive(Debug, Clone, Copy)]
pub struct VerifyContext<'a> {
    pub keys: &'a [SigningKey],
    /// Unix seconds "now" (injected so tests use the vectors' clocks).
    pub now: u64,
    /// Allowed distance between the signed timestamp and `now`, in either direction.
    pub tolerance: Duration,
}

/// What a signer needs to produce a vendor's headers.
#[derive(Debug, Clone, Copy)]
pub struct SignRequest<'a> {
    pub body: &'a [u8],
    /// Unix seconds to sign, for schemes that sign a timestamp.
    pub timestamp: u64,
    /// The message id, for schemes that carry one in a header (Standard Webhooks, Svix).
    pub message_id: &'a str,
}

impl Scheme {
    /// The scheme named `name` in config; `hmac` needs its parameters and is built with [`HmacScheme`].
    pub fn from_name(name: &str) -> Option<Scheme> {
        Some(match name {
            "standard-webhooks" => Scheme::StandardWebhooks,
            "svix" => Scheme::Svix,
            "stripe" => Scheme::Stripe,
            "github" => Scheme::Github,
            "shopify" => Scheme::Shopify,
            "slack" => Scheme::Slack,
            "paddle" => Scheme::Paddle,
            _ => return None,
        })
    }

    /// Every scheme name config accepts, for error messages.
    pub const NAMES: &'static [&'static str] = &[
        "standard-webhooks",
        "svix",
        "stripe",
        "github",
        "shopify",
        "slack",
        "paddle",
        "hmac",
    ];

    pub fn name(&self) -> &'static str {
        match self {
            Scheme::StandardWebhooks => "standard-webhooks",
            Scheme::Svix => "svix",
            Scheme::Stripe => "stripe",
            Scheme::Github => "github",
            Scheme::Shopify => "shopify",
            Scheme::Slack => "slack",
            Scheme::Paddle => "paddle",
            Scheme::Hmac(_) => "hmac",
        }
    }

    /// Whether the scheme signs a timestamp (and so whether `tolerance` applies).
    pub fn signs_timestamp(&self) -> bool {
        match self {
            Scheme::StandardWebhooks | Scheme::Svix | Scheme::Stripe | Scheme::Slack | Scheme::Paddle => true,
            Scheme::Github | Scheme::Shopify => false,
            Scheme::Hmac(h) => h.signs_timestamp(),
        }
    }

    /// The headers whose value the scheme signs as the message id: an event id read from any other header is not
    /// covered by the signature, so a captured webhook could be replayed under new ids. Svix signs `svix-id`, or
    /// `webhook-id` when only that one is sent (a request carrying both with different values is refused).
    pub fn signed_id_headers(&self) -> &'static [&'static str] {
        match self {
            Scheme::StandardWebhooks => &["webhook-id"],
            Scheme::Svix => &["svix-id", "webhook-id"],
            _ => &[],
        }
    }

    /// Prepares a configured secret for this scheme; an unusable secret (bad base64 for Standard Webhooks, empty)
    /// is an error at start-up rather than at the first webhook.
    pub fn signing_key(&self, secret: &SecretString) -> Result<SigningKey, SignatureError> {
        let secret = secret.expose_secret();
        if secret.is_empty() {
            return Err(SignatureError::InvalidSecret("it is empty".into()));
        }
        match self {
            Scheme::StandardWebhooks | Scheme::Svix => standard::key_from_secret(secret),
            _ => Ok(SigningKey::from_bytes(secret.as_bytes().to_vec())),
        }
    }

    /// Verifies a webhook on its raw bytes. On success the request becomes a [`VerifiedWebhook`].
    pub fn verify(
        &self,
        headers: HeaderMap,
        body: Bytes,
        ctx: VerifyContext<'_>,
    ) -> Result<VerifiedWebhook, SignatureError> {
        match self {
            Scheme::StandardWebhooks => standard::verify(standard::Flavor::Standard, &headers, &body, ctx),
            Scheme::Svix => standard::verify(standard::Flavor::Svix, &headers, &body, ctx),
            Scheme::Stripe => stripe::verify(&headers, &body, ctx),
            Scheme::Github => github::verify(&headers, &body, ctx),
            Scheme::Shopify => shopify::verify(&headers, &body, ctx),
            Scheme::Slack => slack::verify(&headers, &body, ctx),
            Scheme::Paddle => paddle::verify(&headers, &body, ctx),
            Scheme::Hmac(h) => h.verify(&headers, &body, ctx),
        }?;
        Ok(VerifiedWebhook::new(headers, body))
    }

    /// The headers a vendor would send for this body, signed with `key`: `(name, value)` pairs.
    pub fn sign(&self, key: &SigningKey, req: SignRequest<'_>) -> Vec<(String, String)> {
        match self {
            Scheme::StandardWebhooks => standard::sign(standard::Flavor::Standard, key, req),
            Scheme::Svix => standard::sign(standard::Flavor::Svix, key, req),
            Scheme::Stripe => stripe::sign(key, req),
            Scheme::Github => github::sign(key, req),
            Scheme::Shopify => shopify::sign(key, req),
            Scheme::Slack => slack::sign(key, req),
            Scheme::Paddle => paddle::sign(key, req),
            Scheme::Hmac(h) => h.sign(key, req),
        }
    }
}
