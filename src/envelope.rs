//! The CloudEvents 1.0 envelope (structured JSON) every outbox event is stored and delivered in (SPEC §4).

use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

#[derive(Debug, Serialize)]
pub struct Envelope<'a> {
    pub specversion: &'static str,
    pub id: Uuid,
    pub source: String,
    #[serde(rename = "type")]
    pub event_type: &'a str,
    /// RFC 3339, UTC.
    pub time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<&'a str>,
    pub datacontenttype: &'static str,
    pub data: &'a Value,
    pub providereventid: &'a str,
    pub correlationid: &'a str,
    /// The id of what caused the event when the gateway itself emits it (a saga's outcome: the saga's id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub causationid: Option<&'a str>,
}

impl Envelope<'_> {
    pub const SPEC_VERSION: &'static str = "1.0";
    pub const CONTENT_TYPE: &'static str = "application/json";
}
