//! The `twilio` adapter: Twilio's status callbacks and incoming messages (form-encoded, signed with
//! `X-Twilio-Signature` over the public URL and the sorted parameters) read as our events: `message.<status>` or
//! `call.<status>`, the message or call SID as subject, the parameters as a JSON object of strings as data. The
//! event id is Twilio's `I-Twilio-Idempotency-Token` (the same on every retry of one callback), else the SID and
//! status (one callback per status).

use std::sync::Arc;

use gatehouse_kit::descriptor::{Settings, SettingsError};
use gatehouse_kit::webhook::{checked_event_type, checked_text};
use gatehouse_kit::{Adapter, Descriptor, InboundEvent, VerifiedWebhook, WebhookError, WebhookOutcome};
use serde_json::{Map, Value};

/// This adapter's entry in the gateway's registry.
pub const DESCRIPTOR: Descriptor = Descriptor::plain(Twilio::NAME, build);

fn build(_: &Settings) -> Result<Arc<dyn Adapter>, SettingsError> {
    Ok(Arc::new(Twilio))
}

const TOKEN_HEADER: &str = "I-Twilio-Idempotency-Token";
/// What a callback is about, as (SID parameter, status parameter, our type's noun), first match wins.
const KINDS: [(&str, &str, &str); 3] = [
    ("MessageSid", "MessageStatus", "message"),
    ("SmsSid", "SmsStatus", "message"),
    ("CallSid", "CallStatus", "call"),
];

/// The Twilio adapter, configured as `adapter = "twilio"` with `public_url` and the auth token as secret.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Twilio;

impl Twilio {
    /// The adapter's name in config.
    pub const NAME: &'static str = "twilio";
}

impl Adapter for Twilio {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn default_scheme(&self) -> Option<&'static str> {
        Some("twilio")
    }

    fn interpret_webhook(&self, webhook: &VerifiedWebhook) -> Result<WebhookOutcome, WebhookError> {
        let params = parameters(webhook)?;
        let text = |name: &str| params.get(name).and_then(Value::as_str);
        let (sid_name, status_name, noun) = KINDS
            .into_iter()
            .find(|(sid, status, _)| text(sid).is_some() && text(status).is_some())
            .ok_or_else(|| WebhookError::new("no MessageSid/MessageStatus, SmsSid/SmsStatus or CallSid/CallStatus"))?;
        let sid = checked_text(sid_name, text(sid_name).unwrap_or_default())?;
        let status = text(status_name).unwrap_or_default().to_ascii_lowercase();
        let event_type = checked_event_type(status_name, &format!("{noun}.{status}"))?;
        let provider_event_id = match webhook.header(TOKEN_HEADER)? {
            Some(token) => checked_text(TOKEN_HEADER, token)?,
            None => checked_text("the SID and status", &format!("{sid}/{status}"))?,
        };
        Ok(WebhookOutcome::Event(InboundEvent {
            provider_event_id,
            event_type,
            subject: Some(sid),
            data: Value::Object(params),
            occurred_at_ms: None,
        }))
    }

    fn event_id(&self, webhook: &VerifiedWebhook) -> Option<String> {
        webhook.header_text(TOKEN_HEADER)
    }
}

/// The form parameters as a JSON object; a repeated parameter keeps its last value. A JSON body (Twilio's
/// `bodySHA256` flavour) is read as the object it is.
fn parameters(webhook: &VerifiedWebhook) -> Result<Map<String, Value>, WebhookError> {
    let body = webhook.body();
    if body.first() == Some(&b'{') {
        return match webhook.json()? {
            Value::Object(object) => Ok(object),
            _ => Err(WebhookError::new("body is not a JSON object")),
        };
    }
    if std::str::from_utf8(body).is_err() {
        return Err(WebhookError::new("body is not form-encoded text"));
    }
    Ok(form_urlencoded::parse(body)
        .map(|(name, value)| (name.into_owned(), Value::String(value.into_owned())))
        .collect())
}
