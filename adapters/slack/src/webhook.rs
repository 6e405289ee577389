//! Reads Slack's Events API requests: `url_verification` becomes a reply carrying the challenge; an event callback
//! becomes an event with the body's `event_id`, `event.type` as type, `team_id` as subject and the JSON payload
//! as data. Slack's `app_rate_limited` notice is acknowledged and not stored.

use gatehouse_kit::webhook::{checked_event_type, checked_text};
use gatehouse_kit::{InboundEvent, VerifiedWebhook, WebhookError, WebhookOutcome};
use serde_json::{Value, json};

pub(crate) fn interpret(webhook: &VerifiedWebhook) -> Result<WebhookOutcome, WebhookError> {
    let body = webhook.json()?;
    if !body.is_object() {
        return Err(WebhookError::new("body is not a JSON object"));
    }
    if body.get("type").and_then(Value::as_str) == Some("url_verification") {
        let challenge = required_str(&body, "/challenge", "challenge")?;
        return Ok(WebhookOutcome::Reply(json!({ "challenge": challenge })));
    }
    // Slack's notice that it dropped events for a minute: acknowledge it (a failing answer counts against the app's
    // subscription) and store nothing, as it is about the delivery channel, not a domain event.
    if body.get("type").and_then(Value::as_str) == Some("app_rate_limited") {
        return Ok(WebhookOutcome::Reply(json!({ "ok": true })));
    }
    let provider_event_id = checked_text("field `event_id`", required_str(&body, "/event_id", "event_id")?)?;
    let event_type = checked_event_type("field `event.type`", required_str(&body, "/event/type", "event.type")?)?;
    let subject = checked_text("field `team_id`", required_str(&body, "/team_id", "team_id")?)?;
    Ok(WebhookOutcome::Event(InboundEvent {
        provider_event_id,
        event_type,
        subject: Some(subject),
        data: body,
        occurred_at_ms: None,
    }))
}

/// The string at `pointer`, named `field` in errors.
fn required_str<'a>(body: &'a Value, pointer: &str, field: &str) -> Result<&'a str, WebhookError> {
    match body.pointer(pointer) {
        Some(Value::String(value)) if !value.is_empty() => Ok(value),
        Some(Value::String(_)) => Err(WebhookError::new(format!("field `{field}` is empty"))),
        Some(_) => Err(WebhookError::new(format!("field `{field}` is not a string"))),
        None => Err(WebhookError::new(format!("field `{field}` is missing"))),
    }
}
