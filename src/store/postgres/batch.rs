//! Group commit for webhooks: concurrent ingests on this replica share one transaction (the ingest lock, their
//! subject locks, one pipelined statement per event, a wake-up `NOTIFY`, one `COMMIT`), so a durable commit per
//! webhook does not cost a round trip and an fsync each. A batch whose statements fail over one event's data is
//! committed again one event per transaction, so a bad event fails alone.

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::Pool;
use futures_util::future::try_join_all;
use tokio::sync::{mpsc, oneshot};

use super::clock::DbClock;
use super::connect::Failure;
use super::{connect, events};
use crate::store::health::Health;
use crate::store::{Ingested, NewEvent, StoreError};

/// The longest a webhook waits for its commit before it is answered 503 (its commit may still land: uncertain).
pub(super) const WRITE_DEADLINE: Duration = Duration::from_secs(4);

pub(super) struct Job {
    pub event: NewEvent,
    pub answer: oneshot::Sender<Result<Ingested, StoreError>>,
}

/// Commits the queued ingests in batches of at most `max_batch` until the queue closes.
pub(super) async fn run(
    pool: Pool,
    mut queue: mpsc::Receiver<Job>,
    max_batch: usize,
    clock: Arc<DbClock>,
    health: Arc<Health>,
) {
    let mut jobs = Vec::with_capacity(max_batch);
    while queue.recv_many(&mut jobs, max_batch).await > 0 {
        let batch: Vec<&NewEvent> = jobs.iter().map(|job| &job.event).collect();
        let started = std::time::Instant::now();
        let outcome = commit(&pool, &batch, &clock).await;
        metrics::histogram!(crate::metrics::COMMIT_BATCH).record(batch.len() as f64);
        metrics::histogram!(crate::metrics::COMMIT_SECONDS).record(started.elapsed().as_secs_f64());
        match outcome {
            Ok(answers) => {
                health.succeeded();
                for (job, answer) in jobs.drain(..).zip(answers) {
                    let _ = job.answer.send(Ok(answer));
                }
            }
            Err(Failure::Data(error)) if jobs.len() > 1 => {
                tracing::warn!(%error, events = jobs.len(), "a batch failed over one event's data; committing its events one by one");
                for job in jobs.drain(..) {
                    let alone = commit(&pool, &[&job.event], &clock).await;
                    let _ = job
                        .answer
                        .send(alone.map(|mut answers| answers.remove(0)).map_err(Failure::into_error));
                }
            }
            Err(failure) => {
                let error = failure.into_error();
                if !matches!(error, StoreError::Closed) {
                    health.failed(&error);
                }
                for job in jobs.drain(..) {
                    let _ = job.answer.send(Err(copy(&error)));
                }
            }
        }
    }
}

/// Commits `batch` in one transaction whose statements all go out at once: `BEGIN`, the locks, one ingest per
/// event, the wake-up and `COMMIT` (which PostgreSQL turns into a rollback if any statement before it failed, so
/// the batch committed only if every answer is a success).
async fn commit(pool: &Pool, batch: &[&NewEvent], clock: &DbClock) -> Result<Vec<Ingested>, Failure> {
    let conn = connect::get(pool).await?;
    // Prepared first, so that each statement below is sent on its first poll, in order.
    let lock = conn.prepare_cached(events::LOCK).await?;
    let ingest = conn.prepare_cached(events::INGEST).await?;
    let wake = conn.prepare_cached("SELECT pg_notify($1, 'outbox')").await?;
    let client: &tokio_postgres::Client = &conn;
    let subjects: Vec<String> = batch
        .iter()
        .flat_map(|event| events::subject_locks(event.subject.as_deref(), &event.deliver_to))
        .collect();
    let args = batch
        .iter()
        .map(|event| events::IngestArgs::new(event, clock.at(event.received_at_ms)))
        .collect::<Result<Vec<_>, _>>()?;
    let notify = batch.iter().any(|event| !event.deliver_to.is_empty());
    let lock_params: [&(dyn tokio_postgres::types::ToSql + Sync); 3] = [&events::INGEST_LOCK, &true, &subjects];
    let params: Vec<_> = args.iter().map(events::IngestArgs::params).collect();
    // A generic plan for the ingest statement: its plan never depends on the values, and planning each execution
    // anew (PostgreSQL's custom plans, which it keeps choosing for data-modifying CTEs) cost 4x the execution.
    let begin = client.batch_execute("BEGIN; SET LOCAL plan_cache_mode = force_generic_plan");
    let locked = client.query_one(&lock, &lock_params);
    let rows = try_join_all(params.iter().map(|params| client.query_opt(&ingest, params)));
    let woken = async {
        if notify {
            client.execute(&wake, &[&super::notify::CHANNEL]).await.map(drop)
        } else {
            Ok(())
        }
    };
    let committed = client.batch_execute("COMMIT");
    let (begun, locked, rows, woken, committed) = tokio::join!(begin, locked, rows, woken, committed);
    begun?;
    locked?;
    let rows = rows?;
    woken?;
    committed.map_err(|e| Failure::Other(connect::commit_error(e)))?;
    args.iter().zip(rows).map(|(args, row)| args.answer(row)).collect()
}

/// The same error for another waiter of a failed batch.
pub(super) fn copy(error: &StoreError) -> StoreError {
    match error {
        StoreError::Unavailable(text) => StoreError::Unavailable(text.clone()),
        StoreError::Closed => StoreError::Closed,
        StoreError::Uncertain(text) => StoreError::Uncertain(text.clone()),
        StoreError::Schema(text) => StoreError::Schema(text.clone()),
        StoreError::Url(text) => StoreError::Url(text.clone()),
    }
}
