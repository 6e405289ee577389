//! [`Sagas`] on SQLite: insert (with the submission's key answer), read, lease due sagas, write a checkpoint if the
//! lease holds (a final one with its event, in the same transaction), list, an operator's retry, and pruning of
//! finished sagas. Writes go through the writer like commands'; reads run on the reader connection.

use async_trait::async_trait;
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Transaction, params, params_from_iter};
use uuid::Uuid;

use super::{SqliteStore, events, keys, schema};
use crate::store::sagas::reopen;
use crate::store::{
    KeyCompletion, NewSaga, SagaFilter, SagaRecord, SagaRetried, SagaStatus, SagaUpdate, Sagas, StoreError,
};

const COLUMNS: &str = "id, name, caller, status, input, steps, correlation_id, retries, created_at_ms, \
                       updated_at_ms, next_attempt_ms, lease_until_ms, seq";

fn insert(tx: &Transaction<'_>, saga: &NewSaga, steps: &str) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO sagas (id, name, caller, input, steps, correlation_id, next_attempt_ms, created_at_ms,
                            updated_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?7)",
    )?
    .execute(params![
        saga.id.to_string(),
        saga.name,
        saga.caller,
        saga.input.to_string(),
        steps,
        saga.correlation_id,
        saga.created_at_ms,
    ])?;
    Ok(())
}

fn record(row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<SagaRecord, StoreError>> {
    let id: String = row.get(0)?;
    let status: String = row.get(3)?;
    let (input, steps): (String, String) = (row.get(4)?, row.get(5)?);
    let unreadable = |what: &str| {
        Ok(Err(StoreError::Unavailable(format!(
            "unreadable {what} of saga {id:?}"
        ))))
    };
    let (Ok(uuid), Some(status)) = (Uuid::parse_str(&id), SagaStatus::parse(&status)) else {
        return unreadable("row");
    };
    let Ok(input) = serde_json::from_str(&input) else {
        return unreadable("input");
    };
    let Ok(steps) = serde_json::from_str(&steps) else {
        return unreadable("steps");
    };
    let retries: i64 = row.get(7)?;
    Ok(Ok(SagaRecord {
        id: uuid,
        name: row.get(1)?,
        caller: row.get(2)?,
        status,
        input,
        steps,
        correlation_id: row.get(6)?,
        retries: u32::try_from(retries).unwrap_or(u32::MAX),
        created_at_ms: row.get(8)?,
        updated_at_ms: row.get(9)?,
        next_attempt_ms: row.get(10)?,
        lease_until_ms: row.get(11)?,
        seq: row.get(12)?,
    }))
}

fn get(conn: &Connection, id: Uuid) -> Result<Option<SagaRecord>, StoreError> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM sagas WHERE id = ?1"))?
        .query_row(params![id.to_string()], record)
        .optional()?
        .transpose()
}

fn claim(
    tx: &Transaction<'_>,
    owner: &str,
    now_ms: i64,
    lease_ms: i64,
    limit: usize,
) -> rusqlite::Result<Vec<Result<SagaRecord, StoreError>>> {
    let sql = format!(
        "UPDATE sagas SET lease_owner = ?1, lease_until_ms = ?2
         WHERE seq IN (SELECT seq FROM sagas
                       WHERE (status = 'running' OR status = 'compensating')
                         AND next_attempt_ms <= ?3 AND lease_until_ms <= ?3
                       ORDER BY next_attempt_ms, seq LIMIT ?4)
         RETURNING {COLUMNS}"
    );
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut stmt = tx.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![owner, now_ms.saturating_add(lease_ms), now_ms, limit], record)?;
    rows.collect()
}

fn update(tx: &Transaction<'_>, id: Uuid, owner: &str, now_ms: i64, update: &SagaUpdate) -> rusqlite::Result<bool> {
    let steps = serde_json::to_string(&update.steps).unwrap_or_else(|_| "[]".into());
    let lease_owner = (update.lease_until_ms > 0).then_some(owner);
    let changed = tx
        .prepare_cached(
            "UPDATE sagas SET status = ?3, steps = ?4, next_attempt_ms = ?5, lease_owner = ?6, lease_until_ms = ?7,
                 updated_at_ms = ?8
             WHERE id = ?1 AND lease_owner = ?2 AND lease_until_ms >= ?8
               AND (status = 'running' OR status = 'compensating')",
        )?
        .execute(params![
            id.to_string(),
            owner,
            update.status.as_str(),
            steps,
            update.next_attempt_ms,
            lease_owner,
            update.lease_until_ms,
            now_ms,
        ])?;
    if changed == 1
        && let Some(event) = &update.event
    {
        events::ingest(tx, event)?;
    }
    Ok(changed == 1)
}

fn list(conn: &Connection, filter: &SagaFilter) -> Result<Vec<SagaRecord>, StoreError> {
    let mut args: Vec<Value> = Vec::new();
    let mut sql = format!("SELECT {COLUMNS} FROM sagas WHERE 1 = 1");
    if let Some(name) = &filter.name {
        args.push(name.clone().into());
        sql.push_str(&format!(" AND name = ?{}", args.len()));
    }
    if let Some(status) = filter.status {
        args.push(status.as_str().to_owned().into());
        sql.push_str(&format!(" AND status = ?{}", args.len()));
    }
    if let Some(before) = filter.before {
        args.push(before.into());
        sql.push_str(&format!(" AND seq < ?{}", args.len()));
    }
    args.push(i64::try_from(filter.limit).unwrap_or(i64::MAX).into());
    sql.push_str(&format!(" ORDER BY seq DESC LIMIT ?{}", args.len()));
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params_from_iter(args), record)?;
    rows.map(|row| row?).collect()
}

fn retry(tx: &Transaction<'_>, id: Uuid, now_ms: i64) -> rusqlite::Result<Result<SagaRetried, StoreError>> {
    let select = format!("SELECT {COLUMNS} FROM sagas WHERE id = ?1");
    let mut saga = match tx
        .prepare_cached(&select)?
        .query_row(params![id.to_string()], record)
        .optional()?
    {
        None => return Ok(Ok(SagaRetried::NotFound)),
        Some(Err(error)) => return Ok(Err(error)),
        Some(Ok(saga)) => saga,
    };
    if saga.status != SagaStatus::Failed {
        return Ok(Ok(SagaRetried::NotFailed(saga.status)));
    }
    reopen(&mut saga.steps);
    let steps = serde_json::to_string(&saga.steps).unwrap_or_else(|_| "[]".into());
    tx.prepare_cached(
        "UPDATE sagas SET status = 'compensating', steps = ?2, retries = retries + 1, next_attempt_ms = ?3,
             lease_owner = NULL, lease_until_ms = 0, updated_at_ms = ?3
         WHERE id = ?1",
    )?
    .execute(params![id.to_string(), steps, now_ms])?;
    let after = tx.prepare_cached(&select)?.query_row(params![id.to_string()], record)?;
    Ok(after.map(|saga| SagaRetried::Done(Box::new(saga))))
}

/// Deletes up to `limit` completed or compensated sagas last updated before `before_ms` (failed ones wait for a
/// person).
pub(super) fn prune(tx: &Transaction<'_>, before_ms: i64, limit: usize) -> rusqlite::Result<usize> {
    tx.prepare_cached(
        "DELETE FROM sagas WHERE seq IN
             (SELECT seq FROM sagas WHERE (status = 'completed' OR status = 'compensated') AND updated_at_ms < ?1
              LIMIT ?2)",
    )?
    .execute(params![before_ms, i64::try_from(limit).unwrap_or(i64::MAX)])
}

#[async_trait]
impl Sagas for SqliteStore {
    async fn insert_saga(&self, saga: NewSaga, key: Option<KeyCompletion>) -> Result<(), StoreError> {
        let held = key
            .as_ref()
            .and_then(|done| Some((done.clone(), self.claims.held(&done.caller, &done.key, done.token)?)));
        let stored = held.clone();
        let steps = serde_json::to_string(&saga.steps).map_err(|e| StoreError::Unavailable(e.to_string()))?;
        self.write(move |tx| {
            insert(tx, &saga, &steps)?;
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

    async fn get_saga(&self, id: Uuid) -> Result<Option<SagaRecord>, StoreError> {
        self.read(move |conn| get(conn, id)).await
    }

    async fn claim_sagas(
        &self,
        owner: String,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<SagaRecord>, StoreError> {
        let claimed = self
            .maintain(move |tx| claim(tx, &owner, now_ms, lease_ms, limit))
            .await?;
        Ok(crate::store::readable(claimed, "saga"))
    }

    async fn update_saga(
        &self,
        id: Uuid,
        owner: String,
        now_ms: i64,
        checkpoint: SagaUpdate,
    ) -> Result<bool, StoreError> {
        self.write(move |tx| update(tx, id, &owner, now_ms, &checkpoint)).await
    }

    async fn list_sagas(&self, filter: SagaFilter) -> Result<Vec<SagaRecord>, StoreError> {
        self.read(move |conn| {
            schema::check(conn)?;
            list(conn, &filter)
        })
        .await
    }

    async fn retry_saga(&self, id: Uuid, now_ms: i64) -> Result<SagaRetried, StoreError> {
        self.write(move |tx| retry(tx, id, now_ms)).await?
    }
}
