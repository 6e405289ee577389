//! The `sendgrid` adapter: SendGrid's Event Webhook (a JSON array of email events per request, signed with ECDSA
//! P-256 by SendGrid's key) split into one event each: `email.<event>` (`email.delivered`, `email.bounce`), keyed by
//! `sg_event_id`, the `sg_message_id` as subject (one message's events in order), SendGrid's `timestamp` as when it
//! happened, the event object as data.

use std::sync::Arc;

use gatehouse_kit::descriptor::{Settings, SettingsError};
use gatehouse_kit::webhook::{checked_event_type, checked_text};
use gatehouse_kit::{Adapter, Descriptor, InboundEvent, VerifiedWebhook, WebhookError, WebhookOutcome};
use serde_json::Value;

/// This adapter's entry in the gateway's registry.
pub const DESCRIPTOR: Descriptor = Descriptor::plain(Sendgrid::NAME, build);

fn build(_: &Settings) -> Result<Arc<dyn Adapter>, SettingsError> {
    Ok(Arc::new(Sendgrid))
}

/// The SendGrid adapter, configured as `adapter = "sendgrid"` with the verification key in `public_keys`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sendgrid;

impl Sendgrid {
    /// The adapter's name in config.
    pub const NAME: &'static str = "sendgrid";
}

impl Adapter for Sendgrid {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn default_scheme(&self) -> Option<&'static str> {
        Some("sendgrid")
    }

    /// Every request is a batch: each item of the array is read, stored and deduplicated on its own.
    fn split_batch(&self, webhook: &VerifiedWebhook) -> Option<Vec<VerifiedWebhook>> {
        webhook.json_array_items()
    }

    /// Reads one event of a batch (a JSON object).
    fn interpret_webhook(&self, webhook: &VerifiedWebhook) -> Result<WebhookOutcome, WebhookError> {
        let body = webhook.json()?;
        let Value::Object(event) = &body else {
            return Err(WebhookError::new("an event is not a JSON object"));
        };
        let text = |field: &str| match event.get(field) {
            Some(Value::String(value)) => checked_text(field, value).map(Some),
            None | Some(Value::Null) => Ok(None),
            Some(_) => Err(WebhookError::new(format!("field `{field}` is not a string"))),
        };
        let provider_event_id =
            text("sg_event_id")?.ok_or_else(|| WebhookError::new("field `sg_event_id` is missing"))?;
        let name = text("event")?.ok_or_else(|| WebhookError::new("field `event` is missing"))?;
        let event_type = checked_event_type("event", &format!("email.{name}"))?;
        let occurred_at_ms = match event.get("timestamp") {
            Some(Value::Number(n)) => n.as_i64().and_then(|s| s.checked_mul(1000)),
            _ => None,
        };
        Ok(WebhookOutcome::Event(InboundEvent {
            provider_event_id,
            event_type,
            subject: text("sg_message_id")?,
            occurred_at_ms,
            data: body,
        }))
    }

    fn event_id(&self, webhook: &VerifiedWebhook) -> Option<String> {
        webhook.json_text("/sg_event_id")
    }
}
