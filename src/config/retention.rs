//! Configuration of retention (`[retention]`): how long delivered events, inbox entries and the read model's
//! entities are kept.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// The shortest inbox window accepted: Stripe redelivers for up to 3 days, and a redelivery after the window
/// would be stored (and delivered) twice.
const MIN_INBOX: Duration = Duration::from_secs(3 * 24 * 3600);

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Delivered events (every delivery done, or none wanted) are deleted this long after they were received.
    /// Pending and dead events are kept.
    #[serde(with = "humantime_serde")]
    pub events: Duration,
    /// Inbox entries (the deduplication of vendors' event ids) are deleted this long after they were received;
    /// at least as long as vendors' redelivery windows (3 days at least).
    #[serde(with = "humantime_serde")]
    pub inbox: Duration,
    /// Read-model entities (and deletion tombstones) not seen for this long (no webhook, read or write of them)
    /// are deleted.
    #[serde(with = "humantime_serde")]
    pub read_model: Duration,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            events: Duration::from_secs(7 * 24 * 3600),
            inbox: Duration::from_secs(7 * 24 * 3600),
            read_model: Duration::from_secs(30 * 24 * 3600),
        }
    }
}

pub(super) fn check(retention: &RetentionConfig) -> Result<(), ConfigError> {
    if retention.events.is_zero() {
        return Err(ConfigError::invalid("retention.events", "must be more than zero"));
    }
    if retention.read_model.is_zero() {
        return Err(ConfigError::invalid("retention.read_model", "must be more than zero"));
    }
    if retention.inbox < MIN_INBOX {
        return Err(ConfigError::invalid(
            "retention.inbox",
            "must be at least 3 days (vendors such as Stripe redeliver for up to 3 days)",
        ));
    }
    Ok(())
}
