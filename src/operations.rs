//! What operators do to recover without SQL, shared by the admin API (`src/http/admin_*.rs`) and the CLI
//! (`gatehouse events|commands …`): replay one event (for every subscription that wants it, or one), replay dead
//! deliveries in bulk by filter, report each subscription's deliveries, and cancel a deferred command (announcing it
//! as a `gatehouse.command.cancelled` event).

use std::sync::Arc;

use serde::Serialize;
use uuid::Uuid;

use crate::config::SubscriptionConfig;
use crate::store::{BulkReplay, Cancelled, ReplayFilter, Replayed, Store, StoreError, Subscriber};

/// Why a replay of one event did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("no event {0}")]
    NoSuchEvent(Uuid),
    #[error("no subscription named {0:?} is configured")]
    NoSuchSubscription(String),
    #[error("subscription {subscription:?} does not take events of type {event_type}")]
    NotRouted { subscription: String, event_type: String },
    #[error("event {0} is quarantined: retranslate it first")]
    Quarantined(Uuid),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Queues event `id` again for `only` that subscription, or for every subscription that wants its type now (a
/// delivery still pending is left to its current attempt); answers how many deliveries were queued.
pub async fn replay_event(
    store: &dyn Store,
    subscriptions: &[SubscriptionConfig],
    id: Uuid,
    only: Option<&str>,
) -> Result<usize, ReplayError> {
    if let Some(name) = only
        && !subscriptions.iter().any(|s| s.name == name)
    {
        return Err(ReplayError::NoSuchSubscription(name.to_owned()));
    }
    let event = store.get_event(id).await?.ok_or(ReplayError::NoSuchEvent(id))?;
    let mut subscribers = crate::relay::route(subscriptions, &event.summary.event_type);
    if let Some(name) = only {
        subscribers.retain(|s| s.name == name);
        if subscribers.is_empty() {
            return Err(ReplayError::NotRouted {
                subscription: name.to_owned(),
                event_type: event.summary.event_type,
            });
        }
    }
    match store.replay_event(id, subscribers, crate::clock::now_ms()).await? {
        Replayed::Queued(queued) => Ok(queued),
        Replayed::NoSuchEvent => Err(ReplayError::NoSuchEvent(id)),
        Replayed::Quarantined => Err(ReplayError::Quarantined(id)),
    }
}

/// Replays the deliveries `filter` matches of subscription `only`, or of every subscription configured now
/// (`dry_run`: only counts them).
pub async fn replay_matching(
    store: &dyn Store,
    subscriptions: &[SubscriptionConfig],
    only: Option<&str>,
    filter: ReplayFilter,
    dry_run: bool,
) -> Result<BulkReplay, ReplayError> {
    if let Some(name) = only
        && !subscriptions.iter().any(|s| s.name == name)
    {
        return Err(ReplayError::NoSuchSubscription(name.to_owned()));
    }
    let subscribers: Vec<Subscriber> = subscriptions
        .iter()
        .filter(|s| only.is_none_or(|name| s.name == name))
        .map(|s| Subscriber {
            name: s.name.clone(),
            ordered: s.ordered,
        })
        .collect();
    let replayed = store
        .replay_deliveries(filter.clone(), subscribers, crate::clock::now_ms(), dry_run)
        .await?;
    if !dry_run {
        tracing::info!(
            state = filter.state.as_str(),
            subscription = only.unwrap_or("*"),
            matched = replayed.matched,
            queued = replayed.queued,
            "bulk replay"
        );
    }
    Ok(replayed)
}

/// One subscription's deliveries, as `GET /admin/subscriptions` and `gatehouse subscriptions` report them.
#[derive(Debug, Clone, Serialize)]
pub struct SubscriptionReport {
    pub name: String,
    pub pending: u64,
    pub retrying: u64,
    pub dead: u64,
    pub delivered: u64,
    /// How long the oldest pending delivery's event has waited (`None`: nothing pending).
    pub oldest_pending_seconds: Option<f64>,
    /// Whether the subscription is in the config now (deliveries of one no longer configured are never sent).
    pub configured: bool,
}

/// Every configured subscription (with zeros when it has no deliveries yet), then any other the store has
/// deliveries for.
pub async fn subscriptions(
    store: &dyn Store,
    subscriptions: &[SubscriptionConfig],
) -> Result<Vec<SubscriptionReport>, StoreError> {
    let mut stats = store.subscription_stats().await?;
    let now = crate::clock::now_ms();
    let report = |stats: crate::store::SubscriptionStats, configured| SubscriptionReport {
        oldest_pending_seconds: stats
            .oldest_pending_ms
            .filter(|_| stats.pending > 0)
            .map(|ms| (now.saturating_sub(ms).max(0)) as f64 / 1000.0),
        name: stats.name,
        pending: stats.pending,
        retrying: stats.retrying,
        dead: stats.dead,
        delivered: stats.delivered,
        configured,
    };
    let mut out = Vec::with_capacity(subscriptions.len());
    for subscription in subscriptions {
        let found = stats.iter().position(|s| s.name == subscription.name);
        let stats = found
            .map(|i| stats.remove(i))
            .unwrap_or_else(|| crate::store::SubscriptionStats {
                name: subscription.name.clone(),
                ..Default::default()
            });
        out.push(report(stats, true));
    }
    out.extend(stats.into_iter().map(|s| report(s, false)));
    Ok(out)
}

/// Cancels deferred command `id` if it is pending and not running, recording its `gatehouse.command.cancelled`
/// event for the subscriptions that want it.
pub async fn cancel_command(
    store: &dyn Store,
    subscriptions: &[SubscriptionConfig],
    relay_wake: Option<&Arc<tokio::sync::Notify>>,
    id: Uuid,
) -> Result<Cancelled, StoreError> {
    let Some(command) = store.get_command(id).await? else {
        return Ok(Cancelled::NotFound);
    };
    let mut event = crate::commands::announcement(
        &command,
        crate::store::CommandStatus::Cancelled,
        command.attempts,
        &serde_json::Value::Null,
    );
    event.deliver_to = crate::relay::route(subscriptions, &event.event_type);
    let announced = !event.deliver_to.is_empty();
    let cancelled = store.cancel_command(id, crate::clock::now_ms(), event).await?;
    if let Cancelled::Done(_) = &cancelled {
        tracing::warn!(command = %id, provider = %command.provider, caller = %command.caller,
            "deferred command cancelled by an operator");
        if announced && let Some(wake) = relay_wake {
            wake.notify_one();
        }
    }
    Ok(cancelled)
}

/// A command as the admin API and `gatehouse commands` show it; `detail` adds its request body, response and next
/// attempt time.
pub fn command_json(command: &crate::store::CommandRecord, detail: bool) -> serde_json::Value {
    use crate::clock::rfc3339_from_ms;
    let mut view = serde_json::json!({
        "id": command.id,
        "caller": command.caller,
        "provider": command.provider,
        "method": command.method,
        "path": command.path,
        "status": command.status,
        "attempts": command.attempts,
        "last_error": command.last_error,
        "correlationid": command.correlation_id,
        "created_at": rfc3339_from_ms(command.created_at_ms),
        "updated_at": rfc3339_from_ms(command.updated_at_ms),
    });
    if detail {
        let pending = command.status == crate::store::CommandStatus::Pending;
        view["next_attempt_at"] = pending.then(|| rfc3339_from_ms(command.next_attempt_ms)).into();
        view["running"] = (pending && command.lease_until_ms > crate::clock::now_ms()).into();
        view["body"] = match serde_json::from_slice::<serde_json::Value>(&command.body) {
            Ok(json) => json,
            Err(_) if command.body.is_empty() => serde_json::Value::Null,
            Err(_) => String::from_utf8_lossy(&command.body).into_owned().into(),
        };
        view["response"] = command.response.clone().unwrap_or(serde_json::Value::Null);
    }
    view
}

/// A saga as `GET /v1/sagas/{id}`, the admin API and `gatehouse sagas` show it: its state and every step's (state,
/// attempts, answer, errors); `detail` adds its caller's input and, while it runs, whether an executor holds it
/// and when it is next due.
pub fn saga_json(saga: &crate::store::SagaRecord, detail: bool) -> serde_json::Value {
    use crate::clock::rfc3339_from_ms;
    let failed_step = saga
        .steps
        .iter()
        .find(|s| s.status == crate::store::StepStatus::CompensationFailed)
        .map(|s| s.name.clone());
    let mut view = serde_json::json!({
        "id": saga.id,
        "saga": saga.name,
        "caller": saga.caller,
        "status": saga.status,
        "steps": saga.steps,
        "correlationid": saga.correlation_id,
        "created_at": rfc3339_from_ms(saga.created_at_ms),
        "updated_at": rfc3339_from_ms(saga.updated_at_ms),
    });
    if let Some(step) = failed_step {
        view["failed_step"] = step.into();
    }
    if detail {
        let live = !saga.status.is_final();
        view["input"] = saga.input.clone();
        view["retries"] = saga.retries.into();
        view["next_attempt_at"] = live.then(|| rfc3339_from_ms(saga.next_attempt_ms)).into();
        view["running"] = (live && saga.lease_until_ms > crate::clock::now_ms()).into();
    }
    view
}
