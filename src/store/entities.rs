//! The read model's rows ([`Entities`], a supertrait of [`super::Store`]): the latest known state of each entity
//! the adapters declare (acme-crm `customer`, stripe `payment`), kept from webhooks (in the event's own transaction:
//! [`super::NewEvent::entity`]) and from the answers to `/v1` calls, the newest version winning whatever the order
//! in which states arrive. Each backend implements it in its own `entities.rs`.

use async_trait::async_trait;
use bytes::Bytes;
use serde::Serialize;
use uuid::Uuid;

use super::StoreError;

/// Where an entity's stored state came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EntitySource {
    /// A webhook that carried the entity's state (or its deletion).
    Webhook,
    /// The answer to a `/v1` read.
    Read,
    /// The answer to a `/v1` write (a creation or an update), or to a deferred command.
    Write,
}

impl EntitySource {
    pub fn as_str(self) -> &'static str {
        match self {
            EntitySource::Webhook => "webhook",
            EntitySource::Read => "read",
            EntitySource::Write => "write",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "webhook" => EntitySource::Webhook,
            "read" => EntitySource::Read,
            "write" => EntitySource::Write,
            _ => return None,
        })
    }
}

/// One state of one entity, keyed by `(provider, kind, id)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityState {
    pub provider: String,
    /// The adapter's name for the kind of entity (`customer`, `payment`).
    pub kind: String,
    /// The entity's id (our domain object's `id`).
    pub id: String,
    /// Orders the states of one entity: a state replaces the stored one only when its version is greater, or
    /// equal and observed no earlier (see [`Self::supersedes`]).
    pub version: i64,
    /// When the gateway saw this state (unix ms): a webhook's receipt, the arrival of an answer. Also "last
    /// seen" for retention.
    pub observed_at_ms: i64,
    pub source: EntitySource,
    /// The vendor said the entity is gone (`customer.deleted`): kept as a tombstone so an older state arriving
    /// late cannot bring it back; a read of it answers 404.
    pub deleted: bool,
    /// Our domain object as JSON (never the vendor's); for a deletion, what the deleting event carried (may be
    /// empty).
    pub body: Bytes,
    /// The event that carried it, for webhooks.
    pub event_id: Option<Uuid>,
}

impl EntityState {
    /// Whether this state replaces `stored`: a greater version, or the same version observed no earlier (a newer
    /// confirmation of the same state refreshes its age). The rule every backend applies in its upsert.
    pub fn supersedes(&self, stored: &EntityState) -> bool {
        self.version > stored.version
            || (self.version == stored.version && self.observed_at_ms >= stored.observed_at_ms)
    }
}

/// The read model's side of a store.
#[async_trait]
pub trait Entities {
    /// Applies each state whose entity has no stored state, or one it [supersedes](EntityState::supersedes), in
    /// one transaction; returns how many were applied. Several states of one entity in one call are applied as
    /// if one by one, in order.
    async fn upsert_entities(&self, states: Vec<EntityState>) -> Result<usize, StoreError>;

    /// The stored state of one entity (a deleted one included: see [`EntityState::deleted`]).
    async fn get_entity(&self, provider: &str, kind: &str, id: &str) -> Result<Option<EntityState>, StoreError>;

    /// Deletes, a bounded number per call (call again while it deletes any), entities last observed before
    /// `seen_before_ms`, tombstones included; returns how many.
    async fn prune_entities(&self, seen_before_ms: i64) -> Result<usize, StoreError>;
}
