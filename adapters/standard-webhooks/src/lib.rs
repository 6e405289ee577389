//! The `standard-webhooks` adapter: any sender that follows the Standard Webhooks specification, signed with
//! `v1` (HMAC, `secrets`) or `v1a` (Ed25519, `public_keys`). The event id is the signed `webhook-id` header, the
//! type the payload's `type`, the data its `data` object; `subject` is read from `data.id` when it is text.

use std::sync::Arc;

use gatehouse_kit::descriptor::{Settings, SettingsError};
use gatehouse_kit::webhook::{checked_event_type, checked_text};
use gatehouse_kit::{Adapter, Descriptor, InboundEvent, VerifiedWebhook, WebhookError, WebhookOutcome};
use serde_json::Value;

/// This adapter's entry in the gateway's registry.
pub const DESCRIPTOR: Descriptor = Descriptor::plain(StandardWebhooks::NAME, build);

fn build(_: &Settings) -> Result<Arc<dyn Adapter>, SettingsError> {
    Ok(Arc::new(StandardWebhooks))
}

const ID_HEADER: &str = "webhook-id";

/// The Standard Webhooks adapter, configured as `adapter = "standard-webhooks"`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StandardWebhooks;

impl StandardWebhooks {
    /// The adapter's name in config.
    pub const NAME: &'static str = "standard-webhooks";
}

impl Adapter for StandardWebhooks {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn default_scheme(&self) -> Option<&'static str> {
        Some("standard-webhooks")
    }

    /// The payload the specification recommends: `{"type": "...", "timestamp": "...", "data": {...}}`.
    fn interpret_webhook(&self, webhook: &VerifiedWebhook) -> Result<WebhookOutcome, WebhookError> {
        let provider_event_id = checked_text(ID_HEADER, webhook.required_header(ID_HEADER)?)?;
        let mut body = webhook.json()?;
        let event_type = match body.get("type") {
            Some(Value::String(kind)) => checked_event_type("type", kind)?,
            Some(_) => return Err(WebhookError::new("field `type` is not a string")),
            None => return Err(WebhookError::new("field `type` is missing")),
        };
        let data = match body.get_mut("data").map(Value::take) {
            Some(data @ Value::Object(_)) => data,
            Some(_) => return Err(WebhookError::new("field `data` is not an object")),
            None => return Err(WebhookError::new("field `data` is missing")),
        };
        let subject = match data.get("id") {
            Some(Value::String(id)) => Some(checked_text("data.id", id)?),
            _ => None,
        };
        Ok(WebhookOutcome::Event(InboundEvent {
            provider_event_id,
            event_type,
            subject,
            data,
            occurred_at_ms: None,
        }))
    }

    fn event_id(&self, webhook: &VerifiedWebhook) -> Option<String> {
        webhook.header_text(ID_HEADER)
    }
}
