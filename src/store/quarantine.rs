//! Quarantined events as the store keeps them: a correctly signed webhook the adapter could not translate, kept
//! with its raw bytes, its headers and the adapter's error (status `quarantined`, no deliveries) until a later
//! translation succeeds and it becomes an ordinary event under the same id and receipt order.

use uuid::Uuid;

use super::{EntityState, EventStatus, Subscriber};

/// Why and with what a new event is quarantined (on [`super::NewEvent::quarantine`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quarantine {
    /// The adapter's error (it names what is wrong; it carries no body content and no secret).
    pub error: String,
    /// The request's headers, credentials aside: adapters read ids and types from them.
    pub headers: Vec<(String, String)>,
}

/// A stored webhook as it arrived, for translating it again.
#[derive(Debug, Clone)]
pub struct StoredWebhook {
    pub id: Uuid,
    pub provider: String,
    pub provider_event_id: String,
    pub status: EventStatus,
    pub correlation_id: String,
    /// Unix milliseconds.
    pub received_at_ms: i64,
    pub raw_body: bytes::Bytes,
    /// The headers kept with it (quarantined events only; empty otherwise).
    pub headers: Vec<(String, String)>,
    /// The adapter's last error, while quarantined.
    pub error: Option<String>,
}

/// What a new translation of a quarantined event came to.
#[derive(Debug, Clone)]
pub enum Resolution {
    /// Translated: the event becomes an ordinary one (same id, same place in the receipt order) and is fanned out.
    Translated {
        provider_event_id: String,
        event_type: String,
        subject: Option<String>,
        envelope: Vec<u8>,
        deliver_to: Vec<Subscriber>,
        /// The entity state the translation carries, applied (newest wins) in the same transaction, unless the
        /// event turns out to be another stored event's duplicate. (Boxed: the variant is large enough already.)
        entity: Option<Box<EntityState>>,
    },
    /// Still unreadable: it stays quarantined with this error.
    Failed { error: String },
}

/// The event after [`super::Store::resolve_quarantine`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// It was not (or no longer) quarantined: nothing was changed.
    NotQuarantined(EventStatus),
    /// Now this status: `pending` (deliveries queued), `delivered` (nothing to deliver) or still `quarantined`.
    Now(EventStatus),
    /// Translated, but its provider event id belongs to another stored event: it is that event's duplicate, kept
    /// (status `delivered`) and not delivered.
    DuplicateOf(Uuid),
}

/// What [`super::Store::replay_event`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replayed {
    NoSuchEvent,
    /// Queued again for this many subscriptions.
    Queued(usize),
    /// A quarantined event has nothing to deliver until it is translated.
    Quarantined,
}
