//! Idempotency-key statements: reading a key's stored answer, storing one, and pruning expired keys. (Keys in flight
//! are not rows: see [`super::claims`].)

use bytes::Bytes;
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use crate::store::{KeyCompletion, StoredResponse};

/// A key's stored answer, as read.
pub(super) struct Stored {
    pub fingerprint: String,
    pub response: StoredResponse,
}

/// The answer stored under `(caller, key)` that has not expired at `now_ms`.
pub(super) fn find(conn: &Connection, caller: &str, key: &str, now_ms: i64) -> rusqlite::Result<Option<Stored>> {
    conn.prepare_cached(
        "SELECT fingerprint, status, headers, body FROM idempotency_keys
         WHERE caller = ?1 AND key = ?2 AND state = 'completed' AND expires_at_ms > ?3",
    )?
    .query_row(params![caller, key, now_ms], |r| {
        let status: Option<i64> = r.get(1)?;
        let headers: Option<String> = r.get(2)?;
        let body: Option<Vec<u8>> = r.get(3)?;
        Ok(Stored {
            fingerprint: r.get(0)?,
            response: StoredResponse {
                status: status.and_then(|s| u16::try_from(s).ok()).unwrap_or(500),
                headers: headers.and_then(|h| serde_json::from_str(&h).ok()).unwrap_or_default(),
                body: Bytes::from(body.unwrap_or_default()),
            },
        })
    })
    .optional()
}

/// Stores the answer for `(caller, key)`, kept until `expires_at_ms` (replacing an expired one).
pub(super) fn store(
    tx: &Transaction<'_>,
    done: &KeyCompletion,
    fingerprint: &str,
    expires_at_ms: i64,
) -> rusqlite::Result<()> {
    let headers = serde_json::to_string(&done.response.headers).unwrap_or_else(|_| "[]".into());
    tx.prepare_cached(
        "INSERT INTO idempotency_keys
             (caller, key, fingerprint, token, state, locked_until_ms, expires_at_ms, status, headers, body)
         VALUES (?1, ?2, ?3, ?4, 'completed', 0, ?5, ?6, ?7, ?8)
         ON CONFLICT (caller, key) DO UPDATE SET fingerprint = excluded.fingerprint, token = excluded.token,
             state = 'completed', locked_until_ms = 0, expires_at_ms = excluded.expires_at_ms,
             status = excluded.status, headers = excluded.headers, body = excluded.body",
    )?
    .execute(params![
        done.caller,
        done.key,
        fingerprint,
        done.token.to_string(),
        expires_at_ms,
        i64::from(done.response.status),
        headers,
        done.response.body.as_ref(),
    ])?;
    Ok(())
}

/// Deletes up to `limit` keys past their expiry.
pub(super) fn prune(tx: &Transaction<'_>, now_ms: i64, limit: usize) -> rusqlite::Result<usize> {
    tx.prepare_cached(
        "DELETE FROM idempotency_keys WHERE (caller, key) IN
             (SELECT caller, key FROM idempotency_keys WHERE expires_at_ms <= ?1 LIMIT ?2)",
    )?
    .execute(params![now_ms, i64::try_from(limit).unwrap_or(i64::MAX)])
}
