//! Rate limits with `governor` (GCRA): a direct limiter per provider (a policy layer) and a keyed limiter for
//! callers, whose state also yields the IETF `RateLimit-Policy` / `RateLimit` headers and `Retry-After`.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use gatehouse_kit::outbound::UpstreamError;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use http::HeaderValue;

use crate::config::RateLimitConfig;

pub fn quota(limit: &RateLimitConfig) -> Quota {
    let per_second = NonZeroU32::new(limit.per_second).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(limit.burst).unwrap_or(NonZeroU32::MIN);
    Quota::per_second(per_second).allow_burst(burst)
}

/// Seconds to announce in `Retry-After`: the wait rounded up, at least 1.
pub fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0).max(u64::from(wait.is_zero()))
}

/// The provider's own limit, refusing (not queueing) calls over it.
pub struct ProviderRateLimit {
    limiter: Arc<DefaultDirectRateLimiter>,
    provider: String,
}

impl ProviderRateLimit {
    /// `limiter` is shared with the retry layer, so retries spend the same tokens.
    pub fn new(provider: &str, limiter: Arc<DefaultDirectRateLimiter>) -> Self {
        Self {
            limiter,
            provider: provider.to_owned(),
        }
    }

    /// Takes a token for one call, or says how long until one is free.
    pub fn check(&self) -> Result<(), UpstreamError> {
        self.limiter.check().map_err(|not_until| {
            metrics::counter!(crate::metrics::RATE_LIMITED, "scope" => "provider", "name" => self.provider.clone())
                .increment(1);
            let retry_after = not_until.wait_time_from(DefaultClock::default().now());
            UpstreamError::RateLimited { retry_after }
        })
    }
}

type CallerLimiter = RateLimiter<NotKeyed, InMemoryState, DefaultClock, StateInformationMiddleware>;

/// Per-caller limits: one GCRA limiter per configured caller (each has its own quota). Callers come only from
/// config, never from requests, so memory is bounded by the config and needs no trimming.
pub struct CallerLimits {
    limiters: std::collections::HashMap<String, CallerLimit>,
}

struct CallerLimit {
    limiter: CallerLimiter,
    config: RateLimitConfig,
    /// `RateLimit-Policy`, built once: the draft's quota per window, i.e. the sustained rate per second, or, when
    /// the burst exceeds it, the burst over the seconds it takes to refill.
    policy: HeaderValue,
}

/// What a caller's limit says of one request.
pub struct Decision {
    pub allowed: bool,
    /// `RateLimit-Policy` and `RateLimit` header values.
    pub policy: HeaderValue,
    pub state: HeaderValue,
    pub retry_after: u64,
}

impl CallerLimits {
    pub fn new(callers: &[crate::config::CallerConfig]) -> Self {
        let limiters = callers
            .iter()
            .filter_map(|c| {
                let limit = c.rate_limit?;
                let (quota_size, window) = if limit.burst <= limit.per_second {
                    (limit.per_second, 1)
                } else {
                    (limit.burst, limit.burst.div_ceil(limit.per_second))
                };
                let policy = HeaderValue::from_str(&format!("\"caller\";q={quota_size};w={window}"))
                    .unwrap_or(HeaderValue::from_static("\"caller\""));
                let limiter = RateLimiter::direct(quota(&limit)).with_middleware();
                Some((
                    c.name.clone(),
                    CallerLimit {
                        limiter,
                        config: limit,
                        policy,
                    },
                ))
            })
            .collect();
        Self { limiters }
    }

    /// Checks one request of `caller`; `None` when the caller has no limit.
    pub fn check(&self, caller: &str) -> Option<Decision> {
        let CallerLimit {
            limiter,
            config: limit,
            policy,
        } = self.limiters.get(caller)?;
        let (allowed, remaining, retry_after) = match limiter.check() {
            Ok(snapshot) => (true, snapshot.remaining_burst_capacity(), 0),
            Err(not_until) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                (false, 0, retry_after_secs(wait))
            }
        };
        let used = limit.burst.saturating_sub(remaining);
        let reset = used.div_ceil(limit.per_second);
        let state = format!("\"caller\";r={remaining};t={reset}");
        Some(Decision {
            allowed,
            policy: policy.clone(),
            state: HeaderValue::from_maybe_shared(bytes::Bytes::from(state))
                .unwrap_or(HeaderValue::from_static("\"caller\"")),
            retry_after,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(2)), 2);
        assert_eq!(retry_after_secs(Duration::from_millis(2001)), 3);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
    }
}
