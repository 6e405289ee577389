//! Rate limits shared by every replica through Redis (`[cluster]`): the connection (redis-rs `ConnectionManager`,
//! multiplexed, reconnecting), whether the cluster is degraded, and the supervisor task that finds Redis again.
//!
//! Each limit ([`ClusterLimit`]) is admitted by one `EVALSHA` of a GCRA script ([`gcra`]) within
//! `cluster.redis_timeout`. The first failure or timeout degrades the whole cluster: a warning is logged once, the
//! gauge `gatehouse_cluster_limits_degraded` goes to 1, and every limit judges calls by its local fallback at
//! `cluster.local_share` without asking Redis (so an outage costs no latency). The supervisor ([`Cluster::run`])
//! then probes Redis every `cluster.reconnect_every` on a new connection; when it answers within the timeout, limits
//! are cluster-wide again (logged at info, gauge 0). Circuit breakers and bulkheads are not here: they stay per
//! replica.

mod gcra;
mod limit;
pub mod local;

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio_util::sync::CancellationToken;

use crate::config::{ClusterConfig, ConfigError, RateLimitConfig};
pub use gcra::SCRIPT;
pub use limit::ClusterLimit;
pub use local::{LocalLimit, Verdict};

/// How long establishing a connection to Redis (and loading the script) may take, in the supervisor's probes and
/// at start-up. Admissions never wait more than `cluster.redis_timeout`, connecting or not.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// Whose limit a key holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Provider,
    Caller,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Provider => "provider",
            Scope::Caller => "caller",
        }
    }
}

/// Why an admission (or a probe) could not be answered by Redis.
#[derive(Debug)]
pub enum Failure {
    Redis(redis::RedisError),
    Timeout(Duration),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // redis-rs errors name the kind and the server's message, never the URL or its password.
            Failure::Redis(error) => write!(f, "{error}"),
            Failure::Timeout(after) => write!(f, "no answer within {after:?}"),
        }
    }
}

/// The Redis shared by the replicas, and whether it is usable now.
pub struct Cluster {
    config: ClusterConfig,
    client: redis::Client,
    /// Replaced by the supervisor with a fresh connection before each probe while degraded.
    connection: RwLock<ConnectionManager>,
    script: redis::Script,
    degraded: AtomicBool,
    /// Wakes the supervisor when the cluster degrades.
    wake: tokio::sync::Notify,
    /// The Redis URL, redacted, as the gauge's label.
    label: metrics::SharedString,
}

impl Cluster {
    /// Prepares the client without connecting (the supervisor connects at start, or the first admission does).
    /// Must run inside the tokio runtime.
    pub fn new(config: &ClusterConfig) -> Result<Arc<Self>, ConfigError> {
        let invalid = || ConfigError::invalid("cluster.redis_url", "is not a usable Redis URL");
        let client = redis::Client::open(config.redis_url.expose()).map_err(|_| invalid())?;
        let connection = connect(&client).map_err(|_| invalid())?;
        Ok(Arc::new(Self {
            label: metrics::SharedString::from(config.redis_url.to_string()),
            config: config.clone(),
            client,
            connection: RwLock::new(connection),
            script: redis::Script::new(gcra::SCRIPT),
            degraded: AtomicBool::new(false),
            wake: tokio::sync::Notify::new(),
        }))
    }

    /// The limit `name` of `scope`, shared through this cluster.
    pub fn limit(self: &Arc<Self>, scope: Scope, name: &str, limit: &RateLimitConfig) -> ClusterLimit {
        ClusterLimit::new(self, scope, name, limit)
    }

    /// Whether limits are judged locally now, Redis having failed or timed out.
    pub fn is_degraded(&self) -> bool {
        self.degraded.load(Ordering::Acquire)
    }

    pub fn config(&self) -> &ClusterConfig {
        &self.config
    }

    fn connection(&self) -> ConnectionManager {
        self.connection.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// One GCRA admission of `key` in Redis, within `cluster.redis_timeout`.
    async fn admit(&self, key: &str, interval_micros: f64, burst: u32) -> Result<Verdict, Failure> {
        let mut connection = self.connection();
        let mut invocation = self.script.key(key);
        invocation.arg(interval_micros).arg(burst);
        let reply = invocation.invoke_async::<(i64, i64, i64)>(&mut connection);
        match tokio::time::timeout(self.config.redis_timeout, reply).await {
            Ok(Ok(reply)) => Ok(gcra::verdict(reply)),
            Ok(Err(error)) => Err(Failure::Redis(error)),
            Err(_) => Err(Failure::Timeout(self.config.redis_timeout)),
        }
    }

    /// Switches every limit to its local fallback, logging and waking the supervisor once per outage.
    fn degrade(&self, failure: &Failure) {
        if self.degraded.swap(true, Ordering::AcqRel) {
            return;
        }
        tracing::warn!(
            redis = %self.config.redis_url,
            error = %failure,
            local_share = self.config.local_share,
            "cluster rate limits degraded: Redis failed, so each replica enforces its local share of every limit \
             until Redis answers again"
        );
        metrics::gauge!(crate::metrics::CLUSTER_LIMITS_DEGRADED, "redis" => self.label.clone()).set(1.0);
        self.wake.notify_one();
    }

    fn recover(&self) {
        if self.degraded.swap(false, Ordering::AcqRel) {
            tracing::info!(redis = %self.config.redis_url, "cluster rate limits restored: Redis answers again");
            metrics::gauge!(crate::metrics::CLUSTER_LIMITS_DEGRADED, "redis" => self.label.clone()).set(0.0);
        }
    }

    /// Connects, loads the script (so admissions need one round trip), and checks that Redis answers a `PING`
    /// within `cluster.redis_timeout`.
    async fn probe(&self) -> Result<(), Failure> {
        let mut connection = self.connection();
        let invocation = self.script.prepare_invoke();
        match tokio::time::timeout(CONNECT_TIMEOUT, invocation.load_async(&mut connection)).await {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => return Err(Failure::Redis(error)),
            Err(_) => return Err(Failure::Timeout(CONNECT_TIMEOUT)),
        }
        let ping = redis::cmd("PING");
        match tokio::time::timeout(self.config.redis_timeout, ping.query_async::<()>(&mut connection)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(Failure::Redis(error)),
            Err(_) => Err(Failure::Timeout(self.config.redis_timeout)),
        }
    }

    /// The supervisor, until `stop`: probes Redis at start, then, whenever the cluster is degraded, every
    /// `cluster.reconnect_every` on a new connection (the old one may be stuck on a peer that never answers) until
    /// a probe succeeds.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        let degraded = if self.is_degraded() { 1.0 } else { 0.0 };
        metrics::gauge!(crate::metrics::CLUSTER_LIMITS_DEGRADED, "redis" => self.label.clone()).set(degraded);
        if let Err(failure) = self.probe().await {
            self.degrade(&failure);
        }
        loop {
            if !self.is_degraded() {
                tokio::select! {
                    () = self.wake.notified() => continue,
                    () = stop.cancelled() => return,
                }
            }
            tokio::select! {
                () = tokio::time::sleep(self.config.reconnect_every) => {}
                () = stop.cancelled() => return,
            }
            match connect(&self.client) {
                Ok(fresh) => *self.connection.write().unwrap_or_else(PoisonError::into_inner) = fresh,
                Err(error) => tracing::debug!(%error, "cannot prepare a Redis connection"),
            }
            match self.probe().await {
                Ok(()) => self.recover(),
                Err(failure) => tracing::debug!(error = %failure, "Redis still unreachable"),
            }
        }
    }
}

/// A lazy, multiplexed connection: one connection attempt each time it is (re)made, bounded by
/// [`CONNECT_TIMEOUT`]; the supervisor paces attempts while Redis is down.
fn connect(client: &redis::Client) -> redis::RedisResult<ConnectionManager> {
    let config = ConnectionManagerConfig::new()
        .set_number_of_retries(0)
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(None);
    ConnectionManager::new_lazy_with_config(client.clone(), config)
}

#[cfg(test)]
mod tests;
