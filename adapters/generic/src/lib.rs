//! The `generic` adapter: webhooks from vendors without an adapter of their own. Config says where the event id,
//! the event type and the subject are (a header or a JSON pointer into the body); the JSON body is the data.
//!
//! - `locator`: [`Locator`], a `header:NAME` or a JSON pointer as written in config.
//! - `webhook`: reads a verified webhook into an [`InboundEvent`](gatehouse_kit::InboundEvent) with the locators.

mod locator;
mod webhook;

pub use locator::Locator;

use std::sync::Arc;

use gatehouse_kit::descriptor::{Settings, SettingsError};
use gatehouse_kit::{Adapter, Descriptor, VerifiedWebhook, WebhookError, WebhookOutcome};

/// The generic adapter, configured as `adapter = "generic"` with `event_id`, `event_type` and optionally `subject`.
/// It has no signature scheme of its own: config must name one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generic {
    event_id: Locator,
    event_type: Locator,
    subject: Option<Locator>,
}

impl Generic {
    /// The adapter's name in config.
    pub const NAME: &'static str = "generic";

    pub fn new(event_id: Locator, event_type: Locator, subject: Option<Locator>) -> Self {
        Self {
            event_id,
            event_type,
            subject,
        }
    }
}

/// This adapter's entry in the gateway's registry: it reads `event_id`, `event_type` and `subject` from
/// `[providers.X.webhook]`.
pub const DESCRIPTOR: Descriptor = Descriptor {
    name: Generic::NAME,
    settings: &["event_id", "event_type", "subject"],
    build,
};

fn build(settings: &Settings) -> Result<Arc<dyn Adapter>, SettingsError> {
    if !settings.has_webhook {
        return Err(SettingsError::new("", "the generic adapter needs a [webhook] table"));
    }
    let locate = |key: &str| -> Result<Option<Locator>, SettingsError> {
        settings
            .get(key)
            .map(|text| Locator::parse(text).map_err(|e| SettingsError::new(key, e)))
            .transpose()
    };
    let required = |key: &str| -> Result<Locator, SettingsError> {
        locate(key)?.ok_or_else(|| {
            SettingsError::new(
                key,
                "required by the generic adapter (\"header:NAME\" or a JSON pointer like \"/id\")",
            )
        })
    };
    Ok(Arc::new(Generic::new(
        required("event_id")?,
        required("event_type")?,
        locate("subject")?,
    )))
}

impl Adapter for Generic {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn default_scheme(&self) -> Option<&'static str> {
        None
    }

    fn interpret_webhook(&self, webhook: &VerifiedWebhook) -> Result<WebhookOutcome, WebhookError> {
        webhook::interpret(webhook, &self.event_id, &self.event_type, self.subject.as_ref()).map(WebhookOutcome::Event)
    }

    fn event_id(&self, webhook: &VerifiedWebhook) -> Option<String> {
        match &self.event_id {
            Locator::Header(name) => webhook.header_text(name),
            Locator::Pointer(pointer) => webhook.json_text(pointer),
        }
    }
}
