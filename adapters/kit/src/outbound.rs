//! Outbound calls: the domain routes an adapter serves under `/v1/{provider}/…`, the request and response it
//! handles, the [`Upstream`] it reaches the vendor through, and the errors it answers with.
//!
//! The gateway owns everything generic (caller auth, rate limits, circuit breaker, bulkhead, timeouts, retries,
//! credentials, correlation and trace headers); an adapter only translates our domain request into vendor
//! requests on [`Upstream::send`] and the vendor's answers back into domain types or [`OutboundError`]s.
//!
//! What that translation has in common across vendors lives here too, so every adapter reads callers and vendors
//! the same way and answers with the same messages:
//!
//! - the caller's side (from `caller`): [`path_param`] and [`path_segment`] to put a path parameter into a vendor
//!   path as one segment, [`caller_json`] / [`caller_body`] / [`deserialize_caller`] for JSON object bodies with
//!   errors naming the field at fault, [`non_empty`] and [`invalid`];
//! - the vendor's side (from `vendor`): [`check_status`] for what a non-2xx answer means (given the vendor's name,
//!   how to read its error body into a [`VendorError`], and what a 404 is about), [`retry_after`],
//!   [`clean_message`] for vendor text passed on to callers, [`vendor_json`] and [`vendor_domain`] for 2xx bodies as
//!   vendor DTOs and as our domain types, and [`to_json`] for the domain answer.
//!
//! Every failure is classified once, in [`tags`]: [`ErrorTags`] (origin, retry, whether it counts for the circuit
//! breaker) for each [`UpstreamError`], [`OutboundError`] and HTTP status, read by everything that reacts to one.
//!
//! What is particular to one vendor (its error body's shape, its pagination, its field checks) stays in its crate.

mod caller;
mod tags;
mod vendor;

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use serde_json::Value;

pub use caller::{caller_body, caller_json, deserialize_caller, invalid, non_empty, path_param, path_segment};
pub use tags::{ErrorTags, Origin, Retry};
pub use vendor::{
    DEFAULT_RETRY_AFTER, MAX_MESSAGE_CHARS, VendorError, check_status, clean_message, parse_retry_after, retry_after,
    to_json, vendor_domain, vendor_json,
};

/// What serves one route: the caller's request and the vendor, to the domain answer. A plain function (an
/// adapter's routes are data: see [`RouteSpec`]); write one with [`route_handler!`](crate::route_handler).
pub type Handler =
    for<'a> fn(&'a DomainRequest, &'a dyn Upstream) -> BoxFuture<'a, Result<DomainResponse, OutboundError>>;

/// A future a [`Handler`] returns.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// A route an adapter serves, relative to `/v1/{provider}`, and its handler: `path` uses `{name}` for a path
/// segment, e.g. `/customers/{id}`. [`Adapter::call`](crate::Adapter::call) serves a request with the handler of
/// the route it matched, so the routes an adapter declares and those it serves cannot disagree.
#[derive(Clone)]
pub struct RouteSpec {
    pub method: Method,
    pub path: &'static str,
    pub handler: Handler,
}

impl RouteSpec {
    pub const fn new(method: Method, path: &'static str, handler: Handler) -> Self {
        Self { method, path, handler }
    }
}

/// Routes are the same route when their method and path are (a handler has no useful identity).
impl PartialEq for RouteSpec {
    fn eq(&self, other: &Self) -> bool {
        self.method == other.method && self.path == other.path
    }
}

impl Eq for RouteSpec {}

impl std::fmt::Debug for RouteSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RouteSpec({} {})", self.method, self.path)
    }
}

/// A [`Handler`] from an `async fn(&DomainRequest, &dyn Upstream) -> Result<DomainResponse, OutboundError>`:
/// `RouteSpec::new(Method::GET, "/customers/{id}", route_handler!(get_customer))`.
#[macro_export]
macro_rules! route_handler {
    ($function:path) => {
        |request, upstream| ::std::boxed::Box::pin($function(request, upstream))
    };
}

/// A caller's request to one of the adapter's routes, already authenticated and size-limited by the gateway.
#[derive(Debug, Clone)]
pub struct DomainRequest {
    /// The matched route's `path` pattern, e.g. `/customers/{id}`.
    pub route: &'static str,
    pub method: Method,
    /// Path parameters by name, percent-decoded.
    pub params: Vec<(String, String)>,
    /// Query parameters, decoded, in order.
    pub query: Vec<(String, String)>,
    /// The raw request body (JSON for domain routes; empty when none was sent).
    pub body: Bytes,
    /// The caller's `Idempotency-Key`, for adapters whose vendor deduplicates with one.
    pub idempotency_key: Option<String>,
}

impl DomainRequest {
    /// The path parameter `name` (always present for a matched route that declares it).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// The first query parameter `name`; an empty value (`?cursor=`) is the same as an absent one.
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }
}

/// The domain answer: a status and our JSON (never the vendor's).
#[derive(Debug, Clone, PartialEq)]
pub struct DomainResponse {
    pub status: StatusCode,
    pub body: Value,
}

impl DomainResponse {
    pub fn ok(body: Value) -> Self {
        Self {
            status: StatusCode::OK,
            body,
        }
    }

    pub fn created(body: Value) -> Self {
        Self {
            status: StatusCode::CREATED,
            body,
        }
    }

    /// 204: done, nothing to say (a deletion). The gateway sends no body.
    pub fn no_content() -> Self {
        Self {
            status: StatusCode::NO_CONTENT,
            body: Value::Null,
        }
    }
}

/// A request to the vendor, relative to the provider's `base_url`. The gateway adds credentials, correlation and
/// trace headers; a request is retried only when its method is idempotent or it carries an `Idempotency-Key`.
#[derive(Debug, Clone)]
pub struct VendorRequest {
    pub method: Method,
    /// Path (starting with `/`) and query string, already percent-encoded.
    pub path_and_query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// The vendor's complete answer.
#[derive(Debug, Clone)]
pub struct VendorResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// Failures the gateway's policy stack produces before or instead of a vendor answer. Adapters pass them through
/// unchanged (`?` converts them into [`OutboundError::Upstream`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    #[error("rate limited; retry in {retry_after:?}")]
    RateLimited { retry_after: Duration },
    #[error("circuit open; retry in {retry_after:?}")]
    CircuitOpen { retry_after: Duration },
    #[error("too many calls in flight to this provider")]
    BulkheadFull,
    #[error("the vendor did not answer in time")]
    Timeout,
    #[error("cannot reach the vendor: {0}")]
    Connect(String),
    #[error("the vendor's answer could not be read: {0}")]
    Response(String),
}

/// How an adapter's route fails, in our terms. The gateway turns each into a problem response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutboundError {
    /// The caller's request is invalid (400 `invalid-request`); the detail names the field.
    #[error("{0}")]
    InvalidRequest(String),
    /// The vendor has no such resource (404 `not-found`).
    #[error("{0}")]
    NotFound(String),
    /// The vendor refused the request as invalid (400 `invalid-request` with the vendor's message).
    #[error("{0}")]
    VendorRejected(String),
    /// The vendor failed or answered something unreadable (502 `upstream-error`).
    #[error("{0}")]
    VendorFailed(String),
    /// The gateway's own policies stopped or lost the call.
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
}

/// The vendor, as an adapter reaches it: through the gateway's policy stack, with credentials added.
#[async_trait]
pub trait Upstream: Send + Sync {
    async fn send(&self, request: VendorRequest) -> Result<VendorResponse, UpstreamError>;
}
