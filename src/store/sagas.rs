//! Sagas as the store keeps them ([`Sagas`], a supertrait of [`super::Store`]): one row per saga with its input,
//! its steps' progress and a lease, written by the saga executor one checkpoint at a time; the final checkpoint
//! commits the `gatehouse.saga.*` event with it. Each backend implements it in its own `sagas.rs`.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{KeyCompletion, NewEvent, StoreError};

/// Where a saga is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SagaStatus {
    /// Running its steps in order.
    Running,
    /// A step failed for good: undoing the completed steps, last first.
    Compensating,
    /// Every step completed.
    Completed,
    /// Every completed step was undone.
    Compensated,
    /// A compensation could not succeed: a person must look (and may retry it).
    Failed,
}

impl SagaStatus {
    pub const ALL: [SagaStatus; 5] = [
        SagaStatus::Running,
        SagaStatus::Compensating,
        SagaStatus::Completed,
        SagaStatus::Compensated,
        SagaStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SagaStatus::Running => "running",
            SagaStatus::Compensating => "compensating",
            SagaStatus::Completed => "completed",
            SagaStatus::Compensated => "compensated",
            SagaStatus::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == text)
    }

    /// Whether the executor has nothing more to do (until an operator's retry, for `Failed`).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            SagaStatus::Completed | SagaStatus::Compensated | SagaStatus::Failed
        )
    }
}

/// Where one step is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// Not run yet (or being retried).
    Pending,
    Completed,
    /// Refused by the vendor, or out of attempts: the saga compensates.
    Failed,
    /// Undone by its compensation.
    Compensated,
    /// Its compensation could not succeed: the saga is `failed` on this step.
    CompensationFailed,
}

impl StepStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Pending => "pending",
            StepStatus::Completed => "completed",
            StepStatus::Failed => "failed",
            StepStatus::Compensated => "compensated",
            StepStatus::CompensationFailed => "compensation_failed",
        }
    }
}

/// One step's progress, kept with its saga.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepState {
    pub name: String,
    pub status: StepStatus,
    /// Vendor attempts of the step's call (the gateway's own refusals, such as an open breaker, do not count).
    pub attempts: u32,
    /// The call's answer (our domain JSON) once completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
    /// The last failure of the call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Vendor attempts of its compensation.
    #[serde(default)]
    pub compensation_attempts: u32,
    /// The last failure of its compensation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compensation_error: Option<String>,
}

impl StepState {
    pub fn pending(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            status: StepStatus::Pending,
            attempts: 0,
            result: None,
            error: None,
            compensation_attempts: 0,
            compensation_error: None,
        }
    }
}

/// A saga to store: `running`, due now.
#[derive(Debug, Clone)]
pub struct NewSaga {
    pub id: Uuid,
    /// The definition's name (`[[sagas]] name`).
    pub name: String,
    pub caller: String,
    pub input: serde_json::Value,
    pub steps: Vec<StepState>,
    pub correlation_id: String,
    pub created_at_ms: i64,
}

/// A stored saga.
#[derive(Debug, Clone)]
pub struct SagaRecord {
    pub id: Uuid,
    pub name: String,
    pub caller: String,
    pub status: SagaStatus,
    pub input: serde_json::Value,
    pub steps: Vec<StepState>,
    pub correlation_id: String,
    /// Operators' retries of this saga so far.
    pub retries: u32,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    /// When it is next due (unix ms), while running or compensating.
    pub next_attempt_ms: i64,
    /// Until when an executor's claim holds it (unix ms; in the past when none does).
    pub lease_until_ms: i64,
    /// The store's order, for cursors.
    pub seq: i64,
}

/// A checkpoint: the saga's new status and steps, written only if the claimant's lease still holds.
#[derive(Debug, Clone)]
pub struct SagaUpdate {
    pub status: SagaStatus,
    pub steps: Vec<StepState>,
    /// When it is next due (for a saga still running or compensating).
    pub next_attempt_ms: i64,
    /// Until when the claimant keeps it (it carries on at once), or 0 to let it go (it waits until
    /// `next_attempt_ms`, or it is final).
    pub lease_until_ms: i64,
    /// The event announcing a final status, committed with it.
    pub event: Option<Box<NewEvent>>,
}

/// Which sagas to list, newest first.
#[derive(Debug, Clone, Default)]
pub struct SagaFilter {
    pub name: Option<String>,
    pub status: Option<SagaStatus>,
    pub limit: usize,
    /// Only sagas older than this one (`seq`), for cursor pagination.
    pub before: Option<i64>,
}

/// What an operator's retry did.
#[derive(Debug, Clone)]
pub enum SagaRetried {
    /// The saga compensates again from the step whose compensation failed, due now.
    Done(Box<SagaRecord>),
    /// Only a `failed` saga can be retried; it is in this state.
    NotFailed(SagaStatus),
    NotFound,
}

/// The sagas' side of a store.
#[async_trait]
pub trait Sagas {
    /// Stores a new saga, and with it the submission's idempotency-key completion, in one transaction.
    async fn insert_saga(&self, saga: NewSaga, key: Option<KeyCompletion>) -> Result<(), StoreError>;

    async fn get_saga(&self, id: Uuid) -> Result<Option<SagaRecord>, StoreError>;

    /// Leases up to `limit` due sagas (running or compensating, no live lease) to `owner` for `lease_ms`, the
    /// longest due first.
    async fn claim_sagas(
        &self,
        owner: String,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<SagaRecord>, StoreError>;

    /// Writes a checkpoint if `owner` still holds the saga's lease (`false`: nothing was written), with its event
    /// when there is one.
    async fn update_saga(&self, id: Uuid, owner: String, now_ms: i64, update: SagaUpdate) -> Result<bool, StoreError>;

    /// Sagas matching `filter`, newest first.
    async fn list_sagas(&self, filter: SagaFilter) -> Result<Vec<SagaRecord>, StoreError>;

    /// An operator's retry of a `failed` saga: its failed compensation is pending again (attempts from zero) and
    /// the saga compensating, due now.
    async fn retry_saga(&self, id: Uuid, now_ms: i64) -> Result<SagaRetried, StoreError>;
}

/// The retry's change to a failed saga's steps: the compensation that failed runs again from its first attempt.
pub(crate) fn reopen(steps: &mut [StepState]) {
    for step in steps.iter_mut().filter(|s| s.status == StepStatus::CompensationFailed) {
        step.status = StepStatus::Completed;
        step.compensation_attempts = 0;
    }
}
