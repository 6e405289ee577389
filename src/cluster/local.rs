//! In-process GCRA limits (`governor`) and [`Verdict`], what any limit says of one call. A [`LocalLimit`] is the
//! whole limit of a replica without `[cluster]`, and each cluster limit's fallback, at `cluster.local_share` of the
//! limit ([`quota`]), while Redis is unreachable.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

use crate::config::RateLimitConfig;

/// What a limit says of one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub allowed: bool,
    /// Calls that could still be made at once after this one (0 when refused).
    pub remaining: u32,
    /// When refused, how long until a call would be allowed; zero when allowed.
    pub retry_after: Duration,
}

/// `limit` scaled by `share` (0 < share ≤ 1): the sustained rate exactly, the burst rounded down but at least one
/// call. With `share` 1 it is the limit itself.
pub fn quota(limit: &RateLimitConfig, share: f64) -> Quota {
    let burst = scaled_burst(limit.burst, share);
    if share >= 1.0 {
        let per_second = NonZeroU32::new(limit.per_second).unwrap_or(NonZeroU32::MIN);
        return Quota::per_second(per_second).allow_burst(burst);
    }
    let period = Duration::from_secs_f64(1.0 / (f64::from(limit.per_second.max(1)) * share));
    Quota::with_period(period)
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MAX))
        .allow_burst(burst)
}

/// The burst `burst × share` allows, rounded down, at least 1.
pub fn scaled_burst(burst: u32, share: f64) -> NonZeroU32 {
    // Saturating float-to-int conversion; the burst is validated to be at least 1 and the share at most 1.
    let scaled = (f64::from(burst) * share).floor() as u32;
    NonZeroU32::new(scaled).unwrap_or(NonZeroU32::MIN)
}

type Limiter = RateLimiter<NotKeyed, InMemoryState, DefaultClock, StateInformationMiddleware>;

/// One GCRA limit kept in this process.
pub struct LocalLimit {
    limiter: Limiter,
}

impl LocalLimit {
    pub fn new(quota: Quota) -> Self {
        Self {
            limiter: RateLimiter::direct(quota).with_middleware(),
        }
    }

    /// Takes a token for one call, or says how long until one is free.
    pub fn check(&self) -> Verdict {
        match self.limiter.check() {
            Ok(snapshot) => Verdict {
                allowed: true,
                remaining: snapshot.remaining_burst_capacity(),
                retry_after: Duration::ZERO,
            },
            Err(not_until) => Verdict {
                allowed: false,
                remaining: 0,
                retry_after: not_until.wait_time_from(DefaultClock::default().now()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(per_second: u32, burst: u32) -> RateLimitConfig {
        RateLimitConfig { per_second, burst }
    }

    #[test]
    fn a_share_scales_rate_and_burst_keeping_at_least_one_call() {
        assert_eq!(
            quota(&limit(20, 10), 1.0),
            Quota::per_second(NonZeroU32::new(20).unwrap()).allow_burst(NonZeroU32::new(10).unwrap())
        );
        let half = quota(&limit(20, 5), 0.5);
        assert_eq!(half.burst_size().get(), 2);
        assert_eq!(half.replenish_interval(), Duration::from_millis(100));
        let tiny = quota(&limit(1, 1), 0.1);
        assert_eq!(tiny.burst_size().get(), 1);
        assert_eq!(tiny.replenish_interval(), Duration::from_secs(10));
    }

    #[test]
    fn a_local_limit_allows_its_burst_then_says_when() {
        let local = LocalLimit::new(quota(&limit(10, 3), 1.0));
        let remaining: Vec<u32> = (0..3).map(|_| local.check().remaining).collect();
        assert_eq!(remaining, [2, 1, 0]);
        let refused = local.check();
        assert!(!refused.allowed);
        assert!(refused.retry_after > Duration::ZERO && refused.retry_after <= Duration::from_millis(100));
    }
}
