//! `/admin/*`: the admin token checked before any admin route's handler or extractor runs ([`require_token`]), and
//! `GET /admin/providers`, which reports each provider's breaker, rate limit (and where it is enforced), bulkhead and
//! recent failed calls.

use axum::Json;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use serde_json::{Value, json};

use super::AppState;
use super::problem::ApiError;
use crate::config::RateLimitConfig;
use crate::upstream::rate_limit::Limiter;

pub async fn providers(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let providers: Vec<Value> = state
        .providers
        .iter()
        .map(|provider| {
            let outbound = provider.outbound.as_ref().map(|client| {
                let breaker = client.breaker.snapshot();
                json!({
                    "breaker": {
                        "state": breaker.state.as_str(),
                        "calls_in_window": breaker.calls,
                        "failure_rate": breaker.failure_rate,
                        "slow_call_rate": breaker.slow_call_rate,
                        "open_for_seconds": breaker.open_remaining.map(|d| d.as_secs_f64()),
                        "half_open_probes": breaker.half_open_in_flight,
                    },
                    "rate_limit": client.rate_limit.zip(client.limiter()).map(|(l, limiter)| rate_limit(l, limiter)),
                    "in_flight": client.in_flight.in_flight(),
                    "concurrency": client.in_flight.limit(),
                    "recent_errors": recent_errors(client),
                })
            });
            json!({
                "name": provider.name,
                "adapter": provider.adapter.name(),
                "webhooks": provider.webhook.is_some(),
                "outbound": outbound,
            })
        })
        .collect();
    Ok(Json(json!({ "data": providers })))
}

/// The provider's last failed calls, newest first: `[{"at": RFC 3339, "error": "..."}]`.
fn recent_errors(client: &crate::upstream::ProviderClient) -> Value {
    let errors = client.recent_errors.newest_first();
    let errors = errors
        .into_iter()
        .map(|e| json!({"at": crate::clock::rfc3339_millis_from_ms(e.at_ms), "error": e.error}));
    Value::Array(errors.collect())
}

/// A provider's rate limit, where it is enforced now (`local`, `cluster`, `local-fallback`) and, with `[cluster]`,
/// the share of it this replica enforces alone while Redis is unreachable.
fn rate_limit(limit: RateLimitConfig, limiter: &Limiter) -> Value {
    let mut report = json!({"per_second": limit.per_second, "burst": limit.burst, "scope": limiter.scope()});
    if let Some((per_second, burst)) = limiter.fallback() {
        report["fallback"] = json!({"per_second": per_second, "burst": burst});
    }
    report
}

/// The admin routes' gate: 401 `unauthorized` unless the request carries the admin token.
pub async fn require_token(State(state): State<AppState>, request: Request, next: Next) -> Result<Response, ApiError> {
    state.admin.check(request.headers())?;
    Ok(next.run(request).await)
}
