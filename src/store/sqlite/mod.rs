//! The embedded SQLite store: one writer thread that group-commits (see [`writer`], fed through [`writes`]) and
//! reader connections for queries, all on the same WAL database file. The statements live by table: [`events`],
//! [`keys`], [`commands`], [`deliveries`], [`quarantine`], [`inspect`], [`entities`] (the read model); idempotency
//! keys in flight are held in memory ([`claims`]), which is sound only because one process owns the file
//! ([`owner`]); write health and the readiness probe are in [`health`].

mod checks;
mod claims;
mod commands;
mod deliveries;
mod entities;
mod events;
mod health;
mod inspect;
mod keys;
mod operate;
mod owner;
mod quarantine;
mod sagas;
mod schema;
mod writer;
mod writes;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::{
    Claimed, CommandRecord, CommandUpdate, Delivery, DeliveryOutcome, EventDetail, EventFilter, EventSummary, Ingested,
    KeyClaim, KeyCompletion, NewCommand, NewEvent, Replayed, Resolution, Resolved, Store, StoreError, StoreFault,
    StoredWebhook, Subscriber,
};

/// How many writes may wait for the writer before callers wait for room (backpressure).
const QUEUE_DEPTH: usize = 16_384;
/// The most rows one prune deletes per table, so a backlog is pruned in short transactions between other writes.
const PRUNE_CHUNK: usize = 1_000;
/// The longest a write waits for its commit before failing with 503 (vendors time out webhooks after 5-30 s).
const WRITE_DEADLINE: std::time::Duration = std::time::Duration::from_secs(4);

pub struct SqliteStore {
    path: PathBuf,
    /// The owner lock on `<db>.lock`, held while the store is open for writing (`None` read-only or shut down).
    owner: Mutex<Option<std::fs::File>>,
    /// `None` for a read-only store (`gatehouse events list`).
    writer: Option<mpsc::Sender<writer::Command>>,
    /// How the writer's recent writes went.
    health: Arc<health::Health>,
    /// The last readiness probe.
    probes: health::Probes,
    reader: Arc<Mutex<Connection>>,
    /// Connections for the point lookups a key claim makes on the caller's own thread (no hand-off).
    key_readers: Mutex<Vec<Connection>>,
    claims: Arc<claims::Claims>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` as its owner (a gateway or a relay) and starts its writer
    /// thread. Refused while another owner has it: see [`owner`].
    pub async fn open(path: &Path, max_batch: usize) -> Result<Self, StoreError> {
        let locked = path.to_owned();
        let owner = blocking(move || owner::lock(&locked)).await?;
        Self::open_with(path, max_batch, Some(owner)).await
    }

    /// Opens the database for a one-shot operator command (`events replay`, `events retranslate`, `migrate`) beside
    /// a running owner: its writes take SQLite's own lock one transaction at a time, and it claims no idempotency
    /// key (the state only an owner keeps), so it cannot break an owner's guarantees.
    pub async fn open_for_maintenance(path: &Path, max_batch: usize) -> Result<Self, StoreError> {
        Self::open_with(path, max_batch, None).await
    }

    async fn open_with(path: &Path, max_batch: usize, owner: Option<std::fs::File>) -> Result<Self, StoreError> {
        let path = path.to_owned();
        let opened = path.clone();
        let (write_conn, read_conn) =
            blocking(move || Ok((schema::connect_writer(&opened)?, schema::connect(&opened)?))).await?;
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        let health = Arc::new(health::Health::default());
        let written = Arc::clone(&health);
        std::thread::Builder::new()
            .name("gatehouse-sqlite-writer".into())
            .spawn(move || writer::run(write_conn, rx, max_batch, written))
            .map_err(|e| StoreError::Unavailable(format!("cannot start the writer thread: {e}")))?;
        Ok(Self {
            path,
            owner: Mutex::new(owner),
            writer: Some(tx),
            health,
            probes: health::Probes::default(),
            reader: Arc::new(Mutex::new(read_conn)),
            key_readers: Mutex::new(Vec::new()),
            claims: Arc::default(),
        })
    }

    /// Opens an existing database for reading only: creates nothing, starts no writer.
    pub async fn open_read_only(path: &Path) -> Result<Self, StoreError> {
        let path = path.to_owned();
        if !path.exists() {
            return Err(StoreError::Schema(format!(
                "no database at {}; run `gatehouse migrate` or start `gatehouse serve` first",
                path.display()
            )));
        }
        let opened = path.clone();
        let reader = blocking(move || schema::connect_read_only(&opened)).await?;
        Ok(Self {
            path,
            owner: Mutex::new(None),
            writer: None,
            health: Arc::default(),
            probes: health::Probes::default(),
            reader: Arc::new(Mutex::new(reader)),
            key_readers: Mutex::new(Vec::new()),
            claims: Arc::default(),
        })
    }

    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let reader = Arc::clone(&self.reader);
        blocking(move || {
            let conn = reader
                .lock()
                .map_err(|_| StoreError::Unavailable("reader connection poisoned".into()))?;
            f(&conn)
        })
        .await
    }

    /// Runs `f` on a pooled read connection on this thread: for point lookups of a few microseconds, where a
    /// hand-off to another thread would cost more than the read.
    fn read_here<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, StoreError> {
        let pooled = self.key_readers.lock().ok().and_then(|mut pool| pool.pop());
        let conn = match pooled {
            Some(conn) => conn,
            None => schema::connect(&self.path)?,
        };
        let result = f(&conn);
        if let Ok(mut pool) = self.key_readers.lock() {
            pool.push(conn);
        }
        Ok(result?)
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Unavailable(format!("store task failed: {e}")))?
}

#[async_trait]
impl Store for SqliteStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        let path = self.path.clone();
        blocking(move || schema::migrate(&mut schema::connect(&path)?)).await
    }

    async fn ingest(&self, event: NewEvent) -> Result<Ingested, StoreError> {
        self.write(move |tx| events::ingest(tx, &event)).await
    }

    async fn list_events(&self, filter: EventFilter) -> Result<Vec<EventSummary>, StoreError> {
        self.read(move |conn| {
            schema::check(conn)?;
            events::list(conn, filter)
        })
        .await
    }

    async fn claim_key(&self, claim: KeyClaim) -> Result<Claimed, StoreError> {
        if self.writer.is_none() {
            return Err(StoreError::Closed);
        }
        let token = match self.claims.take(&claim) {
            Ok(token) => token,
            Err(refused) => return Ok(refused),
        };
        let stored = self.read_here(|conn| keys::find(conn, &claim.caller, &claim.key, claim.now_ms));
        let answer = match stored {
            Ok(None) => return Ok(Claimed::Started { token }),
            Ok(Some(stored)) if stored.fingerprint == claim.fingerprint => Ok(Claimed::Replay(stored.response)),
            Ok(Some(_)) => Ok(Claimed::Mismatch),
            Err(error) => Err(error),
        };
        self.claims.drop_claim(&claim.caller, &claim.key, token);
        answer
    }

    async fn complete_key(&self, done: KeyCompletion) -> Result<bool, StoreError> {
        let Some(held) = self.claims.held(&done.caller, &done.key, done.token) else {
            return Ok(false);
        };
        let (written, kept) = (done.clone(), held.clone());
        match self
            .write(move |tx| keys::store(tx, &written, &kept.fingerprint, kept.expires_at_ms))
            .await
        {
            Ok(()) => {
                // Only now: until the answer is committed, the same request must find the key taken, not free.
                self.claims.drop_claim(&done.caller, &done.key, done.token);
            }
            Err(error) => {
                // The vendor call happened: the key must never run again. Hold the answer (replayed meanwhile)
                // and keep trying to commit it.
                tracing::error!(%error, "cannot commit an idempotency key's answer; holding it and retrying");
                self.claims
                    .hold_answer(&done.caller, &done.key, done.token, done.response.clone());
                self.retry_key_write(done, held);
            }
        }
        Ok(true)
    }

    async fn release_key(&self, caller: String, key: String, token: Uuid) -> Result<bool, StoreError> {
        Ok(self.claims.drop_claim(&caller, &key, token))
    }

    async fn insert_command(&self, command: NewCommand, key: Option<KeyCompletion>) -> Result<(), StoreError> {
        let held = key
            .as_ref()
            .and_then(|done| Some((done.clone(), self.claims.held(&done.caller, &done.key, done.token)?)));
        let stored = held.clone();
        self.write(move |tx| {
            commands::insert(tx, &command)?;
            if let Some((done, held)) = &stored {
                keys::store(tx, done, &held.fingerprint, held.expires_at_ms)?;
            }
            Ok(())
        })
        .await?;
        if let Some((done, _)) = held {
            self.claims.drop_claim(&done.caller, &done.key, done.token);
        }
        Ok(())
    }

    async fn get_command(&self, id: Uuid) -> Result<Option<CommandRecord>, StoreError> {
        self.read(move |conn| commands::get(conn, id)).await
    }

    async fn claim_commands(
        &self,
        owner: String,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<CommandRecord>, StoreError> {
        let claimed = self
            .maintain(move |tx| commands::claim(tx, &owner, now_ms, lease_ms, limit))
            .await?;
        Ok(super::readable(claimed, "command"))
    }

    async fn update_command(
        &self,
        id: Uuid,
        owner: String,
        now_ms: i64,
        update: CommandUpdate,
    ) -> Result<bool, StoreError> {
        self.write(move |tx| commands::update(tx, id, &owner, now_ms, &update))
            .await
    }

    async fn claim_deliveries(
        &self,
        owner: String,
        subscriptions: Vec<String>,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        let claimed = self
            .relaxed(writer::Role::Maintenance, move |tx| {
                deliveries::claim(tx, &owner, &subscriptions, now_ms, lease_ms, limit)
            })
            .await?;
        Ok(super::readable(claimed, "delivery"))
    }

    async fn finish_delivery(
        &self,
        delivery: &Delivery,
        owner: String,
        now_ms: i64,
        latency_ms: i64,
        outcome: DeliveryOutcome,
    ) -> Result<bool, StoreError> {
        let (subscription, seq) = (delivery.subscription.clone(), delivery.event_seq);
        self.relaxed(writer::Role::Data, move |tx| {
            deliveries::finish(tx, &subscription, seq, &owner, now_ms, latency_ms, &outcome)
        })
        .await
    }

    async fn get_event(&self, id: Uuid) -> Result<Option<EventDetail>, StoreError> {
        self.read(move |conn| {
            schema::check(conn)?;
            inspect::detail(conn, id)
        })
        .await
    }

    async fn replay_event(&self, id: Uuid, subscribers: Vec<Subscriber>, now_ms: i64) -> Result<Replayed, StoreError> {
        self.write(move |tx| inspect::replay(tx, id, &subscribers, now_ms))
            .await
    }

    async fn get_webhook(&self, id: Uuid) -> Result<Option<StoredWebhook>, StoreError> {
        self.read(move |conn| {
            schema::check(conn)?;
            quarantine::get(conn, id)
        })
        .await
    }

    async fn resolve_quarantine(
        &self,
        id: Uuid,
        resolution: Resolution,
        now_ms: i64,
    ) -> Result<Option<Resolved>, StoreError> {
        self.write(move |tx| quarantine::resolve(tx, id, &resolution, now_ms))
            .await
    }

    async fn prune_delivered(&self, events_before_ms: i64, inbox_before_ms: i64) -> Result<(usize, usize), StoreError> {
        self.maintain(move |tx| inspect::prune(tx, events_before_ms, inbox_before_ms, PRUNE_CHUNK))
            .await
    }

    async fn pending_stats(&self) -> Result<Vec<(String, u64, i64)>, StoreError> {
        self.read(|conn| Ok(inspect::pending(conn)?)).await
    }

    async fn prune(&self, now_ms: i64, commands_before_ms: i64) -> Result<(usize, usize), StoreError> {
        let lapsed = self.claims.forget_lapsed(now_ms);
        if lapsed > 0 {
            tracing::warn!(lapsed, "forgot idempotency claims whose requests never finished");
        }
        self.maintain(move |tx| {
            Ok((
                keys::prune(tx, now_ms, PRUNE_CHUNK)?,
                commands::prune(tx, commands_before_ms, PRUNE_CHUNK)?
                    + sagas::prune(tx, commands_before_ms, PRUNE_CHUNK)?,
            ))
        })
        .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        health::ping(self).await
    }

    async fn inject_fault(&self, fault: StoreFault) -> Result<(), StoreError> {
        let writer = self.writer.as_ref().ok_or(StoreError::Closed)?;
        let fault = match fault {
            StoreFault::None => writer::Fault::None,
            StoreFault::ReadOnly => writer::Fault::ReadOnly,
            StoreFault::Full => writer::Fault::Full,
            StoreFault::Crash => {
                drop(self.owner.lock().ok().and_then(|mut owner| owner.take()));
                writer::Fault::ReadOnly
            }
        };
        let (done, applied) = oneshot::channel();
        writer
            .send(writer::Command::Fault(fault, done))
            .await
            .map_err(|_| StoreError::Closed)?;
        applied.await.map_err(|_| StoreError::Closed)?
    }

    async fn shutdown(&self) {
        let Some(writer) = &self.writer else { return };
        self.commit_held_answers().await;
        let (done, finished) = oneshot::channel();
        if writer.send(writer::Command::Shutdown(done)).await.is_ok() {
            let _ = finished.await;
        }
        // Its writes are over: the file may have its next owner.
        drop(self.owner.lock().ok().and_then(|mut owner| owner.take()));
    }
}
