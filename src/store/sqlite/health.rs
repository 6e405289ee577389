//! The store's write health, for readiness (`/readyz`): how the writer's recent writes went ([`Health`], fed by
//! the writer with each write's outcome and [`Role`]), and the probe, a write of one row through the writer like
//! any other, whose success is kept for a second so that many probes cost one write.

use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use super::SqliteStore;
use super::writer::{self, Role};
use crate::store::StoreError;

/// How long a failed write keeps `/readyz` failing when no data write succeeded since (then a new attempt is let
/// in).
const FAILING_FOR: i64 = 30_000;
/// How long a probe's result answers for.
const PROBE_FOR: Duration = Duration::from_secs(1);

/// How the writer's recent writes went, for readiness (`/readyz`).
#[derive(Debug, Default)]
pub(super) struct Health {
    last_ok_ms: AtomicI64,
    last_failed_ms: AtomicI64,
    last_error: Mutex<String>,
}

impl Health {
    /// Takes in a write's outcome: a data write's success, or a failure of the whole store (not one of a single
    /// write, such as a constraint; `store_wide`), from any write but the probe.
    pub(super) fn record(&self, role: Role, outcome: &Result<(), StoreError>, store_wide: bool) {
        let now = crate::clock::now_ms();
        match outcome {
            Ok(()) if role == Role::Data => self.last_ok_ms.store(now, Ordering::Release),
            Ok(()) => {}
            Err(_) if role == Role::Probe || !store_wide => {}
            Err(error) => {
                self.last_failed_ms.store(now, Ordering::Release);
                if let Ok(mut last) = self.last_error.lock() {
                    *last = error.to_string();
                }
            }
        }
    }

    /// The error of the last write, if it failed (and no write succeeded after it) within `recent_ms` of `now_ms`.
    pub(super) fn failing(&self, now_ms: i64, recent_ms: i64) -> Option<String> {
        let failed = self.last_failed_ms.load(Ordering::Acquire);
        let ok = self.last_ok_ms.load(Ordering::Acquire);
        (failed > ok && now_ms.saturating_sub(failed) < recent_ms)
            .then(|| self.last_error.lock().map(|e| e.clone()).unwrap_or_default())
    }
}

/// When the last successful probe was.
#[derive(Default)]
pub(super) struct Probes(Mutex<Option<Instant>>);

/// Whether `store` can commit writes now: a probe write goes through the writer, and no store-wide failure of a
/// write is more recent than the last data write that succeeded (within [`FAILING_FOR`]).
pub(super) async fn ping(store: &SqliteStore) -> Result<(), StoreError> {
    let writer = store.writer.as_ref().ok_or(StoreError::Closed)?;
    let recent = store.probes.0.lock().ok().and_then(|last| *last);
    if recent.is_none_or(|at| at.elapsed() >= PROBE_FOR) {
        probe(store, writer).await?;
        // Only a success is kept: a store that failed is probed again at once, so its recovery shows at once.
        if let Ok(mut last) = store.probes.0.lock() {
            *last = Some(Instant::now());
        }
    }
    match store.health.failing(crate::clock::now_ms(), FAILING_FOR) {
        Some(error) => Err(StoreError::Unavailable(format!("recent writes failed: {error}"))),
        None => Ok(()),
    }
}

async fn probe(store: &SqliteStore, writer: &tokio::sync::mpsc::Sender<writer::Command>) -> Result<(), StoreError> {
    store.read(super::schema::check).await?;
    let (probe, answer) = writer::Op::boxed(|tx| {
        tx.prepare_cached("UPDATE store_health SET checked_at_ms = ?1 WHERE id = 1")?
            .execute([crate::clock::now_ms()])
            .map(drop)
    });
    super::writes::submit(writer, Box::new(writer::WithRole(Role::Probe, probe)), answer).await
}
