//! Deferred-command statements: insert, read, claim due commands under a lease, record an attempt's outcome
//! (conditioned on still holding the claim), and prune finished commands.

use bytes::Bytes;
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use uuid::Uuid;

use super::events;
use crate::store::{CommandRecord, CommandStatus, CommandUpdate, NewCommand, StoreError};

pub(super) const COLUMNS: &str = "id, caller, provider, method, path, body, vendor_key, correlation_id, status, \
                                  attempts, response, last_error, created_at_ms, updated_at_ms, next_attempt_ms, \
                                  lease_until_ms, seq";

pub(super) fn insert(tx: &Transaction<'_>, command: &NewCommand) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO commands (id, caller, provider, method, path, body, vendor_key, correlation_id,
                               next_attempt_ms, created_at_ms, updated_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?9)",
    )?
    .execute(params![
        command.id.to_string(),
        command.caller,
        command.provider,
        command.method,
        command.path,
        command.body.as_ref(),
        command.vendor_key,
        command.correlation_id,
        command.created_at_ms,
    ])?;
    Ok(())
}

pub(super) fn record(row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<CommandRecord, StoreError>> {
    let id: String = row.get(0)?;
    let status: String = row.get(8)?;
    let response: Option<String> = row.get(10)?;
    let attempts: i64 = row.get(9)?;
    let (Ok(id), Some(status)) = (Uuid::parse_str(&id), CommandStatus::parse(&status)) else {
        return Ok(Err(StoreError::Unavailable(format!("unreadable command row {id:?}"))));
    };
    Ok(Ok(CommandRecord {
        id,
        caller: row.get(1)?,
        provider: row.get(2)?,
        method: row.get(3)?,
        path: row.get(4)?,
        body: Bytes::from(row.get::<_, Vec<u8>>(5)?),
        vendor_key: row.get(6)?,
        correlation_id: row.get(7)?,
        status,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        response: response.and_then(|r| serde_json::from_str(&r).ok()),
        last_error: row.get(11)?,
        created_at_ms: row.get(12)?,
        updated_at_ms: row.get(13)?,
        next_attempt_ms: row.get(14)?,
        lease_until_ms: row.get(15)?,
        seq: row.get(16)?,
    }))
}

pub(super) fn get(conn: &Connection, id: Uuid) -> Result<Option<CommandRecord>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM commands WHERE id = ?1");
    conn.prepare_cached(&sql)?
        .query_row(params![id.to_string()], record)
        .optional()?
        .transpose()
}

/// Leases up to `limit` pending commands that are due and not leased by a live claim, oldest first.
pub(super) fn claim(
    tx: &Transaction<'_>,
    owner: &str,
    now_ms: i64,
    lease_ms: i64,
    limit: usize,
) -> rusqlite::Result<Vec<Result<CommandRecord, StoreError>>> {
    let sql = format!(
        "UPDATE commands SET lease_owner = ?1, lease_until_ms = ?2
         WHERE seq IN (SELECT seq FROM commands
                       WHERE status = 'pending' AND next_attempt_ms <= ?3 AND lease_until_ms <= ?3
                       ORDER BY next_attempt_ms, seq LIMIT ?4)
         RETURNING {COLUMNS}"
    );
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut stmt = tx.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![owner, now_ms.saturating_add(lease_ms), now_ms, limit], record)?;
    rows.collect()
}

/// Records an attempt's outcome if `owner` still holds the command's claim; `false` otherwise (nothing written).
pub(super) fn update(
    tx: &Transaction<'_>,
    id: Uuid,
    owner: &str,
    now_ms: i64,
    update: &CommandUpdate,
) -> rusqlite::Result<bool> {
    let id = id.to_string();
    let changed = match update {
        CommandUpdate::Finish {
            status,
            response,
            error,
            event,
        } => {
            let changed = tx
                .prepare_cached(
                    "UPDATE commands SET status = ?3, attempts = attempts + 1, response = ?4, last_error = ?5,
                         lease_owner = NULL, lease_until_ms = 0, updated_at_ms = ?6
                     WHERE id = ?1 AND lease_owner = ?2 AND status = 'pending'",
                )?
                .execute(params![id, owner, status.as_str(), response.to_string(), error, now_ms])?;
            if changed == 1 {
                events::ingest(tx, event)?;
            }
            changed
        }
        CommandUpdate::Retry {
            next_attempt_ms,
            counted,
            error,
        } => tx
            .prepare_cached(
                "UPDATE commands SET attempts = attempts + ?3, next_attempt_ms = ?4, last_error = ?5,
                     lease_owner = NULL, lease_until_ms = 0, updated_at_ms = ?6
                 WHERE id = ?1 AND lease_owner = ?2 AND status = 'pending'",
            )?
            .execute(params![id, owner, i64::from(*counted), next_attempt_ms, error, now_ms])?,
    };
    Ok(changed == 1)
}

/// Deletes up to `limit` finished commands last updated before `before_ms`.
pub(super) fn prune(tx: &Transaction<'_>, before_ms: i64, limit: usize) -> rusqlite::Result<usize> {
    tx.prepare_cached(
        "DELETE FROM commands WHERE seq IN
             (SELECT seq FROM commands WHERE status != 'pending' AND updated_at_ms < ?1 LIMIT ?2)",
    )?
    .execute(params![before_ms, i64::try_from(limit).unwrap_or(i64::MAX)])
}
