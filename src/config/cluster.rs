//! The optional `[cluster]` table: the Redis through which every replica shares its rate limits (providers' and
//! callers'), how long one admission waits for it, how often an unreachable Redis is tried again, and the share of
//! each limit a replica allows itself meanwhile; and [`RedisUrl`], the Redis URL, which never prints its password.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::ConfigError;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// `redis://[[user]:password@]host[:port][/db]` (or `redis+unix:///path/to/socket`); printed redacted.
    pub redis_url: RedisUrl,
    /// Prefix of every Redis key Gatehouse writes (`<prefix>:rl:provider:<name>`, `<prefix>:rl:caller:<name>`):
    /// replicas that share limits share it; deployments sharing one Redis use different ones.
    #[serde(default = "default_key_prefix")]
    pub key_prefix: String,
    /// While Redis is unreachable, each replica enforces this fraction of every limit on its own (rate and burst,
    /// at least one call): with N replicas, 1/N keeps the vendor within its quota.
    #[serde(default = "default_local_share")]
    pub local_share: f64,
    /// The longest one admission waits for Redis; past it the call is judged by the local fallback, and the
    /// replica stays on it until Redis answers a probe again.
    #[serde(with = "humantime_serde", default = "default_redis_timeout")]
    pub redis_timeout: Duration,
    /// How often an unreachable Redis is probed (on a new connection) while the fallback is in force.
    #[serde(with = "humantime_serde", default = "default_reconnect_every")]
    pub reconnect_every: Duration,
}

fn default_key_prefix() -> String {
    "gatehouse".into()
}

fn default_local_share() -> f64 {
    0.5
}

fn default_redis_timeout() -> Duration {
    Duration::from_millis(50)
}

fn default_reconnect_every() -> Duration {
    Duration::from_secs(1)
}

/// The highest `per_second` a shared limit may have: its emission interval must be at least 1 µs, the precision the
/// GCRA script keeps times in.
pub const MAX_SHARED_RATE: u32 = 1_000_000;

impl ClusterConfig {
    /// The rules serde cannot express, `config`'s rate limits included.
    pub(super) fn check(&self, config: &super::Config) -> Result<(), ConfigError> {
        let providers = config
            .providers
            .iter()
            .map(|(name, p)| (format!("providers.{name}"), p.rate_limit));
        let callers = config
            .callers
            .iter()
            .enumerate()
            .map(|(i, c)| (format!("callers[{i}]"), c.rate_limit));
        for (key, limit) in providers.chain(callers) {
            if limit.is_some_and(|limit| limit.per_second > MAX_SHARED_RATE) {
                return Err(ConfigError::invalid(
                    format!("{key}.rate_limit.per_second"),
                    format!("is at most {MAX_SHARED_RATE} with [cluster]"),
                ));
            }
        }
        self.redis_url.check("cluster.redis_url")?;
        let prefix_ok = (1..=64).contains(&self.key_prefix.len())
            && self
                .key_prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':'));
        if !prefix_ok {
            return Err(ConfigError::invalid(
                "cluster.key_prefix",
                "must be 1-64 characters of A-Z, a-z, 0-9, '.', '_', '-' and ':'",
            ));
        }
        if !(self.local_share > 0.0 && self.local_share <= 1.0) {
            return Err(ConfigError::invalid(
                "cluster.local_share",
                "must be more than 0 and at most 1",
            ));
        }
        if self.redis_timeout.is_zero() || self.redis_timeout > Duration::from_secs(1) {
            return Err(ConfigError::invalid(
                "cluster.redis_timeout",
                "must be more than zero and at most 1s (every admission may wait this long)",
            ));
        }
        if self.reconnect_every < Duration::from_millis(10) {
            return Err(ConfigError::invalid("cluster.reconnect_every", "must be at least 10ms"));
        }
        Ok(())
    }
}

/// What a redacted part of a URL prints as.
const REDACTED: &str = "[redacted]";

/// A Redis URL. It may carry a password (`redis://:password@host`, or `?password=` on a socket URL), so it prints
/// (Display, Debug, serialisation: `check-config`, logs, errors, metric labels) as its scheme, host, port and path
/// (the database number or the socket path), with `[redacted]@` in place of any user info and `?[redacted]` in place
/// of any query or fragment; a URL that does not parse prints as `[redacted]`.
/// Not comparable: nothing should test a password with `==`.
#[derive(Clone)]
pub struct RedisUrl(String);

impl RedisUrl {
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    /// The URL as written, password included: for the Redis client only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A URL the Redis client accepts, without TLS (not built in). The message never quotes the URL.
    fn check(&self, key: &str) -> Result<(), ConfigError> {
        let scheme = self.0.split_once("://").map(|(scheme, _)| scheme);
        if matches!(scheme, Some("rediss" | "valkeys")) {
            return Err(ConfigError::invalid(
                key,
                "TLS (rediss://) is not built in: reach Redis over a trusted network or a local TLS tunnel",
            ));
        }
        redis::IntoConnectionInfo::into_connection_info(self.0.as_str()).map_err(|_| {
            ConfigError::invalid(
                key,
                "expected redis://[[user]:password@]host[:port][/db] or redis+unix:///path/to/socket",
            )
        })?;
        Ok(())
    }
}

impl fmt::Display for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Ok(url) = url::Url::parse(&self.0) else {
            return f.write_str(REDACTED);
        };
        write!(f, "{}://", url.scheme())?;
        if !url.username().is_empty() || url.password().is_some() {
            write!(f, "{REDACTED}@")?;
        }
        if let Some(host) = url.host_str() {
            f.write_str(host)?;
        }
        if let Some(port) = url.port() {
            write!(f, ":{port}")?;
        }
        f.write_str(url.path())?;
        if url.query().is_some() || url.fragment().is_some() {
            write!(f, "?{REDACTED}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl Serialize for RedisUrl {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for RedisUrl {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(RedisUrl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn redis_urls_never_print_their_password() {
        let cases = [
            ("redis://:hunter2@10.0.0.5:6379/2", "redis://[redacted]@10.0.0.5:6379/2"),
            (
                "redis://gate:hunter2@redis.internal",
                "redis://[redacted]@redis.internal",
            ),
            ("redis://127.0.0.1:6379", "redis://127.0.0.1:6379"),
            (
                "redis+unix:///run/redis.sock?pass=hunter2",
                "redis+unix:///run/redis.sock?[redacted]",
            ),
            ("not a url hunter2", "[redacted]"),
        ];
        for (url, shown) in cases {
            let url = RedisUrl::new(url);
            assert_eq!(url.to_string(), shown);
            assert_eq!(format!("{url:?}"), shown);
            assert_eq!(serde_json::to_string(&url).unwrap(), format!("\"{shown}\""));
        }
    }

    #[test]
    fn the_cluster_table_is_optional_and_defaulted_and_prints_redacted() {
        assert!(Config::from_toml_str("").unwrap().cluster.is_none());
        let config = Config::from_toml_str("[cluster]\nredis_url = \"redis://:hunter2@127.0.0.1:6379/0\"\n").unwrap();
        let cluster = config.cluster.as_ref().unwrap();
        assert_eq!(cluster.key_prefix, "gatehouse");
        assert_eq!(cluster.local_share, 0.5);
        assert_eq!(cluster.redis_timeout, Duration::from_millis(50));
        assert_eq!(cluster.reconnect_every, Duration::from_secs(1));
        for shown in [toml::to_string(&config).unwrap(), format!("{config:?}")] {
            assert!(!shown.contains("hunter2"), "{shown}");
            assert!(shown.contains("redis://[redacted]@127.0.0.1:6379/0"), "{shown}");
        }
    }

    #[test]
    fn bad_cluster_values_name_their_key_and_never_the_password() {
        let cases = [
            ("redis_url = \"http://:hunter2@x\"", "cluster.redis_url"),
            ("redis_url = \"rediss://:hunter2@x\"", "cluster.redis_url"),
            ("redis_url = \"redis://:hunter2@x/notadb\"", "cluster.redis_url"),
            ("redis_url = \"redis://x\"\nlocal_share = 0.0", "cluster.local_share"),
            ("redis_url = \"redis://x\"\nlocal_share = 1.5", "cluster.local_share"),
            ("redis_url = \"redis://x\"\nlocal_share = nan", "cluster.local_share"),
            (
                "redis_url = \"redis://x\"\nredis_timeout = \"0s\"",
                "cluster.redis_timeout",
            ),
            (
                "redis_url = \"redis://x\"\nredis_timeout = \"5s\"",
                "cluster.redis_timeout",
            ),
            (
                "redis_url = \"redis://x\"\nreconnect_every = \"1ms\"",
                "cluster.reconnect_every",
            ),
            ("redis_url = \"redis://x\"\nkey_prefix = \"a b\"", "cluster.key_prefix"),
            ("redis_url = \"redis://x\"\nkey_prefix = \"\"", "cluster.key_prefix"),
            (
                "redis_url = \"redis://x\"\n[providers.fast]\nrate_limit = { per_second = 2000000, burst = 1 }",
                "providers.fast.rate_limit.per_second",
            ),
        ];
        for (table, key) in cases {
            let error = Config::from_toml_str(&format!("[cluster]\n{table}\n"))
                .unwrap_err()
                .to_string();
            assert!(error.starts_with(key), "{table}: {error}");
            assert!(!error.contains("hunter2"), "{table}: {error}");
        }
        let accepted = Config::from_toml_str("[cluster]\nredis_url = \"redis://x\"\nlocal_share = 1\n");
        assert!(accepted.is_ok());
    }
}
