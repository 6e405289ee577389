//! Deferred-command statements: insert, read, lease due commands (`FOR UPDATE SKIP LOCKED`, so replicas' executors
//! never take the same one), record an attempt's outcome if the lease still holds (a finished command's event in
//! the same transaction), and prune finished commands.

use bytes::Bytes;
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;
use uuid::Uuid;

use super::events;
use crate::store::{CommandRecord, CommandStatus, CommandUpdate, NewCommand, StoreError};

pub(super) const COLUMNS: &str = "id, caller, provider, method, path, body, vendor_key, correlation_id, status, \
                                  attempts, response, last_error, created_at_ms, updated_at_ms, next_attempt_ms, \
                                  lease_until_ms, seq";

pub(super) async fn insert(client: &impl GenericClient, command: &NewCommand, due: i64) -> Result<(), StoreError> {
    let statement = client
        .prepare_cached(
            "INSERT INTO commands (id, caller, provider, method, path, body, vendor_key, correlation_id,
                                   next_attempt_ms, created_at_ms, updated_at_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
        )
        .await?;
    client
        .execute(
            &statement,
            &[
                &command.id,
                &command.caller,
                &command.provider,
                &command.method,
                &command.path,
                &command.body.as_ref(),
                &command.vendor_key,
                &command.correlation_id,
                &due,
                &command.created_at_ms,
            ],
        )
        .await?;
    Ok(())
}

pub(super) fn record(row: &Row) -> Result<CommandRecord, StoreError> {
    let id: Uuid = row.try_get(0)?;
    let status: String = row.try_get(8)?;
    let status = CommandStatus::parse(&status)
        .ok_or_else(|| StoreError::Unavailable(format!("unreadable status {status:?} of command {id}")))?;
    let response: Option<String> = row.try_get(10)?;
    let attempts: i32 = row.try_get(9)?;
    Ok(CommandRecord {
        id,
        caller: row.try_get(1)?,
        provider: row.try_get(2)?,
        method: row.try_get(3)?,
        path: row.try_get(4)?,
        body: Bytes::from(row.try_get::<_, Vec<u8>>(5)?),
        vendor_key: row.try_get(6)?,
        correlation_id: row.try_get(7)?,
        status,
        attempts: u32::try_from(attempts).unwrap_or(0),
        response: response.and_then(|r| serde_json::from_str(&r).ok()),
        last_error: row.try_get(11)?,
        created_at_ms: row.try_get(12)?,
        updated_at_ms: row.try_get(13)?,
        next_attempt_ms: row.try_get(14)?,
        lease_until_ms: row.try_get(15)?,
        seq: row.try_get(16)?,
    })
}

pub(super) async fn get(client: &impl GenericClient, id: Uuid) -> Result<Option<CommandRecord>, StoreError> {
    let statement = client
        .prepare_cached(&format!("SELECT {COLUMNS} FROM commands WHERE id = $1"))
        .await?;
    client
        .query_opt(&statement, &[&id])
        .await?
        .as_ref()
        .map(record)
        .transpose()
}

/// Leases up to `limit` due pending commands whose lease (if any) lapsed, oldest due first; rows another replica is
/// leasing at this moment are skipped, not waited for.
pub(super) async fn claim(
    client: &impl GenericClient,
    owner: &str,
    now: i64,
    lease_ms: i64,
    limit: usize,
) -> Result<Vec<Result<CommandRecord, StoreError>>, StoreError> {
    let statement = client
        .prepare_cached(&format!(
            "WITH picked AS (
                 SELECT ctid FROM commands
                 WHERE status = 'pending' AND next_attempt_ms <= $3 AND lease_until_ms <= $3
                 ORDER BY next_attempt_ms, seq LIMIT $4
                 FOR UPDATE SKIP LOCKED)
             UPDATE commands c SET lease_owner = $1, lease_until_ms = $2 FROM picked WHERE c.ctid = picked.ctid
             RETURNING {}",
            COLUMNS
                .split(", ")
                .map(|c| format!("c.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .await?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = client
        .query(&statement, &[&owner, &now.saturating_add(lease_ms), &now, &limit])
        .await?;
    Ok(rows.iter().map(record).collect())
}

/// Records an attempt's outcome if `owner` still holds the command's lease; `false` otherwise (nothing written).
/// A finishing command's event is ingested in the same transaction (the caller took the ingest locks).
pub(super) async fn update(
    client: &impl GenericClient,
    id: Uuid,
    owner: &str,
    now: i64,
    update: &CommandUpdate,
    clock: &super::clock::DbClock,
) -> Result<bool, StoreError> {
    let changed = match update {
        CommandUpdate::Finish {
            status,
            response,
            error,
            event,
        } => {
            let statement = client
                .prepare_cached(
                    "UPDATE commands SET status = $3, attempts = attempts + 1, response = $4, last_error = $5,
                         lease_owner = NULL, lease_until_ms = 0, updated_at_ms = $6
                     WHERE id = $1 AND lease_owner = $2 AND status = 'pending'",
                )
                .await?;
            let changed = client
                .execute(
                    &statement,
                    &[&id, &owner, &status.as_str(), &response.to_string(), error, &now],
                )
                .await?;
            if changed == 1 {
                events::ingest(client, event, clock.at(event.received_at_ms)).await?;
            }
            changed
        }
        CommandUpdate::Retry {
            next_attempt_ms,
            counted,
            error,
        } => {
            let statement = client
                .prepare_cached(
                    "UPDATE commands SET attempts = attempts + $3, next_attempt_ms = $4, last_error = $5,
                         lease_owner = NULL, lease_until_ms = 0, updated_at_ms = $6
                     WHERE id = $1 AND lease_owner = $2 AND status = 'pending'",
                )
                .await?;
            let counted = i32::from(*counted);
            client
                .execute(
                    &statement,
                    &[&id, &owner, &counted, &clock.at(*next_attempt_ms), error, &now],
                )
                .await?
        }
    };
    Ok(changed == 1)
}

/// Deletes up to `limit` finished commands last updated before `before_ms`.
pub(super) async fn prune(client: &impl GenericClient, before_ms: i64, limit: i64) -> Result<usize, StoreError> {
    let statement = client
        .prepare_cached(
            "DELETE FROM commands WHERE seq IN
                 (SELECT seq FROM commands WHERE status <> 'pending' AND updated_at_ms < $1 LIMIT $2)",
        )
        .await?;
    Ok(usize::try_from(client.execute(&statement, &[&before_ms, &limit]).await?).unwrap_or(usize::MAX))
}
