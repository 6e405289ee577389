//! Reads a webhook with the configured locators: the event id, the event type and the optional subject from
//! headers or JSON pointers; the JSON body as data.

use gatehouse_kit::webhook::{checked_event_type, checked_text};
use gatehouse_kit::{InboundEvent, VerifiedWebhook, WebhookError};
use serde_json::Value;

use crate::locator::Locator;

pub(crate) fn interpret(
    webhook: &VerifiedWebhook,
    event_id: &Locator,
    event_type: &Locator,
    subject: Option<&Locator>,
) -> Result<InboundEvent, WebhookError> {
    // The body is the event's data, so it must be JSON whatever the locators are.
    let body = webhook.json().map_err(|e| {
        WebhookError::new(format!(
            "{e} (the generic adapter stores the JSON body as the event's data)"
        ))
    })?;
    let provider_event_id = locate(webhook, &body, "event id", event_id, checked_text)?;
    let event_type = locate(webhook, &body, "event type", event_type, checked_event_type)?;
    let subject = match subject {
        Some(locator) => Some(locate(webhook, &body, "subject", locator, checked_text)?),
        None => None,
    };
    Ok(InboundEvent {
        provider_event_id,
        event_type,
        subject,
        data: body,
        occurred_at_ms: None,
    })
}

/// The text at `locator`: a header's value, or a string or integer in the body, passed through `check` (the kit's
/// [`checked_text`] or [`checked_event_type`]). `what` and the locator name the value in errors.
fn locate(
    webhook: &VerifiedWebhook,
    body: &Value,
    what: &str,
    locator: &Locator,
    check: fn(&str, &str) -> Result<String, WebhookError>,
) -> Result<String, WebhookError> {
    let name = format!("the {what} at {locator}");
    let fail = |reason: &str| WebhookError::new(format!("{name} {reason}"));
    let number;
    let text = match locator {
        Locator::Header(header) => webhook.header(header)?.ok_or_else(|| fail("is missing"))?,
        Locator::Pointer(pointer) => match body.pointer(pointer) {
            None | Some(Value::Null) => return Err(fail("is missing")),
            Some(Value::String(text)) => text,
            Some(Value::Number(n)) if n.is_i64() || n.is_u64() => {
                number = n.to_string();
                &number
            }
            // serde_json reads integers beyond u64 as floats: such an id would be rounded.
            Some(Value::Number(_)) => return Err(fail("is a number that is not an exact integer")),
            Some(_) => return Err(fail("is neither a string nor a number")),
        },
    };
    check(&name, text)
}
