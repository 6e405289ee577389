//! Configuration of safe mutations: how long idempotency keys are kept and locked (`[idempotency]`) and how
//! deferred commands are executed and retried (`[commands]`).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::ConfigError;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IdempotencyConfig {
    /// How long a key and its stored response are kept (replayed) after the first request.
    #[serde(with = "humantime_serde")]
    pub keep_for: Duration,
    /// The longest a running request holds its key, a bound for a request stuck past every deadline (a request
    /// whose gateway died holds nothing). At least twice every provider's `timeout`, plus 10 s.
    #[serde(with = "humantime_serde")]
    pub lock_for: Duration,
    /// How often expired keys and old finished commands are deleted.
    #[serde(with = "humantime_serde")]
    pub prune_every: Duration,
}

impl Default for IdempotencyConfig {
    fn default() -> Self {
        Self {
            keep_for: Duration::from_secs(24 * 3600),
            lock_for: Duration::from_secs(60),
            prune_every: Duration::from_secs(300),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CommandsConfig {
    /// Vendor attempts per command, the first included; transient failures (timeouts, connect errors, 5xx)
    /// retry up to this, then the command fails. The gateway's own refusals (open breaker, rate limit, full
    /// bulkhead) wait without spending attempts.
    pub max_attempts: u32,
    /// Backoff between attempts: full jitter over base_delay × 2^attempt, capped at max_delay.
    #[serde(with = "humantime_serde")]
    pub base_delay: Duration,
    #[serde(with = "humantime_serde")]
    pub max_delay: Duration,
    /// How long an executor holds a claimed command; a crashed gateway's commands run again after it. Longer than
    /// every provider's `timeout`, with room for a store write.
    #[serde(with = "humantime_serde")]
    pub lease: Duration,
    /// How often the executor looks for due commands when nothing new arrived (new commands wake it at once).
    #[serde(with = "humantime_serde")]
    pub poll_every: Duration,
    /// Commands run at once by one gateway.
    pub concurrency: usize,
    /// How long finished commands stay readable at `GET /v1/commands/{id}`.
    #[serde(with = "humantime_serde")]
    pub keep_for: Duration,
}

impl Default for CommandsConfig {
    fn default() -> Self {
        Self {
            max_attempts: 10,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(300),
            lease: Duration::from_secs(120),
            poll_every: Duration::from_secs(1),
            concurrency: 16,
            keep_for: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// Room for the store writes around a keyed call (each waits at most 4 s for its commit).
const MARGIN: Duration = Duration::from_secs(10);

/// The cross-field rules: keys outlive their locks, locks and leases outlive every provider's calls.
pub(super) fn check(
    idempotency: &IdempotencyConfig,
    commands: &CommandsConfig,
    longest_timeout: Duration,
) -> Result<(), ConfigError> {
    // A keyed call may take the provider's timeout for the headers, as long again for the body, and a store write.
    let lock_floor = longest_timeout.saturating_mul(2).saturating_add(MARGIN);
    if idempotency.lock_for < lock_floor {
        return Err(ConfigError::invalid(
            "idempotency.lock_for",
            format!("must be at least twice the longest provider timeout plus {MARGIN:?} ({lock_floor:?})"),
        ));
    }
    if idempotency.keep_for <= idempotency.lock_for {
        return Err(ConfigError::invalid(
            "idempotency.keep_for",
            "must be longer than lock_for",
        ));
    }
    if idempotency.prune_every.is_zero() || commands.poll_every.is_zero() {
        return Err(ConfigError::invalid(
            "idempotency.prune_every",
            "prune_every and commands.poll_every must be more than zero",
        ));
    }
    // An attempt takes at most the provider's timeout (headers and body), then a store write. One that outlives its
    // lease may run twice (vendors that take a key deduplicate it) but can never record its outcome twice.
    if commands.lease <= longest_timeout {
        return Err(ConfigError::invalid(
            "commands.lease",
            format!("must be longer than the longest provider timeout ({longest_timeout:?})"),
        ));
    }
    if !(1..=1000).contains(&commands.max_attempts) {
        return Err(ConfigError::invalid(
            "commands.max_attempts",
            "must be between 1 and 1000",
        ));
    }
    if !(1..=1024).contains(&commands.concurrency) {
        return Err(ConfigError::invalid(
            "commands.concurrency",
            "must be between 1 and 1024",
        ));
    }
    if commands.base_delay.is_zero() || commands.max_delay < commands.base_delay {
        return Err(ConfigError::invalid(
            "commands.base_delay",
            "must be more than zero and at most commands.max_delay",
        ));
    }
    Ok(())
}
