//! The loop both lease-based background workers run (the outbox relay, once per subscription, and the
//! deferred-command executor): claim due work under a lease while slots are free, run each claimed item in a task of
//! its own, and look again when new work is announced, a slot frees up, or `poll_every` passes; on stop, give what
//! runs a grace period (anything unfinished runs again once its lease lapses).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::store::StoreError;

/// What a worker claims and runs.
#[async_trait]
pub trait Leased: Send + Sync + 'static {
    type Item: Send + 'static;

    /// What the items are, for logs (`"deliveries"`, `"deferred commands"`).
    const WHAT: &'static str;

    /// Which of them this worker claims, for logs, when it claims only some (the relay runs a worker per
    /// subscription).
    fn scope(&self) -> Option<&str> {
        None
    }

    /// Leases up to `limit` due items to `claimant`.
    async fn claim(&self, claimant: String, limit: usize) -> Result<Vec<Self::Item>, StoreError>;

    /// Runs one claimed item; its outcome is recorded only while `claimant` still holds the lease.
    async fn run_one(&self, item: Self::Item, claimant: String);
}

/// How a worker paces its claims.
pub struct Pace {
    /// Items run at once.
    pub concurrency: usize,
    /// The fewest free slots worth a claim while items run (a claim is a write).
    pub batch: usize,
    pub poll_every: Duration,
}

/// Runs `worker` until `stop`, then waits up to `grace` for the items still running.
pub async fn run<W: Leased>(
    worker: Arc<W>,
    owner: &str,
    pace: Pace,
    wake: Arc<Notify>,
    stop: CancellationToken,
    grace: Duration,
) {
    let slots = Arc::new(Semaphore::new(pace.concurrency));
    let mut running = JoinSet::new();
    loop {
        let started = start_due(&worker, owner, &pace, &slots, &mut running).await;
        if started > 0 && slots.available_permits() > 0 {
            continue;
        }
        tokio::select! {
            () = stop.cancelled() => break,
            () = wake.notified() => {}
            Some(_) = running.join_next(), if !running.is_empty() => {}
            () = tokio::time::sleep(pace.poll_every) => {}
        }
    }
    if tokio::time::timeout(grace, running.join_all()).await.is_err() {
        tracing::warn!(
            what = W::WHAT,
            scope = worker.scope(),
            "still running at shutdown; they run again once their lease lapses"
        );
    }
}

/// Claims as many due items as there are free slots (once enough are free) and starts them; returns how many.
async fn start_due<W: Leased>(
    worker: &Arc<W>,
    owner: &str,
    pace: &Pace,
    slots: &Arc<Semaphore>,
    running: &mut JoinSet<()>,
) -> usize {
    let free = slots.available_permits();
    if free == 0 || (free < pace.batch && !running.is_empty()) {
        return 0;
    }
    // A token per claim: should an item outlive its lease, a later claim of it (by this worker or another) is a
    // different claimant, and the late outcome is refused.
    let claimant = format!("{owner}/{}", Uuid::now_v7());
    let claimed = match worker.claim(claimant.clone(), free).await {
        Ok(claimed) => claimed,
        Err(error) => {
            tracing::error!(%error, what = W::WHAT, scope = worker.scope(), "cannot claim work");
            return 0;
        }
    };
    let count = claimed.len();
    for item in claimed {
        let Ok(slot) = Arc::clone(slots).try_acquire_owned() else {
            break;
        };
        let (worker, claimant) = (Arc::clone(worker), claimant.clone());
        running.spawn(async move {
            worker.run_one(item, claimant).await;
            drop(slot);
        });
    }
    count
}
