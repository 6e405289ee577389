//! The outbox relay: delivers every stored event to each subscription that wants it, at least once. It claims due
//! deliveries in batches under a lease (a crashed relay's claims come back when the lease lapses), sends each to its
//! subscription's [`sink`], and records the outcome conditioned on its claim: delivered; retried with jittered
//! exponential backoff (at least the sink's `Retry-After`); or dead after `max_attempts` or a permanent refusal
//! (each retry and dead letter logged at `warn`). Each subscription has its own delivery loop and slots
//! ([`lanes`]), so one slow consumer delays no other subscription. New events wake it at once; retries coming due
//! and other relays' work are found by polling. For ordered subscriptions the store hands out only the oldest
//! pending event of each subject, so a subject has at most one delivery in flight and a failing event holds back
//! its own subject only.

mod lanes;
pub mod nats;
pub mod sink;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::config::{Config, ConfigError, DeliveryRetry, SubscriptionConfig, glob_matches};
use crate::store::{Delivery, DeliveryOutcome, Store, Subscriber};
use crate::upstream::full_jitter;
use sink::{Attempt, Sink};

/// How often the outbox depth gauges are refreshed.
const GAUGE_EVERY: Duration = Duration::from_secs(5);

/// The subscriptions an event of `event_type` goes to.
pub fn route(subscriptions: &[SubscriptionConfig], event_type: &str) -> Vec<Subscriber> {
    subscriptions
        .iter()
        .filter(|s| s.events.iter().any(|glob| glob_matches(glob, event_type)))
        .map(|s| Subscriber {
            name: s.name.clone(),
            ordered: s.ordered,
        })
        .collect()
}

struct Subscription {
    sink: Sink,
    retry: DeliveryRetry,
    /// Its deliveries in flight at once.
    slots: usize,
    ordered: bool,
}

pub struct Relay {
    store: Arc<dyn Store>,
    subscriptions: HashMap<String, Subscription>,
    names: Vec<String>,
    lease: Duration,
    poll_every: Duration,
    /// This relay's name on its claims (a token is added per claim).
    owner: String,
    wake: Arc<Notify>,
}

impl Relay {
    /// Builds every subscription's sink (resolving secrets); the first problem names its key.
    pub fn build(config: &Config, store: Arc<dyn Store>, wake: Arc<Notify>) -> Result<Arc<Relay>, ConfigError> {
        let mut subscriptions = HashMap::new();
        let count = config.subscriptions.len();
        for (i, subscription) in config.subscriptions.iter().enumerate() {
            let sink = Sink::build(&format!("subscriptions[{i}].sink"), &subscription.sink)?;
            let retry = subscription.retry.clone();
            let slots = subscription.slots(&config.relay, count);
            let ordered = subscription.ordered;
            let kept = Subscription {
                sink,
                retry,
                slots,
                ordered,
            };
            subscriptions.insert(subscription.name.clone(), kept);
        }
        let names = config.subscriptions.iter().map(|s| s.name.clone()).collect();
        Ok(Arc::new(Relay {
            store,
            subscriptions,
            names,
            lease: config.relay.lease,
            poll_every: config.relay.poll_every,
            owner: format!("relay-{}", Uuid::now_v7()),
            wake,
        }))
    }

    /// Builds every subscription's sink without running anything, for `check-config`.
    pub fn check(config: &Config) -> Result<(), ConfigError> {
        for (i, subscription) in config.subscriptions.iter().enumerate() {
            Sink::build(&format!("subscriptions[{i}].sink"), &subscription.sink)?;
        }
        Ok(())
    }

    /// Runs until `stop`, then waits up to `grace` for the deliveries in flight (an unfinished one is delivered
    /// again once its lease lapses).
    pub async fn run(self: Arc<Self>, stop: CancellationToken, grace: Duration) {
        self.warn_about_orphans().await;
        if self.names.is_empty() {
            return;
        }
        // The depth gauges, beside the delivery loop.
        let this = Arc::clone(&self);
        let gauges_stop = stop.clone();
        let gauges = tokio::spawn(async move {
            let mut every = tokio::time::interval(GAUGE_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = gauges_stop.cancelled() => return,
                    _ = every.tick() => this.record_depth().await,
                }
            }
        });
        let wake = Arc::clone(&self.wake);
        lanes::run(self, wake, stop, grace).await;
        let _ = gauges.await;
    }

    /// Each configured subscription with its slots and whether it is ordered, in the configured order.
    fn slots(&self) -> Vec<(String, usize, bool)> {
        self.names
            .iter()
            .filter_map(|name| {
                let subscription = self.subscriptions.get(name)?;
                Some((name.clone(), subscription.slots, subscription.ordered))
            })
            .collect()
    }

    /// Pending deliveries of subscriptions no longer configured are never sent: say so at start.
    async fn warn_about_orphans(&self) {
        let Ok(stats) = self.store.pending_stats().await else {
            return;
        };
        for (name, count, _) in stats.iter().filter(|(name, _, _)| !self.names.contains(name)) {
            tracing::warn!(
                subscription = %name,
                pending = count,
                "pending deliveries of a subscription that is no longer configured; they are not sent (replay the \
                 events to deliver them to the subscriptions configured now)"
            );
        }
    }

    /// The outbox depth and oldest waiting event per subscription, as gauges.
    async fn record_depth(&self) {
        let stats = match self.store.pending_stats().await {
            Ok(stats) => stats,
            Err(error) => {
                tracing::warn!(%error, "cannot read the outbox depth");
                return;
            }
        };
        let now = crate::clock::now_ms();
        for name in &self.names {
            let (count, oldest_ms) = stats
                .iter()
                .find(|(subscription, _, _)| subscription == name)
                .map_or((0, now), |(_, count, oldest)| (*count, *oldest));
            let labels = [("subscription", name.clone())];
            metrics::gauge!(crate::metrics::OUTBOX_PENDING, &labels).set(count as f64);
            let age = (now.saturating_sub(oldest_ms).max(0)) as f64 / 1000.0;
            metrics::gauge!(crate::metrics::OUTBOX_OLDEST_SECONDS, &labels).set(age);
        }
    }

    async fn deliver(&self, delivery: Delivery, claimant: String) {
        let Some(subscription) = self.subscriptions.get(&delivery.subscription) else {
            return;
        };
        let started = std::time::Instant::now();
        let attempt = subscription.sink.deliver(&delivery).await;
        let latency_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let outcome = decide(&subscription.retry, delivery.attempts, attempt);
        let label = match &outcome {
            DeliveryOutcome::Delivered => "delivered",
            DeliveryOutcome::Retry { .. } => "retry",
            DeliveryOutcome::Dead { .. } => "dead",
        };
        metrics::counter!(crate::metrics::DELIVERIES, "subscription" => delivery.subscription.clone(),
            "outcome" => label)
        .increment(1);
        let now = crate::clock::now_ms();
        if outcome == DeliveryOutcome::Delivered {
            let latency = now.saturating_sub(delivery.received_at_ms).max(0) as f64 / 1000.0;
            metrics::histogram!(crate::metrics::DELIVERY_SECONDS, "subscription" => delivery.subscription.clone())
                .record(latency);
        }
        match self
            .store
            .finish_delivery(&delivery, claimant, now, latency_ms, outcome.clone())
            .await
        {
            Ok(true) => log_failure(&delivery, &outcome),
            Ok(false) => tracing::warn!(event = %delivery.event_id, subscription = %delivery.subscription,
                "delivery claim lost before its outcome was recorded"),
            Err(error) => tracing::error!(%error, event = %delivery.event_id,
                "cannot record a delivery's outcome; it is sent again once its lease lapses"),
        }
    }
}

/// A recorded retry or dead letter, at `warn` (the error is the sink's, which never holds its URL's path or query).
fn log_failure(delivery: &Delivery, outcome: &DeliveryOutcome) {
    let attempt = delivery.attempts.saturating_add(1);
    match outcome {
        DeliveryOutcome::Delivered => {}
        DeliveryOutcome::Retry { next_attempt_ms, error } => tracing::warn!(
            event = %delivery.event_id,
            subscription = %delivery.subscription,
            attempt,
            next_attempt_at = %crate::clock::rfc3339_millis_from_ms(*next_attempt_ms),
            %error,
            "delivery failed; it will be retried"
        ),
        DeliveryOutcome::Dead { error } => tracing::warn!(
            event = %delivery.event_id,
            subscription = %delivery.subscription,
            attempts = attempt,
            %error,
            "delivery is dead: no more attempts (replay the event to send it again)"
        ),
    }
}

/// What an attempt means for the delivery, after `attempts` earlier ones.
fn decide(retry: &DeliveryRetry, attempts: u32, attempt: Attempt) -> DeliveryOutcome {
    match attempt {
        Attempt::Delivered => DeliveryOutcome::Delivered,
        Attempt::Refused { error } => DeliveryOutcome::Dead { error },
        Attempt::Failed { error, after } => {
            let made = attempts.saturating_add(1);
            if made >= retry.max_attempts {
                return DeliveryOutcome::Dead {
                    error: format!("{error} (attempt {made} of {})", retry.max_attempts),
                };
            }
            // The sink's Retry-After is honoured up to max_delay, so a consumer cannot park a delivery for years.
            let asked = after.unwrap_or_default().min(retry.max_delay);
            let delay = full_jitter(retry.base_delay, retry.max_delay, made).max(asked);
            let delay = i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
            DeliveryOutcome::Retry {
                next_attempt_ms: crate::clock::now_ms().saturating_add(delay),
                error,
            }
        }
    }
}
