//! The adapter kit: the contract between the gateway and each vendor crate.
//!
//! - [`domain`]: our stable domain model (`Customer`, `Payment`, `Page`), the only shapes internal callers see.
//! - [`webhook`]: what an adapter receives (a [`webhook::VerifiedWebhook`], which only signature verification can
//!   produce) and what it returns (an [`webhook::InboundEvent`] or an immediate reply), with the checks every
//!   adapter applies to the id, type and subject it reads ([`webhook::checked_text`],
//!   [`webhook::checked_event_type`]) and vendor DTO deserialization ([`webhook::deserialize_at`]).
//! - [`signature`]: the webhook signature schemes (Standard Webhooks `v1` and Ed25519 `v1a`, Svix, Stripe, GitHub,
//!   Shopify, Slack, Paddle, Twilio, SendGrid's ECDSA P-256, generic HMAC), verified on raw bytes (MACs compared in
//!   constant time) with secrets or public keys prepared once at start-up, and their signers for tests and
//!   `gatehouse sign`.
//! - [`outbound`]: the domain routes an adapter serves, the [`outbound::Upstream`] it calls its vendor through, and
//!   the errors it answers with; and the helpers every adapter's routes share to read the caller's request
//!   ([`outbound::path_param`], [`outbound::caller_body`], ...) and the vendor's answer ([`outbound::check_status`],
//!   [`outbound::vendor_json`], ...).
//! - [`entity`]: the entities an adapter declares for the gateway's read model ([`entity::EntitySpec`]), and what
//!   an event or an answer says about them.
//! - [`openapi`]: how an adapter describes its domain routes for the gateway's OpenAPI document
//!   ([`openapi::RouteDocs`]), with the schemas `utoipa::ToSchema` derives from the types they read and answer.
//! - [`adapter`]: the [`Adapter`] trait every vendor crate implements.
//! - [`descriptor`]: the [`Descriptor`] each vendor crate exports for the gateway's registry table.
//! - `testing` (feature `testing`): conformance helpers every adapter's tests run, above all
//!   `testing::assert_conformance`.

pub mod adapter;
pub mod descriptor;
pub mod domain;
pub mod entity;
pub mod openapi;
pub mod outbound;
pub mod signature;
pub mod webhook;

#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use adapter::Adapter;
pub use descriptor::Descriptor;
pub use signature::{Scheme, SignatureError};
pub use webhook::{InboundEvent, VerifiedWebhook, WebhookError, WebhookOutcome};
