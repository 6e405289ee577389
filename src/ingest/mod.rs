//! The webhook ingest path, shared by the HTTP handler and the recovery tools: verify the raw bytes → the adapter
//! reads id, type, subject and domain data (or, when it cannot, the webhook is quarantined) → CloudEvents envelope
//! → routed to subscriptions → inbox + outbox (+ the entity state it carries, for the read model) in one durable
//! transaction → the relay woken. Handlers read the body
//! within its limits and answer; they never build events themselves.
//!
//! - [`quarantine`]: what a verified webhook the adapter cannot translate becomes, and its later translation
//!   (`gatehouse events retranslate`, `POST /admin/events/{id}/retranslate`).

pub mod quarantine;

use bytes::Bytes;
use gatehouse_kit::signature::{SignatureError, VerifyContext};
use gatehouse_kit::{InboundEvent, VerifiedWebhook, WebhookError, WebhookOutcome};
use http::HeaderMap;
use serde_json::Value;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::config::SubscriptionConfig;
use crate::envelope::Envelope;
use crate::providers::{Provider, WebhookVerifier};
use crate::read_model::ReadModel;
use crate::store::{Ingested, NewEvent, Store, StoreError};

/// What ingesting needs besides the webhook: where events are stored, who subscribes, and whom to wake.
pub struct Ingest<'a> {
    pub store: &'a dyn Store,
    pub subscriptions: &'a [SubscriptionConfig],
    /// Woken when an event with deliveries is stored.
    pub relay_wake: Option<&'a Notify>,
    /// This process's read model, whose memory forgets an entity a webhook just changed.
    pub read_model: Option<&'a ReadModel>,
}

/// A webhook taken in.
#[derive(Debug)]
pub enum Received {
    /// Committed (or recognised as a duplicate); `quarantined` when the stored event is (for a duplicate, the
    /// first one, as it is now).
    Stored { ingested: Ingested, quarantined: bool },
    /// A handshake answered at once with this body; nothing stored.
    Reply(Value),
    /// A batch of events, each [`Received::Stored`], in the order the request carried them.
    Batch(Vec<Received>),
}

/// Why a webhook was not taken in.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// Unsigned, wrongly signed or stale: refused, nothing stored.
    #[error("{0}")]
    Signature(#[from] SignatureError),
    /// The store could not commit: refused so the vendor retries.
    #[error("{0}")]
    Store(#[from] StoreError),
}

impl Ingest<'_> {
    /// Verifies `body` with the provider's scheme and stores what the adapter makes of it, durably, before
    /// returning: an event, or a quarantined webhook (raw bytes, headers and the adapter's error). A batch (one
    /// request carrying several events, split by the adapter) stores each of its events the same way, in order,
    /// and returns once all are committed. `query` is the request's raw query string (Twilio signs it).
    pub async fn receive(
        &self,
        provider: &Provider,
        verifier: &WebhookVerifier,
        request: (HeaderMap, Bytes, Option<&str>),
        correlation_id: String,
    ) -> Result<Received, IngestError> {
        let (headers, body, query) = request;
        let verified = verifier.scheme.verify(
            headers,
            body,
            VerifyContext {
                keys: &verifier.keys,
                now: crate::clock::now_secs(),
                tolerance: verifier.tolerance,
                query,
            },
        )?;
        let Some(parts) = provider.adapter.split_batch(&verified) else {
            return self.store_one(provider, &verified, correlation_id, false).await;
        };
        let mut stored = Vec::with_capacity(parts.len());
        for part in &parts {
            stored.push(self.store_one(provider, part, correlation_id.clone(), true).await?);
        }
        Ok(Received::Batch(stored))
    }

    /// Reads one verified webhook and commits its event or its quarantine. In a batch, a handshake is not an
    /// answer to give: that part is quarantined.
    async fn store_one(
        &self,
        provider: &Provider,
        verified: &VerifiedWebhook,
        correlation_id: String,
        in_batch: bool,
    ) -> Result<Received, IngestError> {
        let (event, quarantined) = match provider.adapter.interpret_webhook(verified) {
            Ok(WebhookOutcome::Event(event)) => (
                self.event(provider, event, verified.body().clone(), correlation_id),
                None,
            ),
            Ok(WebhookOutcome::Reply(reply)) if !in_batch => return Ok(Received::Reply(reply)),
            Ok(WebhookOutcome::Reply(_)) => {
                let error = WebhookError::new("a handshake inside a batch of events");
                (
                    quarantine::event(provider, verified, &error, correlation_id),
                    Some(error),
                )
            }
            Err(error) => {
                let event = quarantine::event(provider, verified, &error, correlation_id);
                (event, Some(error))
            }
        };
        let wants_delivery = !event.deliver_to.is_empty();
        let entity = event.entity.clone();
        let ingested = self.store.ingest(event).await?;
        if let (Some(entity), Some(read_model)) = (entity.filter(|_| !ingested.duplicate), self.read_model) {
            read_model.forget(&entity);
        }
        match quarantined {
            // A new quarantined event (a copy of one already stored, quarantined or not, is that one).
            Some(error) if !ingested.duplicate => quarantine::record(provider, &ingested, &error),
            Some(_) => {}
            None if !ingested.duplicate && wants_delivery => self.wake(),
            None => {}
        }
        Ok(Received::Stored {
            quarantined: ingested.quarantined,
            ingested,
        })
    }

    /// A translated event: its envelope, and one delivery per subscription that wants its type.
    fn event(&self, provider: &Provider, event: InboundEvent, raw_body: Bytes, correlation_id: String) -> NewEvent {
        let id = Uuid::now_v7();
        let received_at_ms = crate::clock::now_ms();
        let event_type = format!("{}.{}", provider.name, event.event_type);
        let envelope = envelope(id, &provider.name, &event, received_at_ms, &correlation_id);
        let entity = crate::read_model::from_event(provider, &event, id, received_at_ms);
        NewEvent {
            id,
            provider: provider.name.clone(),
            provider_event_id: event.provider_event_id,
            deliver_to: crate::relay::route(self.subscriptions, &event_type),
            event_type,
            subject: event.subject,
            correlation_id,
            received_at_ms,
            envelope,
            raw_body,
            quarantine: None,
            entity,
        }
    }

    fn wake(&self) {
        if let Some(wake) = self.relay_wake {
            wake.notify_one();
        }
    }
}

/// The CloudEvents envelope of `provider`'s `event` (its type prefixed with the provider's name), as stored and
/// delivered.
pub(crate) fn envelope(
    id: Uuid,
    provider: &str,
    event: &InboundEvent,
    received_at_ms: i64,
    correlation_id: &str,
) -> Vec<u8> {
    let event_type = format!("{provider}.{}", event.event_type);
    let envelope = Envelope {
        specversion: Envelope::SPEC_VERSION,
        id,
        source: format!("gatehouse/{provider}"),
        event_type: &event_type,
        time: crate::clock::rfc3339_from_ms(received_at_ms),
        subject: event.subject.as_deref(),
        datacontenttype: Envelope::CONTENT_TYPE,
        data: &event.data,
        providereventid: &event.provider_event_id,
        correlationid: correlation_id,
        causationid: None,
    };
    // Serialising strings, a UUID and a `Value` cannot fail; an empty envelope would be visible, not lost.
    serde_json::to_vec(&envelope).unwrap_or_default()
}
