//! Idempotency-key statements: claiming a key (or finding it running, mismatched or done), completing it with the
//! response to replay, releasing it, and pruning expired keys.

use bytes::Bytes;
use rusqlite::{OptionalExtension, Transaction, params};
use uuid::Uuid;

use crate::store::{Claimed, KeyClaim, KeyCompletion, StoredResponse};

type Row = (
    String,
    String,
    String,
    i64,
    i64,
    Option<i64>,
    Option<String>,
    Option<Vec<u8>>,
);

/// Claims `(caller, key)`: free, expired, or running under a lock that has expired (its gateway died) → ours.
pub(super) fn claim(tx: &Transaction<'_>, claim: &KeyClaim) -> rusqlite::Result<Claimed> {
    // The common case, a key never seen: one statement.
    let token = Uuid::now_v7();
    let inserted = tx
        .prepare_cached(
            "INSERT INTO idempotency_keys (caller, key, fingerprint, token, state, locked_until_ms, expires_at_ms)
             VALUES (?1, ?2, ?3, ?4, 'running', ?5, ?6)
             ON CONFLICT (caller, key) DO NOTHING",
        )?
        .execute(params![
            claim.caller,
            claim.key,
            claim.fingerprint,
            token.to_string(),
            claim.now_ms.saturating_add(claim.lock_ms),
            claim.now_ms.saturating_add(claim.keep_ms),
        ])?;
    if inserted == 1 {
        return Ok(Claimed::Started { token });
    }
    let row: Option<Row> = tx
        .prepare_cached(
            "SELECT fingerprint, token, state, locked_until_ms, expires_at_ms, status, headers, body
             FROM idempotency_keys WHERE caller = ?1 AND key = ?2",
        )?
        .query_row(params![claim.caller, claim.key], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
            ))
        })
        .optional()?;
    if let Some((fingerprint, _, state, locked_until_ms, expires_at_ms, status, headers, body)) = row {
        let live = expires_at_ms > claim.now_ms;
        if live && state == "completed" {
            if fingerprint != claim.fingerprint {
                return Ok(Claimed::Mismatch);
            }
            let headers: Vec<(String, String)> =
                headers.and_then(|h| serde_json::from_str(&h).ok()).unwrap_or_default();
            return Ok(Claimed::Replay(StoredResponse {
                status: status.and_then(|s| u16::try_from(s).ok()).unwrap_or(500),
                headers,
                body: Bytes::from(body.unwrap_or_default()),
            }));
        }
        if live && locked_until_ms > claim.now_ms {
            return Ok(if fingerprint == claim.fingerprint {
                Claimed::InUse
            } else {
                Claimed::Mismatch
            });
        }
        // A running key whose lock expired keeps its fingerprint: a retry of the same request takes it over,
        // another request under the same key is still a mismatch.
        if live && fingerprint != claim.fingerprint {
            return Ok(Claimed::Mismatch);
        }
    }
    // Expired, or abandoned by a crashed request: retake it.
    tx.prepare_cached(
        "UPDATE idempotency_keys SET fingerprint = ?3, token = ?4, state = 'running', locked_until_ms = ?5,
             expires_at_ms = ?6, status = NULL, headers = NULL, body = NULL
         WHERE caller = ?1 AND key = ?2",
    )?
    .execute(params![
        claim.caller,
        claim.key,
        claim.fingerprint,
        token.to_string(),
        claim.now_ms.saturating_add(claim.lock_ms),
        claim.now_ms.saturating_add(claim.keep_ms),
    ])?;
    Ok(Claimed::Started { token })
}

/// Stores the response for replay if `token` still holds the key; `false` if another request took it over.
pub(super) fn complete(tx: &Transaction<'_>, done: &KeyCompletion) -> rusqlite::Result<bool> {
    let headers = serde_json::to_string(&done.response.headers).unwrap_or_else(|_| "[]".into());
    let changed = tx
        .prepare_cached(
            "UPDATE idempotency_keys SET state = 'completed', locked_until_ms = 0, status = ?4, headers = ?5, body = ?6
             WHERE caller = ?1 AND key = ?2 AND token = ?3 AND state = 'running'",
        )?
        .execute(params![
            done.caller,
            done.key,
            done.token.to_string(),
            i64::from(done.response.status),
            headers,
            done.response.body.as_ref(),
        ])?;
    Ok(changed == 1)
}

/// Frees the key if `token` still holds it, so the caller can retry.
pub(super) fn release(tx: &Transaction<'_>, caller: &str, key: &str, token: Uuid) -> rusqlite::Result<bool> {
    let changed = tx
        .prepare_cached(
            "DELETE FROM idempotency_keys WHERE caller = ?1 AND key = ?2 AND token = ?3 AND state = 'running'",
        )?
        .execute(params![caller, key, token.to_string()])?;
    Ok(changed == 1)
}

/// Deletes keys past their expiry, except one still running under a live lock.
pub(super) fn prune(tx: &Transaction<'_>, now_ms: i64) -> rusqlite::Result<usize> {
    tx.prepare_cached(
        "DELETE FROM idempotency_keys
         WHERE expires_at_ms <= ?1 AND NOT (state = 'running' AND locked_until_ms > ?1)",
    )?
    .execute(params![now_ms])
}
