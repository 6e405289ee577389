//! Fuzz targets of the adapters' webhook interpretation: the input's headers and body, correctly signed with the
//! adapter's scheme and verified (so the adapter gets a real `VerifiedWebhook`), must be interpreted without
//! panicking into an error, a reply or an event the gateway can store, and the id the adapter locates alone (what a
//! quarantined copy is deduplicated by) must be storable and agree with the translation's. Also the generic adapter's locators, parsed
//! from arbitrary text and then used to interpret a webhook.

use std::sync::LazyLock;
use std::time::Duration;

use bytes::Bytes;
use gatehouse_generic::{Generic, Locator};
use gatehouse_kit::signature::{SignRequest, VerifyContext};
use gatehouse_kit::webhook::{event_type_problem, text_problem};
use gatehouse_kit::{Adapter, Scheme, WebhookOutcome};
use secrecy::SecretString;

use super::signature::signed_headers;
use super::{first_line, request};

/// The secret every webhook is signed with (base64 after `whsec_`, so valid for every scheme).
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const NOW: u64 = 1_700_000_000;
/// The message id signed when the input has no `webhook-id` or `svix-id` header.
const MESSAGE_ID: &str = "msg_fuzz_0001";

/// The generic adapter's configurations: `(event_id, event_type, subject)` locators, headers and pointers mixed,
/// escapes and the empty key included.
const GENERIC_CONFIGS: [(&str, &str, Option<&str>); 4] = [
    ("header:X-Event-Id", "/type", None),
    ("/id", "header:X-Event-Type", Some("/data/object/id")),
    ("/a~1b/0", "/~0t", Some("header:webhook-id")),
    ("/", "/", Some("/")),
];

static GENERICS: LazyLock<Vec<Generic>> = LazyLock::new(|| {
    GENERIC_CONFIGS
        .iter()
        .filter_map(|(id, event_type, subject)| {
            let subject = match subject {
                Some(text) => Some(Locator::parse(text).ok()?),
                None => None,
            };
            Some(Generic::new(
                Locator::parse(id).ok()?,
                Locator::parse(event_type).ok()?,
                subject,
            ))
        })
        .collect()
});

/// Input: a request (header lines, an empty line, the body) for Acme CRM (Standard Webhooks).
pub fn adapter_acme_crm(data: &[u8]) {
    deliver(&gatehouse_acme_crm::AcmeCrm::new(), data);
}

/// Input: a request for Stripe.
pub fn adapter_stripe(data: &[u8]) {
    deliver(&gatehouse_stripe::Stripe::new(), data);
}

/// Input: a request for GitHub (`X-GitHub-Delivery`, `X-GitHub-Event` from the input's headers).
pub fn adapter_github(data: &[u8]) {
    deliver(&gatehouse_github::Github::new(), data);
}

/// Input: a request for Shopify (`X-Shopify-Topic`, `X-Shopify-Webhook-Id` from the input's headers).
pub fn adapter_shopify(data: &[u8]) {
    deliver(&gatehouse_shopify::Shopify::new(), data);
}

/// Input: a request for Slack (url_verification, app_rate_limited and event callbacks).
pub fn adapter_slack(data: &[u8]) {
    deliver(&gatehouse_slack::Slack::new(), data);
}

/// Input: a request for the generic adapter, interpreted with each of [`GENERIC_CONFIGS`] (Standard Webhooks).
pub fn adapter_generic(data: &[u8]) {
    for generic in GENERICS.iter() {
        deliver(generic, data);
    }
}

/// Input: a first line with a locator as config writes it, then a request. A locator that parses must print back
/// to itself (its config form parses to the same locator) and then locate the event id, type and subject of the
/// request for the generic adapter; one that does not must say why.
pub fn generic_locator(data: &[u8]) {
    let (line, rest) = first_line(data);
    let Ok(text) = std::str::from_utf8(line) else {
        return;
    };
    let locator = match Locator::parse(text) {
        Ok(locator) => locator,
        Err(message) => {
            assert!(!message.is_empty());
            return;
        }
    };
    match &locator {
        Locator::Header(name) => assert!(
            !name.is_empty() && name.trim() == name && http::HeaderName::from_bytes(name.as_bytes()).is_ok(),
            "{text:?} gave the header {name:?}"
        ),
        Locator::Pointer(pointer) => assert!(pointer == text && pointer.starts_with('/')),
    }
    assert_eq!(Locator::parse(&locator.to_string()).as_ref(), Ok(&locator), "{text:?}");
    deliver(&Generic::new(locator.clone(), locator.clone(), Some(locator)), rest);
}

/// Signs the request's body with the adapter's scheme (Standard Webhooks for the generic adapter), replacing any
/// of the scheme's own headers the input carries but keeping its `webhook-id`/`svix-id` as the signed message id,
/// verifies it (which must succeed) and has the adapter interpret it; an event must be storable.
fn deliver(adapter: &dyn Adapter, data: &[u8]) {
    let scheme = adapter.default_scheme().unwrap_or(Scheme::StandardWebhooks);
    let Ok(key) = scheme.signing_key(&SecretString::from(SECRET)) else {
        panic!("{} refused the fuzz secret", scheme.name());
    };
    let (mut headers, body) = request(data);
    let message_id = ["webhook-id", "svix-id"]
        .iter()
        .find_map(|name| headers.get(*name)?.to_str().ok().filter(|id| !id.is_empty()))
        .unwrap_or(MESSAGE_ID)
        .to_owned();
    let signed = scheme.sign(
        &key,
        SignRequest {
            body,
            timestamp: NOW,
            message_id: &message_id,
        },
    );
    let signed = signed_headers(&scheme, &signed);
    for name in signed.keys() {
        headers.remove(name);
    }
    headers.extend(signed);
    let keys = [key];
    let ctx = VerifyContext {
        keys: &keys,
        now: NOW,
        tolerance: Duration::from_secs(300),
    };
    let webhook = match scheme.verify(headers, Bytes::copy_from_slice(body), ctx) {
        Ok(webhook) => webhook,
        Err(error) => panic!("{} refused a webhook it signed: {error}", scheme.name()),
    };
    let name = adapter.name();
    // The id a quarantine would be deduplicated by: storable, and the translation's own whenever both exist.
    let located = adapter.event_id(&webhook);
    if let Some(id) = &located {
        assert_eq!(text_problem(id), None, "{name} located an event id {id:?}");
    }
    match adapter.interpret_webhook(&webhook) {
        Ok(WebhookOutcome::Event(event)) => {
            let id = &event.provider_event_id;
            assert_eq!(text_problem(id), None, "{name} made an event id {id:?}");
            if let Some(located) = &located {
                assert_eq!(located, id, "{name}'s event_id() and interpret_webhook() disagree");
            }
            let event_type = &event.event_type;
            assert_eq!(
                event_type_problem(event_type),
                None,
                "{name} made an event type {event_type:?}"
            );
            if let Some(subject) = &event.subject {
                assert_eq!(text_problem(subject), None, "{name} made a subject {subject:?}");
            }
        }
        Ok(WebhookOutcome::Reply(reply)) => assert!(reply.is_object(), "{} replied {reply}", adapter.name()),
        Err(error) => assert!(!error.to_string().is_empty()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_generic_configuration_parses() {
        assert_eq!(GENERICS.len(), GENERIC_CONFIGS.len());
    }

    #[test]
    fn a_signed_event_reaches_each_adapter() {
        let body = br#"{"id":"evt_1","type":"customer.updated","event_id":"Ev1","team_id":"T1","event":{"type":"m"}}"#;
        for target in [
            adapter_acme_crm,
            adapter_stripe,
            adapter_github,
            adapter_shopify,
            adapter_slack,
        ] {
            target(&[&b"webhook-id: msg_1\nX-GitHub-Event: push\n\n"[..], body].concat());
        }
        adapter_generic(b"X-Event-Id: e1\n\n{\"type\":\"t\"}");
        generic_locator(b"header: X-Event-Id \nX-Event-Id: e1\n\n{}");
        generic_locator(b"/a~1b\n\n{\"a/b\":\"x\"}");
    }
}
