//! Reads Acme CRM's webhooks: body `{"type":"customer.<change>","data":{customer}}`, the event id in the
//! `webhook-id` header, the customer's id as subject and our `Customer` as data.

use gatehouse_kit::domain::Customer;
use gatehouse_kit::webhook::{checked_text, deserialize_at, event_type_problem};
use gatehouse_kit::{InboundEvent, VerifiedWebhook, WebhookError};
use serde::Deserialize;

use crate::dto::VendorCustomer;

/// Standard Webhooks' message id: unique per event, kept across the vendor's retries.
const EVENT_ID_HEADER: &str = "webhook-id";
/// Every event Acme sends is about a customer.
const TYPE_PREFIX: &str = "customer.";

/// The event id alone (the signed `webhook-id` header), for a body the adapter cannot translate.
pub(crate) fn event_id(webhook: &VerifiedWebhook) -> Option<String> {
    webhook.header_text(EVENT_ID_HEADER)
}

/// The webhook body in Acme's words.
#[derive(Debug, Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    event_type: String,
    data: VendorCustomer,
}

pub(crate) fn interpret(webhook: &VerifiedWebhook) -> Result<InboundEvent, WebhookError> {
    // `required_header` refuses an absent, repeated or non-ASCII value; a tab still gets through to the check.
    let provider_event_id = checked_text(
        &format!("header {EVENT_ID_HEADER}"),
        webhook.required_header(EVENT_ID_HEADER)?,
    )?;
    let body = webhook.json()?;
    let envelope: Envelope = deserialize_at(&body, "", "body is not an Acme CRM customer event")?;
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
        occurred_at_ms: None,
    })
}

fn event_type(event_type: String) -> Result<String, WebhookError> {
    let change = event_type.strip_prefix(TYPE_PREFIX).unwrap_or_default();
    if change.is_empty() || event_type_problem(&event_type).is_some() {
        return Err(WebhookError::new(
            "field `type` is not a customer event type such as \"customer.updated\"",
        ));
    }
    Ok(event_type)
}
