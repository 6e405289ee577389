//! Reads GitHub deliveries: the event id from `X-GitHub-Delivery`, the type from `X-GitHub-Event` plus the body's
//! `action` (`pull_request.opened`), the repository's `full_name` as subject and the JSON payload as data.

use gatehouse_kit::{InboundEvent, VerifiedWebhook, WebhookError};
use serde_json::Value;

const DELIVERY_HEADER: &str = "X-GitHub-Delivery";
const EVENT_HEADER: &str = "X-GitHub-Event";
/// The longest id, subject or event type we store.
const MAX_CHARS: usize = 255;

pub(crate) fn interpret(webhook: &VerifiedWebhook) -> Result<InboundEvent, WebhookError> {
    let provider_event_id = checked(DELIVERY_HEADER, webhook.required_header(DELIVERY_HEADER)?)?;
    let event = webhook.required_header(EVENT_HEADER)?;
    let body = json_payload(webhook)?;
    let event_type = match body.get("action") {
        Some(Value::String(action)) => event_type(&format!("{event}.{action}"))?,
        _ => event_type(event)?,
    };
    let subject = match body.pointer("/repository/full_name") {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) => Some(checked("repository.full_name", name)?),
        Some(_) => {
            return Err(WebhookError::new("field `repository.full_name` is not a string"));
        }
    };
    Ok(InboundEvent {
        provider_event_id,
        event_type,
        subject,
        data: body,
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

fn checked(what: &str, value: &str) -> Result<String, WebhookError> {
    let reason = if value.trim().is_empty() {
        "is empty"
    } else if value.chars().count() > MAX_CHARS {
        "is longer than 255 characters"
    } else if value.chars().any(char::is_control) {
        "contains control characters"
    } else {
        return Ok(value.to_owned());
    };
    Err(WebhookError::new(format!("{what} {reason}")))
}

fn event_type(event_type: &str) -> Result<String, WebhookError> {
    let visible = |c: char| !c.is_whitespace() && !c.is_control();
    let what = "the event type (X-GitHub-Event and the body's action)";
    let event_type = checked(what, event_type)?;
    if event_type.ends_with('.') || !event_type.chars().all(visible) {
        return Err(WebhookError::new(format!("{what} is not a visible event name")));
    }
    Ok(event_type)
}
