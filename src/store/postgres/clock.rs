//! The database's clock, as seen from this replica. Leases, key locks and due times are compared across replicas,
//! so they must not depend on any one replica's clock: every time the store is given (the caller's `now_ms`) is
//! shifted by this replica's measured offset to the database clock before it is stored or compared. Replicas
//! whose clocks disagree by minutes still agree on when a lease lapses.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use deadpool_postgres::Pool;

use super::connect;
use crate::store::StoreError;

/// How often the offset is measured again (clocks drift; NTP steps them).
pub(super) const REFRESH: Duration = Duration::from_secs(10);

pub(super) struct DbClock {
    offset_ms: AtomicI64,
    /// This replica's clock (the one callers read `now_ms` from); replaced in tests to play a skewed replica.
    local: fn() -> i64,
}

impl DbClock {
    pub(super) fn new(local: fn() -> i64) -> Self {
        Self {
            offset_ms: AtomicI64::new(0),
            local,
        }
    }

    /// `ms` on this replica's clock, as a time on the database's clock.
    pub(super) fn at(&self, ms: i64) -> i64 {
        if ms == i64::MAX {
            return ms;
        }
        ms.saturating_add(self.offset_ms.load(Ordering::Relaxed))
    }

    /// Measures the offset: the database's clock against the midpoint of the round trip. An offset within the
    /// round trip (plus a few milliseconds) is measurement noise and counts as none.
    pub(super) async fn measure(&self, pool: &Pool) -> Result<i64, StoreError> {
        let conn = connect::get(pool).await?;
        let before = (self.local)();
        let row = conn
            .query_one("SELECT (extract(epoch FROM clock_timestamp()) * 1000)::int8", &[])
            .await?;
        let after = (self.local)();
        let database: i64 = row.try_get(0)?;
        let offset = database - (before + after) / 2;
        let noise = (after - before) / 2 + 5;
        let offset = if offset.abs() <= noise { 0 } else { offset };
        let previous = self.offset_ms.swap(offset, Ordering::Relaxed);
        if (offset - previous).abs() > 1_000 {
            tracing::warn!(
                offset_ms = offset,
                "this replica's clock differs from the database's; leases and key \
                locks follow the database's clock"
            );
        }
        Ok(offset)
    }
}
