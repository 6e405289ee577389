//! RFC 9457 problems: one [`ApiError`] for every failure a client can see, with a stable
//! `urn:gatehouse:problem:<slug>` type and the right status. The classification lives here, outside `http/`, so the
//! orchestration (`calls`) and the workers (a deferred command's stored outcome) name failures the same way; the
//! HTTP answer (the request's correlation id, `Retry-After`, `Allow`) is written by `http::problem`.

use axum::http::StatusCode;
use serde::Serialize;

/// The kinds of problem, each with its slug and status (SPEC §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    InvalidRequest,
    Unauthorized,
    InvalidSignature,
    Forbidden,
    UnknownProvider,
    UnknownRoute,
    NotFound,
    MethodNotAllowed,
    RequestTimeout,
    PayloadTooLarge,
    RateLimited,
    UpstreamError,
    CircuitOpen,
    BulkheadFull,
    StoreUnavailable,
    UpstreamTimeout,
    NotCached,
    IdempotencyKeyInUse,
    IdempotencyKeyMismatch,
    EventQuarantined,
    CommandNotPending,
    CommandRunning,
    SagaNotFailed,
    HeaderFieldsTooLarge,
    UriTooLong,
}

impl Problem {
    pub fn slug(self) -> &'static str {
        match self {
            Problem::InvalidRequest => "invalid-request",
            Problem::Unauthorized => "unauthorized",
            Problem::InvalidSignature => "invalid-signature",
            Problem::Forbidden => "forbidden",
            Problem::UnknownProvider => "unknown-provider",
            Problem::UnknownRoute => "unknown-route",
            Problem::NotFound => "not-found",
            Problem::MethodNotAllowed => "method-not-allowed",
            Problem::RequestTimeout => "request-timeout",
            Problem::PayloadTooLarge => "payload-too-large",
            Problem::RateLimited => "rate-limited",
            Problem::UpstreamError => "upstream-error",
            Problem::CircuitOpen => "circuit-open",
            Problem::BulkheadFull => "bulkhead-full",
            Problem::StoreUnavailable => "store-unavailable",
            Problem::UpstreamTimeout => "upstream-timeout",
            Problem::NotCached => "not-cached",
            Problem::IdempotencyKeyInUse => "idempotency-key-in-use",
            Problem::IdempotencyKeyMismatch => "idempotency-key-mismatch",
            Problem::EventQuarantined => "event-quarantined",
            Problem::CommandNotPending => "command-not-pending",
            Problem::CommandRunning => "command-running",
            Problem::SagaNotFailed => "saga-not-failed",
            Problem::HeaderFieldsTooLarge => "header-fields-too-large",
            Problem::UriTooLong => "uri-too-long",
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            Problem::InvalidRequest => StatusCode::BAD_REQUEST,
            Problem::Unauthorized | Problem::InvalidSignature => StatusCode::UNAUTHORIZED,
            Problem::Forbidden => StatusCode::FORBIDDEN,
            Problem::UnknownProvider | Problem::UnknownRoute | Problem::NotFound => StatusCode::NOT_FOUND,
            Problem::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Problem::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Problem::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Problem::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Problem::UpstreamError => StatusCode::BAD_GATEWAY,
            Problem::CircuitOpen | Problem::BulkheadFull | Problem::StoreUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Problem::UpstreamTimeout | Problem::NotCached => StatusCode::GATEWAY_TIMEOUT,
            Problem::IdempotencyKeyInUse
            | Problem::EventQuarantined
            | Problem::CommandNotPending
            | Problem::CommandRunning
            | Problem::SagaNotFailed => StatusCode::CONFLICT,
            Problem::IdempotencyKeyMismatch => StatusCode::UNPROCESSABLE_ENTITY,
            Problem::HeaderFieldsTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Problem::UriTooLong => StatusCode::URI_TOO_LONG,
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Problem::InvalidRequest => "The request is invalid",
            Problem::Unauthorized => "Authentication required",
            Problem::InvalidSignature => "The webhook signature does not verify",
            Problem::Forbidden => "This caller may not call this provider or start this saga",
            Problem::UnknownProvider => "No such provider",
            Problem::UnknownRoute => "No such route",
            Problem::NotFound => "No such resource",
            Problem::MethodNotAllowed => "Method not allowed on this route",
            Problem::RequestTimeout => "The request took too long to arrive",
            Problem::PayloadTooLarge => "The request body is too large",
            Problem::RateLimited => "Rate limit exceeded",
            Problem::UpstreamError => "The vendor failed or answered something unreadable",
            Problem::CircuitOpen => "The vendor's circuit breaker is open",
            Problem::BulkheadFull => "Too many calls in flight to this vendor",
            Problem::StoreUnavailable => "The store cannot commit right now",
            Problem::UpstreamTimeout => "The vendor did not answer in time",
            Problem::NotCached => "Nothing stored is fresh enough to answer without the vendor (only-if-cached)",
            Problem::IdempotencyKeyInUse => "A request with this Idempotency-Key is still running",
            Problem::IdempotencyKeyMismatch => "This Idempotency-Key was used for a different request",
            Problem::EventQuarantined => "The event is quarantined: retranslate it before replaying it",
            Problem::CommandNotPending => "The command is no longer pending",
            Problem::CommandRunning => "The command is running right now",
            Problem::SagaNotFailed => "Only a failed saga can be retried",
            Problem::HeaderFieldsTooLarge => "The request's headers are too large",
            Problem::UriTooLong => "The request's URI is too long",
        }
    }
}

/// A failure answered as `application/problem+json`.
#[derive(Debug)]
pub struct ApiError {
    problem: Problem,
    detail: String,
    retry_after: Option<u64>,
    /// The methods a 405's route accepts (`Allow`).
    allow: Option<String>,
}

impl ApiError {
    pub fn new(problem: Problem, detail: impl Into<String>) -> Self {
        Self {
            problem,
            detail: detail.into(),
            retry_after: None,
            allow: None,
        }
    }

    /// Adds `Allow` (the methods the route accepts, comma-separated), as a 405 answer carries.
    pub fn allow(mut self, methods: impl Into<String>) -> Self {
        self.allow = Some(methods.into());
        self
    }

    /// Adds `Retry-After` (seconds), as 429 and 503 answers carry.
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    pub fn problem(&self) -> Problem {
        self.problem
    }

    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// `Retry-After`, in seconds, if the answer carries one.
    pub fn retry_after_secs(&self) -> Option<u64> {
        self.retry_after
    }

    /// The methods for `Allow`, if the answer carries it.
    pub fn allowed(&self) -> Option<&str> {
        self.allow.as_deref()
    }
}

#[derive(Serialize)]
struct Body<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: &'a str,
    correlation_id: Option<String>,
}

impl ApiError {
    /// The problem document, with the request's correlation id when there is one.
    pub fn body(&self, correlation_id: Option<String>) -> impl Serialize + '_ {
        self.document(correlation_id)
    }

    fn document(&self, correlation_id: Option<String>) -> Body<'_> {
        Body {
            kind: format!("urn:gatehouse:problem:{}", self.problem.slug()),
            title: self.problem.title(),
            status: self.problem.status().as_u16(),
            detail: &self.detail,
            correlation_id,
        }
    }

    /// The problem document as JSON, for answers kept rather than sent (a deferred command's outcome).
    pub fn to_json(&self, correlation_id: &str) -> serde_json::Value {
        serde_json::to_value(self.document(Some(correlation_id.to_owned()))).unwrap_or_default()
    }
}
