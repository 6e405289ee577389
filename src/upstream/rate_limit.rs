//! Rate limits (GCRA): a limit per provider (a policy layer, whose limiter the retry layer shares) and one per
//! caller, whose verdicts also yield the IETF `RateLimit-Policy` / `RateLimit` headers and `Retry-After`. Each limit
//! is a [`Limiter`]: kept in this process (`governor`), or, with `[cluster]`, shared by every replica through Redis
//! with a local fallback ([`crate::cluster`]).

use std::sync::Arc;
use std::time::Duration;

use gatehouse_kit::outbound::UpstreamError;
use governor::Quota;
use http::HeaderValue;

use crate::cluster::{Cluster, ClusterLimit, LocalLimit, Scope, Verdict};
use crate::config::RateLimitConfig;

pub fn quota(limit: &RateLimitConfig) -> Quota {
    crate::cluster::local::quota(limit, 1.0)
}

/// Seconds to announce in `Retry-After`: the wait rounded up, at least 1.
pub fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0).max(u64::from(wait.is_zero()))
}

/// One limit, wherever its state lives.
pub enum Limiter {
    /// This replica's own limit.
    Local(LocalLimit),
    /// A limit shared by every replica through Redis, judged locally at `cluster.local_share` while Redis is
    /// unreachable.
    Cluster(ClusterLimit),
}

impl Limiter {
    /// The limit `name` of `scope`: shared through `cluster` when there is one.
    pub fn build(scope: Scope, name: &str, limit: &RateLimitConfig, cluster: Option<&Arc<Cluster>>) -> Self {
        match cluster {
            Some(cluster) => Limiter::Cluster(cluster.limit(scope, name, limit)),
            None => Limiter::Local(LocalLimit::new(quota(limit))),
        }
    }

    /// Takes a token for one call, or says how long until one is free.
    pub async fn check(&self) -> Verdict {
        match self {
            Limiter::Local(limit) => limit.check(),
            Limiter::Cluster(limit) => limit.check().await,
        }
    }

    /// Where calls are judged now: `local` (no `[cluster]`), `cluster` (in Redis) or `local-fallback` (Redis
    /// unreachable: this replica's share of the limit).
    pub fn scope(&self) -> &'static str {
        match self {
            Limiter::Local(_) => "local",
            Limiter::Cluster(limit) if limit.degraded() => "local-fallback",
            Limiter::Cluster(_) => "cluster",
        }
    }

    /// A cluster limit's local fallback: its rate (calls per second) and burst.
    pub fn fallback(&self) -> Option<(f64, u32)> {
        match self {
            Limiter::Local(_) => None,
            Limiter::Cluster(limit) => Some(limit.fallback()),
        }
    }
}

/// The provider's own limit, refusing (not queueing) calls over it.
pub struct ProviderRateLimit {
    limiter: Arc<Limiter>,
    provider: String,
}

impl ProviderRateLimit {
    /// `limiter` is shared with the retry layer, so retries spend the same tokens.
    pub fn new(provider: &str, limiter: Arc<Limiter>) -> Self {
        Self {
            limiter,
            provider: provider.to_owned(),
        }
    }

    pub fn limiter(&self) -> &Limiter {
        &self.limiter
    }

    /// Takes a token for one call, or says how long until one is free.
    pub async fn check(&self) -> Result<(), UpstreamError> {
        let verdict = self.limiter.check().await;
        if verdict.allowed {
            return Ok(());
        }
        metrics::counter!(crate::metrics::RATE_LIMITED, "scope" => "provider", "name" => self.provider.clone())
            .increment(1);
        Err(UpstreamError::RateLimited {
            retry_after: verdict.retry_after,
        })
    }
}

/// Per-caller limits: one GCRA limiter per configured caller (each has its own quota). Callers come only from
/// config, never from requests, so memory (and the number of Redis keys) is bounded by the config and needs no
/// trimming.
pub struct CallerLimits {
    limiters: std::collections::HashMap<String, CallerLimit>,
}

struct CallerLimit {
    limiter: Limiter,
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
    pub fn new(callers: &[crate::config::CallerConfig], cluster: Option<&Arc<Cluster>>) -> Self {
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
                let limiter = Limiter::build(Scope::Caller, &c.name, &limit, cluster);
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
    pub async fn check(&self, caller: &str) -> Option<Decision> {
        let CallerLimit {
            limiter,
            config: limit,
            policy,
        } = self.limiters.get(caller)?;
        let verdict = limiter.check().await;
        let (allowed, remaining) = (verdict.allowed, verdict.remaining);
        let retry_after = if allowed {
            0
        } else {
            retry_after_secs(verdict.retry_after)
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
