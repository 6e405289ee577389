//! Deliveries as the store keeps them: one per (subscription, event), written with the event, claimed by a relay
//! under a lease, and finished as delivered, retried later, or dead.

use serde::Serialize;
use uuid::Uuid;

use super::EventSummary;

/// A subscription an event is delivered to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscriber {
    pub name: String,
    /// Events of one subject go one at a time, in the order they were received.
    pub ordered: bool,
}

/// A delivery a relay claimed, with what it needs to send it.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub subscription: String,
    pub event_seq: i64,
    pub event_id: Uuid,
    pub provider: String,
    pub event_type: String,
    /// When the event was received (unix ms), for delivery latency.
    pub received_at_ms: i64,
    /// Attempts made before this one.
    pub attempts: u32,
    /// The CloudEvents envelope as stored.
    pub envelope: Vec<u8>,
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    Delivered,
    /// Try again at `next_attempt_ms`.
    Retry {
        next_attempt_ms: i64,
        error: String,
    },
    /// Given up on: a permanent refusal or attempts exhausted (replay puts it back).
    Dead {
        error: String,
    },
}

/// An event as `GET /admin/events/{id}` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct EventDetail {
    #[serde(flatten)]
    pub summary: EventSummary,
    pub envelope: serde_json::Value,
    /// The body as the vendor sent it, as text (invalid UTF-8 replaced: see `raw_body_base64`).
    pub raw_body: String,
    /// The exact bytes, base64, when they are not valid UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw_body_base64: Option<String>,
    /// While quarantined: why the adapter could not translate it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quarantine: Option<QuarantineState>,
    pub deliveries: Vec<DeliveryState>,
}

/// A quarantined event's state, as `GET /admin/events/{id}` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct QuarantineState {
    /// The adapter's last error.
    pub error: String,
}

/// One subscription's delivery of an event.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryState {
    pub subscription: String,
    /// `pending`, `delivered` or `dead`.
    pub state: String,
    pub attempts: u32,
    /// RFC 3339, while pending (absent while it waits behind an earlier event of its subject).
    pub next_attempt_at: Option<String>,
    pub last_error: Option<String>,
    pub updated_at: String,
    pub history: Vec<AttemptRecord>,
}

/// One delivery attempt.
#[derive(Debug, Clone, Serialize)]
pub struct AttemptRecord {
    pub attempt: u32,
    pub at: String,
    /// `delivered`, `retry` or `dead`.
    pub outcome: String,
    pub error: Option<String>,
    /// How long the attempt took (absent for attempts recorded before latencies were).
    pub latency_ms: Option<i64>,
}

/// A raw body as `raw_body` text and, when it is not UTF-8, `raw_body_base64`.
pub(crate) fn raw_text(bytes: &[u8]) -> (String, Option<String>) {
    use base64::Engine as _;
    match std::str::from_utf8(bytes) {
        Ok(text) => (text.to_owned(), None),
        Err(_) => (
            String::from_utf8_lossy(bytes).into_owned(),
            Some(base64::engine::general_purpose::STANDARD.encode(bytes)),
        ),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_raw_body_is_text_and_its_exact_bytes_when_not_utf8() {
        assert_eq!(super::raw_text(b"<b>hi</b>"), ("<b>hi</b>".to_owned(), None));
        let (text, exact) = super::raw_text(&[0x61, 0xff, 0x62]);
        assert_eq!(text, "a\u{fffd}b");
        assert_eq!(exact.as_deref(), Some("Yf9i"));
    }
}
