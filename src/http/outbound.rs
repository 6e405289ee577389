//! What both outbound route families (`/v1` in [`super::domain`], `/proxy` in [`super::proxy`]) share at the edge:
//! the provider's name in the path, rate-limit headers, trace context, and outbound metrics. (Admission and the
//! problems outbound failures map to are the orchestration's: [`crate::calls`].)

use std::sync::OnceLock;
use std::time::Instant;

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use super::problem::Problem;
use crate::upstream::ProviderClient;
use crate::upstream::rate_limit::Decision;

/// The `{provider}` segment of `path` after `prefix` (`/v1/`, `/proxy/`) as sent, not decoded, like the rest of the
/// path both route families match on. (Axum's path extractors decode every segment first and refuse, outside our
/// problem format, a path that is not UTF-8 once decoded, which a passthrough path may well be.)
pub fn provider_name<'u>(uri: &'u Uri, prefix: &str) -> &'u str {
    let rest = uri.path().strip_prefix(prefix).unwrap_or_default();
    rest.split('/').next().unwrap_or_default()
}

const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
/// The W3C trace context header.
pub const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// The caller's rate limit for a request outside a provider's routes (polling a command, starting or reading a
/// saga): its decision, or the 429 to answer (with the limit's headers) when it is exhausted.
pub async fn caller_limit(
    limits: &crate::upstream::rate_limit::CallerLimits,
    caller: &str,
) -> Result<Option<Decision>, Response> {
    let limit = limits.check(caller).await;
    match limit.as_ref().filter(|d| !d.allowed) {
        Some(decision) => {
            let refusal = super::problem::ApiError::new(Problem::RateLimited, "this caller's rate limit is exhausted")
                .retry_after(decision.retry_after)
                .into_response();
            Err(with_limit_headers(refusal, limit.as_ref()))
        }
        None => Ok(limit),
    }
}

/// Adds `RateLimit-Policy` and `RateLimit` for the caller's limit.
pub fn with_limit_headers(mut response: Response, limit: Option<&Decision>) -> Response {
    if let Some(decision) = limit {
        let headers = response.headers_mut();
        headers.insert(RATELIMIT_POLICY, decision.policy.clone());
        headers.insert(RATELIMIT, decision.state.clone());
    }
    response
}

/// A valid W3C `traceparent` to pass on (`00-<32 hex>-<16 hex>-<2 hex>`).
pub fn traceparent(headers: &HeaderMap) -> Option<HeaderValue> {
    let value = headers.get(&TRACEPARENT)?;
    let text = value.to_str().ok()?;
    let parts: Vec<&str> = text.split('-').collect();
    let valid = parts.len() == 4
        && [2, 32, 16, 2]
            .iter()
            .zip(&parts)
            .all(|(n, p)| p.len() == *n && p.bytes().all(|b| b.is_ascii_hexdigit()));
    valid.then(|| value.clone())
}

/// The outcome label of an answer: `read-model` when the read model gave it, else the problem's slug, or the
/// status.
pub fn outcome(response: &Response) -> &'static str {
    if response
        .extensions()
        .get::<crate::calls::fallback::FromReadModel>()
        .is_some()
    {
        return "read-model";
    }
    match response.extensions().get::<Problem>() {
        Some(problem) => problem.slug(),
        None => status_label(response.status()),
    }
}

/// Counts an outbound request by provider, route and outcome, and times it (with the provider's kept handles: no
/// key is built per request).
pub fn record(client: &ProviderClient, route: &'static str, outcome: &'static str, started: Instant) {
    client.record(route, outcome, started);
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
