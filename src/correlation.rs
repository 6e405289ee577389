//! Correlation ids: the id a request carries through the gateway (to vendors, events, problem bodies and logs), as
//! a task-local of the work done for it ([`scope`], [`spawn`], [`current`]). The HTTP layer that gives each request
//! one is `http::correlation`. The id is kept as a header value (shared bytes), so passing it on copies nothing.

use axum::http::{HeaderName, HeaderValue};
use tracing::Instrument;

pub const HEADER: &str = "x-correlation-id";
/// [`HEADER`] as a header name (looked up without parsing a string on every request).
pub const HEADER_NAME: HeaderName = HeaderName::from_static(HEADER);

tokio::task_local! {
    static CURRENT: CorrelationId;
}

/// The request's correlation id, as handlers extract it: a valid header value of at most 128 characters of
/// `[A-Za-z0-9._:-]`.
#[derive(Debug, Clone)]
pub struct CorrelationId(HeaderValue);

impl CorrelationId {
    pub fn as_str(&self) -> &str {
        // Only ids `is_valid` accepts are built, and they are ASCII.
        self.0.to_str().unwrap_or_default()
    }

    /// The id as the `X-Correlation-Id` header value (a cheap, shared copy).
    pub fn header_value(&self) -> HeaderValue {
        self.0.clone()
    }

    /// `value` as an id, if it is a valid one ([`is_valid`]).
    pub fn parse(value: &HeaderValue) -> Option<Self> {
        value.to_str().is_ok_and(is_valid).then(|| Self(value.clone()))
    }

    /// A new UUIDv7 id.
    pub fn new() -> Self {
        let mut buffer = uuid::Uuid::encode_buffer();
        let text = uuid::Uuid::now_v7().hyphenated().encode_lower(&mut buffer);
        Self(HeaderValue::from_str(text).unwrap_or(HeaderValue::from_static("00000000-0000-0000-0000-000000000000")))
    }
}

impl Default for CorrelationId {
    fn default() -> Self {
        Self::new()
    }
}

/// The correlation id of the request being served on this task, if any.
pub fn current() -> Option<String> {
    CURRENT.try_with(|id| id.as_str().to_owned()).ok()
}

/// Spawns `work` on `runtime` as a task of the request with correlation id `id`: in its log span, and with its id
/// for problem bodies. For work that must finish even if the caller goes away (on the process's work-stealing
/// runtime, which outlives a per-core one).
pub fn spawn<F>(runtime: &tokio::runtime::Handle, id: CorrelationId, work: F) -> tokio::task::JoinHandle<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    runtime.spawn(CURRENT.scope(id, work).in_current_span())
}

/// Runs `work` as the request with correlation id `id` (for problem bodies and [`current`]).
pub async fn scope<F: std::future::Future>(id: CorrelationId, work: F) -> F::Output {
    CURRENT.scope(id, work).await
}

/// At most 128 characters of `[A-Za-z0-9._:-]`.
pub fn is_valid(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

#[cfg(test)]
mod tests {
    #[test]
    fn validates_ids() {
        assert!(super::is_valid("abc-123_x.y:z"));
        assert!(!super::is_valid(""));
        assert!(!super::is_valid("has space"));
        assert!(!super::is_valid(&"a".repeat(129)));
        assert!(super::is_valid(&"a".repeat(128)));
    }
}
