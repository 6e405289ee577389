//! Webhook signature schemes, one file each behind the [`Scheme`] enum.
//!
//! Every scheme verifies the **raw bytes** of the body before anything parses them, tries every configured key
//! (secret rotation), compares MACs in constant time, checks the signed timestamp against a tolerance where the
//! scheme signs one, and never panics on malformed headers. Each scheme also signs, for tests and `gatehouse sign`.
//!
//! Most schemes verify with shared secrets; SendGrid verifies with public keys and Standard Webhooks with both
//! (`v1` entries against secrets, `v1a` against public keys): see [`Scheme::key_kinds`]. Keys are prepared once, at
//! start-up, into [`SigningKey`]s ([`Scheme::signing_key`], [`Scheme::public_key`]).

mod github;
mod hmac_generic;
mod keys;
mod mac;
mod paddle;
mod sendgrid;
mod shopify;
mod slack;
mod standard;
mod standard_v1a;
mod stripe;
mod twilio;

use std::time::Duration;

use bytes::Bytes;
use http::HeaderMap;
use secrecy::{ExposeSecret, SecretString};

use crate::webhook::VerifiedWebhook;

pub use hmac_generic::{Encoding, HmacScheme};
pub use keys::{KeyKind, KeyKinds, SigningKey};
pub use twilio::TwilioScheme;

/// A signature scheme, as named in config (`scheme = "stripe"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scheme {
    /// Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64>` (HMAC, secret
    /// `whsec_<base64>`) and/or `v1a,<base64>` (Ed25519, public key `whpk_<base64>`).
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
    /// SendGrid's Event Webhook: ECDSA P-256 over `<timestamp><body>`, verified with SendGrid's public key.
    Sendgrid,
    /// Twilio: `X-Twilio-Signature: <base64 HMAC-SHA1>` over the public URL Twilio calls and the form parameters.
    Twilio(TwilioScheme),
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
    #[error("no signature matches any configured secret or public key")]
    NoMatch,
    /// A configured secret or public key this scheme cannot use (the reason never quotes the key).
    #[error("the key cannot be used with this scheme: {0}")]
    InvalidSecret(String),
}

/// What verification needs besides headers and body: the keys, the clock, the tolerance and the request's query.
#[derive(Debug, Clone, Copy)]
pub struct VerifyContext<'a> {
    /// Every configured key, secrets and public keys alike: each scheme uses the kinds it verifies with.
    pub keys: &'a [SigningKey],
    /// Unix seconds "now" (injected so tests use the vectors' clocks).
    pub now: u64,
    /// Allowed distance between the signed timestamp and `now`, in either direction.
    pub tolerance: Duration,
    /// The request's raw query string (after `?`, not decoded), `None` when it has none. Only Twilio signs it.
    pub query: Option<&'a str>,
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
    /// The scheme named `name` in config; `hmac` and `twilio` need parameters and are built with [`HmacScheme`]
    /// and [`TwilioScheme`].
    pub fn from_name(name: &str) -> Option<Scheme> {
        Some(match name {
            "standard-webhooks" => Scheme::StandardWebhooks,
            "svix" => Scheme::Svix,
            "stripe" => Scheme::Stripe,
            "github" => Scheme::Github,
            "shopify" => Scheme::Shopify,
            "slack" => Scheme::Slack,
            "paddle" => Scheme::Paddle,
            "sendgrid" => Scheme::Sendgrid,
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
        "sendgrid",
        "twilio",
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
            Scheme::Sendgrid => "sendgrid",
            Scheme::Twilio(_) => "twilio",
            Scheme::Hmac(_) => "hmac",
        }
    }

    /// Whether the scheme signs a timestamp (and so whether `tolerance` applies).
    pub fn signs_timestamp(&self) -> bool {
        match self {
            Scheme::StandardWebhooks
            | Scheme::Svix
            | Scheme::Stripe
            | Scheme::Slack
            | Scheme::Paddle
            | Scheme::Sendgrid => true,
            Scheme::Github | Scheme::Shopify | Scheme::Twilio(_) => false,
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

    /// Which configured keys the scheme verifies with: SendGrid public keys only, Standard Webhooks secrets (`v1`)
    /// and public keys (`v1a`), every other scheme secrets only.
    pub fn key_kinds(&self) -> KeyKinds {
        match self {
            Scheme::Sendgrid => KeyKinds::PublicKeys,
            Scheme::StandardWebhooks => KeyKinds::SecretsAndPublicKeys,
            _ => KeyKinds::Secrets,
        }
    }

    /// Prepares a configured secret for this scheme; an unusable secret (bad base64 for Standard Webhooks, empty)
    /// is an error at start-up rather than at the first webhook. Twilio's secret is the auth token. Two secrets
    /// are private keys that only sign (tests, `gatehouse sign`) and never verify: SendGrid's, a base64 PKCS#8 DER
    /// P-256 key (SendGrid verifies with [`Self::public_key`] only), and a Standard Webhooks `whsk_<base64>`
    /// Ed25519 key (signing `v1a`; any other Standard Webhooks secret is an HMAC `whsec_` one).
    pub fn signing_key(&self, secret: &SecretString) -> Result<SigningKey, SignatureError> {
        let secret = secret.expose_secret();
        if secret.is_empty() {
            return Err(SignatureError::InvalidSecret("it is empty".into()));
        }
        match self {
            Scheme::StandardWebhooks if standard_v1a::is_private_key(secret) => standard_v1a::private_key(secret),
            Scheme::StandardWebhooks | Scheme::Svix => standard::key_from_secret(secret),
            Scheme::Sendgrid => sendgrid::private_key(secret),
            _ => Ok(SigningKey::from_bytes(secret.as_bytes().to_vec())),
        }
    }

    /// Prepares a configured public key, decoded and checked once: SendGrid's base64 DER (SubjectPublicKeyInfo)
    /// P-256 key, or a Standard Webhooks `whpk_<base64>` Ed25519 key. Schemes that verify with secrets refuse any.
    pub fn public_key(&self, text: &str) -> Result<SigningKey, SignatureError> {
        match self {
            Scheme::Sendgrid => sendgrid::public_key(text),
            Scheme::StandardWebhooks => standard_v1a::public_key(text),
            other => Err(SignatureError::InvalidSecret(format!(
                "the {} scheme verifies with secrets, not public keys",
                other.name()
            ))),
        }
    }

    /// The query string (after `?`) a request signed by [`Self::sign`] must be sent with, for the schemes that sign
    /// the URL: Twilio's configured query, with `bodySHA256` added for a JSON body. `None` for every other scheme.
    pub fn signed_query(&self, body: &[u8]) -> Option<String> {
        match self {
            Scheme::Twilio(twilio) => twilio.signed_query(body),
            _ => None,
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
            Scheme::Sendgrid => sendgrid::verify(&headers, &body, ctx),
            Scheme::Twilio(twilio) => twilio.verify(&headers, &body, ctx),
            Scheme::Hmac(h) => h.verify(&headers, &body, ctx),
        }?;
        Ok(VerifiedWebhook::new(headers, body))
    }

    /// The headers a vendor would send for this body, signed with `key`: `(name, value)` pairs. HMAC schemes and
    /// Twilio sign with a secret, SendGrid with its private key, Standard Webhooks with a secret (`v1`) or a `whsk_`
    /// private key (`v1a`). Given a key of another kind (a public key, say), it returns no headers at all. Twilio's
    /// request must also be sent to the URL with [`Self::signed_query`].
    pub fn sign(&self, key: &SigningKey, req: SignRequest<'_>) -> Vec<(String, String)> {
        match self {
            Scheme::StandardWebhooks => standard::sign(standard::Flavor::Standard, key, req),
            Scheme::Svix => standard::sign(standard::Flavor::Svix, key, req),
            Scheme::Stripe => stripe::sign(key, req),
            Scheme::Github => github::sign(key, req),
            Scheme::Shopify => shopify::sign(key, req),
            Scheme::Slack => slack::sign(key, req),
            Scheme::Paddle => paddle::sign(key, req),
            Scheme::Sendgrid => sendgrid::sign(key, req),
            Scheme::Twilio(twilio) => twilio.sign(key, req),
            Scheme::Hmac(h) => h.sign(key, req),
        }
    }
}

#[cfg(test)]
mod tests;
