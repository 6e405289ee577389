//! The embedded SQLite store: one writer thread that group-commits (see [`writer`]) and one reader connection for
//! queries, both on the same WAL database file.

mod schema;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{Connection, params_from_iter};
use tokio::sync::{mpsc, oneshot};

use super::{EventFilter, EventStatus, EventSummary, Ingested, NewEvent, Store, StoreError};

/// How many webhooks may wait for the writer before callers wait for room (backpressure).
const QUEUE_DEPTH: usize = 16_384;
/// The longest a webhook waits for its commit before answering 503 (vendors time out after 5-30 s).
const INGEST_DEADLINE: std::time::Duration = std::time::Duration::from_secs(4);

pub struct SqliteStore {
    path: PathBuf,
    /// `None` for a read-only store (`gatehouse events list`).
    writer: Option<mpsc::Sender<writer::Command>>,
    reader: Arc<Mutex<Connection>>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and starts its writer thread.
    pub async fn open(path: &Path, max_batch: usize) -> Result<Self, StoreError> {
        let path = path.to_owned();
        let opened = path.clone();
        let (write_conn, read_conn) =
            blocking(move || Ok((schema::connect(&opened)?, schema::connect(&opened)?))).await?;
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        std::thread::Builder::new()
            .name("gatehouse-sqlite-writer".into())
            .spawn(move || writer::run(write_conn, rx, max_batch))
            .map_err(|e| StoreError::Unavailable(format!("cannot start the writer thread: {e}")))?;
        Ok(Self {
            path,
            writer: Some(tx),
            reader: Arc::new(Mutex::new(read_conn)),
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
            writer: None,
            reader: Arc::new(Mutex::new(reader)),
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
        let writer = self.writer.as_ref().ok_or(StoreError::Closed)?;
        let (reply, answer) = oneshot::channel();
        let commit = async {
            writer
                .send(writer::Command::Ingest(Box::new(event), reply))
                .await
                .map_err(|_| StoreError::Closed)?;
            answer.await.map_err(|_| StoreError::Closed)?
        };
        // A webhook not committed by then answers 503: the vendor retries, and if the commit did land after all,
        // the retry is recognised as a duplicate.
        tokio::time::timeout(INGEST_DEADLINE, commit)
            .await
            .unwrap_or_else(|_| Err(StoreError::Unavailable("the commit did not finish in time".into())))
    }

    async fn list_events(&self, filter: EventFilter) -> Result<Vec<EventSummary>, StoreError> {
        self.read(move |conn| {
            schema::check(conn)?;
            let mut sql = String::from(
                "SELECT id, provider, event_type, subject, provider_event_id, status, received_at_ms, correlation_id
                 FROM outbox WHERE 1 = 1",
            );
            let mut args: Vec<String> = Vec::new();
            if let Some(status) = filter.status {
                args.push(status.as_str().to_owned());
                sql.push_str(&format!(" AND status = ?{}", args.len()));
            }
            if let Some(provider) = filter.provider {
                args.push(provider);
                sql.push_str(&format!(" AND provider = ?{}", args.len()));
            }
            sql.push_str(&format!(" ORDER BY seq LIMIT {}", filter.limit.min(i64::MAX as usize)));
            let mut stmt = conn.prepare(&sql)?;
            let rows = stmt.query_map(params_from_iter(args.iter()), |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, Option<String>>(3)?,
                    row.get::<_, String>(4)?,
                    row.get::<_, String>(5)?,
                    row.get::<_, i64>(6)?,
                    row.get::<_, String>(7)?,
                ))
            })?;
            let mut events = Vec::new();
            for row in rows {
                let (id, provider, event_type, subject, providereventid, status, received_at_ms, correlationid) = row?;
                events.push(EventSummary {
                    id: uuid::Uuid::parse_str(&id)
                        .map_err(|e| StoreError::Unavailable(format!("bad event id {id:?} in outbox: {e}")))?,
                    provider,
                    event_type,
                    subject,
                    providereventid,
                    status: EventStatus::parse(&status)
                        .ok_or_else(|| StoreError::Unavailable(format!("unknown status {status:?} in outbox")))?,
                    received_at: crate::clock::rfc3339_from_ms(received_at_ms),
                    correlationid,
                });
            }
            Ok(events)
        })
        .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        if self.writer.as_ref().is_some_and(mpsc::Sender::is_closed) {
            return Err(StoreError::Closed);
        }
        self.read(schema::check).await
    }

    async fn shutdown(&self) {
        let Some(writer) = &self.writer else { return };
        let (done, finished) = oneshot::channel();
        if writer.send(writer::Command::Shutdown(done)).await.is_ok() {
            let _ = finished.await;
        }
    }
}
