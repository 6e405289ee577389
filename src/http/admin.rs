//! `/admin/*` (admin token): `GET /admin/providers` reports each provider's breaker, rate limit and bulkhead.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use serde_json::{Value, json};

use super::AppState;
use super::problem::ApiError;

pub async fn providers(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    state.admin.check(&headers)?;
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
                    "rate_limit": client.rate_limit.map(|l| json!({"per_second": l.per_second, "burst": l.burst})),
                    "in_flight": client.in_flight.in_flight(),
                    "concurrency": client.in_flight.limit(),
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
