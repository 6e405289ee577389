//! Configuration of the outbound side: callers and their keys, the admin token, and each provider's vendor API
//! (base URL, credentials) and resilience policies (timeout, bulkhead, rate limit, retries, circuit breaker).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{ConfigError, KeyDigest, SecretRef};

/// An internal service allowed to call outbound routes with `Authorization: Bearer <key>`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallerConfig {
    pub name: String,
    /// Hex SHA-256 of the caller's key (`gatehouse hash-key`).
    pub key_sha256: KeyDigest,
    /// Providers this caller may call, or `["*"]`.
    pub providers: Vec<String>,
    pub rate_limit: Option<RateLimitConfig>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Hex SHA-256 of the admin token (`Authorization: Bearer <token>` on `/admin/*`).
    pub token_sha256: KeyDigest,
}

/// A GCRA limit: `per_second` sustained, up to `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    pub per_second: u32,
    pub burst: u32,
}

/// How Gatehouse authenticates to the vendor; the caller's own `Authorization` is never forwarded.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum Credentials {
    /// `Authorization: Bearer <secret>`.
    Bearer { bearer: SecretRef },
    /// `<header>: <secret>`, e.g. `X-Api-Key`.
    Header { header: String, value: SecretRef },
    /// `Authorization: Basic base64(username:password)`.
    Basic { basic: BasicCredentials },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicCredentials {
    pub username: String,
    pub password: SecretRef,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// Attempts in all, the first included (1 = no retries).
    pub max_attempts: u32,
    #[serde(with = "humantime_serde")]
    pub base_delay: Duration,
    #[serde(with = "humantime_serde")]
    pub max_delay: Duration,
    /// Retries may add at most this fraction of the provider's recent request rate (plus 10 retries/s), so retries
    /// cannot multiply an outage.
    pub budget_ratio: f32,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
            budget_ratio: 0.2,
        }
    }
}

/// Circuit-breaker settings (resilience4j semantics; see `upstream::breaker`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerSettings {
    pub window: usize,
    pub min_calls: usize,
    pub failure_rate: f64,
    #[serde(with = "humantime_serde")]
    pub slow_call: Duration,
    pub slow_call_rate: f64,
    #[serde(with = "humantime_serde")]
    pub open_for: Duration,
    /// The longest the open state grows to after repeated trips; default 10 × `open_for`.
    #[serde(with = "humantime_serde::option")]
    pub max_open_for: Option<Duration>,
    pub half_open_calls: usize,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        Self {
            window: 50,
            min_calls: 20,
            failure_rate: 0.5,
            slow_call: Duration::from_secs(5),
            slow_call_rate: 1.0,
            open_for: Duration::from_secs(30),
            max_open_for: None,
            half_open_calls: 3,
        }
    }
}

pub(super) fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

pub(super) fn default_concurrency() -> usize {
    64
}

/// A hex SHA-256 digest as config writes it.
pub(super) fn check_sha256_hex(key: &str, value: &str) -> Result<(), ConfigError> {
    if value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(ConfigError::invalid(
            key,
            "expected 64 hex characters (the SHA-256 printed by `gatehouse hash-key`)",
        ))
    }
}

pub(super) fn check_rate_limit(key: &str, limit: &RateLimitConfig) -> Result<(), ConfigError> {
    if limit.per_second == 0 || limit.burst == 0 {
        return Err(ConfigError::invalid(key, "per_second and burst must be at least 1"));
    }
    Ok(())
}

pub(super) fn check_retry(key: &str, retry: &RetryConfig) -> Result<(), ConfigError> {
    if !(1..=20).contains(&retry.max_attempts) {
        return Err(ConfigError::invalid(
            format!("{key}.max_attempts"),
            "must be between 1 and 20",
        ));
    }
    if retry.base_delay.is_zero() || retry.max_delay < retry.base_delay {
        return Err(ConfigError::invalid(
            key,
            "base_delay must be more than zero and max_delay at least base_delay",
        ));
    }
    if !(0.0..=1.0).contains(&retry.budget_ratio) {
        return Err(ConfigError::invalid(
            format!("{key}.budget_ratio"),
            "must be between 0 and 1",
        ));
    }
    Ok(())
}
