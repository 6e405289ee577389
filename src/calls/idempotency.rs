//! `Idempotency-Key` on `POST` and `PATCH` to `/v1/…` and `/proxy/…`: per caller, the first request with a key runs
//! and its final response is kept; the same request again gets that response back (`Idempotent-Replayed: true`)
//! without reaching the vendor; the same key while the first still runs is 409, with another request 422. Failures
//! the gateway produced before any vendor answer free the key so the caller can retry. Keys on other methods are
//! ignored (passed on to the vendor like any header on `/proxy`).

use std::sync::Arc;

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::config::IdempotencyConfig;
use crate::problem::{ApiError, Problem};
use crate::store::{Claimed, KeyClaim, KeyCompletion, Store, StoredResponse};

pub const HEADER: &str = "idempotency-key";
const HEADER_NAME: HeaderName = HeaderName::from_static(HEADER);
const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");
/// The longest key accepted.
pub const MAX_KEY_CHARS: usize = 255;

/// Response headers a replay repeats; the rest (dates, rate-limit state, correlation id) describe the replay itself.
const KEPT_HEADERS: &[&str] = &[
    "content-type",
    "content-language",
    "content-encoding",
    "location",
    "etag",
    "last-modified",
    "cache-control",
    "preference-applied",
];

/// The caller's key for this request, if the method takes one: `Ok(None)` without a key or on other methods.
pub fn key(method: &Method, headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    if method != Method::POST && method != Method::PATCH {
        return Ok(None);
    }
    header_key(headers)
}

/// The `Idempotency-Key` header whatever the method: `Ok(None)` when absent, 400 when it is not 1 to 255 visible
/// ASCII characters or spaces.
pub fn header_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(&HEADER_NAME) else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .ok()
        .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_graphic() || b == b' '))
        .ok_or_else(|| {
            ApiError::new(
                Problem::InvalidRequest,
                "header Idempotency-Key must be 1 to 255 visible ASCII characters",
            )
        })?;
    if text.len() > MAX_KEY_CHARS {
        return Err(ApiError::new(
            Problem::InvalidRequest,
            format!("header Idempotency-Key is longer than {MAX_KEY_CHARS} characters"),
        ));
    }
    Ok(Some(text.to_owned()))
}

/// Method + path (with query) + SHA-256 of the body, hashed.
pub fn fingerprint(method: &Method, path_and_query: &str, body: &[u8]) -> String {
    let mut hash = Sha256::new();
    hash.update(method.as_str().as_bytes());
    hash.update(b"\n");
    hash.update(path_and_query.as_bytes());
    hash.update(b"\n");
    hash.update(Sha256::digest(body));
    hex::encode(hash.finalize())
}

/// The key sent to a vendor that deduplicates with one (Stripe): the caller's key under the caller's name, so two
/// callers using the same key never collide at the vendor, and the same on every retry. Within 255 characters.
///
/// The mapping is injective: a key that fits is sent as `<caller>:<key>`; a longer one, or one that itself starts
/// with [`HASHED_PREFIX`] (it could otherwise pose as a hashed key), as `<caller>:sha256:<hex of the key>`. Caller
/// names hold no `:`, so the caller part is unambiguous too.
pub fn vendor_key(caller: &str, key: &str) -> String {
    let readable = format!("{caller}:{key}");
    if readable.len() <= MAX_KEY_CHARS && !key.starts_with(HASHED_PREFIX) {
        readable
    } else {
        format!(
            "{caller}:{HASHED_PREFIX}{}",
            hex::encode(Sha256::digest(key.as_bytes()))
        )
    }
}

/// What marks a vendor key as a hash of the caller's key.
const HASHED_PREFIX: &str = "sha256:";

/// A key this request holds: complete it with the response, or release it.
pub struct KeyGuard {
    store: Arc<dyn Store>,
    caller: String,
    key: String,
    token: Uuid,
}

/// Claims `key` for `caller`'s request. `Err` is the answer to send instead of running it: a replay, 409, 422, or
/// 503 when the store cannot say.
pub async fn claim(
    store: &Arc<dyn Store>,
    config: &IdempotencyConfig,
    caller: &str,
    key: String,
    fingerprint: String,
) -> Result<KeyGuard, Response> {
    let claim = KeyClaim {
        caller: caller.to_owned(),
        key: key.clone(),
        fingerprint,
        now_ms: crate::clock::now_ms(),
        lock_ms: millis(config.lock_for),
        keep_ms: millis(config.keep_for),
    };
    match store.claim_key(claim).await {
        Ok(Claimed::Started { token }) => Ok(KeyGuard {
            store: Arc::clone(store),
            caller: caller.to_owned(),
            key,
            token,
        }),
        Ok(Claimed::InUse) => Err(ApiError::new(
            Problem::IdempotencyKeyInUse,
            "a request with this Idempotency-Key is still running; retry after it finishes",
        )
        .into_response()),
        Ok(Claimed::Mismatch) => Err(ApiError::new(
            Problem::IdempotencyKeyMismatch,
            "this Idempotency-Key was used with a different method, path or body",
        )
        .into_response()),
        Ok(Claimed::Replay(stored)) => {
            metrics::counter!(crate::metrics::IDEMPOTENT_REPLAYS).increment(1);
            Err(replay(stored))
        }
        Err(error) => {
            tracing::error!(%error, "cannot claim an idempotency key");
            Err(ApiError::new(
                Problem::StoreUnavailable,
                "the idempotency key cannot be checked right now",
            )
            .retry_after(1)
            .into_response())
        }
    }
}

impl KeyGuard {
    /// The completion that keeps `response` (for committing together with other writes).
    pub fn completion(&self, status: StatusCode, headers: &HeaderMap, body: Bytes) -> KeyCompletion {
        KeyCompletion {
            caller: self.caller.clone(),
            key: self.key.clone(),
            token: self.token,
            response: stored(status, headers, body),
        }
    }

    /// Keeps the final response for replays. A store failure is logged: the answer still goes out, and the key
    /// frees itself when its lock expires.
    pub async fn complete(self, status: StatusCode, headers: &HeaderMap, body: Bytes) {
        let completion = self.completion(status, headers, body);
        match self.store.complete_key(completion).await {
            Ok(true) => {}
            Ok(false) => tracing::warn!("idempotency key lock expired before the request finished; not stored"),
            Err(error) => tracing::error!(%error, "cannot store the response for an idempotency key"),
        }
    }

    /// Frees the key: the gateway failed before the vendor answered, so a retry may run.
    pub async fn release(self) {
        if let Err(error) = self.store.release_key(self.caller, self.key, self.token).await {
            tracing::error!(%error, "cannot release an idempotency key; it frees itself when its lock expires");
        }
    }
}

fn stored(status: StatusCode, headers: &HeaderMap, body: Bytes) -> StoredResponse {
    let headers = headers
        .iter()
        .filter(|(name, _)| KEPT_HEADERS.contains(&name.as_str()))
        .filter_map(|(name, value)| Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned())))
        .collect();
    StoredResponse {
        status: status.as_u16(),
        headers,
        body,
    }
}

/// The stored response again, marked `Idempotent-Replayed: true`.
fn replay(stored: StoredResponse) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, stored.body).into_response();
    let headers = response.headers_mut();
    headers.remove(header::CONTENT_TYPE);
    for (name, value) in stored.headers {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            headers.append(name, value);
        }
    }
    headers.insert(REPLAYED, HeaderValue::from_static("true"));
    response
}

fn millis(duration: std::time::Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_only_on_post_and_patch_and_only_sane_ones() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(HEADER, HeaderValue::from_str(value).unwrap());
            headers
        };
        assert_eq!(key(&Method::POST, &with("k-1")).unwrap().as_deref(), Some("k-1"));
        assert_eq!(key(&Method::PATCH, &with("k 1")).unwrap().as_deref(), Some("k 1"));
        assert_eq!(key(&Method::GET, &with("k-1")).unwrap(), None);
        assert_eq!(key(&Method::DELETE, &with("")).unwrap(), None);
        assert_eq!(key(&Method::POST, &HeaderMap::new()).unwrap(), None);
        assert!(key(&Method::POST, &with("")).is_err());
        assert!(key(&Method::POST, &with(&"k".repeat(256))).is_err());
        assert!(key(&Method::POST, &with(&"k".repeat(255))).is_ok());
    }

    #[test]
    fn vendor_keys_are_per_caller_and_short_enough() {
        assert_eq!(vendor_key("billing", "order-7"), "billing:order-7");
        assert_ne!(vendor_key("billing", "order-7"), vendor_key("shop", "order-7"));
        let long = vendor_key(&"c".repeat(64), &"k".repeat(255));
        assert!(long.len() <= MAX_KEY_CHARS, "{}", long.len());
        assert_eq!(long, vendor_key(&"c".repeat(64), &"k".repeat(255)));
    }

    #[test]
    fn vendor_keys_never_collide() {
        // A literal key shaped like a hashed one must not map to the long key's vendor key.
        let long = "k".repeat(255);
        let hashed = vendor_key("billing", &long);
        let posing = hashed.strip_prefix("billing:").unwrap();
        assert_ne!(vendor_key("billing", posing), hashed);
        assert!(vendor_key("billing", posing).starts_with("billing:sha256:"));
        assert_ne!(vendor_key("billing", "sha256:x"), "billing:sha256:x");
        // Different keys, different vendor keys, whichever form each takes.
        let keys = ["a", "a ", "sha256:a", &long, &"k".repeat(254), "b:c"];
        let mapped: std::collections::HashSet<_> = keys.iter().map(|k| vendor_key("svc", k)).collect();
        assert_eq!(mapped.len(), keys.len());
    }

    #[test]
    fn fingerprints_cover_method_path_and_body() {
        let base = fingerprint(&Method::POST, "/v1/a/x", b"{}");
        assert_eq!(base, fingerprint(&Method::POST, "/v1/a/x", b"{}"));
        assert_ne!(base, fingerprint(&Method::PATCH, "/v1/a/x", b"{}"));
        assert_ne!(base, fingerprint(&Method::POST, "/v1/a/y", b"{}"));
        assert_ne!(base, fingerprint(&Method::POST, "/v1/a/x", b"{ }"));
    }
}
