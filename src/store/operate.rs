//! What operators ask of a store beyond the data path ([`Operate`], a supertrait of [`super::Store`]): delivery
//! counts per subscription, bulk replay of dead (or delivered) deliveries by filter, and deferred commands listed
//! and cancelled. Each backend implements it in its own `operate.rs`.

use async_trait::async_trait;
use serde::Serialize;
use uuid::Uuid;

use super::{CommandRecord, CommandStatus, NewEvent, StoreError, Subscriber};

/// One subscription's deliveries by state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SubscriptionStats {
    pub name: String,
    /// Waiting for an attempt (including those retrying).
    pub pending: u64,
    /// Pending after at least one failed attempt.
    pub retrying: u64,
    pub dead: u64,
    pub delivered: u64,
    /// When the oldest pending delivery's event was received (unix ms).
    #[serde(skip)]
    pub oldest_pending_ms: Option<i64>,
}

/// The final delivery states a bulk replay can start from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finished {
    Dead,
    Delivered,
}

impl Finished {
    pub fn as_str(self) -> &'static str {
        match self {
            Finished::Dead => "dead",
            Finished::Delivered => "delivered",
        }
    }
}

/// Which deliveries a bulk replay puts back in the queue: those in `state`, of the events the filters given match
/// (the subscriptions are the caller's `subscribers`).
#[derive(Debug, Clone)]
pub struct ReplayFilter {
    pub state: Finished,
    pub provider: Option<String>,
    pub event_type: Option<String>,
    /// Events received at or after this time (unix ms).
    pub since_ms: Option<i64>,
    /// Events received before this time (unix ms).
    pub until_ms: Option<i64>,
}

/// What a bulk replay matched and queued.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct BulkReplay {
    pub matched: u64,
    pub queued: u64,
}

/// Which commands to list, newest first.
#[derive(Debug, Clone, Default)]
pub struct CommandFilter {
    pub status: Option<CommandStatus>,
    pub provider: Option<String>,
    pub caller: Option<String>,
    pub limit: usize,
    /// Only commands stored before this one (its `seq`), for cursor pagination.
    pub before: Option<i64>,
}

/// How a cancellation went.
#[derive(Debug, Clone)]
pub enum Cancelled {
    /// Cancelled now; the record as it is after the cancellation.
    Done(Box<CommandRecord>),
    /// Already finished (succeeded, failed or cancelled): left as it is.
    Finished(CommandStatus),
    /// An executor holds it and may be calling the vendor right now: it cannot be called off safely.
    Running,
    NotFound,
}

#[async_trait]
pub trait Operate: Send + Sync {
    /// Every subscription that has deliveries, with its counts by state.
    async fn subscription_stats(&self) -> Result<Vec<SubscriptionStats>, StoreError>;

    /// Counts the deliveries `filter` matches among `subscribers` and, unless `dry_run`, queues each again (attempts
    /// reset; an ordered subscription's delivery waits behind an older pending one of its subject). Runs in short
    /// transactions, so a large replay does not hold up other writes; what was queued stays queued if it fails
    /// part way.
    async fn replay_deliveries(
        &self,
        filter: ReplayFilter,
        subscribers: Vec<Subscriber>,
        now_ms: i64,
        dry_run: bool,
    ) -> Result<BulkReplay, StoreError>;

    /// Commands matching `filter`, newest first.
    async fn list_commands(&self, filter: CommandFilter) -> Result<Vec<CommandRecord>, StoreError>;

    /// Cancels command `id` if it is pending and no executor holds a live lease on it, recording `event` (its
    /// `gatehouse.command.cancelled` announcement) in the same transaction.
    async fn cancel_command(&self, id: Uuid, now_ms: i64, event: NewEvent) -> Result<Cancelled, StoreError>;
}

/// How many deliveries one bulk-replay transaction queues.
pub(crate) const REPLAY_CHUNK: usize = 2_000;
