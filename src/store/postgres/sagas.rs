//! [`Sagas`] on PostgreSQL: insert (with the submission's key answer), read, lease due sagas (`FOR UPDATE SKIP
//! LOCKED`, so replicas' executors never take the same one), write a checkpoint if the lease holds (a final one with
//! its event, under the ingest's locks), list, an operator's retry, and pruning of finished sagas. Inserts and
//! checkpoints are group-committed ([`SagaWrites`], a [`super::batch`] kind): a final checkpoint holds the ingest
//! lock until its commit, so one transaction per saga would serialise every saga's end on one fsync. Inserts and
//! retries wake every replica's saga executor.

use std::sync::Arc;

use async_trait::async_trait;
use deadpool_postgres::{GenericClient, Pool};
use futures_util::future::try_join_all;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use super::batch::Batch;
use super::clock::DbClock;
use super::connect::{self, Failure};
use super::{PostgresStore, commit, events, keys, notify};
use crate::store::sagas::reopen;
use crate::store::{
    KeyCompletion, NewEvent, NewSaga, SagaFilter, SagaRecord, SagaRetried, SagaStatus, SagaUpdate, Sagas, StoreError,
};

const COLUMNS: &str = "id, name, caller, status, input, steps, correlation_id, retries, created_at_ms, \
                       updated_at_ms, next_attempt_ms, lease_until_ms, seq";

fn record(row: &Row) -> Result<SagaRecord, StoreError> {
    let id: Uuid = row.try_get(0)?;
    let unreadable = |what: &str| StoreError::Unavailable(format!("unreadable {what} of saga {id}"));
    let status: String = row.try_get(3)?;
    let input: String = row.try_get(4)?;
    let steps: String = row.try_get(5)?;
    let retries: i32 = row.try_get(7)?;
    Ok(SagaRecord {
        id,
        name: row.try_get(1)?,
        caller: row.try_get(2)?,
        status: SagaStatus::parse(&status).ok_or_else(|| unreadable("status"))?,
        input: serde_json::from_str(&input).map_err(|_| unreadable("input"))?,
        steps: serde_json::from_str(&steps).map_err(|_| unreadable("steps"))?,
        correlation_id: row.try_get(6)?,
        retries: u32::try_from(retries).unwrap_or(0),
        created_at_ms: row.try_get(8)?,
        updated_at_ms: row.try_get(9)?,
        next_attempt_ms: row.try_get(10)?,
        lease_until_ms: row.try_get(11)?,
        seq: row.try_get(12)?,
    })
}

async fn get(client: &impl GenericClient, id: Uuid, lock: &str) -> Result<Option<SagaRecord>, StoreError> {
    let statement = client
        .prepare_cached(&format!("SELECT {COLUMNS} FROM sagas WHERE id = $1{lock}"))
        .await?;
    client
        .query_opt(&statement, &[&id])
        .await?
        .as_ref()
        .map(record)
        .transpose()
}

fn steps_json(update: &[crate::store::StepState]) -> Result<String, StoreError> {
    serde_json::to_string(update).map_err(|e| StoreError::Unavailable(format!("cannot encode saga steps: {e}")))
}

/// A saga write committed in batches: a new saga (with its submission's key answer), or a checkpoint.
pub(super) enum SagaWrite {
    Insert {
        saga: NewSaga,
        input: String,
        steps: String,
        key: Option<KeyCompletion>,
    },
    Update {
        id: Uuid,
        owner: String,
        now_ms: i64,
        update: SagaUpdate,
        steps: String,
    },
}

/// Group commit of [`SagaWrite`]s: one transaction takes the ingest lock and the subject locks of every event the
/// batch's final checkpoints carry (one statement, keys in order), then writes each; answers whether each was
/// written (an insert always; a checkpoint if its lease held). Inserts, checkpoints and final checkpoints (with their
/// events) have a queue each, so only the last wait for the ingest lock.
pub(super) struct SagaWrites(pub Arc<DbClock>);

impl Batch for SagaWrites {
    type Item = SagaWrite;
    type Answer = bool;

    async fn commit(&self, pool: &Pool, items: &[&SagaWrite]) -> Result<Vec<bool>, Failure> {
        let clock = &self.0;
        let mut conn = connect::get(pool).await?;
        let tx = conn.transaction().await?;
        let announced: Vec<&NewEvent> = items
            .iter()
            .filter_map(|write| match write {
                SagaWrite::Update { update, .. } => update.event.as_deref(),
                SagaWrite::Insert { .. } => None,
            })
            .collect();
        let subjects: Vec<String> = announced
            .iter()
            .flat_map(|e| events::subject_locks(e.subject.as_deref(), &e.deliver_to))
            .collect();
        let inserts = items.iter().any(|write| matches!(write, SagaWrite::Insert { .. }));
        let transaction = &tx;
        // The locks go out first (a pipeline runs in order), the rows right behind them, the wake-ups last.
        let prelude = async {
            if !announced.is_empty() {
                events::lock(transaction, true, &subjects).await?;
                notify::wake(transaction, notify::OUTBOX).await?;
            }
            if inserts {
                notify::wake(transaction, notify::SAGAS).await?;
            }
            Ok::<_, StoreError>(())
        };
        // Every row, then the events of the checkpoints written: two pipelined rounds, not one per write.
        let rows = try_join_all(items.iter().map(|write| async move {
            let tx = transaction;
            match write {
                SagaWrite::Insert {
                    saga,
                    input,
                    steps,
                    key,
                } => {
                    insert(tx, saga, input, steps, clock).await?;
                    if let Some(done) = key {
                        keys::complete(tx, done).await?;
                    }
                    Ok::<_, StoreError>(true)
                }
                SagaWrite::Update {
                    id,
                    owner,
                    now_ms,
                    update,
                    steps,
                } => checkpoint(tx, *id, owner, *now_ms, update, steps, clock).await,
            }
        }));
        let ((), answers) = futures_util::future::try_join(prelude, rows).await?;
        let written = items.iter().zip(&answers).filter_map(|(write, &written)| match write {
            SagaWrite::Update { update, .. } if written => update.event.as_deref(),
            _ => None,
        });
        try_join_all(written.map(|event| events::ingest(transaction, event, clock.at(event.received_at_ms)))).await?;
        commit(tx).await?;
        Ok(answers)
    }
}

async fn insert(
    client: &impl GenericClient,
    saga: &NewSaga,
    input: &str,
    steps: &str,
    clock: &DbClock,
) -> Result<(), StoreError> {
    let statement = client
        .prepare_cached(
            "INSERT INTO sagas (id, name, caller, input, steps, correlation_id, next_attempt_ms, created_at_ms,
                                updated_at_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
        )
        .await?;
    let due = clock.at(saga.created_at_ms);
    let params: [&(dyn ToSql + Sync); 8] = [
        &saga.id,
        &saga.name,
        &saga.caller,
        &input,
        &steps,
        &saga.correlation_id,
        &due,
        &saga.created_at_ms,
    ];
    client.execute(&statement, &params).await?;
    Ok(())
}

/// Writes a checkpoint if `owner`'s lease holds (its event is the caller's); whether it was written.
async fn checkpoint(
    client: &impl GenericClient,
    id: Uuid,
    owner: &str,
    now_ms: i64,
    update: &SagaUpdate,
    steps: &str,
    clock: &DbClock,
) -> Result<bool, StoreError> {
    let statement = client
        .prepare_cached(
            "UPDATE sagas SET status = $3, steps = $4, next_attempt_ms = $5, lease_owner = $6,
                 lease_until_ms = $7, updated_at_ms = $8
             WHERE id = $1 AND lease_owner = $2 AND lease_until_ms >= $8
               AND status IN ('running', 'compensating')",
        )
        .await?;
    let lease_owner = (update.lease_until_ms > 0).then_some(owner);
    let now = clock.at(now_ms);
    let next = clock.at(update.next_attempt_ms);
    let until = if update.lease_until_ms > 0 {
        clock.at(update.lease_until_ms)
    } else {
        0
    };
    let params: [&(dyn ToSql + Sync); 8] = [
        &id,
        &owner,
        &update.status.as_str(),
        &steps,
        &next,
        &lease_owner,
        &until,
        &now,
    ];
    Ok(client.execute(&statement, &params).await? == 1)
}

/// Deletes up to `limit` completed or compensated sagas last updated before `before_ms`.
pub(super) async fn prune(client: &impl GenericClient, before_ms: i64, limit: i64) -> Result<usize, StoreError> {
    let statement = client
        .prepare_cached(
            "DELETE FROM sagas WHERE seq IN
                 (SELECT seq FROM sagas WHERE status IN ('completed', 'compensated') AND updated_at_ms < $1
                  LIMIT $2 FOR UPDATE SKIP LOCKED)",
        )
        .await?;
    Ok(usize::try_from(client.execute(&statement, &[&before_ms, &limit]).await?).unwrap_or(usize::MAX))
}

#[async_trait]
impl Sagas for PostgresStore {
    async fn insert_saga(&self, saga: NewSaga, key: Option<KeyCompletion>) -> Result<(), StoreError> {
        let steps = steps_json(&saga.steps)?;
        let input = saga.input.to_string();
        let token = key.as_ref().map(|done| done.token);
        self.saga_inserts
            .submit(SagaWrite::Insert {
                saga,
                input,
                steps,
                key,
            })
            .await?;
        if let Some(token) = token {
            self.held.ended(token);
        }
        Ok(())
    }

    async fn get_saga(&self, id: Uuid) -> Result<Option<SagaRecord>, StoreError> {
        get(&self.conn().await?, id, "").await
    }

    async fn claim_sagas(
        &self,
        owner: String,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<SagaRecord>, StoreError> {
        let now = self.clock.at(now_ms);
        let conn = self.conn().await?;
        let columns = COLUMNS
            .split(", ")
            .map(|c| format!("s.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let statement = conn
            .prepare_cached(&format!(
                "WITH picked AS (
                     SELECT seq FROM sagas
                     WHERE status IN ('running', 'compensating') AND next_attempt_ms <= $3 AND lease_until_ms <= $3
                     ORDER BY next_attempt_ms, seq LIMIT $4
                     FOR UPDATE SKIP LOCKED)
                 UPDATE sagas s SET lease_owner = $1, lease_until_ms = $2 FROM picked WHERE s.seq = picked.seq
                 RETURNING {columns}"
            ))
            .await?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = conn
            .query(&statement, &[&owner, &now.saturating_add(lease_ms), &now, &limit])
            .await?;
        Ok(crate::store::readable(rows.iter().map(record).collect(), "saga"))
    }

    async fn update_saga(&self, id: Uuid, owner: String, now_ms: i64, update: SagaUpdate) -> Result<bool, StoreError> {
        let steps = steps_json(&update.steps)?;
        // A final checkpoint takes the ingest lock: the others do not wait behind it.
        let queue = if update.event.is_some() {
            &self.saga_finals
        } else {
            &self.saga_writes
        };
        queue
            .submit(SagaWrite::Update {
                id,
                owner,
                now_ms,
                update,
                steps,
            })
            .await
    }

    async fn list_sagas(&self, filter: SagaFilter) -> Result<Vec<SagaRecord>, StoreError> {
        self.checked().await?;
        let mut args: Vec<Box<dyn ToSql + Sync + Send>> = Vec::new();
        let mut sql = format!("SELECT {COLUMNS} FROM sagas WHERE true");
        if let Some(name) = filter.name {
            args.push(Box::new(name));
            sql.push_str(&format!(" AND name = ${}", args.len()));
        }
        if let Some(status) = filter.status {
            args.push(Box::new(status.as_str().to_owned()));
            sql.push_str(&format!(" AND status = ${}", args.len()));
        }
        if let Some(before) = filter.before {
            args.push(Box::new(before));
            sql.push_str(&format!(" AND seq < ${}", args.len()));
        }
        let limit = i64::try_from(filter.limit).unwrap_or(i64::MAX);
        sql.push_str(&format!(" ORDER BY seq DESC LIMIT {limit}"));
        let conn = self.conn().await?;
        let statement = conn.prepare_cached(&sql).await?;
        let params: Vec<&(dyn ToSql + Sync)> = args.iter().map(|a| a.as_ref() as &(dyn ToSql + Sync)).collect();
        let rows = conn.query(&statement, &params).await?;
        rows.iter().map(record).collect()
    }

    async fn retry_saga(&self, id: Uuid, now_ms: i64) -> Result<SagaRetried, StoreError> {
        let now = self.clock.at(now_ms);
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await?;
        let Some(mut saga) = get(&tx, id, " FOR UPDATE").await? else {
            return Ok(SagaRetried::NotFound);
        };
        if saga.status != SagaStatus::Failed {
            return Ok(SagaRetried::NotFailed(saga.status));
        }
        reopen(&mut saga.steps);
        let steps = steps_json(&saga.steps)?;
        let statement = tx
            .prepare_cached(
                "UPDATE sagas SET status = 'compensating', steps = $2, retries = retries + 1, next_attempt_ms = $3,
                     lease_owner = NULL, lease_until_ms = 0, updated_at_ms = $3
                 WHERE id = $1",
            )
            .await?;
        tx.execute(&statement, &[&id, &steps, &now]).await?;
        notify::wake(&tx, notify::SAGAS).await?;
        let saga = get(&tx, id, "").await?;
        commit(tx).await?;
        Ok(saga.map_or(SagaRetried::NotFound, |saga| SagaRetried::Done(Box::new(saga))))
    }
}
