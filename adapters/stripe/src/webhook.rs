//! Reads Stripe's webhook Events `{"id":"evt_...","type":"...","data":{"object":{...}}}`: the event id and type
//! from the body, `data.object.id` as subject, our `Payment` as data for `payment_intent.*` events and the raw
//! object otherwise.

use gatehouse_kit::domain::{Payment, PaymentStatus};
use gatehouse_kit::webhook::{checked_event_type, checked_text, deserialize_at};
use gatehouse_kit::{InboundEvent, VerifiedWebhook, WebhookError};
use serde::Deserialize;
use serde_json::Value;

use crate::dto::PaymentIntent;

/// Events whose object is a PaymentIntent, translated to our `Payment`.
const PAYMENT_INTENT_PREFIX: &str = "payment_intent.";
/// The event Stripe sends when an attempt fails, whatever status the intent went back to.
const PAYMENT_FAILED: &str = "payment_intent.payment_failed";

/// A Stripe Event in Stripe's words (only the fields we read).
#[derive(Debug, Deserialize)]
struct Event {
    id: String,
    #[serde(rename = "type")]
    event_type: String,
    /// When Stripe created the event (unix seconds): the same on every retry of it. Read leniently: an odd value
    /// only loses the event's time, never the event.
    #[serde(default)]
    created: Value,
    data: EventData,
}

#[derive(Debug, Deserialize)]
struct EventData {
    object: Value,
}

pub(crate) fn interpret(webhook: &VerifiedWebhook) -> Result<InboundEvent, WebhookError> {
    let body = webhook.json()?;
    let event: Event = deserialize_at(&body, "", "body is not a Stripe event")?;
    let provider_event_id = checked_text("field `id`", &event.id)?;
    let event_type = checked_event_type("field `type`", &event.event_type)?;
    let object = event.data.object;
    if !object.is_object() {
        return Err(WebhookError::new("field `data.object` is not a JSON object"));
    }
    let subject = match object.get("id") {
        Some(Value::String(id)) => Some(checked_text("field `data.object.id`", id)?),
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
        occurred_at_ms: event.created.as_i64().and_then(gatehouse_kit::entity::event_second_ms),
    })
}

/// The PaymentIntent in `data.object` as our `Payment`, JSON-encoded.
fn payment(object: &Value, event_type: &str) -> Result<Value, WebhookError> {
    let intent: PaymentIntent = deserialize_at(object, "data.object", "data.object is not a PaymentIntent")?;
    let mut payment = Payment::try_from(intent)
        .map_err(|e| WebhookError::new(format!("data.object is not a valid PaymentIntent: {e}")))?;
    if event_type == PAYMENT_FAILED {
        payment.status = PaymentStatus::Failed;
    }
    serde_json::to_value(&payment).map_err(|e| WebhookError::new(format!("cannot encode the payment: {e}")))
}
