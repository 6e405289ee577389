//! What the store knows per `(caller, Idempotency-Key)`: whether a request holds it (a claim with a lock that
//! lapses, so a stuck request cannot hold a key forever) and, once done, the request's fingerprint and the
//! response to replay.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Asks for `(caller, key)` for a request with `fingerprint`, at `now_ms`.
#[derive(Debug, Clone)]
pub struct KeyClaim {
    pub caller: String,
    pub key: String,
    /// Hex SHA-256 over method, path and the body's SHA-256.
    pub fingerprint: String,
    pub now_ms: i64,
    /// How long the claim holds the key while its request runs (a longer-running request's key may be retaken).
    pub lock_ms: i64,
    /// How long the key (and its stored response) is kept.
    pub keep_ms: i64,
}

/// The answer to a [`KeyClaim`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claimed {
    /// The key is ours: run the request, then complete or release the key with `token`.
    Started { token: Uuid },
    /// The same request is running under this key (409).
    InUse,
    /// The key was used for a different request (422).
    Mismatch,
    /// The request already ran: this is its response.
    Replay(StoredResponse),
}

/// A response kept for replay: status, the headers that matter, and the body, byte for byte.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    #[serde(skip)]
    pub body: Bytes,
}

/// Completes a claim: the response to keep for `(caller, key)` if `token` still holds it.
#[derive(Debug, Clone)]
pub struct KeyCompletion {
    pub caller: String,
    pub key: String,
    pub token: Uuid,
    pub response: StoredResponse,
}
