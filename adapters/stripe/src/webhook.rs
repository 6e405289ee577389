//! Reads Stripe's webhook Events `{"id":"evt_...","type":"...","data":{"object":{...}}}`: the event id and type
//! from the body, `data.object.id` as subject, our `Payment` as data for `payment_intent.*` events and the raw
//! object otherwise.

use gatehouse_kit::domain::{Payment, PaymentStatus};
use gatehouse_kit::{InboundEvent, VerifiedWebhook, WebhookError};
use serde::Deserialize;
use serde_json::Value;

use crate::dto::PaymentIntent;

/// Events whose object is a PaymentIntent, translated to our `Payment`.
const PAYMENT_INTENT_PREFIX: &str = "payment_intent.";
/// The event Stripe sends when an attempt fails, whatever status the intent went back to.
const PAYMENT_FAILED: &str = "payment_intent.payment_failed";
/// The longest id, subject or event type we store.
const MAX_CHARS: usize = 255;

/// A Stripe Event in Stripe's words (only the fields we read).
#[derive(Debug, Deserialize)]
struct Event {
    id: String,
    #[serde(rename = "type")]
    event_type: String,
    data: EventData,
}

#[derive(Debug, Deserialize)]
struct EventData {
    object: Value,
}

pub(crate) fn interpret(webhook: &VerifiedWebhook) -> Result<InboundEvent, WebhookError> {
    let body = webhook.json()?;
    let event: Event =
        serde_path_to_error::deserialize(&body).map_err(|e| shape_error("body is not a Stripe event", "", &e))?;
    let provider_event_id = checked("id", event.id)?;
    let event_type = event_type(event.event_type)?;
    let object = event.data.object;
    if !object.is_object() {
        return Err(WebhookError::new("field `data.object` is not a JSON object"));
    }
    let subject = match object.get("id") {
        Some(Value::String(id)) => Some(checked("data.object.id", id.clone())?),
        _ => None,
    };
    let data = if event_type.starts_with(PAYMENT_INTENT_PREFIX) {
        payment(&object, &event_type)?
    } else {
        object
    };
    Ok(InboundEvent {
        provider_event_id,
        event_type,
        subject,
        data,
    })
}

/// The PaymentIntent in `data.object` as our `Payment`, JSON-encoded.
fn payment(object: &Value, event_type: &str) -> Result<Value, WebhookError> {
    let intent: PaymentIntent = serde_path_to_error::deserialize(object)
        .map_err(|e| shape_error("data.object is not a PaymentIntent", "data.object", &e))?;
    let mut payment = Payment::try_from(intent)
        .map_err(|e| WebhookError::new(format!("data.object is not a valid PaymentIntent: {e}")))?;
    if event_type == PAYMENT_FAILED {
        payment.status = PaymentStatus::Failed;
    }
    serde_json::to_value(&payment).map_err(|e| WebhookError::new(format!("cannot encode the payment: {e}")))
}

/// A serde error as a message naming the field at fault, e.g. ``field `data.amount`: invalid type ...``.
/// `prefix` is the path of the value that was deserialized, `""` for the body.
fn shape_error(what: &str, prefix: &str, e: &serde_path_to_error::Error<serde_json::Error>) -> WebhookError {
    let path = e.path().to_string();
    let field = match (prefix, path.as_str()) {
        ("", ".") => return WebhookError::new(format!("{what}: {}", e.inner())),
        (prefix, ".") => prefix.to_owned(),
        ("", path) => path.to_owned(),
        (prefix, path) => format!("{prefix}.{path}"),
    };
    WebhookError::new(format!("{what}: field `{field}`: {}", e.inner()))
}

fn checked(field: &str, value: String) -> Result<String, WebhookError> {
    let reason = if value.trim().is_empty() {
        "is empty"
    } else if value.chars().count() > MAX_CHARS {
        "is longer than 255 characters"
    } else if value.chars().any(char::is_control) {
        "contains control characters"
    } else {
        return Ok(value);
    };
    Err(WebhookError::new(format!("field `{field}` {reason}")))
}

fn event_type(event_type: String) -> Result<String, WebhookError> {
    let visible = |c: char| !c.is_whitespace() && !c.is_control();
    let event_type = checked("type", event_type)?;
    if !event_type.chars().all(visible) {
        return Err(WebhookError::new("field `type` contains spaces or control characters"));
    }
    Ok(event_type)
}
