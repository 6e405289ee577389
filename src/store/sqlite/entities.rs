//! [`Entities`] on SQLite: the read model's rows. One statement applies a state ([`apply`]), the same in an upsert,
//! in an ingest (the event's own transaction: [`super::events`]) and in a translated quarantine
//! ([`super::quarantine`]). Upserts are data writes through the writer, point reads run on the caller's thread on a
//! pooled connection (like a key claim's: they are on the request path), pruning is housekeeping.

use async_trait::async_trait;
use bytes::Bytes;
use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use uuid::Uuid;

use super::{PRUNE_CHUNK, SqliteStore};
use crate::store::{Entities, EntitySource, EntityState, StoreError};

/// Stores a state unless its entity's stored state is newer: the rule of [`EntityState::supersedes`].
const APPLY: &str = "
INSERT INTO read_model (provider, kind, entity_id, version, observed_at_ms, source, deleted, body, event_id)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
ON CONFLICT (provider, kind, entity_id) DO UPDATE SET version = excluded.version,
    observed_at_ms = excluded.observed_at_ms, source = excluded.source, deleted = excluded.deleted,
    body = excluded.body, event_id = excluded.event_id
WHERE excluded.version > read_model.version
   OR (excluded.version = read_model.version AND excluded.observed_at_ms >= read_model.observed_at_ms)";

/// Applies `state` in `tx` unless its entity's stored state is newer; whether it was applied.
pub(super) fn apply(tx: &Transaction<'_>, state: &EntityState) -> rusqlite::Result<bool> {
    let applied = tx.prepare_cached(APPLY)?.execute(params![
        state.provider,
        state.kind,
        state.id,
        state.version,
        state.observed_at_ms,
        state.source.as_str(),
        state.deleted,
        state.body.as_ref(),
        state.event_id.map(|id| id.to_string()),
    ])?;
    Ok(applied > 0)
}

fn get(conn: &Connection, provider: &str, kind: &str, id: &str) -> rusqlite::Result<Option<EntityState>> {
    conn.prepare_cached(
        "SELECT version, observed_at_ms, source, deleted, body, event_id FROM read_model
         WHERE provider = ?1 AND kind = ?2 AND entity_id = ?3",
    )?
    .query_row(params![provider, kind, id], |r| {
        let source: String = r.get(2)?;
        let event_id: Option<String> = r.get(5)?;
        Ok(EntityState {
            provider: provider.to_owned(),
            kind: kind.to_owned(),
            id: id.to_owned(),
            version: r.get(0)?,
            observed_at_ms: r.get(1)?,
            source: EntitySource::parse(&source)
                .ok_or_else(|| unreadable(2, format!("unknown entity source {source:?}")))?,
            deleted: r.get(3)?,
            body: Bytes::from(r.get::<_, Vec<u8>>(4)?),
            event_id: event_id
                .map(|text| Uuid::parse_str(&text).map_err(|e| unreadable(5, format!("event id {text:?}: {e}"))))
                .transpose()?,
        })
    })
    .optional()
}

fn unreadable(column: usize, what: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(column, Type::Text, what.into())
}

/// Deletes up to `limit` entities last observed before `before_ms`.
fn prune(tx: &Transaction<'_>, before_ms: i64, limit: usize) -> rusqlite::Result<usize> {
    tx.prepare_cached(
        "DELETE FROM read_model WHERE (provider, kind, entity_id) IN (
             SELECT provider, kind, entity_id FROM read_model WHERE observed_at_ms < ?1 LIMIT ?2)",
    )?
    .execute(params![before_ms, i64::try_from(limit).unwrap_or(i64::MAX)])
}

#[async_trait]
impl Entities for SqliteStore {
    async fn upsert_entities(&self, states: Vec<EntityState>) -> Result<usize, StoreError> {
        if states.is_empty() {
            return Ok(0);
        }
        self.write(move |tx| {
            let mut applied = 0;
            for state in &states {
                applied += usize::from(apply(tx, state)?);
            }
            Ok(applied)
        })
        .await
    }

    async fn get_entity(&self, provider: &str, kind: &str, id: &str) -> Result<Option<EntityState>, StoreError> {
        self.read_here(|conn| get(conn, provider, kind, id))
    }

    async fn prune_entities(&self, seen_before_ms: i64) -> Result<usize, StoreError> {
        self.maintain(move |tx| prune(tx, seen_before_ms, PRUNE_CHUNK)).await
    }
}
