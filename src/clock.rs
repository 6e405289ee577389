//! Wall-clock helpers: unix time for signatures and storage, RFC 3339 for envelopes and listings.

use std::time::{SystemTime, UNIX_EPOCH};

use chrono::{DateTime, SecondsFormat, Utc};

/// Milliseconds since the Unix epoch (0 if the clock is before 1970).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Seconds since the Unix epoch, as signature schemes count them.
pub fn now_secs() -> u64 {
    u64::try_from(now_ms() / 1000).unwrap_or(0)
}

/// `2026-11-22T10:00:00Z` for a unix-milliseconds instant.
pub fn rfc3339_from_ms(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `2026-11-22T10:00:00.123Z` for a unix-milliseconds instant.
pub fn rfc3339_millis_from_ms(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The unix-milliseconds instant of an RFC 3339 time (`2026-11-22T10:00:00Z`, any offset); `None` if it is not one.
pub fn ms_from_rfc3339(text: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(text.trim())
        .ok()
        .map(|t| t.timestamp_millis())
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_utc_seconds() {
        assert_eq!(super::rfc3339_from_ms(1_700_000_000_123), "2023-11-14T22:13:20Z");
        assert_eq!(
            super::rfc3339_millis_from_ms(1_700_000_000_123),
            "2023-11-14T22:13:20.123Z"
        );
    }
}
