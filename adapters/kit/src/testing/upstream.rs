//! [`FakeUpstream`]: a scripted vendor for adapters' outbound tests. Replies are queued in order and handed out one
//! per [`Upstream::send`]; every request sent is recorded for the test to inspect.
//!
//! ```
//! # use gatehouse_kit::testing::FakeUpstream;
//! # use gatehouse_kit::outbound::UpstreamError;
//! # use http::StatusCode;
//! let upstream = FakeUpstream::new()
//!     .reply(StatusCode::OK, serde_json::json!({"id": "c_1"}))
//!     .reply_with_headers(StatusCode::TOO_MANY_REQUESTS, &[("retry-after", "3")], "")
//!     .fail(UpstreamError::Timeout);
//! # let _ = upstream;
//! ```

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use serde_json::Value;

use crate::outbound::{Upstream, UpstreamError, VendorRequest, VendorResponse};

/// The body of a scripted reply: raw bytes (`&str`, `String`, `&[u8]`, `b"..."`, `Vec<u8>`, [`Bytes`]) or JSON
/// (a [`Value`], serialized compactly).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyBody(pub Bytes);

impl From<Bytes> for ReplyBody {
    fn from(bytes: Bytes) -> Self {
        Self(bytes)
    }
}

impl From<Vec<u8>> for ReplyBody {
    fn from(bytes: Vec<u8>) -> Self {
        Self(bytes.into())
    }
}

impl From<&[u8]> for ReplyBody {
    fn from(bytes: &[u8]) -> Self {
        Self(Bytes::copy_from_slice(bytes))
    }
}

impl<const N: usize> From<&[u8; N]> for ReplyBody {
    fn from(bytes: &[u8; N]) -> Self {
        Self(Bytes::copy_from_slice(bytes))
    }
}

impl From<&str> for ReplyBody {
    fn from(text: &str) -> Self {
        Self(Bytes::copy_from_slice(text.as_bytes()))
    }
}

impl From<String> for ReplyBody {
    fn from(text: String) -> Self {
        Self(text.into())
    }
}

impl From<Value> for ReplyBody {
    fn from(json: Value) -> Self {
        Self(json.to_string().into())
    }
}

/// A vendor that answers from a script, in order, and records what it was sent. When the script is exhausted,
/// [`Upstream::send`] fails with `UpstreamError::Connect("no reply queued")`.
#[derive(Debug, Default)]
pub struct FakeUpstream {
    replies: Mutex<VecDeque<Result<VendorResponse, UpstreamError>>>,
    requests: Mutex<Vec<VendorRequest>>,
}

impl FakeUpstream {
    /// A vendor with nothing queued.
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues a reply with `status`, no headers and `body`.
    pub fn reply(self, status: StatusCode, body: impl Into<ReplyBody>) -> Self {
        self.reply_with_headers(status, &[], body)
    }

    /// Queues a reply with `status`, `headers` (appended in order, so a name may repeat) and `body`.
    ///
    /// # Panics
    /// When a header name or value is invalid: a mistake in the test itself.
    pub fn reply_with_headers(self, status: StatusCode, headers: &[(&str, &str)], body: impl Into<ReplyBody>) -> Self {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .unwrap_or_else(|e| panic!("FakeUpstream: invalid header name {name:?}: {e}"));
            let value = HeaderValue::from_str(value)
                .unwrap_or_else(|e| panic!("FakeUpstream: invalid value for header {name}: {e}"));
            map.append(name, value);
        }
        self.push(Ok(VendorResponse {
            status,
            headers: map,
            body: body.into().0,
        }))
    }

    /// Queues a failure of the gateway's policy stack (rate limited, timeout, ...) instead of a vendor answer.
    pub fn fail(self, error: UpstreamError) -> Self {
        self.push(Err(error))
    }

    /// Every request sent so far, in order.
    /// The one request sent; fails the test if there was not exactly one.
    pub fn only_request(&self) -> VendorRequest {
        let mut requests = self.requests();
        assert_eq!(requests.len(), 1, "{requests:?}");
        requests.remove(0)
    }

    pub fn requests(&self) -> Vec<VendorRequest> {
        lock(&self.requests).clone()
    }

    /// How many queued replies have not been used yet.
    pub fn remaining(&self) -> usize {
        lock(&self.replies).len()
    }

    fn push(self, reply: Result<VendorResponse, UpstreamError>) -> Self {
        lock(&self.replies).push_back(reply);
        self
    }
}

#[async_trait]
impl Upstream for FakeUpstream {
    async fn send(&self, request: VendorRequest) -> Result<VendorResponse, UpstreamError> {
        lock(&self.requests).push(request);
        lock(&self.replies)
            .pop_front()
            .unwrap_or_else(|| Err(UpstreamError::Connect("no reply queued".into())))
    }
}

/// The guarded value, even when another test thread panicked while holding the lock.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use http::Method;
    use serde_json::json;

    use super::*;

    fn get(path: &str) -> VendorRequest {
        VendorRequest {
            method: Method::GET,
            path_and_query: path.into(),
            headers: HeaderMap::new(),
            body: Bytes::new(),
        }
    }

    /// Drives a future that never waits (the fake never does) to completion without a runtime.
    fn now<F: std::future::Future>(future: F) -> F::Output {
        let mut future = std::pin::pin!(future);
        let mut context = std::task::Context::from_waker(std::task::Waker::noop());
        match future.as_mut().poll(&mut context) {
            std::task::Poll::Ready(output) => output,
            std::task::Poll::Pending => panic!("the fake upstream never waits"),
        }
    }

    #[test]
    fn replies_in_order_and_records_requests() {
        let upstream = FakeUpstream::new()
            .reply(StatusCode::OK, json!({"a": 1}))
            .reply_with_headers(StatusCode::TOO_MANY_REQUESTS, &[("retry-after", "3")], b"slow down")
            .fail(UpstreamError::Timeout);
        assert_eq!(upstream.remaining(), 3);

        let first = now(upstream.send(get("/one"))).unwrap();
        assert_eq!(first.status, StatusCode::OK);
        assert_eq!(first.body, Bytes::from_static(br#"{"a":1}"#));
        assert!(first.headers.is_empty());

        let second = now(upstream.send(get("/two"))).unwrap();
        assert_eq!(second.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(second.headers["retry-after"], "3");
        assert_eq!(second.body, Bytes::from_static(b"slow down"));

        assert_eq!(now(upstream.send(get("/three"))).unwrap_err(), UpstreamError::Timeout);
        assert_eq!(
            now(upstream.send(get("/four"))).unwrap_err(),
            UpstreamError::Connect("no reply queued".into())
        );
        assert_eq!(upstream.remaining(), 0);

        let paths: Vec<_> = upstream.requests().into_iter().map(|r| r.path_and_query).collect();
        assert_eq!(paths, ["/one", "/two", "/three", "/four"]);
    }

    #[test]
    fn takes_bodies_of_every_kind() {
        let bodies: [ReplyBody; 6] = [
            "text".into(),
            String::from("text").into(),
            b"text".into(),
            b"text".as_slice().into(),
            b"text".to_vec().into(),
            Bytes::from_static(b"text").into(),
        ];
        for body in bodies {
            assert_eq!(body.0, Bytes::from_static(b"text"));
        }
        assert_eq!(ReplyBody::from(json!("text")).0, Bytes::from_static(b"\"text\""));
    }

    #[test]
    fn passes_every_upstream_error_through() {
        let errors = [
            UpstreamError::RateLimited {
                retry_after: Duration::from_secs(2),
            },
            UpstreamError::CircuitOpen {
                retry_after: Duration::from_secs(5),
            },
            UpstreamError::BulkheadFull,
            UpstreamError::Timeout,
            UpstreamError::Connect("refused".into()),
            UpstreamError::Response("reset".into()),
        ];
        let upstream = errors.iter().cloned().fold(FakeUpstream::new(), FakeUpstream::fail);
        for error in errors {
            assert_eq!(now(upstream.send(get("/"))).unwrap_err(), error);
        }
    }

    #[test]
    #[should_panic(expected = "invalid header name")]
    fn refuses_invalid_header_names() {
        let _ = FakeUpstream::new().reply_with_headers(StatusCode::OK, &[("bad name", "x")], "");
    }
}
