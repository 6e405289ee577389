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
        match store.prune(now, now.saturating_sub(keep)).await {
            Ok((0, 0)) => {}
            Ok((keys, commands)) => tracing::info!(keys, commands, "pruned expired idempotency keys and commands"),
            Err(error) => tracing::warn!(%error, "pruning failed; retrying at the next interval"),
        }
    }
}
