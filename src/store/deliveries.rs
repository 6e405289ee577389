//! Deliveries as the store keeps them: one per (subscription, event), written with the event, claimed by a relay
//! under a lease, and finished as delivered, retried later, or dead.

use uuid::Uuid;

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
