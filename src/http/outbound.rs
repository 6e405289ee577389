//! What both outbound route families (`/v1` in [`super::domain`], `/proxy` in [`super::proxy`]) share: admission
//! (caller auth, provider allowed, caller rate limit), rate-limit headers, trace context, the mapping of gateway
//! failures to problems, and outbound metrics.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use gatehouse_kit::outbound::{OutboundError, UpstreamError};

use super::AppState;
use super::auth::Caller;
use super::problem::{ApiError, Problem};
use crate::providers::Provider;
use crate::upstream::ProviderClient;
use crate::upstream::rate_limit::{Decision, retry_after_secs};

/// A request that passed admission: who may call what, and the caller's rate-limit state for its headers.
pub struct Admitted<'a> {
    pub caller: &'a Caller,
    pub provider: &'a Arc<Provider>,
    pub client: &'a ProviderClient,
    pub limit: Option<Decision>,
}

/// Caller auth (401) → provider known with a `base_url` (404) → caller allowed (403) → caller rate limit (429).
pub async fn admit<'a>(state: &'a AppState, name: &str, headers: &HeaderMap) -> Result<Admitted<'a>, Box<Response>> {
    let caller = state
        .callers
        .authenticate(headers)
        .map_err(|e| Box::new(e.into_response()))?;
    let found = state
        .providers
        .get(name)
        .and_then(|p| p.outbound.as_ref().map(|c| (p, c)));
    let Some((provider, client)) = found else {
        let error = ApiError::new(
            Problem::UnknownProvider,
            format!("no provider {name:?} takes outbound calls"),
        );
        return Err(Box::new(error.into_response()));
    };
    if !caller.may_call(name) {
        let error = ApiError::new(
            Problem::Forbidden,
            format!("caller {} may not call {name}", caller.name),
        );
        return Err(Box::new(error.into_response()));
    }
    let limit = state.caller_limits.check(&caller.name).await;
    if let Some(decision) = limit.as_ref().filter(|d| !d.allowed) {
        metrics::counter!(crate::metrics::RATE_LIMITED, "scope" => "caller", "name" => caller.name.clone())
            .increment(1);
        let refusal = ApiError::new(Problem::RateLimited, "this caller's rate limit is exhausted")
            .retry_after(decision.retry_after)
            .into_response();
        return Err(Box::new(with_limit_headers(refusal, limit.as_ref())));
    }
    Ok(Admitted {
        caller,
        provider,
        client,
        limit,
    })
}

/// The `{provider}` segment of `path` after `prefix` (`/v1/`, `/proxy/`) as sent, not decoded, like the rest of the
/// path both route families match on. (Axum's path extractors decode every segment first and refuse, outside our
/// problem format, a path that is not UTF-8 once decoded, which a passthrough path may well be.)
pub fn provider_name<'u>(uri: &'u Uri, prefix: &str) -> &'u str {
    let rest = uri.path().strip_prefix(prefix).unwrap_or_default();
    rest.split('/').next().unwrap_or_default()
}

/// Adds `RateLimit-Policy` and `RateLimit` for the caller's limit.
pub fn with_limit_headers(mut response: Response, limit: Option<&Decision>) -> Response {
    if let Some(decision) = limit {
        let headers = response.headers_mut();
        headers.insert("ratelimit-policy", decision.policy.clone());
        headers.insert("ratelimit", decision.state.clone());
    }
    response
}

/// A valid W3C `traceparent` to pass on (`00-<32 hex>-<16 hex>-<2 hex>`).
pub fn traceparent(headers: &HeaderMap) -> Option<HeaderValue> {
    let value = headers.get("traceparent")?;
    let text = value.to_str().ok()?;
    let parts: Vec<&str> = text.split('-').collect();
    let valid = parts.len() == 4
        && [2, 32, 16, 2]
            .iter()
            .zip(&parts)
            .all(|(n, p)| p.len() == *n && p.bytes().all(|b| b.is_ascii_hexdigit()));
    valid.then(|| value.clone())
}

/// The problem for a gateway-side failure of a vendor call.
pub fn upstream_problem(error: &UpstreamError) -> ApiError {
    match error {
        UpstreamError::RateLimited { retry_after } => {
            ApiError::new(Problem::RateLimited, "the provider's rate limit is exhausted")
                .retry_after(retry_after_secs(*retry_after))
        }
        UpstreamError::CircuitOpen { retry_after } => {
            ApiError::new(Problem::CircuitOpen, "the vendor is failing; calls are paused")
                .retry_after(retry_after_secs(*retry_after))
        }
        UpstreamError::BulkheadFull => {
            ApiError::new(Problem::BulkheadFull, "too many calls in flight to this vendor").retry_after(1)
        }
        UpstreamError::Timeout => ApiError::new(Problem::UpstreamTimeout, "the vendor did not answer in time"),
        UpstreamError::Connect(_) | UpstreamError::Response(_) => {
            ApiError::new(Problem::UpstreamError, error.to_string())
        }
    }
}

pub fn outbound_problem(error: OutboundError) -> ApiError {
    match error {
        OutboundError::InvalidRequest(detail) | OutboundError::VendorRejected(detail) => {
            ApiError::new(Problem::InvalidRequest, detail)
        }
        OutboundError::NotFound(detail) => ApiError::new(Problem::NotFound, detail),
        OutboundError::VendorFailed(detail) => ApiError::new(Problem::UpstreamError, detail),
        OutboundError::Upstream(error) => upstream_problem(&error),
    }
}

/// The outcome label of an answer: the problem's slug, or the status.
pub fn outcome(response: &Response) -> &'static str {
    match response.extensions().get::<Problem>() {
        Some(problem) => problem.slug(),
        None => status_label(response.status()),
    }
}

/// Counts an outbound request by provider, route and outcome, and times it. Every label is shared or static: no
/// string is built per request.
pub fn record(client: &ProviderClient, route: &'static str, outcome: &'static str, started: Instant) {
    let provider = client.label();
    metrics::histogram!(crate::metrics::UPSTREAM_SECONDS, "provider" => provider.clone(), "route" => route)
        .record(started.elapsed().as_secs_f64());
    metrics::counter!(crate::metrics::UPSTREAM_REQUESTS, "provider" => provider.clone(), "route" => route,
        "outcome" => outcome)
    .increment(1);
}

/// A status code as a static string (`"100"`…`"999"`), so it labels a metric without an allocation.
pub fn status_label(status: StatusCode) -> &'static str {
    static LABELS: OnceLock<Vec<String>> = OnceLock::new();
    let labels = LABELS.get_or_init(|| (100..1000u16).map(|code| code.to_string()).collect());
    usize::from(status.as_u16())
        .checked_sub(100)
        .and_then(|i| labels.get(i))
        .map_or("other", String::as_str)
}
