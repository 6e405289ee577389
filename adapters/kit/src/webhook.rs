//! Inbound webhook types: the verified request an adapter reads and the event it makes of it; and (from `fields`)
//! the checks every adapter applies to the event id, type and subject it reads, and vendor DTO deserialization
//! with errors naming the field at fault.

mod fields;

use bytes::Bytes;
use http::HeaderMap;
use serde_json::Value;

pub use fields::{
    InvalidField, MAX_ID_CHARS, checked_event_type, checked_text, deserialize_at, event_type_problem, text_problem,
};

/// A webhook whose signature has been checked. Only [`crate::Scheme::verify`] constructs one (outside tests), so an
/// adapter can never be handed bytes nobody verified.
#[derive(Debug, Clone)]
pub struct VerifiedWebhook {
    headers: HeaderMap,
    body: Bytes,
}

impl VerifiedWebhook {
    pub(crate) fn new(headers: HeaderMap, body: Bytes) -> Self {
        Self { headers, body }
    }

    /// A webhook this gateway verified when it received it and stored with its headers (a quarantined event being
    /// translated again). Its signature cannot be checked again (the signed timestamp has aged past any
    /// tolerance), so only bytes read back from the gateway's own store may be passed here.
    pub fn previously_verified(headers: HeaderMap, body: Bytes) -> Self {
        Self::new(headers, body)
    }

    /// Builds a verified webhook without verifying it, for adapter unit tests.
    #[cfg(any(test, feature = "testing"))]
    pub fn assume_verified(headers: HeaderMap, body: impl Into<Bytes>) -> Self {
        Self::new(headers, body.into())
    }

    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The raw body, exactly as received.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The single value of a header as text. `Err` when the header is repeated or not visible ASCII; `Ok(None)`
    /// when it is absent or empty.
    pub fn header(&self, name: &str) -> Result<Option<&str>, WebhookError> {
        let mut values = self.headers.get_all(name).iter();
        let Some(first) = values.next() else {
            return Ok(None);
        };
        if values.next().is_some() {
            return Err(WebhookError::new(format!("header {name} is repeated")));
        }
        let text = first
            .to_str()
            .map_err(|_| WebhookError::new(format!("header {name} is not visible ASCII")))?
            .trim();
        Ok((!text.is_empty()).then_some(text))
    }

    /// Like [`Self::header`], but absence is an error naming the header.
    pub fn required_header(&self, name: &str) -> Result<&str, WebhookError> {
        self.header(name)?
            .ok_or_else(|| WebhookError::new(format!("header {name} is missing")))
    }

    /// The body parsed as JSON.
    pub fn json(&self) -> Result<Value, WebhookError> {
        serde_json::from_slice(&self.body).map_err(|e| WebhookError::new(format!("body is not valid JSON: {e}")))
    }

    /// The body deserialized into a vendor DTO.
    pub fn json_as<T: serde::de::DeserializeOwned>(&self) -> Result<T, WebhookError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            WebhookError::new(format!(
                "body does not match the vendor's event shape: {}",
                fields::without_values(&e.to_string())
            ))
        })
    }

    /// The string or integer at `pointer` in the JSON body, checked with [`checked_text`]: for
    /// [`crate::Adapter::event_id`], which must read an id without the full translation. `None` when the body is
    /// not JSON or the value is missing, of another type, or not storable text.
    pub fn json_text(&self, pointer: &str) -> Option<String> {
        let body: Value = serde_json::from_slice(&self.body).ok()?;
        match body.pointer(pointer)? {
            Value::String(text) => checked_text("", text).ok(),
            Value::Number(n) if n.is_i64() || n.is_u64() => Some(n.to_string()),
            _ => None,
        }
    }

    /// The items of a JSON array body, each a webhook of its own with the same headers and, as its body, the
    /// item's exact bytes (a slice of this body, which was verified): for [`crate::Adapter::split_batch`]. `None`
    /// when the body is not a JSON array.
    pub fn json_array_items(&self) -> Option<Vec<VerifiedWebhook>> {
        let items: Vec<&serde_json::value::RawValue> = serde_json::from_slice(&self.body).ok()?;
        let base = self.body.as_ptr() as usize;
        Some(
            items
                .into_iter()
                .map(|item| {
                    // Each item borrows from `self.body` (the array was parsed without copies), so its offset is
                    // where it sits in the verified bytes.
                    let start = item.get().as_ptr() as usize - base;
                    let part = self.body.slice(start..start + item.get().len());
                    Self::new(self.headers.clone(), part)
                })
                .collect(),
        )
    }

    /// The header `name` as storable text ([`checked_text`]), for [`crate::Adapter::event_id`]: `None` when absent,
    /// repeated, or not storable.
    pub fn header_text(&self, name: &str) -> Option<String> {
        checked_text("", self.header(name).ok()??).ok()
    }
}

/// What an adapter makes of a verified webhook.
#[derive(Debug, Clone, PartialEq)]
pub enum WebhookOutcome {
    /// An event to commit to the outbox.
    Event(InboundEvent),
    /// A handshake to answer at once with this JSON body (HTTP 200); nothing is stored.
    Reply(Value),
}

/// An inbound event in our terms.
#[derive(Debug, Clone, PartialEq)]
pub struct InboundEvent {
    /// The vendor's own id for the event: the deduplication key.
    pub provider_event_id: String,
    /// Our event type without the provider prefix, e.g. `customer.updated`; the gateway prefixes `<provider>.`.
    pub event_type: String,
    /// The partition key for ordering (a customer id, a repository), if the event has one.
    pub subject: Option<String>,
    /// The domain payload (`Customer`, `Payment`, ...) or, where the adapter has no domain type, the vendor's object.
    pub data: Value,
    /// When the vendor says the event happened (unix ms; Stripe's `created`), if it says so: orders entity states
    /// declared with [`crate::entity::Versioning::EventTime`]. Never the signature's timestamp, which a retry
    /// renews.
    pub occurred_at_ms: Option<i64>,
}

/// A correctly signed body that the adapter cannot read. Its message names what is wrong and carries no secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct WebhookError(String);

impl WebhookError {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}
