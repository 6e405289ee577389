//! The outbound policy stack, one per provider, in the order SPEC §3 gives (caller auth and caller limits happen
//! before, in `calls::admission`):
//!
//! ```text
//! provider rate limit ─▶ circuit breaker ─▶ bulkhead ─▶ deadline + retries ─▶ hyper-util client ─▶ vendor
//! ```
//!
//! [`ProviderClient`] owns a provider's stack and runs a call through it by reference ([`ProviderClient::call`]):
//! each layer is a plain struct with its state behind `Arc`s where it is shared, so a call clones and boxes nothing
//! of the stack. [`RequestUpstream`] is the per-request view adapters call through.

pub mod body;
pub mod breaker;
pub mod bulkhead;
pub(crate) mod client;
mod meters;
pub mod rate_limit;
pub mod recent_errors;
mod retry;

pub use retry::full_jitter;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use gatehouse_kit::outbound::{
    ErrorTags, Origin as ErrorOrigin, Upstream, UpstreamError, VendorRequest, VendorResponse,
};
use http::{HeaderMap, HeaderValue, Method, Response};
use http_body_util::BodyExt;
use tokio::time::Instant;

use crate::config::{BreakerSettings, ConfigError, ProviderConfig};
use breaker::{BreakerConfig, CircuitBreaker, Outcome};

/// One call to a vendor, relative to the provider's `base_url`.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: Method,
    /// Path (starting with `/`) and query, percent-encoded.
    pub path_and_query: String,
    /// Headers to send; credentials, correlation id and `traceparent` are added by the client.
    pub headers: HeaderMap,
    pub body: Bytes,
    /// Whether retrying cannot repeat a side effect (idempotent method or an `Idempotency-Key`).
    pub retryable: bool,
    /// The request's `X-Correlation-Id` (absent only outside a request, e.g. in tests).
    pub correlation_id: Option<HeaderValue>,
    pub traceparent: Option<HeaderValue>,
}

impl Call {
    /// Whether `method` with `headers` (as they will be sent) is safe to retry: an idempotent method, or a
    /// non-empty `Idempotency-Key` the vendor will see.
    pub fn is_retryable(method: &Method, headers: &HeaderMap) -> bool {
        method.is_idempotent()
            || headers
                .get("idempotency-key")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|key| !key.trim().is_empty())
    }
}

/// A vendor's answer: its status and headers, and a body that holds the call's bulkhead slot until it ends.
pub type UpstreamResponse = Response<body::VendorBody>;

impl From<breaker::Rejected> for UpstreamError {
    fn from(rejected: breaker::Rejected) -> Self {
        UpstreamError::CircuitOpen {
            retry_after: rejected.retry_after,
        }
    }
}

/// What the breaker learns from a finished call, by the kit's [`ErrorTags`]: what counts for the breaker (connect
/// errors, timeouts, 5xx, 408, 429) is a failure; other answers (4xx caller mistakes included) show the vendor is
/// up; the gateway's own refusals say nothing about the vendor.
fn classify<B>(result: &Result<Response<B>, UpstreamError>) -> Outcome {
    let tags = match result {
        Ok(response) => ErrorTags::of_status(response.status()),
        Err(error) => Some(error.tags()),
    };
    match tags {
        Some(tags) if tags.counts_for_breaker => Outcome::Failure,
        Some(tags) if tags.origin == ErrorOrigin::Gateway => Outcome::Ignored,
        _ => Outcome::Success,
    }
}

/// A provider's outbound stack and the state `/admin/providers` reports.
pub struct ProviderClient {
    /// The provider's request counters and duration histograms.
    meters: meters::Meters,
    rate_limit_layer: Option<rate_limit::ProviderRateLimit>,
    pub breaker: Arc<CircuitBreaker>,
    bulkhead: bulkhead::Bulkhead,
    retry: retry::Retry,
    client: client::HttpClient,
    pub in_flight: bulkhead::InFlight,
    pub rate_limit: Option<crate::config::RateLimitConfig>,
    /// The last calls that failed, for `/admin/providers`.
    pub recent_errors: recent_errors::RecentErrors,
    /// The call's deadline, which also bounds reading the vendor's body on domain routes and each read of a
    /// streamed body.
    timeout: Duration,
}

impl ProviderClient {
    /// Builds the stack for `[providers.NAME]`; `None` when it has no `base_url` (webhook-only). With a `cluster`,
    /// its rate limit is shared by every replica.
    pub fn build(
        name: &str,
        config: &ProviderConfig,
        cluster: Option<&Arc<crate::cluster::Cluster>>,
    ) -> Result<Option<Self>, ConfigError> {
        let key = format!("providers.{name}");
        let Some(base_url) = &config.base_url else {
            if config.credentials.is_some() {
                return Err(ConfigError::invalid(format!("{key}.credentials"), "needs a base_url"));
            }
            return Ok(None);
        };
        let breaker_config = breaker_config(&config.circuit_breaker);
        breaker_config
            .validate()
            .map_err(|e| ConfigError::invalid(format!("{key}.circuit_breaker"), e))?;
        let client = client::HttpClient::build(
            &key,
            base_url,
            config.credentials.as_ref(),
            config.timeout,
            config.concurrency,
        )?;
        let limiter = config.rate_limit.as_ref().map(|limit| {
            let scope = crate::cluster::Scope::Provider;
            Arc::new(rate_limit::Limiter::build(scope, name, limit, cluster))
        });
        let retry = retry::Retry::new(retry::RetryPolicy::new(
            name,
            &config.retry,
            config.timeout,
            limiter.clone(),
        ));
        let bulkhead = bulkhead::Bulkhead::new(config.concurrency);
        let in_flight = bulkhead.gauge();
        Ok(Some(Self {
            meters: meters::Meters::new(metrics::SharedString::from(Arc::<str>::from(name))),
            rate_limit_layer: limiter.map(|limiter| rate_limit::ProviderRateLimit::new(name, limiter)),
            breaker: Arc::new(CircuitBreaker::new(name, breaker_config)),
            bulkhead,
            retry,
            client,
            in_flight,
            rate_limit: config.rate_limit,
            recent_errors: recent_errors::RecentErrors::default(),
            timeout: config.timeout,
        }))
    }

    /// The provider's rate limit, if it has one.
    pub fn limiter(&self) -> Option<&rate_limit::Limiter> {
        self.rate_limit_layer
            .as_ref()
            .map(rate_limit::ProviderRateLimit::limiter)
    }

    /// Counts a request to this provider by route and outcome, and times it from `started`.
    pub fn record(&self, route: &'static str, outcome: &'static str, started: std::time::Instant) {
        self.meters.record(route, outcome, started);
    }

    /// Runs `call` through the stack: provider rate limit → circuit breaker → bulkhead → deadline + retries →
    /// client. The breaker times the call and learns its outcome when the vendor's headers arrive (or it fails).
    pub async fn call(&self, call: Call) -> Result<UpstreamResponse, UpstreamError> {
        if let Some(limit) = &self.rate_limit_layer {
            limit.check().await?;
        }
        let permit = self.breaker.try_acquire()?;
        let started = Instant::now();
        let result = async {
            let slot = self.bulkhead.try_acquire()?;
            let response = self.retry.call(&self.client, call).await?;
            Ok(response.map(|body| body::VendorBody::new(body, self.timeout, Some(slot))))
        }
        .await;
        let outcome = classify(&result);
        if outcome == Outcome::Failure {
            self.recent_errors.record(failure_text(&result));
        }
        permit.record(outcome, started.elapsed());
        result
    }
}

/// A failed call as `recent_errors` keeps it: the vendor's status, or the gateway's description of the error.
fn failure_text<B>(result: &Result<Response<B>, UpstreamError>) -> String {
    match result {
        Ok(response) => format!("the vendor answered {}", response.status()),
        Err(error) => error.to_string(),
    }
}

fn breaker_config(settings: &BreakerSettings) -> BreakerConfig {
    BreakerConfig {
        window: settings.window,
        min_calls: settings.min_calls,
        failure_rate: settings.failure_rate,
        slow_call: settings.slow_call,
        slow_call_rate: settings.slow_call_rate,
        open_for: settings.open_for,
        max_open_for: settings.max_open_for.unwrap_or(settings.open_for.saturating_mul(10)),
        half_open_calls: settings.half_open_calls,
    }
}

/// The vendor as one request's adapter sees it: the provider's stack plus this request's correlation id and trace
/// context, with the vendor's body read whole (up to `max_body_bytes`).
pub struct RequestUpstream<'a> {
    pub client: &'a ProviderClient,
    pub correlation_id: HeaderValue,
    pub traceparent: Option<HeaderValue>,
    pub max_body_bytes: usize,
}

#[async_trait]
impl Upstream for RequestUpstream<'_> {
    async fn send(&self, request: VendorRequest) -> Result<VendorResponse, UpstreamError> {
        let call = Call {
            retryable: Call::is_retryable(&request.method, &request.headers),
            method: request.method,
            path_and_query: request.path_and_query,
            headers: request.headers,
            body: request.body,
            correlation_id: Some(self.correlation_id.clone()),
            traceparent: self.traceparent.clone(),
        };
        // Headers and body within the provider's timeout (the retry layer bounds the headers alone).
        let deadline = tokio::time::Instant::now() + self.client.timeout;
        let response = self.client.call(call).await?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = tokio::time::timeout_at(deadline, read_limited(response, self.max_body_bytes))
            .await
            .map_err(|_| UpstreamError::Timeout)
            .and_then(|read| read)
            .inspect_err(|e| self.client.recent_errors.record(e.to_string()))?;
        Ok(VendorResponse { status, headers, body })
    }
}

impl ProviderClient {
    /// Reads a vendor's whole body within the provider's timeout, refusing more than `limit` bytes.
    pub async fn read_body(&self, response: UpstreamResponse, limit: usize) -> Result<Bytes, UpstreamError> {
        tokio::time::timeout(self.timeout, read_limited(response, limit))
            .await
            .map_err(|_| UpstreamError::Timeout)?
    }
}

/// Reads a vendor's body, refusing more than `limit` bytes.
async fn read_limited(response: UpstreamResponse, limit: usize) -> Result<Bytes, UpstreamError> {
    let mut response = response.into_body();
    let mut body = bytes::BytesMut::new();
    loop {
        let frame = response.frame().await.transpose().map_err(|e| match e {
            body::BodyError::Stalled(_) => UpstreamError::Timeout,
            body::BodyError::Interrupted(e) => UpstreamError::Response(format!("body interrupted: {e}")),
        })?;
        let Some(frame) = frame else { break };
        let Ok(chunk) = frame.into_data() else {
            continue;
        };
        if body.len() + chunk.len() > limit {
            return Err(UpstreamError::Response(format!("body larger than {limit} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}
