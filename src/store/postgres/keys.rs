//! Idempotency keys as rows every replica sees: a claim is an upsert that takes the key only if it is free, its
//! lock lapsed or its answer expired (judged on the database's clock); completing it stores the answer on the row
//! the claim holds. An answer that cannot be committed is held in memory (this replica replays it) and retried
//! until it lands, as the trait asks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use deadpool_postgres::{GenericClient, Pool};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::store::{Claimed, KeyClaim, KeyCompletion, StoreError, StoredResponse};

const CLAIM: &str = "
INSERT INTO idempotency_keys (caller, key, fingerprint, token, state, locked_until_ms, expires_at_ms)
VALUES ($1, $2, $3, $4, 'running', $5, $6)
ON CONFLICT (caller, key) DO UPDATE SET fingerprint = excluded.fingerprint, token = excluded.token,
    state = 'running', locked_until_ms = excluded.locked_until_ms, expires_at_ms = excluded.expires_at_ms,
    status = NULL, headers = NULL, body = NULL
WHERE (idempotency_keys.state = 'running' AND idempotency_keys.locked_until_ms <= $7)
   OR (idempotency_keys.state = 'completed' AND idempotency_keys.expires_at_ms <= $7)
RETURNING token";

/// Claims `(caller, key)` at `now` (database clock) or says who holds it.
pub(super) async fn claim(client: &impl GenericClient, claim: &KeyClaim, now: i64) -> Result<Claimed, StoreError> {
    let take = client.prepare_cached(CLAIM).await?;
    let read = client
        .prepare_cached(
            "SELECT fingerprint, state, status, headers, body FROM idempotency_keys WHERE caller = $1 AND key = $2",
        )
        .await?;
    // A key freed between the upsert and the read is tried again (a few times: each try races with one release).
    for _ in 0..3 {
        let token = Uuid::now_v7();
        let taken = client
            .query_opt(
                &take,
                &[
                    &claim.caller,
                    &claim.key,
                    &claim.fingerprint,
                    &token,
                    &now.saturating_add(claim.lock_ms),
                    &now.saturating_add(claim.keep_ms),
                    &now,
                ],
            )
            .await?;
        if taken.is_some() {
            return Ok(Claimed::Started { token });
        }
        let Some(row) = client.query_opt(&read, &[&claim.caller, &claim.key]).await? else {
            continue;
        };
        let (fingerprint, state): (String, String) = (row.try_get(0)?, row.try_get(1)?);
        if fingerprint != claim.fingerprint {
            return Ok(Claimed::Mismatch);
        }
        if state == "running" {
            return Ok(Claimed::InUse);
        }
        let (status, headers, body): (Option<i32>, Option<String>, Option<Vec<u8>>) =
            (row.try_get(2)?, row.try_get(3)?, row.try_get(4)?);
        return Ok(Claimed::Replay(StoredResponse {
            status: status.and_then(|s| u16::try_from(s).ok()).unwrap_or(500),
            headers: headers.and_then(|h| serde_json::from_str(&h).ok()).unwrap_or_default(),
            body: Bytes::from(body.unwrap_or_default()),
        }));
    }
    Err(StoreError::Unavailable(
        "an idempotency key changed hands too often to be claimed".into(),
    ))
}

/// Stores the answer on the row `done.token` holds; `false` if the claim was lost.
pub(super) async fn complete(client: &impl GenericClient, done: &KeyCompletion) -> Result<bool, StoreError> {
    let statement = client
        .prepare_cached(
            "UPDATE idempotency_keys SET state = 'completed', locked_until_ms = 0, status = $4, headers = $5, body = $6
             WHERE caller = $1 AND key = $2 AND token = $3 AND state = 'running'",
        )
        .await?;
    let headers = serde_json::to_string(&done.response.headers).unwrap_or_else(|_| "[]".into());
    let status = i32::from(done.response.status);
    let changed = client
        .execute(
            &statement,
            &[
                &done.caller,
                &done.key,
                &done.token,
                &status,
                &headers,
                &done.response.body.as_ref(),
            ],
        )
        .await?;
    Ok(changed == 1)
}

/// Frees the key `token` holds while its request runs.
pub(super) async fn release(
    client: &impl GenericClient,
    caller: &str,
    key: &str,
    token: Uuid,
) -> Result<bool, StoreError> {
    let statement = client
        .prepare_cached(
            "DELETE FROM idempotency_keys WHERE caller = $1 AND key = $2 AND token = $3 AND state = 'running'",
        )
        .await?;
    Ok(client.execute(&statement, &[&caller, &key, &token]).await? == 1)
}

/// Deletes up to `limit` expired answers and lapsed claims (a request that never finished); returns how many
/// answers (as the embedded store counts: its claims are not rows).
pub(super) async fn prune(client: &impl GenericClient, now: i64, limit: i64) -> Result<usize, StoreError> {
    let statement = client
        .prepare_cached(
            "WITH gone AS (
                 DELETE FROM idempotency_keys WHERE (caller, key) IN (
                     SELECT caller, key FROM idempotency_keys
                     WHERE expires_at_ms <= $1 OR (state = 'running' AND locked_until_ms <= $1) LIMIT $2)
                 RETURNING state)
             SELECT count(*) FILTER (WHERE state = 'completed'), count(*) FROM gone",
        )
        .await?;
    let row = client.query_one(&statement, &[&now, &limit]).await?;
    let (answers, lapsed): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
    if lapsed > answers {
        tracing::warn!(
            lapsed = lapsed - answers,
            "forgot idempotency claims whose requests never finished"
        );
    }
    Ok(usize::try_from(answers).unwrap_or(usize::MAX))
}

/// Answers this replica finished but could not commit yet, with the fingerprint of the request they answer; and
/// the fingerprints of claims running here (so a held answer is replayed only to the same request).
#[derive(Default)]
pub(super) struct Held {
    answers: Mutex<HashMap<(String, String), (String, KeyCompletion)>>,
    /// Fingerprint and lock lapse (the caller's clock) per claim token.
    running: Mutex<HashMap<Uuid, (String, i64)>>,
}

impl Held {
    /// Remembers the fingerprint of a claim that started here, until `lapses_at_ms`.
    pub(super) fn started(&self, token: Uuid, fingerprint: &str, lapses_at_ms: i64) {
        if let Ok(mut running) = self.running.lock() {
            running.insert(token, (fingerprint.to_owned(), lapses_at_ms));
        }
    }

    /// Forgets a claim that completed or was released here.
    pub(super) fn ended(&self, token: Uuid) -> Option<String> {
        let ended = self.running.lock().ok().and_then(|mut running| running.remove(&token));
        ended.map(|(fingerprint, _)| fingerprint)
    }

    /// Forgets claims whose lock lapsed at `now_ms` without an end (a request that never finished: a panicked task,
    /// an uncertain command insert).
    pub(super) fn forget_lapsed(&self, now_ms: i64) {
        if let Ok(mut running) = self.running.lock() {
            running.retain(|_, (_, lapses_at_ms)| *lapses_at_ms > now_ms);
        }
    }

    /// Keeps `done` (its write is being retried) for requests with `fingerprint`.
    pub(super) fn hold(&self, fingerprint: String, done: KeyCompletion) {
        if let Ok(mut answers) = self.answers.lock() {
            answers.insert((done.caller.clone(), done.key.clone()), (fingerprint, done));
        }
    }

    /// The held answer for `claim`, as the claim's result.
    pub(super) fn find(&self, claim: &KeyClaim) -> Option<Claimed> {
        let answers = self.answers.lock().ok()?;
        let (fingerprint, done) = answers.get(&(claim.caller.clone(), claim.key.clone()))?;
        Some(if *fingerprint == claim.fingerprint {
            Claimed::Replay(done.response.clone())
        } else {
            Claimed::Mismatch
        })
    }

    pub(super) fn forget(&self, done: &KeyCompletion) {
        if let Ok(mut answers) = self.answers.lock() {
            answers.remove(&(done.caller.clone(), done.key.clone()));
        }
    }

    pub(super) fn all(&self) -> Vec<KeyCompletion> {
        self.answers
            .lock()
            .map(|answers| answers.values().map(|(_, done)| done.clone()).collect())
            .unwrap_or_default()
    }
}

/// Keeps trying to commit a key's answer that could not be committed when its request finished, at once and then
/// at least every second, until it is committed or the claim turns out lost (then the in-memory answer goes), or
/// the store stops. This replica replays the held answer meanwhile; the other replicas respect the key's row until
/// its lock (`idempotency.lock_for`) lapses, so the answer must land before then: it does, unless this replica
/// stays cut off from the database (while others reach it) for longer than the lock.
pub(super) fn retry_write(pool: Pool, held: Arc<Held>, done: KeyCompletion, stop: CancellationToken) {
    tokio::spawn(async move {
        let mut pause = std::time::Duration::ZERO;
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(pause) => {}
            }
            let written = match super::connect::get(&pool).await {
                Ok(conn) => complete(&conn, &done).await,
                Err(error) => Err(error),
            };
            match written {
                Ok(committed) => {
                    if !committed {
                        tracing::error!(caller = %done.caller, "an idempotency key's held answer lost its claim");
                    } else {
                        tracing::info!("an idempotency key's answer held in memory is committed now");
                    }
                    held.forget(&done);
                    return;
                }
                Err(error) => tracing::warn!(%error, "an idempotency key's answer still cannot be committed"),
            }
            pause = (pause * 2).clamp(std::time::Duration::from_millis(100), std::time::Duration::from_secs(1));
        }
    });
}
