//! One cluster-wide limit ([`ClusterLimit`]): its Redis key and GCRA parameters, and its local fallback at
//! `cluster.local_share` of the limit, which judges calls while the cluster is degraded (Redis failed or was slower
//! than `cluster.redis_timeout`).

use std::sync::Arc;

use super::local::{LocalLimit, quota, scaled_burst};
use super::{Cluster, Scope, Verdict, gcra};
use crate::config::RateLimitConfig;

/// A limit every replica shares through Redis.
pub struct ClusterLimit {
    cluster: Arc<Cluster>,
    key: String,
    interval_micros: f64,
    burst: u32,
    fallback: LocalLimit,
    /// The fallback's rate and burst, for `/admin/providers`.
    fallback_rate: (f64, u32),
}

impl ClusterLimit {
    pub(super) fn new(cluster: &Arc<Cluster>, scope: Scope, name: &str, limit: &RateLimitConfig) -> Self {
        let share = cluster.config.local_share;
        Self {
            key: format!("{}:rl:{}:{name}", cluster.config.key_prefix, scope.as_str()),
            cluster: Arc::clone(cluster),
            interval_micros: gcra::interval_micros(limit.per_second),
            burst: limit.burst.max(1),
            fallback: LocalLimit::new(quota(limit, share)),
            fallback_rate: (
                f64::from(limit.per_second) * share,
                scaled_burst(limit.burst, share).get(),
            ),
        }
    }

    /// Takes a token for one call: from Redis (one `EVALSHA`), or, while the cluster is degraded or when this
    /// round trip fails or outlasts `cluster.redis_timeout`, from the local fallback.
    pub async fn check(&self) -> Verdict {
        if !self.cluster.is_degraded() {
            match self.cluster.admit(&self.key, self.interval_micros, self.burst).await {
                Ok(verdict) => return verdict,
                Err(failure) => self.cluster.degrade(&failure),
            }
        }
        self.fallback.check()
    }

    /// Whether calls are judged by the local fallback now.
    pub fn degraded(&self) -> bool {
        self.cluster.is_degraded()
    }

    /// The fallback's sustained rate (calls per second) and burst.
    pub fn fallback(&self) -> (f64, u32) {
        self.fallback_rate
    }

    /// The Redis key holding this limit's state.
    pub fn key(&self) -> &str {
        &self.key
    }
}
