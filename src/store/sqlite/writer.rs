//! The single SQLite writer: one thread that owns the write connection and **group-commits** whatever webhooks are
//! waiting. While one batch's fsync runs, the next batch queues, so each fsync carries many webhooks and durability
//! does not cost throughput. Every caller is answered only after its batch's commit returned.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::store::{Ingested, NewEvent, StoreError};

pub(super) type Reply = oneshot::Sender<Result<Ingested, StoreError>>;

pub(super) enum Command {
    Ingest(Box<NewEvent>, Reply),
    /// Stop after everything queued before it; answered when the thread is done.
    Shutdown(oneshot::Sender<()>),
}

/// Runs until a `Shutdown` command arrives or every sender is gone.
pub(super) fn run(mut conn: Connection, mut rx: mpsc::Receiver<Command>, max_batch: usize) {
    let mut batch: Vec<(Box<NewEvent>, Reply)> = Vec::with_capacity(max_batch);
    let mut stop = None;
    while stop.is_none() {
        let Some(first) = rx.blocking_recv() else {
            break;
        };
        let mut next = Some(first);
        while let Some(command) = next.take() {
            match command {
                Command::Ingest(event, reply) => batch.push((event, reply)),
                Command::Shutdown(done) => {
                    stop = Some(done);
                    break;
                }
            }
            if batch.len() < max_batch {
                next = rx.try_recv().ok();
            }
        }
        if !batch.is_empty() {
            commit(&mut conn, &mut batch);
        }
    }
    drop(conn);
    if let Some(done) = stop {
        let _ = done.send(());
    }
}

/// Commits the batch in one transaction. If that fails, each event is retried in a transaction of its own, so one
/// bad event cannot fail its neighbours.
fn commit(conn: &mut Connection, batch: &mut Vec<(Box<NewEvent>, Reply)>) {
    let started = std::time::Instant::now();
    metrics::histogram!(crate::metrics::COMMIT_BATCH).record(batch.len() as f64);
    let events: Vec<&NewEvent> = batch.iter().map(|(e, _)| e.as_ref()).collect();
    let written = write(conn, &events);
    metrics::histogram!(crate::metrics::COMMIT_SECONDS).record(started.elapsed().as_secs_f64());
    match written {
        Ok(results) => {
            for ((_, reply), result) in batch.drain(..).zip(results) {
                let _ = reply.send(Ok(result));
            }
        }
        Err(error) if batch.len() == 1 || !is_event_specific(&error) => {
            tracing::error!(%error, "store write failed");
            for (_, reply) in batch.drain(..) {
                let _ = reply.send(Err(StoreError::Unavailable(error.to_string())));
            }
        }
        Err(error) => {
            tracing::warn!(%error, size = batch.len(), "batch commit failed; retrying its events one by one");
            for (event, reply) in batch.drain(..) {
                let result = write(conn, &[event.as_ref()]).map(|mut r| r.remove(0)).map_err(|e| {
                    tracing::error!(error = %e, "store write failed");
                    StoreError::Unavailable(e.to_string())
                });
                let _ = reply.send(result);
            }
        }
    }
}

/// Whether a failed batch may succeed event by event: a constraint or data error belongs to one event; a busy,
/// locked, full or failing database fails every event alike, so the batch fails at once instead of waiting out
/// the busy timeout once per event.
fn is_event_specific(error: &rusqlite::Error) -> bool {
    use rusqlite::ErrorCode;
    !matches!(
        error.sqlite_error_code(),
        Some(
            ErrorCode::DatabaseBusy
                | ErrorCode::DatabaseLocked
                | ErrorCode::SystemIoFailure
                | ErrorCode::DiskFull
                | ErrorCode::ReadOnly
                | ErrorCode::CannotOpen
                | ErrorCode::DatabaseCorrupt
                | ErrorCode::NotADatabase
                | ErrorCode::OutOfMemory,
        )
    )
}

/// One transaction: for each event, claim its inbox key; if the key is new, add the event to the outbox, otherwise
/// answer with the id the key already points to.
fn write(conn: &mut Connection, events: &[&NewEvent]) -> Result<Vec<Ingested>, rusqlite::Error> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut results = Vec::with_capacity(events.len());
    {
        let mut claim = tx.prepare_cached(
            "INSERT INTO inbox (provider, provider_event_id, event_id, received_at_ms) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (provider, provider_event_id) DO NOTHING",
        )?;
        let mut existing =
            tx.prepare_cached("SELECT event_id FROM inbox WHERE provider = ?1 AND provider_event_id = ?2")?;
        let mut insert = tx.prepare_cached(
            "INSERT INTO outbox (id, provider, event_type, subject, provider_event_id, correlation_id,
                                 received_at_ms, envelope, raw_body)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?;
        for event in events {
            let id = event.id.to_string();
            let claimed = claim.execute(params![
                event.provider,
                event.provider_event_id,
                id,
                event.received_at_ms
            ])?;
            if claimed == 1 {
                insert.execute(params![
                    id,
                    event.provider,
                    event.event_type,
                    event.subject,
                    event.provider_event_id,
                    event.correlation_id,
                    event.received_at_ms,
                    event.envelope,
                    event.raw_body.as_ref(),
                ])?;
                results.push(Ingested {
                    id: event.id,
                    duplicate: false,
                });
            } else {
                let first: Option<String> = existing
                    .query_row(params![event.provider, event.provider_event_id], |row| row.get(0))
                    .optional()?;
                let first = first
                    .and_then(|text| Uuid::parse_str(&text).ok())
                    .ok_or(rusqlite::Error::QueryReturnedNoRows)?;
                results.push(Ingested {
                    id: first,
                    duplicate: true,
                });
            }
        }
    }
    tx.commit()?;
    Ok(results)
}
