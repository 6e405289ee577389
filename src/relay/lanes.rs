//! The relay's delivery loops, one per subscription: each is a [`crate::worker`] loop with slots of its own (the
//! subscription's `concurrency`, or its share of `[relay] concurrency`) that claims only its subscription's due
//! deliveries. A consumer that hangs or is slow fills its own subscription's slots and no other's, so it cannot
//! delay another subscription's deliveries. Every wake-up (a new event, a replay) is passed on to each loop.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::Relay;
use crate::store::{Delivery, StoreError};
use crate::worker::{Leased, Pace};

/// One subscription's deliveries.
struct Lane {
    relay: Arc<Relay>,
    /// The subscription's name, as the one-name list a claim takes.
    subscription: Vec<String>,
    ordered: bool,
}

#[async_trait::async_trait]
impl Leased for Lane {
    type Item = Delivery;
    const WHAT: &'static str = "deliveries";

    fn scope(&self) -> Option<&str> {
        self.subscription.first().map(String::as_str)
    }

    async fn claim(&self, claimant: String, limit: usize) -> Result<Vec<Delivery>, StoreError> {
        let lease = i64::try_from(self.relay.lease.as_millis()).unwrap_or(i64::MAX);
        self.relay
            .store
            .claim_deliveries(
                claimant,
                self.subscription.clone(),
                crate::clock::now_ms(),
                lease,
                limit,
            )
            .await
    }

    async fn run_one(&self, delivery: Delivery, claimant: String) {
        self.relay.deliver(delivery, claimant).await;
    }

    /// Only an ordered subscription holds deliveries back behind one in flight. (A delivery stored while the
    /// subscription was ordered and still held back after it no longer is waits for the next poll.)
    fn unblocks(&self, _delivery: &Delivery) -> bool {
        self.ordered
    }
}

/// How a loop with `slots` slots claims: a claim is a write, so not one per finished delivery while many are in
/// flight, but once a quarter of its slots are free.
fn pace(slots: usize, poll_every: Duration) -> Pace {
    Pace {
        concurrency: slots,
        batch: (slots / 4).max(1),
        poll_every,
        gather: GATHER,
    }
}

/// A subscription told of a new event waits this long before it claims: at ordinary rates (a webhook now and then)
/// the events of those milliseconds share one claim and their outcomes one commit, where each event alone cost the
/// store a claim and an outcome commit of its own (docs/BENCHMARKS.md, "Cheap at ordinary rates"). It adds at most
/// this to an event's delivery latency; a subscription with a backlog claims as slots free up, without waiting.
const GATHER: Duration = Duration::from_millis(5);

/// Runs a delivery loop per subscription until `stop`, passing each wake-up on `wake` to all of them; then waits
/// for them (each gives its deliveries in flight up to `grace`, all at the same time).
pub(super) async fn run(relay: Arc<Relay>, wake: Arc<Notify>, stop: CancellationToken, grace: Duration) {
    let mut lanes = JoinSet::new();
    let mut wakes = Vec::new();
    for (name, slots, ordered) in relay.slots() {
        let lane_wake = Arc::new(Notify::new());
        wakes.push(Arc::clone(&lane_wake));
        let lane = Arc::new(Lane {
            relay: Arc::clone(&relay),
            subscription: vec![name],
            ordered,
        });
        let (owner, pace, stop) = (relay.owner.clone(), pace(slots, relay.poll_every), stop.clone());
        lanes.spawn(async move { crate::worker::run(lane, &owner, pace, lane_wake, stop, grace).await });
    }
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            // `notify_one` keeps the wake-up for a loop that is busy claiming rather than waiting.
            () = wake.notified() => wakes.iter().for_each(|lane| lane.notify_one()),
        }
    }
    while let Some(done) = lanes.join_next().await {
        if let Err(error) = done {
            tracing::error!(%error, "a subscription's delivery loop failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::pace;
    use std::time::Duration;

    #[test]
    fn a_loop_claims_a_quarter_of_its_slots_at_a_time() {
        let every = Duration::from_millis(500);
        for (slots, batch) in [(1, 1), (3, 1), (4, 1), (21, 5), (64, 16), (256, 64)] {
            let pace = pace(slots, every);
            assert_eq!((pace.concurrency, pace.batch), (slots, batch), "{slots} slots");
        }
    }
}
