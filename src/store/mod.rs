//! Durable state behind one [`Store`] trait: the inbox (deduplication by the provider's event id) and the outbox
//! (events waiting for delivery), written together in one transaction; idempotency keys with their stored
//! responses; deferred commands; sagas ([`Sagas`]); the read model's latest entity states ([`Entities`]).
//!
//! SQL dialects stay inside the backends: [`sqlite`] (the embedded default, one gateway process per file) and
//! [`postgres`] (several gateway replicas on one database). Both run the same conformance suite ([`conformance`]).

mod commands;
#[cfg(test)]
mod conformance;
mod deliveries;
mod entities;
mod health;
mod idempotency;
mod open;
mod operate;
mod postgres;
mod quarantine;
mod sagas;
mod sqlite;
#[cfg(test)]
use conformance::events as conformance_cases;

pub use commands::{CommandRecord, CommandStatus, CommandUpdate, NewCommand};
pub use deliveries::{
    AttemptRecord, Delivery, DeliveryOutcome, DeliveryState, EventDetail, QuarantineState, Subscriber,
};
pub use entities::{Entities, EntitySource, EntityState};
pub use idempotency::{Claimed, KeyClaim, KeyCompletion, StoredResponse};
pub use open::{StoreUrl, open, open_for_maintenance, open_read_only};
pub(crate) use operate::REPLAY_CHUNK;
pub use operate::{BulkReplay, Cancelled, CommandFilter, Finished, Operate, ReplayFilter, SubscriptionStats};
pub use quarantine::{Quarantine, Replayed, Resolution, Resolved, StoredWebhook};
pub use sagas::{NewSaga, SagaFilter, SagaRecord, SagaRetried, SagaStatus, SagaUpdate, Sagas, StepState, StepStatus};

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use serde::Serialize;
use uuid::Uuid;

pub use postgres::{PostgresStore, PostgresUrl};
pub use sqlite::SqliteStore;

/// An event ready to commit: the inbox key and the outbox row.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub id: Uuid,
    pub provider: String,
    pub provider_event_id: String,
    /// The full type, provider prefix included (`stripe.payment_intent.succeeded`).
    pub event_type: String,
    pub subject: Option<String>,
    pub correlation_id: String,
    /// Unix milliseconds.
    pub received_at_ms: i64,
    /// The CloudEvents envelope as JSON.
    pub envelope: Vec<u8>,
    /// The body exactly as the vendor sent it.
    pub raw_body: Bytes,
    /// The subscriptions that get it (one delivery each, written with the event).
    pub deliver_to: Vec<Subscriber>,
    /// Set when the adapter could not translate it: stored `quarantined`, with no deliveries.
    pub quarantine: Option<Quarantine>,
    /// The entity state this webhook carries, applied in the event's own transaction (newest wins) when the event
    /// is new; never for a duplicate or a quarantined event.
    pub entity: Option<EntityState>,
}

/// The result of ingesting: the event's id and whether the provider had sent it before (then `id` is the first
/// delivery's id and nothing new was stored), and whether the stored event is quarantined (for a duplicate: the
/// first event, as it is now).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ingested {
    pub id: Uuid,
    pub duplicate: bool,
    pub quarantined: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum EventStatus {
    Pending,
    Delivered,
    Dead,
    /// Verified but not translated: kept with its raw bytes, delivered after `events retranslate` succeeds.
    Quarantined,
}

impl EventStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            EventStatus::Pending => "pending",
            EventStatus::Delivered => "delivered",
            EventStatus::Dead => "dead",
            EventStatus::Quarantined => "quarantined",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "pending" => EventStatus::Pending,
            "delivered" => EventStatus::Delivered,
            "dead" => EventStatus::Dead,
            "quarantined" => EventStatus::Quarantined,
            _ => return None,
        })
    }
}

/// One outbox event, as listed by `gatehouse events list`.
#[derive(Debug, Clone, Serialize)]
pub struct EventSummary {
    pub id: Uuid,
    pub provider: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub subject: Option<String>,
    pub providereventid: String,
    pub status: EventStatus,
    /// RFC 3339.
    pub received_at: String,
    pub correlationid: String,
    /// The commit order, for cursors.
    #[serde(skip)]
    pub seq: i64,
}

/// Which outbox events to list. With `subscription`, `status` is that subscription's delivery state.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub status: Option<EventStatus>,
    pub provider: Option<String>,
    pub event_type: Option<String>,
    pub subscription: Option<String>,
    pub provider_event_id: Option<String>,
    /// Events received at or after this time (unix ms).
    pub since_ms: Option<i64>,
    /// Events received before this time (unix ms).
    pub until_ms: Option<i64>,
    /// Newest first (descending `seq`) instead of oldest first.
    pub newest_first: bool,
    pub limit: usize,
    /// Only events past this one (`seq`) in the listing's order, for cursor pagination.
    pub after: Option<i64>,
}

/// A condition on the event (`o.status`) that a delivery state implies, added to a listing by subscription so the
/// planner may start from the outbox's (status, provider|type) indexes when those filters are the selective ones: a
/// pending delivery makes its event pending. (Dead deliveries have partial indexes by provider and type of their
/// own.)
pub(crate) fn implied_event_status(delivery_state: EventStatus) -> &'static str {
    match delivery_state {
        EventStatus::Pending => " AND o.status = 'pending'",
        EventStatus::Dead | EventStatus::Delivered | EventStatus::Quarantined => "",
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The database could not do what was asked (I/O, locked, full, constraint). Retrying later may help.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The store is shutting down and takes no more writes.
    #[error("store is closed")]
    Closed,
    /// The write was handed to the store but its commit was not confirmed in time: it may still land. A caller
    /// must not act as if it failed (free an idempotency key, say), only as if it might have.
    #[error("the write's outcome is unknown: {0}")]
    Uncertain(String),
    /// The schema is missing or newer than this binary.
    #[error("{0}")]
    Schema(String),
    #[error("invalid store url: {0}")]
    Url(String),
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(error: tokio_postgres::Error) -> Self {
        StoreError::Unavailable(postgres::describe(&error))
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        StoreError::Unavailable(error.to_string())
    }
}

/// The store's contract, kept by every backend (and checked by the conformance suite in `conformance/`).
///
/// **Concurrency.** Any number of callers may use one store at once, and several gateway processes may share one
/// store where the backend allows it; every guarantee below holds across all of them:
/// - `ingest` is atomic (inbox, outbox and deliveries together) and durable when it answers `Ok`; the same
///   `(provider, provider_event_id)` ingested concurrently anywhere is stored once, and every caller gets its id.
/// - `seq` (the cursor of `list_events`) grows in commit order: a cursor never skips a row committed later.
/// - A key claim holds against every process sharing the store; locks and leases lapse by one clock for all
///   of them (the database's), never by a caller's.
/// - A delivery or command is leased to one claimant at a time; an outcome is recorded only by the claimant whose
///   lease still holds; a lapsed lease is taken over by the next claim.
/// - An ordered subscription has at most one delivery of a subject in flight, and delivers a subject's events in
///   `seq` order, whatever the number of claimants.
///
/// **Backends.** SQLite: one process owns the file (a second owner is refused: `sqlite/owner.rs`); its single
/// writer thread serialises every write, and its key claims live in that process's memory, which is why it must be
/// the only one. PostgreSQL: any number of processes; claims are rows, leases use `FOR UPDATE SKIP LOCKED`, and
/// ordering rests on advisory transaction locks (`postgres/events.rs`).
#[async_trait]
pub trait Store: Operate + Entities + Sagas + Send + Sync + 'static {
    /// Applies pending schema migrations.
    async fn migrate(&self) -> Result<(), StoreError>;

    /// Records `(provider, provider_event_id)` in the inbox and, if new, the event in the outbox (and the entity
    /// state it carries, [`NewEvent::entity`]), atomically and durably: when this returns `Ok`, the event survives a
    /// crash.
    async fn ingest(&self, event: NewEvent) -> Result<Ingested, StoreError>;

    /// Outbox events matching `filter`, in commit order (or its reverse).
    async fn list_events(&self, filter: EventFilter) -> Result<Vec<EventSummary>, StoreError>;

    /// Claims an idempotency key for a request (or reports it running, mismatched, or done with its response).
    /// A claim holds the key against every gateway sharing the store until it is completed or released, or its
    /// lock lapses; it need not survive a crash (a crashed request's retry runs again). Only a completed key's
    /// answer is durable.
    async fn claim_key(&self, claim: KeyClaim) -> Result<Claimed, StoreError>;

    /// Keeps a claimed key's final response, durably; `false` if the claim was lost (its lock lapsed and another
    /// request took the key). The vendor call behind it happened, so the key must never run again: when the answer
    /// cannot be committed now, the store keeps it (the same key replays it meanwhile, it never lapses) and keeps
    /// trying to commit it, and answers `Ok(true)`.
    async fn complete_key(&self, done: KeyCompletion) -> Result<bool, StoreError>;

    /// Frees a claimed key so the caller may retry (the request failed before the vendor answered).
    async fn release_key(&self, caller: String, key: String, token: Uuid) -> Result<bool, StoreError>;

    /// Stores a deferred command, and with it the submission's idempotency-key completion, in one transaction.
    async fn insert_command(&self, command: NewCommand, key: Option<KeyCompletion>) -> Result<(), StoreError>;

    async fn get_command(&self, id: Uuid) -> Result<Option<CommandRecord>, StoreError>;

    /// Leases up to `limit` due pending commands to `owner` for `lease_ms`.
    async fn claim_commands(
        &self,
        owner: String,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<CommandRecord>, StoreError>;

    /// Records an attempt's outcome if `owner` still holds the claim (`false`: nothing was written).
    async fn update_command(
        &self,
        id: Uuid,
        owner: String,
        now_ms: i64,
        update: CommandUpdate,
    ) -> Result<bool, StoreError>;

    /// Leases up to `limit` due deliveries of `subscriptions` to `owner` for `lease_ms`, oldest first; for ordered
    /// subscriptions, only the oldest pending delivery of each subject.
    async fn claim_deliveries(
        &self,
        owner: String,
        subscriptions: Vec<String>,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError>;

    /// Records a delivery attempt (which took `latency_ms`) if `owner` still holds its claim (`false`: nothing was
    /// written).
    async fn finish_delivery(
        &self,
        delivery: &Delivery,
        owner: String,
        now_ms: i64,
        latency_ms: i64,
        outcome: DeliveryOutcome,
    ) -> Result<bool, StoreError>;

    /// An event with its envelope and its delivery state per subscription, attempts included.
    async fn get_event(&self, id: Uuid) -> Result<Option<EventDetail>, StoreError>;

    /// Queues event `id` again for `subscribers` (those whose delivery is delivered or dead, or who have none; one
    /// still pending is left to its current attempt). A quarantined event is left as it is.
    async fn replay_event(&self, id: Uuid, subscribers: Vec<Subscriber>, now_ms: i64) -> Result<Replayed, StoreError>;

    /// Event `id` as it arrived (raw body, headers kept, last error), for translating it again.
    async fn get_webhook(&self, id: Uuid) -> Result<Option<StoredWebhook>, StoreError>;

    /// Records a new translation of quarantined event `id`, atomically: translated, it becomes an ordinary event
    /// (same id, same receipt order: an ordered subscription gets it before later events of its subject still
    /// pending) with its deliveries; failed, it stays quarantined with the new error. `None`: no such event.
    async fn resolve_quarantine(
        &self,
        id: Uuid,
        resolution: Resolution,
        now_ms: i64,
    ) -> Result<Option<Resolved>, StoreError>;

    /// Deletes, a bounded number per call, delivered events received before `events_before_ms` (with their
    /// deliveries) and inbox entries received before `inbox_before_ms`; returns how many of each.
    async fn prune_delivered(&self, events_before_ms: i64, inbox_before_ms: i64) -> Result<(usize, usize), StoreError>;

    /// Per subscription: pending deliveries and the receipt time (unix ms) of the oldest one's event.
    async fn pending_stats(&self) -> Result<Vec<(String, u64, i64)>, StoreError>;

    /// Deletes expired idempotency keys, and finished commands and sagas (completed or compensated) older than
    /// `commands_before_ms`, a bounded number per call (call again while it deletes any); returns how many keys,
    /// and how many commands and sagas.
    async fn prune(&self, now_ms: i64, commands_before_ms: i64) -> Result<(usize, usize), StoreError>;

    /// Answers when the store can commit writes (for `/readyz`): a probe write goes through like any other, and
    /// writes that failed recently (with none succeeding since) make it fail too.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Makes the store's writes fail as `fault` describes until called again with [`StoreFault::None`]: for
    /// fault-injection tests and drills. Not reachable from HTTP or config.
    async fn inject_fault(&self, fault: StoreFault) -> Result<(), StoreError> {
        let _ = fault;
        Err(StoreError::Unavailable("this store cannot simulate faults".into()))
    }

    /// Wakes `wakes` when another gateway sharing the store gives this one's workers something to do (an event
    /// to deliver, a command to run), so they need not wait for their next poll. A store only one process uses
    /// has nothing to watch.
    fn watch(&self, wakes: Wakes) {
        let _ = wakes;
    }

    /// Finishes queued writes and stops taking new ones.
    async fn shutdown(&self);
}

/// The rows of a claim that could be read: one unreadable row must not hold back its neighbours (it stays leased,
/// and is logged at each claim).
pub(crate) fn readable<T>(rows: Vec<Result<T, StoreError>>, what: &str) -> Vec<T> {
    rows.into_iter()
        .filter_map(|row| {
            row.map_err(|error| tracing::error!(%error, what, "skipping an unreadable row"))
                .ok()
        })
        .collect()
}

/// The workers [`Store::watch`] wakes.
#[derive(Clone)]
pub struct Wakes {
    pub relay: Arc<tokio::sync::Notify>,
    pub commands: Arc<tokio::sync::Notify>,
    pub sagas: Arc<tokio::sync::Notify>,
}

/// A failure a store can be made to show ([`Store::inject_fault`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreFault {
    /// Writes work again.
    None,
    /// Every write fails, as on a read-only database or file system.
    ReadOnly,
    /// Writes that need room fail, as on a full disk.
    Full,
    /// The store stops as a killed process's would: every write fails from now on and the database is free for a
    /// new owner (an in-process test's stand-in for SIGKILL, whose leftover tasks would otherwise write on).
    Crash,
}
