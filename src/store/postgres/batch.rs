//! Group commit: concurrent writes of one kind on this replica share one transaction whose statements all go out at
//! once (one round trip, one fsync), so a durable commit per write costs neither. Two kinds: ingests ([`Ingests`]:
//! the ingest lock, their subject locks, one statement per event, one for the entities they carry, a wake-up
//! `NOTIFY`) and delivery outcomes ([`super::deliveries::Finishes`]). A batch that fails over one write's data is
//! committed again one write per transaction, so a bad write fails alone.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::Pool;
use futures_util::future::try_join_all;
use tokio::sync::{mpsc, oneshot};

use super::clock::DbClock;
use super::connect::Failure;
use super::{connect, entities, events};
use crate::store::health::Health;
use crate::store::{Ingested, NewEvent, StoreError};

/// The longest a write waits for its commit before it fails (its commit may still land: uncertain).
pub(super) const WRITE_DEADLINE: Duration = Duration::from_secs(4);

/// A kind of write committed in batches.
pub(super) trait Batch: Send + Sync + 'static {
    type Item: Send + Sync + 'static;
    type Answer: Send + 'static;
    /// Commits `items` in one transaction, answering each in order.
    fn commit(
        &self,
        pool: &Pool,
        items: &[&Self::Item],
    ) -> impl Future<Output = Result<Vec<Self::Answer>, Failure>> + Send;
}

pub(super) struct Job<B: Batch> {
    pub item: B::Item,
    pub answer: oneshot::Sender<Result<B::Answer, StoreError>>,
}

/// A batch writer's queue.
pub(super) struct Queue<B: Batch>(std::sync::Mutex<Option<mpsc::Sender<Job<B>>>>);

impl<B: Batch> Queue<B> {
    /// Starts the writer of `kind` (at most `max_batch` writes per transaction) and returns its queue.
    pub(super) fn start(
        kind: B,
        pool: Pool,
        max_batch: usize,
        health: Arc<Health>,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (queue, jobs) = mpsc::channel(super::QUEUE_DEPTH);
        let writer = tokio::spawn(run(kind, pool, jobs, max_batch, health));
        (Self(std::sync::Mutex::new(Some(queue))), writer)
    }

    /// Hands `item` to the writer and waits for its commit (at most [`WRITE_DEADLINE`] each).
    pub(super) async fn submit(&self, item: B::Item) -> Result<B::Answer, StoreError> {
        let queue = self
            .0
            .lock()
            .ok()
            .and_then(|queue| queue.clone())
            .ok_or(StoreError::Closed)?;
        let (answer, answered) = oneshot::channel();
        match tokio::time::timeout(WRITE_DEADLINE, queue.send(Job { item, answer })).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Err(StoreError::Closed),
            Err(_) => return Err(StoreError::Unavailable("the batch queue stayed full".into())),
        }
        match tokio::time::timeout(WRITE_DEADLINE, answered).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_)) => Err(StoreError::Uncertain(
                "the batch writer stopped before answering".into(),
            )),
            Err(_) => Err(StoreError::Uncertain("the commit did not finish in time".into())),
        }
    }

    pub(super) fn is_open(&self) -> bool {
        self.0.lock().is_ok_and(|queue| queue.is_some())
    }

    /// Takes no more writes; the writer ends once it has committed those queued.
    pub(super) fn close(&self) {
        drop(self.0.lock().ok().and_then(|mut queue| queue.take()));
    }
}

/// Commits the queued writes in batches of at most `max_batch` until the queue closes.
async fn run<B: Batch>(kind: B, pool: Pool, mut queue: mpsc::Receiver<Job<B>>, max_batch: usize, health: Arc<Health>) {
    let mut jobs = Vec::with_capacity(max_batch);
    while queue.recv_many(&mut jobs, max_batch).await > 0 {
        let batch: Vec<&B::Item> = jobs.iter().map(|job| &job.item).collect();
        let started = std::time::Instant::now();
        let outcome = kind.commit(&pool, &batch).await;
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
                tracing::warn!(%error, writes = jobs.len(), "a batch failed over one write's data; committing its writes one by one");
                for job in jobs.drain(..) {
                    let alone = kind.commit(&pool, &[&job.item]).await;
                    let _ = job
                        .answer
                        .send(alone.map(|mut answers| answers.remove(0)).map_err(Failure::into_error));
                }
            }
            Err(failure) => {
                // One write's bad data says nothing of the database's health.
                let data = matches!(failure, Failure::Data(_));
                let error = failure.into_error();
                if !data && !matches!(error, StoreError::Closed) {
                    health.failed(&error);
                }
                for job in jobs.drain(..) {
                    let _ = job.answer.send(Err(error.clone()));
                }
            }
        }
    }
}

/// Ingests: webhooks (and the events of deferred commands' outcomes are not: they commit with the outcome).
pub(super) struct Ingests(pub Arc<DbClock>);

impl Batch for Ingests {
    type Item = NewEvent;
    type Answer = Ingested;

    async fn commit(&self, pool: &Pool, items: &[&NewEvent]) -> Result<Vec<Ingested>, Failure> {
        commit(pool, items, &self.0).await
    }
}

/// Commits `batch` in one transaction whose statements all go out at once: `BEGIN`, the locks, one ingest per
/// event, the entities the new ones carry (one statement, in key order: [`entities::CARRIED`]), the wake-up and
/// `COMMIT` (which PostgreSQL turns into a rollback if any statement before it failed, so the batch committed only
/// if every answer is a success).
async fn commit(pool: &Pool, batch: &[&NewEvent], clock: &DbClock) -> Result<Vec<Ingested>, Failure> {
    let conn = connect::get(pool).await?;
    // Prepared first, so that each statement below is sent on its first poll, in order.
    let lock = conn.prepare_cached(events::LOCK).await?;
    let ingest = conn.prepare_cached(events::INGEST).await?;
    let wake = conn.prepare_cached(super::notify::WAKE).await?;
    let carried = entities::Carried::new(batch);
    let carry = match carried {
        Some(_) => Some(conn.prepare_cached(entities::CARRIED).await?),
        None => None,
    };
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
    let rows = try_join_all(params.iter().map(|params| client.query_opt(&ingest, params)));
    let carried_params = carried.as_ref().map(entities::Carried::params);
    let applied = async {
        match (&carry, &carried_params) {
            (Some(statement), Some(params)) => client.execute(statement, params).await.map(drop),
            _ => Ok(()),
        }
    };
    let woken = async {
        if notify {
            client
                .execute(&wake, &[&super::notify::CHANNEL, &super::notify::OUTBOX])
                .await
                .map(drop)
        } else {
            Ok(())
        }
    };
    let (_, (rows, (), ())) = connect::pipelined(
        client,
        client.query_one(&lock, &lock_params),
        futures_util::future::try_join3(rows, applied, woken),
    )
    .await?;
    args.iter().zip(rows).map(|(args, row)| args.answer(row)).collect()
}
