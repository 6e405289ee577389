//! The schemas of the gateway's own answers in the OpenAPI document: mirrors of what the API writes (problem bodies,
//! webhook acknowledgements, the admin report, commands, events), described with `utoipa::ToSchema`. They are never
//! built, only described; the tests in `super` check the problem body against `problem.rs`. The domain routes'
//! schemas are not here: each adapter contributes those of its own types (`gatehouse_kit::openapi`).

// Description-only types: nothing constructs them or reads their fields.
#![allow(dead_code)]

use utoipa::ToSchema;

/// An RFC 9457 problem, served as `application/problem+json`.
#[derive(ToSchema)]
#[schema(example = json!({
    "type": "urn:gatehouse:problem:unauthorized",
    "title": "Authentication required",
    "status": 401,
    "detail": "send your caller key as Authorization: Bearer <key>",
    "correlation_id": "0197f5a4-5c1e-7b7e-9d6a-3f1c2b4a5d6e"
}))]
pub struct Problem {
    /// `urn:gatehouse:problem:<slug>`; the slug names the kind of problem.
    #[schema(rename = "type", format = "uri", pattern = "^urn:gatehouse:problem:[a-z-]+$")]
    pub kind: String,
    /// A short summary of the kind of problem, the same for every occurrence of it.
    pub title: String,
    /// The HTTP status code, repeated.
    #[schema(minimum = 400, maximum = 599)]
    pub status: u16,
    /// What went wrong this time.
    pub detail: String,
    /// The request's correlation id, as in `X-Correlation-Id`.
    pub correlation_id: Option<String>,
}

/// A webhook committed to the store: the event's id, or the first delivery's when this one is a duplicate.
#[derive(ToSchema)]
#[schema(example = json!({"id": "0197f5a4-5c1e-7b7e-9d6a-3f1c2b4a5d6e", "duplicate": false, "quarantined": false}))]
pub struct WebhookAccepted {
    #[schema(format = "uuid")]
    pub id: String,
    /// Whether the provider had delivered this event before (nothing new was stored).
    pub duplicate: bool,
    /// Whether the adapter could not translate it: it is kept, raw, as a quarantined event (no deliveries) until
    /// `events retranslate` succeeds.
    pub quarantined: bool,
}

/// `{"status":"ok"}` from `/healthz`, `{"status":"ready"}` from `/readyz`.
#[derive(ToSchema)]
pub struct Status {
    #[schema(examples("ok", "ready"))]
    pub status: String,
}

/// `GET /admin/providers`: every configured provider.
#[derive(ToSchema)]
pub struct ProviderList {
    pub data: Vec<ProviderReport>,
}

/// One provider, with the state of its outbound policy stack.
#[derive(ToSchema)]
pub struct ProviderReport {
    pub name: String,
    /// The adapter serving it.
    pub adapter: String,
    /// Whether it receives webhooks.
    pub webhooks: bool,
    /// `null` for a webhook-only provider (no `base_url`).
    pub outbound: Option<OutboundReport>,
}

#[derive(ToSchema)]
pub struct OutboundReport {
    pub breaker: BreakerReport,
    /// `null` without a provider rate limit.
    pub rate_limit: Option<RateLimit>,
    /// Calls to the vendor in flight now.
    pub in_flight: u64,
    /// The bulkhead: most calls in flight at once.
    pub concurrency: u64,
    /// The last (at most 10) calls the breaker counted as failures, and vendor bodies that could not be read,
    /// newest first.
    pub recent_errors: Vec<RecentError>,
}

/// A failed vendor call: when, and the gateway's description of it (status, connect error, timeout; never a body).
#[derive(ToSchema)]
pub struct RecentError {
    #[schema(format = "date-time")]
    pub at: String,
    pub error: String,
}

#[derive(ToSchema)]
pub struct BreakerReport {
    pub state: BreakerState,
    /// Outcomes being judged: the sliding window when closed, those that tripped it when open, the probes when
    /// half-open.
    pub calls_in_window: u64,
    #[schema(minimum = 0, maximum = 1)]
    pub failure_rate: f64,
    #[schema(minimum = 0, maximum = 1)]
    pub slow_call_rate: f64,
    /// Seconds left in the open period; `null` unless open.
    pub open_for_seconds: Option<f64>,
    /// Half-open probes admitted and not yet finished.
    pub half_open_probes: u64,
}

#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

#[derive(ToSchema)]
pub struct RateLimit {
    pub per_second: u32,
    pub burst: u32,
    pub scope: RateLimitScope,
    /// With `[cluster]`: the share of the limit this replica enforces alone while Redis is unreachable.
    pub fallback: Option<FallbackLimit>,
}

/// Where the limit is enforced now: `local` (this replica's own), `cluster` (shared by every replica in Redis) or
/// `local-fallback` (Redis unreachable: this replica's share).
#[derive(ToSchema)]
#[schema(rename_all = "kebab-case")]
pub enum RateLimitScope {
    Local,
    Cluster,
    LocalFallback,
}

#[derive(ToSchema)]
pub struct FallbackLimit {
    /// Calls per second (may be fractional).
    pub per_second: f64,
    pub burst: u32,
}

/// A deferred command, accepted (`202`).
#[derive(ToSchema)]
#[schema(example = json!({"id": "0197f5a4-5c1e-7b7e-9d6a-3f1c2b4a5d6e", "status": "pending"}))]
pub struct CommandAccepted {
    #[schema(format = "uuid")]
    pub id: String,
    pub status: CommandStatus,
}

#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum CommandStatus {
    Pending,
    Succeeded,
    Failed,
    Cancelled,
}

/// `GET /v1/commands/{id}`.
#[derive(ToSchema)]
pub struct Command {
    #[schema(format = "uuid")]
    pub id: String,
    pub status: CommandStatus,
    /// Vendor attempts so far (waiting on an open breaker or a rate limit spends none).
    pub attempts: u32,
    pub provider: String,
    pub method: String,
    /// The route under `/v1/{provider}`, with the query string.
    pub path: String,
    #[schema(format = "date-time")]
    pub created_at: String,
    #[schema(format = "date-time")]
    pub updated_at: String,
    /// Once finished: the answer the call would have had.
    pub response: Option<CommandResponse>,
    /// Why the last attempt failed, if it did.
    pub last_error: Option<String>,
}

/// The answer a deferred command got: a status and our JSON (a problem document when it failed).
#[derive(ToSchema)]
pub struct CommandResponse {
    pub status: u16,
    pub body: serde_json::Value,
}

/// An outbox event, as listed.
#[derive(ToSchema)]
pub struct EventSummary {
    #[schema(format = "uuid")]
    pub id: String,
    pub provider: String,
    #[schema(rename = "type")]
    pub kind: String,
    pub subject: Option<String>,
    pub providereventid: String,
    /// `pending` while any delivery is, `dead` if one is dead, `quarantined` while the adapter cannot translate
    /// it, else `delivered`.
    #[schema(examples("pending", "delivered", "dead", "quarantined"))]
    pub status: String,
    #[schema(format = "date-time")]
    pub received_at: String,
    pub correlationid: String,
}

/// `GET /admin/events`.
#[derive(ToSchema)]
pub struct EventPage {
    pub data: Vec<EventSummary>,
    /// Present when there may be more: pass it as `cursor`.
    pub next_cursor: Option<String>,
}

/// `GET /admin/events/{id}`: the summary's fields, plus the envelope and the deliveries.
#[derive(ToSchema)]
pub struct EventDetail {
    #[schema(format = "uuid")]
    pub id: String,
    pub provider: String,
    #[schema(rename = "type")]
    pub kind: String,
    pub subject: Option<String>,
    pub providereventid: String,
    pub status: String,
    #[schema(format = "date-time")]
    pub received_at: String,
    pub correlationid: String,
    /// The CloudEvents envelope, as delivered.
    pub envelope: serde_json::Value,
    /// The body exactly as the vendor sent it, as text (bytes that are not UTF-8 replaced by U+FFFD).
    pub raw_body: String,
    /// Present when the body is not valid UTF-8: its exact bytes, base64.
    pub raw_body_base64: Option<String>,
    /// Present while the event is quarantined.
    pub quarantine: Option<QuarantineState>,
    pub deliveries: Vec<DeliveryState>,
}

/// Why a quarantined event is not translated.
#[derive(ToSchema)]
pub struct QuarantineState {
    /// The adapter's last error (it names the field or header at fault).
    pub error: String,
}

/// `POST /admin/events/{id}/retranslate`.
#[derive(ToSchema)]
pub struct Retranslated {
    #[schema(format = "uuid")]
    pub id: String,
    /// The event's status now: `pending` or `delivered` once translated, else still `quarantined`.
    #[schema(examples("pending", "delivered", "quarantined"))]
    pub status: String,
    /// `false` when the event was not quarantined (nothing was changed).
    pub retranslated: bool,
    /// The adapter's error, when it still cannot translate the event.
    pub error: Option<String>,
    /// Translated, but the vendor's event id belongs to this earlier event: kept as its duplicate, not delivered.
    #[schema(format = "uuid")]
    pub duplicate_of: Option<String>,
}

/// One subscription's delivery of an event.
#[derive(ToSchema)]
pub struct DeliveryState {
    pub subscription: String,
    #[schema(examples("pending", "delivered", "dead"))]
    pub state: String,
    pub attempts: u32,
    /// While pending: when the next attempt is due.
    #[schema(format = "date-time")]
    pub next_attempt_at: Option<String>,
    pub last_error: Option<String>,
    #[schema(format = "date-time")]
    pub updated_at: String,
    pub history: Vec<DeliveryAttempt>,
}

/// One delivery attempt.
#[derive(ToSchema)]
pub struct DeliveryAttempt {
    pub attempt: u32,
    #[schema(format = "date-time")]
    pub at: String,
    #[schema(examples("delivered", "retry", "dead"))]
    pub outcome: String,
    pub error: Option<String>,
    /// How long the attempt took, in milliseconds.
    pub latency_ms: Option<i64>,
}

/// `POST /admin/events/{id}/replay`.
#[derive(ToSchema)]
pub struct Replayed {
    #[schema(format = "uuid")]
    pub id: String,
    /// How many subscriptions' deliveries were queued.
    pub queued: u32,
}
