//! The idempotency keys this process is running: with the embedded store one gateway process owns the database
//! file, so a key in flight is a map entry rather than a database row. Claiming costs no write; only the final
//! answer is written (durably) before it is sent. A claim holds its key until its request completes or releases
//! it, or until its lock (`idempotency.lock_for`) lapses, so a request stuck past every deadline cannot hold a key
//! forever; a crash forgets every claim, and the retry of a crashed request runs again. A request that finished
//! but whose answer could not be committed keeps its claim, with the answer, until the write succeeds.

use std::collections::HashMap;
use std::sync::Mutex;

use uuid::Uuid;

use crate::store::{Claimed, KeyClaim, KeyCompletion, StoredResponse};

struct Claim {
    fingerprint: String,
    token: Uuid,
    locked_until_ms: i64,
    /// When the answer, once stored, expires: `keep_ms` after the claim.
    expires_at_ms: i64,
    /// The answer, when the request finished but its write has not committed yet (it is being retried): the same
    /// request gets it replayed meanwhile.
    answer: Option<StoredResponse>,
}

/// What a held claim stores its answer with.
#[derive(Clone)]
pub(super) struct Held {
    pub fingerprint: String,
    pub expires_at_ms: i64,
}

#[derive(Default)]
pub(super) struct Claims {
    running: Mutex<HashMap<(String, String), Claim>>,
}

impl Claims {
    /// Takes `(caller, key)` for this request, or answers why not: the same request is running (`InUse`) or another
    /// request holds the key (`Mismatch`).
    pub(super) fn take(&self, claim: &KeyClaim) -> Result<Uuid, Claimed> {
        let mut running = self.running.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let id = (claim.caller.clone(), claim.key.clone());
        if let Some(held) = running.get(&id).filter(|held| held.locked_until_ms > claim.now_ms) {
            return Err(match (&held.answer, held.fingerprint == claim.fingerprint) {
                (_, false) => Claimed::Mismatch,
                (Some(answer), true) => Claimed::Replay(answer.clone()),
                (None, true) => Claimed::InUse,
            });
        }
        let token = Uuid::now_v7();
        running.insert(
            id,
            Claim {
                fingerprint: claim.fingerprint.clone(),
                token,
                locked_until_ms: claim.now_ms.saturating_add(claim.lock_ms),
                expires_at_ms: claim.now_ms.saturating_add(claim.keep_ms),
                answer: None,
            },
        );
        Ok(token)
    }

    /// The claim `token` holds on `(caller, key)`, if it still does.
    pub(super) fn held(&self, caller: &str, key: &str, token: Uuid) -> Option<Held> {
        let running = self.running.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        running
            .get(&(caller.to_owned(), key.to_owned()))
            .filter(|held| held.token == token)
            .map(|held| Held {
                fingerprint: held.fingerprint.clone(),
                expires_at_ms: held.expires_at_ms,
            })
    }

    /// Keeps `answer` with the claim `token` holds (its write is being retried): from now on the key replays it
    /// and never lapses, until [`Self::drop_claim`] once the write committed.
    pub(super) fn hold_answer(&self, caller: &str, key: &str, token: Uuid, answer: StoredResponse) -> bool {
        let mut running = self.running.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match running.get_mut(&(caller.to_owned(), key.to_owned())) {
            Some(held) if held.token == token => {
                held.answer = Some(answer);
                held.locked_until_ms = i64::MAX;
                true
            }
            _ => false,
        }
    }

    /// The answers held in memory because their write has not committed yet, with what stores them.
    pub(super) fn held_answers(&self) -> Vec<(KeyCompletion, Held)> {
        let running = self.running.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        running
            .iter()
            .filter_map(|((caller, key), claim)| {
                let response = claim.answer.clone()?;
                Some((
                    KeyCompletion {
                        caller: caller.clone(),
                        key: key.clone(),
                        token: claim.token,
                        response,
                    },
                    Held {
                        fingerprint: claim.fingerprint.clone(),
                        expires_at_ms: claim.expires_at_ms,
                    },
                ))
            })
            .collect()
    }

    /// Forgets claims whose lock lapsed (a request that never completed nor released its key: a panicked task).
    pub(super) fn forget_lapsed(&self, now_ms: i64) -> usize {
        let mut running = self.running.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let before = running.len();
        running.retain(|_, held| held.locked_until_ms > now_ms);
        before - running.len()
    }

    /// Lets go of `(caller, key)` if `token` holds it; `true` if it did.
    pub(super) fn drop_claim(&self, caller: &str, key: &str, token: Uuid) -> bool {
        let mut running = self.running.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let id = (caller.to_owned(), key.to_owned());
        if running.get(&id).is_some_and(|held| held.token == token) {
            running.remove(&id);
            true
        } else {
            false
        }
    }
}
