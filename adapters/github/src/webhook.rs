//! Reads GitHub deliveries: the event id from `X-GitHub-Delivery`, the type from `X-GitHub-Event` plus the body's
//! `action` (`pull_request.opened`), the repository's `full_name` as subject and the JSON payload as data.

use gatehouse_kit::webhook::{checked_text, event_type_problem};
use gatehouse_kit::{InboundEvent, VerifiedWebhook, WebhookError};
use serde_json::Value;

const DELIVERY_HEADER: &str = "X-GitHub-Delivery";
const EVENT_HEADER: &str = "X-GitHub-Event";

/// The delivery id alone, for a body the adapter cannot translate.
pub(crate) fn event_id(webhook: &VerifiedWebhook) -> Option<String> {
    webhook.header_text(DELIVERY_HEADER)
}

pub(crate) fn interpret(webhook: &VerifiedWebhook) -> Result<InboundEvent, WebhookError> {
    let provider_event_id = checked_text(DELIVERY_HEADER, webhook.required_header(DELIVERY_HEADER)?)?;
    let event = webhook.required_header(EVENT_HEADER)?;
    let body = json_payload(webhook)?;
    let event_type = match body.get("action") {
        Some(Value::String(action)) => event_type(&format!("{event}.{action}"))?,
        _ => event_type(event)?,
    };
    let subject = match body.pointer("/repository/full_name") {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) => Some(checked_text("repository.full_name", name)?),
        Some(_) => {
            return Err(WebhookError::new("field `repository.full_name` is not a string"));
        }
    };
    Ok(InboundEvent {
        provider_event_id,
        event_type,
        subject,
        data: body,
        occurred_at_ms: None,
    })
}

/// The body as a JSON object. GitHub can also send `application/x-www-form-urlencoded` (`payload=...`), which we
/// do not read: the webhook must be configured with content type `application/json`.
fn json_payload(webhook: &VerifiedWebhook) -> Result<Value, WebhookError> {
    let not_json = || {
        WebhookError::new("body is not a JSON object: configure the GitHub webhook's content type as application/json")
    };
    let body = webhook.json().map_err(|_| not_json())?;
    if body.is_object() { Ok(body) } else { Err(not_json()) }
}

/// The event type: text [`checked_text`] accepts, without whitespace or a trailing `.` (an empty action).
fn event_type(event_type: &str) -> Result<String, WebhookError> {
    let what = "the event type (X-GitHub-Event and the body's action)";
    let event_type = checked_text(what, event_type)?;
    if event_type.ends_with('.') || event_type_problem(&event_type).is_some() {
        return Err(WebhookError::new(format!("{what} is not a visible event name")));
    }
    Ok(event_type)
}
