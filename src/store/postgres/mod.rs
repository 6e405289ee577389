//! The PostgreSQL store, for several gateway replicas on one database: a connection pool ([`connect`]), group
//! commit of webhooks ([`batch`]), statements by table ([`events`], [`keys`], [`commands`], [`deliveries`],
//! [`quarantine`], [`inspect`], [`entities`] for the read model), versioned migrations ([`schema`]), the database clock that judges leases and
//! locks ([`clock`]), and cross-replica wake-ups ([`notify`]). The concurrency contract it keeps is written on
//! [`crate::store::Store`]; how it keeps it, on [`events`] and [`deliveries`].

mod batch;
mod clock;
mod commands;
pub(crate) mod connect;
mod deliveries;
mod entities;
mod events;
mod inspect;
mod keys;
mod notify;
mod operate;
mod quarantine;
mod sagas;
mod schema;
mod unverified;

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use deadpool_postgres::{Object, Pool, Transaction};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub use connect::PostgresUrl;
pub(crate) use connect::{describe, parse_url};

use super::health::{FAILING_FOR, Health, Probes};
use super::{
    Claimed, CommandRecord, CommandUpdate, Delivery, DeliveryOutcome, EventDetail, EventFilter, EventSummary, Ingested,
    KeyClaim, KeyCompletion, NewCommand, NewEvent, Replayed, Resolution, Resolved, Store, StoreError, StoredWebhook,
    Subscriber, Wakes,
};
use crate::config::StoreConfig;

/// The most rows one prune deletes per table, so a backlog is pruned in short transactions.
const PRUNE_CHUNK: i64 = 1_000;
/// How many webhooks may wait for a batch before callers wait for room (backpressure).
pub(super) const QUEUE_DEPTH: usize = 16_384;

pub struct PostgresStore {
    pool: Pool,
    url: PostgresUrl,
    /// Webhooks waiting for the next batch.
    ingests: batch::Queue<batch::Ingests>,
    /// Delivery outcomes waiting for the next batch.
    finishes: batch::Queue<deliveries::Finishes>,
    /// New sagas waiting for the next batch.
    saga_inserts: batch::Queue<sagas::SagaWrites>,
    /// Saga checkpoints waiting for the next batch.
    saga_writes: batch::Queue<sagas::SagaWrites>,
    /// Sagas' final checkpoints (with their events) waiting for the next batch.
    saga_finals: batch::Queue<sagas::SagaWrites>,
    /// The batch writers, awaited at shutdown.
    writers: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    clock: Arc<clock::DbClock>,
    health: Arc<Health>,
    probes: Probes,
    held: Arc<keys::Held>,
    /// Stops the listener and the clock's refresh.
    stop: CancellationToken,
    /// Whether the schema was found fully migrated once (inspection reads check it until then).
    migrated: std::sync::atomic::AtomicBool,
}

impl PostgresStore {
    /// Connects (the database must be reachable), measures the database clock, and starts the batch writer.
    pub async fn open(url: PostgresUrl, config: &StoreConfig) -> Result<Self, StoreError> {
        Self::open_with_clock(url, config, crate::clock::now_ms).await
    }

    /// [`Self::open`] for a replica whose clock is `local` (tests play a replica with a skewed clock).
    pub async fn open_with_clock(
        url: PostgresUrl,
        config: &StoreConfig,
        local: fn() -> i64,
    ) -> Result<Self, StoreError> {
        let pool = connect::pool(&url, config.pool_size, config.statement_timeout)?;
        let clock = Arc::new(clock::DbClock::new(local));
        clock.measure(&pool).await?;
        let stop = CancellationToken::new();
        tokio::spawn(refresh(pool.clone(), Arc::clone(&clock), stop.clone()));
        let health = Arc::new(Health::default());
        let ingester = batch::Ingests(Arc::clone(&clock));
        let (ingests, ingesting) = batch::Queue::start(ingester, pool.clone(), config.max_batch, Arc::clone(&health));
        let (finishes, finishing) = batch::Queue::start(
            deliveries::Finishes,
            pool.clone(),
            config.max_batch,
            Arc::clone(&health),
        );
        let saga_queue = || {
            let kind = sagas::SagaWrites(Arc::clone(&clock));
            batch::Queue::start(kind, pool.clone(), config.max_batch, Arc::clone(&health))
        };
        let ((saga_inserts, saga_inserting), (saga_writes, saga_writing)) = (saga_queue(), saga_queue());
        let (saga_finals, saga_finishing) = saga_queue();
        Ok(Self {
            pool,
            url,
            ingests,
            finishes,
            saga_inserts,
            saga_writes,
            saga_finals,
            writers: Mutex::new(vec![ingesting, finishing, saga_inserting, saga_writing, saga_finishing]),
            clock,
            health,
            probes: Probes::default(),
            held: Arc::default(),
            stop,
            migrated: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Fails with a clear message until the schema is fully migrated (checked until it once is).
    async fn checked(&self) -> Result<(), StoreError> {
        if !self.migrated.load(std::sync::atomic::Ordering::Relaxed) {
            schema::check(&self.pool).await?;
            self.migrated.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(())
    }

    async fn conn(&self) -> Result<Object, StoreError> {
        connect::get(&self.pool).await
    }
}

async fn commit(tx: Transaction<'_>) -> Result<(), StoreError> {
    tx.commit().await.map_err(connect::commit_error)
}

/// Every [`clock::REFRESH`]: measures the database clock again, and refreshes the planner's statistics of tables
/// that changed by a tenth since their last `ANALYZE` (as autovacuum would, where it is off or slow: a queue table
/// planned as empty is read in full by every claim).
async fn refresh(pool: Pool, clock: Arc<clock::DbClock>, stop: CancellationToken) {
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(clock::REFRESH) => {}
        }
        if let Err(error) = clock.measure(&pool).await {
            tracing::debug!(%error, "cannot measure the database clock now");
        }
        if let Err(error) = schema::analyze_changed(&pool).await {
            tracing::debug!(%error, "cannot refresh the planner's statistics now");
        }
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        schema::migrate(&self.pool).await
    }

    async fn ingest(&self, event: NewEvent) -> Result<Ingested, StoreError> {
        self.ingests.submit(event).await
    }

    async fn list_events(&self, filter: EventFilter) -> Result<Vec<EventSummary>, StoreError> {
        self.checked().await?;
        let conn = self.conn().await?;
        events::list(&conn, filter).await
    }

    async fn claim_key(&self, claim: KeyClaim) -> Result<Claimed, StoreError> {
        if let Some(held) = self.held.find(&claim) {
            return Ok(held);
        }
        let claimed = keys::claim(&self.conn().await?, &claim, self.clock.at(claim.now_ms)).await?;
        if let Claimed::Started { token } = &claimed {
            self.held
                .started(*token, &claim.fingerprint, claim.now_ms.saturating_add(claim.lock_ms));
        }
        Ok(claimed)
    }

    async fn complete_key(&self, done: KeyCompletion) -> Result<bool, StoreError> {
        let fingerprint = self.held.ended(done.token);
        let written = match self.conn().await {
            Ok(conn) => keys::complete(&conn, &done).await,
            Err(error) => Err(error),
        };
        match written {
            Ok(committed) => Ok(committed),
            // The vendor call happened: the key must never run again. Hold the answer (replayed meanwhile) and
            // keep trying to commit it.
            Err(error) => {
                let Some(fingerprint) = fingerprint else {
                    return Err(error);
                };
                tracing::error!(%error, "cannot commit an idempotency key's answer; holding it and retrying");
                self.held.hold(fingerprint, done.clone());
                keys::retry_write(self.pool.clone(), Arc::clone(&self.held), done, self.stop.clone());
                Ok(true)
            }
        }
    }

    async fn release_key(&self, caller: String, key: String, token: Uuid) -> Result<bool, StoreError> {
        self.held.ended(token);
        keys::release(&self.conn().await?, &caller, &key, token).await
    }

    async fn insert_command(&self, command: NewCommand, key: Option<KeyCompletion>) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await?;
        commands::insert(&tx, &command, self.clock.at(command.created_at_ms)).await?;
        if let Some(done) = &key {
            keys::complete(&tx, done).await?;
        }
        notify::wake(&tx, notify::COMMANDS).await?;
        commit(tx).await?;
        if let Some(done) = key {
            self.held.ended(done.token);
        }
        Ok(())
    }

    async fn get_command(&self, id: Uuid) -> Result<Option<CommandRecord>, StoreError> {
        commands::get(&self.conn().await?, id).await
    }

    async fn claim_commands(
        &self,
        owner: String,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<CommandRecord>, StoreError> {
        let claimed = commands::claim(&self.conn().await?, &owner, self.clock.at(now_ms), lease_ms, limit).await?;
        Ok(super::readable(claimed, "command"))
    }

    async fn update_command(
        &self,
        id: Uuid,
        owner: String,
        now_ms: i64,
        update: CommandUpdate,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await?;
        if let CommandUpdate::Finish { event, .. } = &update {
            events::lock(
                &tx,
                true,
                &events::subject_locks(event.subject.as_deref(), &event.deliver_to),
            )
            .await?;
            notify::wake(&tx, notify::OUTBOX).await?;
        }
        let now = self.clock.at(now_ms);
        let changed = commands::update(&tx, id, &owner, now, &update, &self.clock).await?;
        commit(tx).await?;
        Ok(changed)
    }

    async fn claim_deliveries(
        &self,
        owner: String,
        subscriptions: Vec<String>,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        let now = self.clock.at(now_ms);
        deliveries::claim(&self.conn().await?, &owner, &subscriptions, now, lease_ms, limit).await
    }

    async fn finish_delivery(
        &self,
        delivery: &Delivery,
        owner: String,
        now_ms: i64,
        latency_ms: i64,
        outcome: DeliveryOutcome,
    ) -> Result<bool, StoreError> {
        let next = match &outcome {
            DeliveryOutcome::Retry { next_attempt_ms, .. } => self.clock.at(*next_attempt_ms),
            _ => 0,
        };
        let finish = deliveries::Finish::new(delivery, owner, (self.clock.at(now_ms), latency_ms), outcome, next);
        self.finishes.submit(finish).await
    }

    async fn get_event(&self, id: Uuid) -> Result<Option<EventDetail>, StoreError> {
        self.checked().await?;
        inspect::detail(&self.conn().await?, id).await
    }

    async fn replay_event(&self, id: Uuid, subscribers: Vec<Subscriber>, now_ms: i64) -> Result<Replayed, StoreError> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await?;
        let replayed = inspect::replay(&tx, id, &subscribers, self.clock.at(now_ms)).await?;
        if matches!(replayed, Replayed::Queued(n) if n > 0) {
            notify::wake(&tx, notify::OUTBOX).await?;
        }
        commit(tx).await?;
        Ok(replayed)
    }

    async fn get_webhook(&self, id: Uuid) -> Result<Option<StoredWebhook>, StoreError> {
        self.checked().await?;
        quarantine::get(&self.conn().await?, id).await
    }

    async fn resolve_quarantine(
        &self,
        id: Uuid,
        resolution: Resolution,
        now_ms: i64,
    ) -> Result<Option<Resolved>, StoreError> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await?;
        let resolved = quarantine::resolve(&tx, id, &resolution, self.clock.at(now_ms)).await?;
        if matches!(resolved, Some(Resolved::Now(super::EventStatus::Pending))) {
            notify::wake(&tx, notify::OUTBOX).await?;
        }
        commit(tx).await?;
        Ok(resolved)
    }

    async fn prune_delivered(&self, events_before_ms: i64, inbox_before_ms: i64) -> Result<(usize, usize), StoreError> {
        inspect::prune(&self.conn().await?, events_before_ms, inbox_before_ms, PRUNE_CHUNK).await
    }

    async fn pending_stats(&self) -> Result<Vec<(String, u64, i64)>, StoreError> {
        inspect::pending(&self.conn().await?).await
    }

    async fn prune(&self, now_ms: i64, commands_before_ms: i64) -> Result<(usize, usize), StoreError> {
        self.held.forget_lapsed(now_ms);
        let conn = self.conn().await?;
        let keys = keys::prune(&conn, self.clock.at(now_ms), PRUNE_CHUNK).await?;
        let commands = commands::prune(&conn, commands_before_ms, PRUNE_CHUNK).await?
            + sagas::prune(&conn, commands_before_ms, PRUNE_CHUNK).await?;
        Ok((keys, commands))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        if !self.ingests.is_open() {
            return Err(StoreError::Closed);
        }
        let stopped = self
            .writers
            .lock()
            .map_or(true, |writers| writers.iter().any(|w| w.is_finished()));
        if stopped {
            return Err(StoreError::Unavailable("a batch writer stopped".into()));
        }
        if !self.probes.fresh() {
            let conn = self.conn().await?;
            let probe = conn
                .prepare_cached("UPDATE store_health SET checked_at_ms = $1 WHERE id = 1")
                .await?;
            conn.execute(&probe, &[&crate::clock::now_ms()]).await?;
            self.probes.succeeded();
        }
        match self.health.failing(crate::clock::now_ms(), FAILING_FOR) {
            Some(error) => Err(StoreError::Unavailable(format!("recent writes failed: {error}"))),
            None => Ok(()),
        }
    }

    fn watch(&self, wakes: Wakes) {
        tokio::spawn(notify::listen(self.url.clone(), wakes, self.stop.clone()));
    }

    async fn shutdown(&self) {
        // Answers still held in memory get a last attempt: once the process is gone, their keys lapse.
        for done in self.held.all() {
            let written = match self.conn().await {
                Ok(conn) => keys::complete(&conn, &done).await,
                Err(error) => Err(error),
            };
            if let Err(error) = written {
                tracing::error!(%error, caller = %done.caller,
                    "an idempotency key's answer could not be committed before shutdown; its key lapses");
            }
        }
        self.stop.cancel();
        self.ingests.close();
        self.finishes.close();
        self.saga_inserts.close();
        self.saga_writes.close();
        self.saga_finals.close();
        let writers = self
            .writers
            .lock()
            .map(|mut writers| std::mem::take(&mut *writers))
            .unwrap_or_default();
        for writer in writers {
            let _ = writer.await;
        }
        self.pool.close();
    }
}

#[cfg(test)]
mod tests;
