//! Quarantine: a correctly signed webhook the adapter cannot translate (the vendor added, renamed or dropped a
//! field) is kept, not refused, so the vendor stops retrying and nothing authentic is lost. It is stored with its raw
//! bytes, its headers and the adapter's error as an event with status `quarantined` and no deliveries,
//! deduplicated by the vendor's event id where the adapter can read it alone ([`gatehouse_kit::Adapter::event_id`]),
//! else by the SHA-256 of the body. Once the adapter or the provider's config is fixed, [`retranslate`] runs it
//! again on the stored bytes: translated, it becomes an ordinary event under the same id, in its original receipt
//! order; still unreadable, it stays quarantined with the new error.

use gatehouse_kit::{InboundEvent, VerifiedWebhook, WebhookError, WebhookOutcome};
use http::{HeaderMap, HeaderName, HeaderValue, header};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{Ingest, envelope};
use crate::metrics::WEBHOOKS_QUARANTINED;
use crate::providers::{Provider, Providers};
use crate::store::{
    EventFilter, EventStatus, Ingested, NewEvent, Quarantine, Resolution, Resolved, StoreError, StoredWebhook,
};

/// Request headers never kept: hop-by-hop headers, which describe the connection, not the webhook.
const NOT_KEPT: [HeaderName; 5] = [
    header::CONNECTION,
    header::TRANSFER_ENCODING,
    header::TE,
    header::UPGRADE,
    HeaderName::from_static("keep-alive"),
];

/// Words in the names of headers that carry credentials (`Authorization`, `Cookie`, `X-Api-Key`, `X-Gitlab-Token`,
/// `Proxy-*`): never kept. (Signature headers are kept: a MAC of this body is no credential, and it lets the stored
/// request be verified again offline.)
const CREDENTIAL_WORDS: [&[u8]; 8] = [
    b"authorization",
    b"cookie",
    b"api-key",
    b"apikey",
    b"token",
    b"secret",
    b"password",
    b"proxy-",
];

/// Whether a (lowercase) header name holds one of [`CREDENTIAL_WORDS`]: one pass over the name, trying only the
/// words that start with the byte at hand (this runs for every header of every quarantined webhook).
fn names_a_credential(name: &str) -> bool {
    let name = name.as_bytes();
    (0..name.len()).any(|at| {
        let rest = &name[at..];
        CREDENTIAL_WORDS
            .iter()
            .any(|word| word.first() == rest.first() && rest.starts_with(word))
    })
}

/// The event type a quarantined event is stored under until it is translated (`<provider>.unknown`).
const UNKNOWN_TYPE: &str = "unknown";

/// The quarantined event for a verified webhook the adapter refused with `error`.
pub(super) fn event(
    provider: &Provider,
    webhook: &VerifiedWebhook,
    error: &WebhookError,
    correlation_id: String,
) -> NewEvent {
    let id = Uuid::now_v7();
    let received_at_ms = crate::clock::now_ms();
    let provider_event_id = provider
        .adapter
        .event_id(webhook)
        .unwrap_or_else(|| format!("sha256:{}", hex::encode(Sha256::digest(webhook.body()))));
    let unknown = InboundEvent {
        provider_event_id,
        event_type: UNKNOWN_TYPE.to_owned(),
        subject: None,
        data: Value::Null,
        occurred_at_ms: None,
    };
    let envelope = envelope(id, &provider.name, &unknown, received_at_ms, &correlation_id);
    NewEvent {
        id,
        provider: provider.name.clone(),
        provider_event_id: unknown.provider_event_id,
        event_type: format!("{}.{UNKNOWN_TYPE}", provider.name),
        subject: None,
        correlation_id,
        received_at_ms,
        envelope,
        raw_body: webhook.body().clone(),
        deliver_to: Vec::new(),
        quarantine: Some(Quarantine {
            error: error.to_string(),
            headers: kept_headers(webhook.headers()),
        }),
        entity: None,
    }
}

/// The headers worth keeping for a later translation: all but credentials and hop-by-hop ones, as text.
fn kept_headers(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .filter(|(name, _)| !NOT_KEPT.contains(name))
        .filter(|(name, _)| !names_a_credential(name.as_str()))
        .filter_map(|(name, value)| Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned())))
        .collect()
}

/// Logs (without the body) and counts a webhook newly quarantined. When a vendor changes its payload
/// every webhook it sends is quarantined: a log line each would flood the log (and cost more than the ingest
/// itself), so each provider logs at most [`LINES_PER_WINDOW`] a [`WINDOW`], and its next line says how many went
/// unlogged before it. The metric counts every one.
pub(super) fn record(provider: &Provider, ingested: &Ingested, error: &WebhookError) {
    metrics::counter!(WEBHOOKS_QUARANTINED, "provider" => provider.name.clone()).increment(1);
    let Some(unlogged) = admit_line(&provider.name) else {
        return;
    };
    tracing::warn!(
        provider = %provider.name,
        id = %ingested.id,
        error = %error,
        unlogged_before = unlogged,
        "webhook quarantined: verified, but the adapter cannot translate it; run `gatehouse events retranslate` \
         once the adapter or the provider's config is fixed"
    );
}

/// The span each provider's quarantine log lines are counted over.
const WINDOW: std::time::Duration = std::time::Duration::from_secs(10);
/// The most quarantine lines a provider logs per [`WINDOW`].
const LINES_PER_WINDOW: u32 = 10;

/// One provider's quarantine lines in the current window.
struct Lines {
    since: std::time::Instant,
    logged: u32,
    unlogged: u64,
}

static LINES: std::sync::LazyLock<std::sync::Mutex<std::collections::HashMap<String, Lines>>> =
    std::sync::LazyLock::new(Default::default);

/// Whether `provider` may log a quarantine line now: `Some(n)`, `n` lines having gone unlogged since its last one;
/// `None` while it is over its share.
fn admit_line(provider: &str) -> Option<u64> {
    let mut lines = LINES.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let now = std::time::Instant::now();
    let entry = lines.entry(provider.to_owned()).or_insert(Lines {
        since: now,
        logged: 0,
        unlogged: 0,
    });
    if now.duration_since(entry.since) >= WINDOW {
        entry.since = now;
        entry.logged = 0;
    }
    if entry.logged >= LINES_PER_WINDOW {
        entry.unlogged += 1;
        return None;
    }
    entry.logged += 1;
    Some(std::mem::take(&mut entry.unlogged))
}

/// What translating a quarantined event again came to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Retranslated {
    pub id: Uuid,
    /// The event's status now.
    pub status: EventStatus,
    /// Whether a translation was attempted (`false`: the event was not quarantined, nothing changed).
    pub retranslated: bool,
    /// The adapter's error, while it stays quarantined.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Translated, but the vendor's event id belongs to this earlier event: kept as its duplicate, not delivered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicate_of: Option<Uuid>,
}

/// Why a retranslation could not be attempted.
#[derive(Debug, thiserror::Error)]
pub enum RetranslateError {
    #[error("no event {0}")]
    NotFound(Uuid),
    #[error("event {id} came from provider {provider:?}, which is not configured any more")]
    ProviderGone { id: Uuid, provider: String },
    #[error("{0}")]
    Store(#[from] StoreError),
}

impl Ingest<'_> {
    /// Runs the provider's (fixed) adapter again on quarantined event `id`'s stored bytes and headers.
    pub async fn retranslate(&self, providers: &Providers, id: Uuid) -> Result<Retranslated, RetranslateError> {
        let stored = self
            .store
            .get_webhook(id)
            .await?
            .ok_or(RetranslateError::NotFound(id))?;
        if stored.status != EventStatus::Quarantined {
            return Ok(unchanged(id, stored.status));
        }
        let provider = providers
            .get(&stored.provider)
            .ok_or_else(|| RetranslateError::ProviderGone {
                id,
                provider: stored.provider.clone(),
            })?;
        let resolution = self.translate(provider, &stored);
        let translated = matches!(resolution, Resolution::Translated { .. });
        let error = match &resolution {
            Resolution::Failed { error } => Some(error.clone()),
            Resolution::Translated { .. } => None,
        };
        let resolved = self
            .store
            .resolve_quarantine(id, resolution, crate::clock::now_ms())
            .await?
            .ok_or(RetranslateError::NotFound(id))?;
        let outcome = match resolved {
            // Another retranslation got there first.
            Resolved::NotQuarantined(status) => unchanged(id, status),
            Resolved::Now(status) => Retranslated {
                id,
                status,
                retranslated: true,
                error,
                duplicate_of: None,
            },
            Resolved::DuplicateOf(first) => Retranslated {
                id,
                status: EventStatus::Delivered,
                retranslated: true,
                error: None,
                duplicate_of: Some(first),
            },
        };
        if translated && outcome.status == EventStatus::Pending {
            self.wake();
        }
        match &outcome.error {
            Some(error) => tracing::warn!(provider = %stored.provider, %id, %error, "still quarantined"),
            None => tracing::info!(provider = %stored.provider, %id, status = %outcome.status.as_str(),
                duplicate_of = ?outcome.duplicate_of, "quarantined event translated"),
        }
        Ok(outcome)
    }

    /// Retranslates every quarantined event of `provider`, oldest first: each outcome, and the error that stopped
    /// it early, if one did (the outcomes before it stand).
    pub async fn retranslate_provider(
        &self,
        providers: &Providers,
        provider: &str,
    ) -> (Vec<Retranslated>, Option<RetranslateError>) {
        let mut outcomes = Vec::new();
        let mut after = None;
        loop {
            let page = self
                .store
                .list_events(EventFilter {
                    status: Some(EventStatus::Quarantined),
                    provider: Some(provider.to_owned()),
                    limit: 500,
                    after,
                    ..EventFilter::default()
                })
                .await;
            let page = match page {
                Ok(page) => page,
                Err(error) => return (outcomes, Some(error.into())),
            };
            let Some(last) = page.last() else { break };
            after = Some(last.seq);
            for event in page {
                match self.retranslate(providers, event.id).await {
                    Ok(outcome) => outcomes.push(outcome),
                    Err(error) => return (outcomes, Some(error)),
                }
            }
        }
        (outcomes, None)
    }

    /// The adapter's reading of a stored webhook, as a resolution to record.
    fn translate(&self, provider: &Provider, stored: &StoredWebhook) -> Resolution {
        let mut headers = HeaderMap::new();
        for (name, value) in &stored.headers {
            if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
                headers.append(name, value);
            }
        }
        let webhook = VerifiedWebhook::previously_verified(headers, stored.raw_body.clone());
        let event = match provider.adapter.interpret_webhook(&webhook) {
            Ok(WebhookOutcome::Event(event)) => event,
            Ok(WebhookOutcome::Reply(_)) => {
                return Resolution::Failed {
                    error: "the adapter reads it as a handshake to answer, not an event to deliver".into(),
                };
            }
            Err(error) => {
                return Resolution::Failed {
                    error: error.to_string(),
                };
            }
        };
        let event_type = format!("{}.{}", provider.name, event.event_type);
        // The original id, receipt time and correlation id: it is the same event, received then.
        let envelope = envelope(
            stored.id,
            &provider.name,
            &event,
            stored.received_at_ms,
            &stored.correlation_id,
        );
        let entity = crate::read_model::from_event(provider, &event, stored.id, stored.received_at_ms);
        Resolution::Translated {
            entity: entity.map(Box::new),
            provider_event_id: event.provider_event_id,
            deliver_to: crate::relay::route(self.subscriptions, &event_type),
            event_type,
            subject: event.subject,
            envelope,
        }
    }
}

fn unchanged(id: Uuid, status: EventStatus) -> Retranslated {
    Retranslated {
        id,
        status,
        retranslated: false,
        error: None,
        duplicate_of: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_headers_are_never_kept() {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("authorization", "Bearer x"),
            ("proxy-authorization", "Basic x"),
            ("cookie", "s=1"),
            ("x-api-key", "k"),
            ("x-gitlab-token", "t"),
            ("x-client-secret", "s"),
            ("webhook-id", "msg_1"),
            ("webhook-signature", "v1,abc"),
            ("x-github-event", "push"),
            ("content-type", "application/json"),
            ("connection", "keep-alive"),
        ] {
            headers.insert(HeaderName::from_static(name), HeaderValue::from_static(value));
        }
        let kept: Vec<String> = kept_headers(&headers).into_iter().map(|(name, _)| name).collect();
        assert_eq!(
            kept,
            ["webhook-id", "webhook-signature", "x-github-event", "content-type"]
        );
        assert!(names_a_credential("x-shopify-access-token") && !names_a_credential("x-shopify-topic"));
    }

    #[test]
    fn a_quarantine_storm_logs_a_few_lines_and_counts_the_rest() {
        let provider = "storm-test-provider";
        let admitted: Vec<Option<u64>> = (0..25).map(|_| admit_line(provider)).collect();
        assert_eq!(
            admitted.iter().filter(|a| a.is_some()).count(),
            LINES_PER_WINDOW as usize
        );
        assert!(admitted[..LINES_PER_WINDOW as usize].iter().all(|a| *a == Some(0)));
        // Another provider has its own share.
        assert_eq!(admit_line("another-storm-provider"), Some(0));
        // The next window's first line reports the lines that went unlogged.
        if let Some(lines) = LINES.lock().unwrap().get_mut(provider) {
            lines.since -= WINDOW;
        }
        assert_eq!(admit_line(provider), Some(15));
        assert_eq!(admit_line(provider), Some(0));
    }
}
