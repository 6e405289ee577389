//! Deadline and retries, in one place: the whole call (every attempt and every wait) must reach the vendor's
//! response headers within the provider's `timeout`. Only calls marked retryable (idempotent method or an
//! `Idempotency-Key`) are retried, on connect errors and on 408, 429, 502, 503 and 504, with full-jitter
//! exponential backoff that waits at least the vendor's `Retry-After`; a retry that could not finish before the
//! deadline is not attempted, and a shared [`TpsBudget`] keeps retries to a fraction of recent traffic.

use std::sync::Arc;
use std::time::Duration;

use gatehouse_kit::outbound::{ErrorTags, Retry as RetryTag, UpstreamError, parse_retry_after};
use http::Response;
use hyper::body::Incoming;
use rand::Rng;
use tokio::time::Instant;
use tower::retry::budget::{Budget, TpsBudget};

use super::Call;
use super::client::HttpClient;
use super::rate_limit::Limiter;
use crate::config::RetryConfig;

pub struct RetryPolicy {
    provider: String,
    max_attempts: u32,
    base_delay: Duration,
    max_delay: Duration,
    timeout: Duration,
    budget: TpsBudget,
    /// The provider's rate limit, shared with its rate-limit layer: retries spend tokens too (in Redis, with
    /// `[cluster]`).
    limiter: Option<Arc<Limiter>>,
}

impl RetryPolicy {
    pub fn new(provider: &str, config: &RetryConfig, timeout: Duration, limiter: Option<Arc<Limiter>>) -> Self {
        Self {
            provider: provider.to_owned(),
            max_attempts: config.max_attempts,
            base_delay: config.base_delay,
            max_delay: config.max_delay,
            timeout,
            budget: TpsBudget::new(Duration::from_secs(10), 10, config.budget_ratio),
            limiter,
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        full_jitter(self.base_delay, self.max_delay, attempt)
    }

    /// Takes a token of the provider's rate limit for a retry; `false` when the limit refuses it.
    async fn spend_token(&self) -> bool {
        match &self.limiter {
            Some(limiter) => limiter.check().await.allowed,
            None => true,
        }
    }
}

/// Full jitter: a random delay up to `base * 2^(attempt-1)`, capped at `max`.
pub fn full_jitter(base: Duration, max: Duration, attempt: u32) -> Duration {
    let ceiling = base
        .saturating_mul(1u32.checked_shl(attempt.saturating_sub(1)).unwrap_or(u32::MAX))
        .min(max);
    let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(rand::rng().random_range(0..=nanos))
}

/// The deadline and retry policy around a provider's [`HttpClient`].
pub struct Retry {
    policy: RetryPolicy,
}

impl Retry {
    pub fn new(policy: RetryPolicy) -> Self {
        Self { policy }
    }

    /// Sends `call` through `client` until an answer that is not worth retrying, the attempts or the retry budget
    /// run out, or the deadline is near.
    pub async fn call(&self, client: &HttpClient, call: Call) -> Result<Response<Incoming>, UpstreamError> {
        let policy = &self.policy;
        let deadline = Instant::now() + policy.timeout;
        policy.budget.deposit();
        if !call.retryable || policy.max_attempts <= 1 {
            // One attempt: no copy of the call to keep.
            return tokio::time::timeout_at(deadline, client.send(call))
                .await
                .unwrap_or(Err(UpstreamError::Timeout));
        }
        let mut attempt = 1;
        loop {
            let result = tokio::time::timeout_at(deadline, client.send_copy(&call))
                .await
                .unwrap_or(Err(UpstreamError::Timeout));
            let wait = match &result {
                // Only what the kit tags `Retry::Now` is resent within a call: 408, 429, 502-504 (after the
                // vendor's Retry-After) and refused connections.
                Ok(response) if retry_now(ErrorTags::of_status(response.status())) => {
                    parse_retry_after(response.headers()).unwrap_or_default()
                }
                Err(error) if retry_now(Some(error.tags())) => Duration::ZERO,
                _ => return result,
            };
            if attempt >= policy.max_attempts {
                return result;
            }
            let delay = policy.backoff(attempt).max(wait);
            // A vendor may announce any Retry-After: an instant past the deadline (or past representable time)
            // means no retry.
            let too_late = Instant::now().checked_add(delay).is_none_or(|at| at >= deadline);
            // Every attempt spends a token of the provider's own rate limit, retries included.
            if too_late || !policy.spend_token().await || !policy.budget.withdraw() {
                return result;
            }
            metrics::counter!(crate::metrics::UPSTREAM_RETRIES, "provider" => policy.provider.clone()).increment(1);
            drop(result);
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }
}

fn retry_now(tags: Option<ErrorTags>) -> bool {
    tags.is_some_and(|tags| tags.retry == RetryTag::Now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_jittered_and_capped() {
        let config = RetryConfig {
            max_attempts: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(300),
            budget_ratio: 0.2,
        };
        let policy = RetryPolicy::new("p", &config, Duration::from_secs(1), None);
        for attempt in 1..40 {
            let ceiling = Duration::from_millis(100 * 2u64.pow(attempt.min(10) - 1)).min(Duration::from_millis(300));
            assert!(policy.backoff(attempt) <= ceiling, "attempt {attempt}");
        }
    }
}
