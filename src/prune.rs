//! Retention of gateway-owned state: a background task that periodically deletes expired idempotency keys (after
//! `idempotency.keep_for`) and finished deferred commands (after `commands.keep_for`).

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
        let keep = i64::try_from(config.commands.keep_for.as_millis()).unwrap_or(i64::MAX);
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
    }
}
