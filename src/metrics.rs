//! Prometheus metrics: the process-wide recorder, `GET /metrics`, and the name of every metric Gatehouse exports
//! (kept here so dashboards have one place to look).

use std::sync::OnceLock;
use std::time::Duration;

use axum::http::header;
use axum::response::IntoResponse;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Webhooks received, by `provider` and `outcome` (`accepted`, `duplicate`, `quarantined`, `reply`, or a problem
/// slug).
pub const WEBHOOKS: &str = "gatehouse_webhooks_total";
/// Verified webhooks the adapter could not translate, kept as quarantined events, by `provider` (duplicates of an
/// already quarantined webhook are not counted again).
pub const WEBHOOKS_QUARANTINED: &str = "gatehouse_webhooks_quarantined_total";
/// Time from a webhook's arrival to its answer, by `provider`.
pub const WEBHOOK_SECONDS: &str = "gatehouse_webhook_duration_seconds";
/// Outbound calls, by `provider`, `route` (the adapter's route pattern, or `proxy`) and `outcome` (the status
/// answered, or a problem slug).
pub const UPSTREAM_REQUESTS: &str = "gatehouse_upstream_requests_total";
/// Outbound call latency, by `provider` and `route`.
pub const UPSTREAM_SECONDS: &str = "gatehouse_upstream_duration_seconds";
/// Retries sent to vendors, by `provider`.
pub const UPSTREAM_RETRIES: &str = "gatehouse_upstream_retries_total";
/// Requests refused by a rate limit, by `scope` (`caller` or `provider`) and `name`.
pub const RATE_LIMITED: &str = "gatehouse_rate_limited_total";
/// With `[cluster]`: 1 while Redis is unreachable and every rate limit is enforced by each replica at
/// `cluster.local_share`, 0 while limits are cluster-wide; by `redis` (its URL, redacted).
pub const CLUSTER_LIMITS_DEGRADED: &str = "gatehouse_cluster_limits_degraded";
/// Breaker transitions (`provider`, `from`, `to`), state (0 closed, 1 open, 2 half-open) and rejections, named
/// where the breaker records them.
pub use crate::upstream::breaker::{
    REJECTIONS as BREAKER_REJECTIONS, STATE as BREAKER_STATE, TRANSITIONS as BREAKER_TRANSITIONS,
};
/// Requests answered from a stored idempotent response, without calling the vendor.
pub const IDEMPOTENT_REPLAYS: &str = "gatehouse_idempotent_replays_total";
/// Deferred-command attempts, by `provider` and `outcome` (`succeeded`, `failed`, `retry`, `deferred`: the
/// gateway's own refusal, such as an open breaker, that waits without spending an attempt).
pub const COMMAND_ATTEMPTS: &str = "gatehouse_command_attempts_total";
/// Sagas started, by `saga`.
pub const SAGAS_STARTED: &str = "gatehouse_sagas_started_total";
/// Sagas that ended, by `saga` and `status` (`completed`, `compensated`, `failed`: a compensation could not succeed
/// and a person must resolve it).
pub const SAGAS_FINISHED: &str = "gatehouse_sagas_finished_total";
/// Attempts of saga steps, by `saga`, `step`, `action` (`call`, `compensate`) and `outcome` (`completed`,
/// `compensated`, `retry`, `deferred`: an open breaker or a full bulkhead, no attempt spent; `failed`).
pub const SAGA_STEPS: &str = "gatehouse_saga_step_attempts_total";
/// Delivery attempts of outbox events, by `subscription` and `outcome` (`delivered`, `retry`, `dead`).
pub const DELIVERIES: &str = "gatehouse_deliveries_total";
/// Time from an event's receipt to its delivery, by `subscription`.
pub const DELIVERY_SECONDS: &str = "gatehouse_delivery_latency_seconds";
/// Deliveries waiting, by `subscription` (the outbox depth).
pub const OUTBOX_PENDING: &str = "gatehouse_outbox_pending";
/// Age of the oldest event waiting, by `subscription` (0 when none waits).
pub const OUTBOX_OLDEST_SECONDS: &str = "gatehouse_outbox_oldest_pending_seconds";
/// Single-entity reads answered from the read model, by provider and reason (`only-if-cached`, or the vendor-side
/// failure a fallback answered for: `circuit-open`, `bulkhead-full`, `upstream-timeout`, `upstream-error`,
/// `rate-limited`).
pub const FALLBACK_ANSWERS: &str = "gatehouse_fallback_answers_total";
/// Observations of entities in `/v1` answers dropped: the read model's write queue was full, or its writer had
/// stopped (at shutdown).
pub const READ_MODEL_DROPPED: &str = "gatehouse_read_model_dropped_total";
/// Writes (webhooks, idempotency keys, commands) per group commit.
pub const COMMIT_BATCH: &str = "gatehouse_store_commit_batch_size";
/// Time one group commit takes, fsync included.
pub const COMMIT_SECONDS: &str = "gatehouse_store_commit_duration_seconds";

const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the recorder once per process (later calls reuse it) and keeps its histograms trimmed.
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .and_then(|b| b.set_buckets_for_metric(Matcher::Full(COMMIT_BATCH.into()), BATCH_BUCKETS))
                .map(|b| b.build_recorder());
            let recorder = match recorder {
                Ok(recorder) => recorder,
                Err(e) => {
                    tracing::error!(error = %e, "metrics disabled: cannot build the Prometheus recorder");
                    return None;
                }
            };
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("metrics disabled: another recorder is installed");
                return None;
            }
            let upkeep = handle.clone();
            std::thread::Builder::new()
                .name("gatehouse-metrics-upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(Duration::from_secs(5));
                        upkeep.run_upkeep();
                    }
                })
                .ok()?;
            Some(handle)
        })
        .clone()
}

/// `GET /metrics`: Prometheus text exposition.
pub async fn render() -> impl IntoResponse {
    let body = install().map(|h| h.render()).unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}
