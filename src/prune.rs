//! Retention: a background task that periodically deletes expired idempotency keys (after `idempotency.keep_for`),
//! finished deferred commands (after `commands.keep_for`), delivered events (after `retention.events`), inbox
//! entries (after `retention.inbox`) and read-model entities not seen for `retention.read_model`, in bounded chunks
//! so other writes keep committing in between.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::store::Store;

/// Prunes once now and then every `idempotency.prune_every` until `stop`.
pub async fn run(store: Arc<dyn Store>, config: Arc<Config>, stop: CancellationToken) {
    let mut every = tokio::time::interval(config.idempotency.prune_every);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = every.tick() => {}
        }
        let now = crate::clock::now_ms();
        let keep = millis(config.commands.keep_for);
        let (mut keys, mut commands) = (0, 0);
        // In bounded chunks, each its own short transaction, so webhooks keep committing in between.
        loop {
            match store.prune(now, now.saturating_sub(keep)).await {
                Ok((0, 0)) => break,
                Ok((k, c)) => {
                    keys += k;
                    commands += c;
                }
                Err(error) => {
                    tracing::warn!(%error, "pruning failed; retrying at the next interval");
                    break;
                }
            }
            if stop.is_cancelled() {
                return;
            }
        }
        if keys + commands > 0 {
            tracing::info!(keys, commands, "pruned expired idempotency keys and commands");
        }
        let events_before = now.saturating_sub(millis(config.retention.events));
        let inbox_before = now.saturating_sub(millis(config.retention.inbox));
        let (mut events, mut inbox) = (0, 0);
        loop {
            match store.prune_delivered(events_before, inbox_before).await {
                Ok((0, 0)) => break,
                Ok((e, i)) => {
                    events += e;
                    inbox += i;
                }
                Err(error) => {
                    tracing::warn!(%error, "pruning delivered events failed; retrying at the next interval");
                    break;
                }
            }
            if stop.is_cancelled() {
                return;
            }
        }
        if events + inbox > 0 {
            tracing::info!(events, inbox, "pruned delivered events and old inbox entries");
        }
        if !prune_entities(
            store.as_ref(),
            now.saturating_sub(millis(config.retention.read_model)),
            &stop,
        )
        .await
        {
            return;
        }
    }
}

/// Deletes the read model's entities not seen since `seen_before_ms`, chunk by chunk; `false` when stopped.
async fn prune_entities(store: &dyn Store, seen_before_ms: i64, stop: &CancellationToken) -> bool {
    let mut entities = 0;
    loop {
        match store.prune_entities(seen_before_ms).await {
            Ok(0) => break,
            Ok(pruned) => entities += pruned,
            Err(error) => {
                tracing::warn!(%error, "pruning the read model failed; retrying at the next interval");
                break;
            }
        }
        if stop.is_cancelled() {
            return false;
        }
    }
    if entities > 0 {
        tracing::info!(
            entities,
            "pruned read-model entities not seen within retention.read_model"
        );
    }
    true
}

fn millis(duration: std::time::Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}
