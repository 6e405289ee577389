//! The store's write health, for readiness (`/readyz`): how the writer's recent writes went ([`Health`], fed by
//! the writer with each write's outcome and [`Role`]), and the probe, a write of one row through the writer like
//! any other, whose success is kept for a second so that many probes cost one write.

use super::SqliteStore;
use super::writer::{self, Role};
use crate::store::StoreError;
use crate::store::health::FAILING_FOR;
pub(super) use crate::store::health::{Health, Probes};

impl Health {
    /// Takes in a write's outcome: a data write's success, or a failure of the whole store (not one of a single
    /// write, such as a constraint; `store_wide`), from any write but the probe.
    pub(super) fn record(&self, role: Role, outcome: &Result<(), StoreError>, store_wide: bool) {
        match outcome {
            Ok(()) if role == Role::Data => self.succeeded(),
            Ok(()) => {}
            Err(_) if role == Role::Probe || !store_wide => {}
            Err(error) => self.failed(error),
        }
    }
}

/// Whether `store` can commit writes now: a probe write goes through the writer, and no store-wide failure of a
/// write is more recent than the last data write that succeeded (within [`FAILING_FOR`]).
pub(super) async fn ping(store: &SqliteStore) -> Result<(), StoreError> {
    let writer = store.writer.as_ref().ok_or(StoreError::Closed)?;
    if !store.probes.fresh() {
        probe(store, writer).await?;
        store.probes.succeeded();
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
    super::writes::submit(
        writer,
        Box::new(writer::WithRole(Role::Probe, writer::Durability::Synced, probe)),
        answer,
    )
    .await
}
