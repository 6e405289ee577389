//! Reads Acme CRM's webhooks: body `{"type":"customer.<change>","data":{customer}}`, the event id in the
//! `webhook-id` header, the customer's id as subject and our `Customer` as data.

use gatehouse_kit::domain::Customer;
use gatehouse_kit::{InboundEvent, VerifiedWebhook, WebhookError};
use serde::Deserialize;

use crate::dto::VendorCustomer;

/// Standard Webhooks' message id: unique per event, kept across the vendor's retries.
const EVENT_ID_HEADER: &str = "webhook-id";
/// Every event Acme sends is about a customer.
const TYPE_PREFIX: &str = "customer.";
/// The longest id or event type we store.
const MAX_CHARS: usize = 255;

/// The webhook body in Acme's words.
#[derive(Debug, Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    event_type: String,
    data: VendorCustomer,
}

pub(crate) fn interpret(webhook: &VerifiedWebhook) -> Result<InboundEvent, WebhookError> {
    let provider_event_id = event_id(webhook.required_header(EVENT_ID_HEADER)?)?;
    let body = webhook.json()?;
    let envelope: Envelope = serde_path_to_error::deserialize(&body)
        .map_err(|e| shape_error("body is not an Acme CRM customer event", "", &e))?;
    let event_type = event_type(envelope.event_type)?;
    let customer = Customer::try_from(envelope.data)
        .map_err(|e| WebhookError::new(format!("data is not a valid customer: {e}")))?;
    let data =
        serde_json::to_value(&customer).map_err(|e| WebhookError::new(format!("cannot encode the customer: {e}")))?;
    Ok(InboundEvent {
        provider_event_id,
        event_type,
        subject: Some(customer.id),
        data,
    })
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

fn event_id(id: &str) -> Result<String, WebhookError> {
    if id.chars().count() > MAX_CHARS {
        return Err(WebhookError::new(format!(
            "header {EVENT_ID_HEADER} is longer than {MAX_CHARS} characters"
        )));
    }
    // `required_header` has already refused an absent, empty or non-ASCII value.
    Ok(id.to_owned())
}

fn event_type(event_type: String) -> Result<String, WebhookError> {
    let change = event_type.strip_prefix(TYPE_PREFIX).unwrap_or_default();
    let visible = |c: char| !c.is_whitespace() && !c.is_control();
    if change.is_empty() || !event_type.chars().all(visible) || event_type.chars().count() > MAX_CHARS {
        return Err(WebhookError::new(
            "field `type` is not a customer event type such as \"customer.updated\"",
        ));
    }
    Ok(event_type)
}
