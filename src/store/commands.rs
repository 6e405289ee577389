//! Deferred commands as the store keeps them: a caller's mutation accepted with `Prefer: respond-async`, waiting for
//! (or done with) its execution against the vendor.

use bytes::Bytes;
use serde::Serialize;
use uuid::Uuid;

use super::NewEvent;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CommandStatus {
    Pending,
    Succeeded,
    Failed,
    /// Called off by an operator before it ran.
    Cancelled,
}

impl CommandStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CommandStatus::Pending => "pending",
            CommandStatus::Succeeded => "succeeded",
            CommandStatus::Failed => "failed",
            CommandStatus::Cancelled => "cancelled",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "pending" => CommandStatus::Pending,
            "succeeded" => CommandStatus::Succeeded,
            "failed" => CommandStatus::Failed,
            "cancelled" => CommandStatus::Cancelled,
            _ => return None,
        })
    }
}

/// A command to store.
#[derive(Debug, Clone)]
pub struct NewCommand {
    pub id: Uuid,
    pub caller: String,
    pub provider: String,
    pub method: String,
    /// The domain path under `/v1/{provider}`, with the query string (`/customers?x=1`).
    pub path: String,
    pub body: Bytes,
    /// The key sent to vendors that deduplicate with one: stable across every attempt.
    pub vendor_key: String,
    pub correlation_id: String,
    pub created_at_ms: i64,
}

/// A stored command.
#[derive(Debug, Clone)]
pub struct CommandRecord {
    pub id: Uuid,
    pub caller: String,
    pub provider: String,
    pub method: String,
    pub path: String,
    pub body: Bytes,
    pub vendor_key: String,
    pub correlation_id: String,
    pub status: CommandStatus,
    /// Vendor attempts made so far (the gateway's own refusals, such as an open breaker, do not count).
    pub attempts: u32,
    /// `{"status": <HTTP status>, "body": <our JSON>}` once finished.
    pub response: Option<serde_json::Value>,
    pub last_error: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    /// When it is next due (unix ms), while pending.
    pub next_attempt_ms: i64,
    /// Until when an executor's claim holds it (unix ms; in the past when none does).
    pub lease_until_ms: i64,
    /// The store's order, for cursors.
    pub seq: i64,
}

/// How a claimed command's attempt ended.
#[derive(Debug, Clone)]
pub enum CommandUpdate {
    /// Finished (succeeded or failed for good): its response, and the event announcing it, committed together.
    Finish {
        status: CommandStatus,
        response: serde_json::Value,
        error: Option<String>,
        event: Box<NewEvent>,
    },
    /// Try again at `next_attempt_ms`; `counted` says whether the vendor was tried (it adds to `attempts`).
    Retry {
        next_attempt_ms: i64,
        counted: bool,
        error: String,
    },
}
