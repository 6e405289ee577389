//! Reads Shopify webhooks: the event id from `X-Shopify-Webhook-Id` (or `X-Shopify-Event-Id`), the type from
//! `X-Shopify-Topic` with `/` as `.` (`orders.create`), the body's `id` as subject and the JSON payload as data.

use gatehouse_kit::webhook::{checked_text, event_type_problem};
use gatehouse_kit::{InboundEvent, VerifiedWebhook, WebhookError};
use serde_json::Value;

/// The webhook's id: the deduplication key when present.
const WEBHOOK_ID_HEADER: &str = "X-Shopify-Webhook-Id";
/// The event's id: the fallback when the webhook id is absent.
const EVENT_ID_HEADER: &str = "X-Shopify-Event-Id";
const TOPIC_HEADER: &str = "X-Shopify-Topic";

/// The id alone (the webhook id, or the event id without one), for a body the adapter cannot translate.
pub(crate) fn event_id(webhook: &VerifiedWebhook) -> Option<String> {
    if webhook.headers().contains_key(WEBHOOK_ID_HEADER) {
        webhook.header_text(WEBHOOK_ID_HEADER)
    } else {
        webhook.header_text(EVENT_ID_HEADER)
    }
}

pub(crate) fn interpret(webhook: &VerifiedWebhook) -> Result<InboundEvent, WebhookError> {
    let provider_event_id = match webhook.header(WEBHOOK_ID_HEADER)? {
        Some(id) => checked_text(WEBHOOK_ID_HEADER, id)?,
        None => match webhook.header(EVENT_ID_HEADER)? {
            Some(id) => checked_text(EVENT_ID_HEADER, id)?,
            None => {
                return Err(WebhookError::new(format!(
                    "header {WEBHOOK_ID_HEADER} is missing (and so is {EVENT_ID_HEADER})"
                )));
            }
        },
    };
    let event_type = event_type(webhook.required_header(TOPIC_HEADER)?)?;
    let body = webhook.json()?;
    if !body.is_object() {
        return Err(WebhookError::new("body is not a JSON object"));
    }
    let subject = match body.get("id") {
        // Some topics (`shop/redact`, `customers/data_request`) carry no `id`.
        None | Some(Value::Null) => None,
        Some(Value::String(id)) => Some(checked_text("field `id`", id)?),
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => Some(n.to_string()),
        // A float would be a rounded id (serde_json reads integers beyond u64 as floats).
        Some(_) => {
            return Err(WebhookError::new("field `id` is neither a string nor an integer"));
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

/// `orders/create` → `orders.create`, without whitespace or a leading or trailing `.`.
fn event_type(topic: &str) -> Result<String, WebhookError> {
    let event_type = checked_text(TOPIC_HEADER, &topic.replace('/', "."))?;
    if event_type_problem(&event_type).is_some() || event_type.starts_with('.') || event_type.ends_with('.') {
        return Err(WebhookError::new(format!(
            "header {TOPIC_HEADER} is not a topic such as orders/create"
        )));
    }
    Ok(event_type)
}
