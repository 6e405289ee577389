//! Configuration of event delivery: `[[subscriptions]]` (which event types go where, in order or not, retried how)
//! and `[relay]` (how the relay claims and paces deliveries).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{CapabilityUrl, ConfigError, SecretRef};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionConfig {
    /// 1-64 characters of a-z, 0-9, '-' and '_'; a delivery's state is kept under it.
    pub name: String,
    /// Globs on the event type: `*` matches any characters, dots included.
    pub events: Vec<String>,
    /// Deliver the events of one subject in the order they were received, one at a time.
    #[serde(default)]
    pub ordered: bool,
    #[serde(default)]
    pub retry: DeliveryRetry,
    /// Deliveries of this subscription one relay has in flight at once (1-4096); without it, an equal share of
    /// `[relay] concurrency` (see [`SubscriptionConfig::slots`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<usize>,
    pub sink: SinkConfig,
}

impl SubscriptionConfig {
    /// The deliveries of this subscription one relay runs at once, out of `of` subscriptions: its own
    /// `concurrency`, or else `[relay] concurrency` split equally among them all (rounded down, at least 1). Each
    /// subscription has these slots to itself, so a consumer that hangs holds up only its own deliveries.
    pub fn slots(&self, relay: &RelayConfig, of: usize) -> usize {
        self.concurrency
            .unwrap_or_else(|| (relay.concurrency / of.max(1)).max(1))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryRetry {
    /// Attempts in all, the first included; then the delivery is dead (kept for replay).
    pub max_attempts: u32,
    /// Full-jitter backoff over base_delay × 2^attempt, at most max_delay (and at least the sink's Retry-After).
    #[serde(with = "humantime_serde")]
    pub base_delay: Duration,
    #[serde(with = "humantime_serde")]
    pub max_delay: Duration,
}

impl Default for DeliveryRetry {
    fn default() -> Self {
        Self {
            max_attempts: 12,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(3600),
        }
    }
}

/// Where a subscription's events go.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum SinkConfig {
    /// `POST` of the CloudEvents envelope, signed with Standard Webhooks headers and `secret` (`whsec_…`).
    Http {
        /// Printed as its origin only: the path or query may be the credential.
        url: CapabilityUrl,
        secret: SecretRef,
        #[serde(with = "humantime_serde", default = "default_sink_timeout")]
        timeout: Duration,
    },
    /// JetStream publish of the envelope to `<subject_prefix>.<provider>.<type>` with `Nats-Msg-Id` = the event id,
    /// delivered on the stream's PubAck. The stream is created (subjects `<subject_prefix>.>`) if missing.
    Nats {
        /// `nats://host[:port]` or `tls://host[:port]`.
        url: String,
        #[serde(default = "default_subject_prefix")]
        subject_prefix: String,
        /// The JetStream stream the subjects are captured by.
        #[serde(default = "default_stream")]
        stream: String,
        /// The wait for a connection and the PubAck of one publish.
        #[serde(with = "humantime_serde", default = "default_sink_timeout")]
        timeout: Duration,
    },
    /// The envelope written to the log (development).
    Log,
}

fn default_sink_timeout() -> Duration {
    Duration::from_secs(10)
}

fn default_subject_prefix() -> String {
    "gatehouse".into()
}

fn default_stream() -> String {
    "GATEHOUSE".into()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RelayConfig {
    /// Whether `gatehouse serve` runs the relay (`false`: an HTTP tier only, with `gatehouse relay` run apart, on a
    /// store several processes share). `gatehouse relay` runs it either way.
    pub enabled: bool,
    /// Deliveries one relay has in flight at once.
    pub concurrency: usize,
    /// How long a relay holds the deliveries it claimed; a crashed relay's claims come back after it. Longer than
    /// every sink's timeout.
    #[serde(with = "humantime_serde")]
    pub lease: Duration,
    /// How often the relay looks for due deliveries when no new event woke it (retries coming due, other relays).
    #[serde(with = "humantime_serde")]
    pub poll_every: Duration,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            concurrency: 64,
            lease: Duration::from_secs(60),
            poll_every: Duration::from_millis(500),
        }
    }
}

/// Whether `event_type` matches `glob` (`*` matches any run of characters, dots included).
pub fn glob_matches(glob: &str, event_type: &str) -> bool {
    let mut parts = glob.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = event_type.strip_prefix(first) else {
        return false;
    };
    let pieces: Vec<&str> = parts.collect();
    let Some((last, middle)) = pieces.split_last() else {
        return rest.is_empty();
    };
    for piece in middle {
        match rest.find(piece) {
            Some(at) => rest = &rest[at + piece.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

pub(super) fn check(subscriptions: &[SubscriptionConfig], relay: &RelayConfig) -> Result<(), ConfigError> {
    let mut names = std::collections::HashSet::new();
    // A JetStream stream captures one prefix: two sinks sharing a stream must share the prefix too.
    let mut streams: std::collections::HashMap<(&str, &str), &str> = std::collections::HashMap::new();
    for (i, subscription) in subscriptions.iter().enumerate() {
        let key = format!("subscriptions[{i}]");
        if let SinkConfig::Nats {
            url,
            subject_prefix,
            stream,
            ..
        } = &subscription.sink
            && streams
                .insert((url.as_str(), stream.as_str()), subject_prefix.as_str())
                .is_some_and(|p| p != subject_prefix)
        {
            return Err(ConfigError::invalid(
                format!("{key}.sink.stream"),
                "another subscription's sink uses this stream with another subject_prefix; give each prefix its own stream",
            ));
        }
        let name = &subscription.name;
        let plain = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !plain || !names.insert(name.as_str()) {
            return Err(ConfigError::invalid(
                format!("{key}.name"),
                "must be unique, 1-64 characters of a-z, 0-9, '-' and '_'",
            ));
        }
        if subscription.events.is_empty() || subscription.events.iter().any(String::is_empty) {
            return Err(ConfigError::invalid(
                format!("{key}.events"),
                "list at least one non-empty event type glob",
            ));
        }
        let retry = &subscription.retry;
        if !(1..=1000).contains(&retry.max_attempts) {
            return Err(ConfigError::invalid(
                format!("{key}.retry.max_attempts"),
                "must be between 1 and 1000",
            ));
        }
        if retry.base_delay.is_zero() || retry.max_delay < retry.base_delay {
            return Err(ConfigError::invalid(
                format!("{key}.retry.base_delay"),
                "must be more than zero and at most max_delay",
            ));
        }
        if subscription.concurrency.is_some_and(|n| !(1..=4096).contains(&n)) {
            return Err(ConfigError::invalid(
                format!("{key}.concurrency"),
                "must be between 1 and 4096",
            ));
        }
        check_sink(&format!("{key}.sink"), &subscription.sink, relay)?;
    }
    if !(1..=4096).contains(&relay.concurrency) || relay.poll_every.is_zero() {
        return Err(ConfigError::invalid(
            "relay",
            "concurrency must be between 1 and 4096 and poll_every more than zero",
        ));
    }
    Ok(())
}

fn check_sink(key: &str, sink: &SinkConfig, relay: &RelayConfig) -> Result<(), ConfigError> {
    let timeout = match sink {
        SinkConfig::Log => return Ok(()),
        SinkConfig::Http { url, timeout, .. } => {
            let parsed = url::Url::parse(url).ok().filter(|u| {
                matches!(u.scheme(), "http" | "https")
                    && u.host().is_some()
                    && u.username().is_empty()
                    && u.password().is_none()
            });
            if parsed.is_none() {
                return Err(ConfigError::invalid(
                    format!("{key}.url"),
                    "expected an http(s) URL with a host and no user info",
                ));
            }
            timeout
        }
        SinkConfig::Nats {
            url,
            subject_prefix,
            stream,
            timeout,
        } => {
            let parsed = url::Url::parse(url).ok().filter(|u| {
                matches!(u.scheme(), "nats" | "tls")
                    && u.host_str().is_some_and(|h| !h.is_empty())
                    && u.username().is_empty()
                    && u.password().is_none()
                    && matches!(u.path(), "" | "/")
                    && u.query().is_none()
                    && u.fragment().is_none()
            });
            if parsed.is_none() {
                return Err(ConfigError::invalid(
                    format!("{key}.url"),
                    "expected nats://host[:port] or tls://host[:port], with no user info",
                ));
            }
            if subject_prefix.split('.').any(|t| !is_nats_token(t)) {
                return Err(ConfigError::invalid(
                    format!("{key}.subject_prefix"),
                    "expected NATS subject tokens separated by '.': non-empty, without spaces, '*' or '>'",
                ));
            }
            if stream.len() > 255 || !is_nats_token(stream) || stream.contains(['.', '/', '\\']) {
                return Err(ConfigError::invalid(
                    format!("{key}.stream"),
                    "expected a JetStream stream name: 1-255 characters without spaces, '.', '*', '>', '/' or '\\'",
                ));
            }
            timeout
        }
    };
    if timeout.is_zero() || *timeout >= relay.lease {
        return Err(ConfigError::invalid(
            format!("{key}.timeout"),
            "must be more than zero and shorter than relay.lease",
        ));
    }
    Ok(())
}

/// A non-empty NATS subject token without whitespace, control characters or wildcards.
fn is_nats_token(token: &str) -> bool {
    !token.is_empty()
        && !token
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '*' || c == '>' || c == '.')
}

#[cfg(test)]
mod tests {
    use super::glob_matches;

    #[test]
    fn globs_match_any_characters_dots_included() {
        assert!(glob_matches(
            "stripe.payment_intent.*",
            "stripe.payment_intent.succeeded"
        ));
        assert!(glob_matches("stripe.*", "stripe.payment_intent.succeeded"));
        assert!(glob_matches("*", "anything.at.all"));
        assert!(glob_matches("*.customer.*", "acme-crm.customer.updated"));
        assert!(glob_matches("acme-crm.customer.updated", "acme-crm.customer.updated"));
        assert!(glob_matches("a*a", "aa"));
        assert!(!glob_matches("a*a", "a"));
        assert!(!glob_matches("stripe.*", "stripe"));
        assert!(!glob_matches("stripe.charge.*", "stripe.payment_intent.succeeded"));
        assert!(!glob_matches(
            "acme-crm.customer.updated",
            "acme-crm.customer.updated.x"
        ));
        assert!(!glob_matches("*.created", "acme-crm.customer.updated"));
    }
}
