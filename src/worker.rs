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

    /// Whether finishing `item` may make another item due that was not (the next event of an ordered subject):
    /// the loop then claims again. By default every finished item may.
    fn unblocks(&self, _item: &Self::Item) -> bool {
        true
    }
}

/// How a worker paces its claims.
pub struct Pace {
    /// Items run at once.
    pub concurrency: usize,
    /// The fewest free slots worth a claim while items run (a claim is a write).
    pub batch: usize,
    pub poll_every: Duration,
    /// How long a worker told of new work waits before it claims, so that items announced close together share
    /// one claim (one write) and their outcomes one commit, instead of a write each; zero claims at once. A worker
    /// with a backlog claims as slots free up, without waiting.
    pub gather: Duration,
}

/// Runs `worker` until `stop`, then waits up to `grace` for the items still running.
///
/// A claim is a write, so the loop claims only when it may find something: at start, when new work is announced
/// (after [`Pace::gather`]), when `poll_every` has passed since the last claim (retries come due, other workers'
/// leases lapse), after a claim that filled every free slot (more may be waiting), and when an item finishes that
/// may have let another through ([`Leased::unblocks`]). A claim that came back short means nothing else is due, so
/// the items it started finishing do not each cost another claim.
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
    let mut due = true;
    let mut next_poll = tokio::time::Instant::now() + pace.poll_every;
    loop {
        if due && let Some(claim) = start_due(&worker, owner, &pace, &slots, &mut running).await {
            next_poll = tokio::time::Instant::now() + pace.poll_every;
            due = claim.filled;
            if claim.filled && slots.available_permits() > 0 {
                continue;
            }
        }
        // Still `due` here means too few slots were free to claim: only a finishing item changes that (and
        // `running` is not empty then), so the poll waits.
        tokio::select! {
            biased;
            () = stop.cancelled() => break,
            Some(done) = running.join_next(), if !running.is_empty() => {
                // A task that panicked may have left anything behind: look.
                due |= done.unwrap_or(true);
            }
            () = wake.notified() => {
                // With a backlog the next claim is as soon as slots free up; otherwise gather what else comes.
                if !due && !pace.gather.is_zero() {
                    tokio::select! {
                        () = stop.cancelled() => break,
                        () = tokio::time::sleep(pace.gather) => {}
                    }
                }
                due = true;
            }
            () = tokio::time::sleep_until(next_poll), if !due => due = true,
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

/// What one claim found.
struct Claim {
    /// As many items as there were free slots: more may be due.
    filled: bool,
}

/// Claims as many due items as there are free slots (once enough are free) and starts them; `None` when too few
/// slots are free to claim (the loop claims again as items finish).
async fn start_due<W: Leased>(
    worker: &Arc<W>,
    owner: &str,
    pace: &Pace,
    slots: &Arc<Semaphore>,
    running: &mut JoinSet<bool>,
) -> Option<Claim> {
    let free = slots.available_permits();
    if free == 0 || (free < pace.batch && !running.is_empty()) {
        return None;
    }
    // A token per claim: should an item outlive its lease, a later claim of it (by this worker or another) is a
    // different claimant, and the late outcome is refused.
    let claimant = format!("{owner}/{}", Uuid::now_v7());
    let claimed = match worker.claim(claimant.clone(), free).await {
        Ok(claimed) => claimed,
        Err(error) => {
            tracing::error!(%error, what = W::WHAT, scope = worker.scope(), "cannot claim work");
            // Tried again at the next poll or announcement.
            return Some(Claim { filled: false });
        }
    };
    let filled = claimed.len() >= free;
    for item in claimed {
        let Ok(slot) = Arc::clone(slots).try_acquire_owned() else {
            break;
        };
        let (worker, claimant) = (Arc::clone(worker), claimant.clone());
        let unblocks = worker.unblocks(&item);
        running.spawn(async move {
            worker.run_one(item, claimant).await;
            drop(slot);
            unblocks
        });
    }
    Some(Claim { filled })
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// Items due now, the claims made (how many each found), how long an item runs, and whether finishing one
    /// unblocks another.
    #[derive(Default)]
    struct Queue {
        due: Mutex<Vec<u32>>,
        claims: Mutex<Vec<usize>>,
        work: Duration,
        ordered: bool,
    }

    impl Queue {
        fn new(work_ms: u64, ordered: bool) -> Arc<Queue> {
            Arc::new(Queue {
                work: Duration::from_millis(work_ms),
                ordered,
                ..Queue::default()
            })
        }
    }

    #[async_trait]
    impl Leased for Queue {
        type Item = u32;
        const WHAT: &'static str = "test items";

        async fn claim(&self, _claimant: String, limit: usize) -> Result<Vec<u32>, StoreError> {
            let mut due = self.due.lock().unwrap();
            let count = limit.min(due.len());
            let taken: Vec<u32> = due.drain(..count).collect();
            self.claims.lock().unwrap().push(taken.len());
            Ok(taken)
        }

        async fn run_one(&self, _item: u32, _claimant: String) {
            tokio::time::sleep(self.work).await;
        }

        fn unblocks(&self, _item: &u32) -> bool {
            self.ordered
        }
    }

    fn pace(concurrency: usize, gather_ms: u64) -> Pace {
        Pace {
            concurrency,
            batch: 2.min(concurrency),
            poll_every: Duration::from_secs(1),
            gather: Duration::from_millis(gather_ms),
        }
    }

    /// Runs `queue` for `ms` milliseconds of paused time; `events` are `(at ms, announced)`: an item becomes due then,
    /// announced on the wake-up or not.
    async fn run_for(queue: &Arc<Queue>, pace: Pace, events: &[(u64, bool)], ms: u64) -> Vec<usize> {
        let (wake, stop) = (Arc::new(Notify::new()), CancellationToken::new());
        let start = tokio::time::Instant::now();
        let task = tokio::spawn(run(
            Arc::clone(queue),
            "test",
            pace,
            Arc::clone(&wake),
            stop.clone(),
            Duration::from_secs(10),
        ));
        for (item, &(at, announced)) in events.iter().enumerate() {
            tokio::time::sleep_until(start + Duration::from_millis(at)).await;
            queue.due.lock().unwrap().push(u32::try_from(item).unwrap());
            if announced {
                wake.notify_one();
            }
        }
        tokio::time::sleep_until(start + Duration::from_millis(ms)).await;
        stop.cancel();
        task.await.unwrap();
        queue.claims.lock().unwrap().clone()
    }

    fn announced_every_ms(count: u64) -> Vec<(u64, bool)> {
        (1..=count).map(|at| (at, true)).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn items_announced_within_the_gathering_share_a_claim() {
        let claims = run_for(&Queue::new(1, false), pace(8, 5), &announced_every_ms(10), 100).await;
        // The claim at start, then one per 5 ms of announcements rather than one per item.
        assert_eq!(claims.iter().sum::<usize>(), 10, "{claims:?}");
        assert!(claims.len() <= 4, "{claims:?}");
        assert!(claims.iter().any(|&n| n >= 4), "{claims:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn finished_items_cost_no_claim_unless_they_may_unblock_another() {
        let unordered = run_for(&Queue::new(1, false), pace(8, 0), &announced_every_ms(3), 100).await;
        // At start (nothing), then one per announcement; nothing after the items finish.
        assert_eq!(unordered, [0, 1, 1, 1]);
        let ordered = run_for(&Queue::new(1, true), pace(8, 0), &announced_every_ms(3), 100).await;
        assert_eq!(ordered.iter().sum::<usize>(), 3);
        assert_eq!(ordered.len(), 7, "a claim after each finished item: {ordered:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_claim_claims_again_as_slots_free_up() {
        let queue = Queue::new(1, false);
        queue.due.lock().unwrap().extend(0..20);
        let claims = run_for(&queue, pace(8, 5), &[], 100).await;
        // 8 slots: 8 at start, then as slots free (at least `batch` at a time) until a claim comes back short.
        assert_eq!(claims.iter().sum::<usize>(), 20, "{claims:?}");
        assert_eq!(claims[0], 8);
    }

    #[tokio::test(start_paused = true)]
    async fn the_poll_finds_what_no_one_announced_a_second_after_the_last_claim() {
        let queue = Queue::new(1, false);
        // Due at 300 ms, never announced: found by the poll at 1 s (a second after the claim at start).
        let claims = run_for(&queue, pace(8, 0), &[(300, false)], 900).await;
        assert_eq!(claims, [0], "not before the poll");
        let claims = run_for(&Queue::new(1, false), pace(8, 0), &[(300, false)], 1_100).await;
        assert_eq!(claims, [0, 1]);
    }

    #[tokio::test(start_paused = true)]
    async fn items_that_outlast_the_poll_do_not_make_the_loop_spin() {
        // One slot, items of 3 s, polls every second: the loop waits for the slot instead of looking again and
        // again (a spin would hang this test: paused time never advances while it runs).
        let queue = Queue::new(3_000, false);
        queue.due.lock().unwrap().extend(0..3);
        let claims = run_for(&queue, pace(1, 0), &[], 10_000).await;
        assert_eq!(claims.iter().sum::<usize>(), 3, "{claims:?}");
        assert!(claims.len() <= 6, "{claims:?}");
    }
}
