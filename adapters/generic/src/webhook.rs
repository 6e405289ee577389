//! Reads a webhook with the configured locators: the event id, the event type and the optional subject from
//! headers or JSON pointers; the JSON body as data.

use gatehouse_kit::{InboundEvent, VerifiedWebhook, WebhookError};
use serde_json::Value;

use crate::locator::Locator;

/// The longest id, subject or event type we store.
const MAX_CHARS: usize = 255;

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
    let provider_event_id = locate(webhook, &body, "event id", event_id)?;
    let found_type = locate(webhook, &body, "event type", event_type)?;
    if !found_type.chars().all(|c| !c.is_whitespace() && !c.is_control()) {
        return Err(WebhookError::new(format!(
            "the event type at {event_type} contains spaces or control characters"
        )));
    }
    let subject = match subject {
        Some(locator) => Some(locate(webhook, &body, "subject", locator)?),
        None => None,
    };
    Ok(InboundEvent {
        provider_event_id,
        event_type: found_type,
        subject,
        data: body,
    })
}

/// The text at `locator`: a header's value, or a string or integer in the body. `what` and the locator name the
/// value in errors.
fn locate(webhook: &VerifiedWebhook, body: &Value, what: &str, locator: &Locator) -> Result<String, WebhookError> {
    let fail = |reason: &str| WebhookError::new(format!("the {what} at {locator} {reason}"));
    let text = match locator {
        Locator::Header(name) => webhook.header(name)?.ok_or_else(|| fail("is missing"))?.to_owned(),
        Locator::Pointer(pointer) => match body.pointer(pointer) {
            None | Some(Value::Null) => return Err(fail("is missing")),
            Some(Value::String(text)) => text.clone(),
            Some(Value::Number(n)) if n.is_i64() || n.is_u64() => n.to_string(),
            // serde_json reads integers beyond u64 as floats: such an id would be rounded.
            Some(Value::Number(_)) => return Err(fail("is a number that is not an exact integer")),
            Some(_) => return Err(fail("is neither a string nor a number")),
        },
    };
    if text.trim().is_empty() {
        Err(fail("is empty"))
    } else if text.chars().count() > MAX_CHARS {
        Err(fail("is longer than 255 characters"))
    } else if text.chars().any(char::is_control) {
        Err(fail("contains control characters"))
    } else {
        Ok(text)
    }
}
