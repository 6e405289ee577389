//! Schemas of the operator routes added for the console: bulk replay, subscription counts, and commands as the
//! admin sees them. (Descriptions only, as in `schemas.rs`: never built, hence the allowance.)
#![allow(dead_code)]

use utoipa::ToSchema;

use super::schemas::{CommandResponse, CommandStatus};

/// The body of `POST /admin/replays`: which deliveries to queue again.
#[derive(ToSchema)]
pub struct ReplayRequest {
    /// `dead` (the default) or `delivered`.
    #[schema(examples("dead", "delivered"))]
    pub status: Option<String>,
    /// Only this subscription's deliveries (else every subscription configured now).
    pub subscription: Option<String>,
    pub provider: Option<String>,
    /// The full event type: `<provider>.<event type>`.
    #[schema(rename = "type")]
    pub kind: Option<String>,
    /// Events received at or after this time.
    #[schema(format = "date-time")]
    pub since: Option<String>,
    /// Events received before this time.
    #[schema(format = "date-time")]
    pub until: Option<String>,
    /// Only count the matching deliveries.
    pub dry_run: Option<bool>,
}

/// `POST /admin/replays`.
#[derive(ToSchema)]
pub struct BulkReplay {
    /// Deliveries matching the filter.
    pub matched: u64,
    /// Deliveries queued again (0 for a dry run).
    pub queued: u64,
}

/// One subscription's deliveries.
#[derive(ToSchema)]
pub struct SubscriptionReport {
    pub name: String,
    /// Waiting for an attempt, those retrying included.
    pub pending: u64,
    /// Pending after at least one failed attempt.
    pub retrying: u64,
    pub dead: u64,
    pub delivered: u64,
    /// How long the oldest pending delivery's event has waited (null when nothing is pending).
    pub oldest_pending_seconds: Option<f64>,
    /// `false` for a subscription no longer in the config that still has deliveries (they are not sent).
    pub configured: bool,
}

/// `GET /admin/subscriptions`.
#[derive(ToSchema)]
pub struct SubscriptionList {
    pub data: Vec<SubscriptionReport>,
}

/// A deferred command, as listed for operators.
#[derive(ToSchema)]
pub struct AdminCommand {
    #[schema(format = "uuid")]
    pub id: String,
    /// The caller that submitted it.
    pub caller: String,
    pub provider: String,
    pub method: String,
    /// The route under `/v1/{provider}`, with the query string.
    pub path: String,
    pub status: CommandStatus,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub correlationid: String,
    #[schema(format = "date-time")]
    pub created_at: String,
    #[schema(format = "date-time")]
    pub updated_at: String,
}

/// `GET /admin/commands`.
#[derive(ToSchema)]
pub struct AdminCommandPage {
    pub data: Vec<AdminCommand>,
    /// Present when there may be more: pass it as `cursor`.
    pub next_cursor: Option<String>,
}

/// `GET /admin/commands/{id}`: the listed fields, plus the request and the answer.
#[derive(ToSchema)]
pub struct AdminCommandDetail {
    #[schema(format = "uuid")]
    pub id: String,
    pub caller: String,
    pub provider: String,
    pub method: String,
    pub path: String,
    pub status: CommandStatus,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub correlationid: String,
    #[schema(format = "date-time")]
    pub created_at: String,
    #[schema(format = "date-time")]
    pub updated_at: String,
    /// While pending: when the next attempt is due.
    #[schema(format = "date-time")]
    pub next_attempt_at: Option<String>,
    /// Whether an executor is attempting it right now (it cannot be cancelled meanwhile).
    pub running: bool,
    /// The request body the caller sent (JSON, or text).
    pub body: serde_json::Value,
    /// Once finished: the answer the call had.
    pub response: Option<CommandResponse>,
}

/// `GET /admin/read-model/{provider}/{kind}/{id}`: one entity as the read model holds it.
#[derive(ToSchema)]
pub struct ReadModelEntity {
    pub provider: String,
    pub kind: String,
    pub id: String,
    /// Orders this entity's states (the adapter's versioning: a vendor time or field, else when it was seen, in
    /// unix milliseconds): an older state never replaces a newer one.
    pub version: i64,
    /// `webhook`, `read` or `write`: what it was last kept from.
    #[schema(examples("webhook", "read", "write"))]
    pub source: String,
    /// The event that carried it (webhooks only).
    pub event_id: Option<String>,
    /// The vendor said it was deleted: reads of it answer 404.
    pub deleted: bool,
    /// When it was last seen (a webhook's receipt, an answer's arrival).
    #[schema(format = "date-time")]
    pub observed_at: String,
    pub age_seconds: i64,
    /// The stored domain object, as the adapter's routes answer it.
    pub entity: serde_json::Value,
}
