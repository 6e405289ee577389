//! Write health for readiness (`/readyz`), shared by the backends: how recent writes went ([`Health`]: a failure
//! of the whole store keeps readiness failing until a data write succeeds, or for [`FAILING_FOR`]), and when the
//! last successful probe write was ([`Probes`], kept for [`PROBE_FOR`] so that many probes cost one write).

use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use super::StoreError;

/// How long a failed write keeps `/readyz` failing when no data write succeeded since (then a new attempt is let
/// in).
pub(crate) const FAILING_FOR: i64 = 30_000;
/// How long a probe's result answers for.
pub(crate) const PROBE_FOR: Duration = Duration::from_secs(1);

/// How the writer's recent writes went, for readiness (`/readyz`).
#[derive(Debug, Default)]
pub(crate) struct Health {
    last_ok_ms: AtomicI64,
    last_failed_ms: AtomicI64,
    last_error: Mutex<String>,
}

impl Health {
    /// A data write committed.
    pub(crate) fn succeeded(&self) {
        self.last_ok_ms.store(crate::clock::now_ms(), Ordering::Release);
    }

    /// A write failed for a reason of the whole store (not of its own data).
    pub(crate) fn failed(&self, error: &StoreError) {
        self.last_failed_ms.store(crate::clock::now_ms(), Ordering::Release);
        if let Ok(mut last) = self.last_error.lock() {
            *last = error.to_string();
        }
    }

    /// The error of the last write, if it failed (and no write succeeded after it) within `recent_ms` of `now_ms`.
    pub(crate) fn failing(&self, now_ms: i64, recent_ms: i64) -> Option<String> {
        let failed = self.last_failed_ms.load(Ordering::Acquire);
        let ok = self.last_ok_ms.load(Ordering::Acquire);
        (failed > ok && now_ms.saturating_sub(failed) < recent_ms)
            .then(|| self.last_error.lock().map(|e| e.clone()).unwrap_or_default())
    }
}

/// When the last successful probe was.
#[derive(Default)]
pub(crate) struct Probes(Mutex<Option<Instant>>);

impl Probes {
    /// Whether a probe succeeded within [`PROBE_FOR`].
    pub(crate) fn fresh(&self) -> bool {
        self.0
            .lock()
            .ok()
            .and_then(|last| *last)
            .is_some_and(|at| at.elapsed() < PROBE_FOR)
    }

    /// Records a successful probe (a failure is not kept: a failing store is probed again at once).
    pub(crate) fn succeeded(&self) {
        if let Ok(mut last) = self.0.lock() {
            *last = Some(Instant::now());
        }
    }
}
