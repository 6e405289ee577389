//! Fuzz targets of the adapters' webhook interpretation: the input's headers and body, correctly signed with the
//! adapter's scheme and verified (so the adapter gets a real `VerifiedWebhook`), must be interpreted without
//! panicking into an error, a reply or an event the gateway can store, and the id the adapter locates alone (what a
//! quarantined copy is deduplicated by) must be storable and agree with the translation's. Also the generic adapter's locators, parsed
//! from arbitrary text and then used to interpret a webhook.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use bytes::Bytes;
use gatehouse_generic::{Generic, Locator};
use gatehouse_kit::descriptor::Settings;
use gatehouse_kit::signature::{SignRequest, VerifyContext};
use gatehouse_kit::testing::test_keys;
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

/// Every adapter of the registry that builds without settings of its own, by name: what [`adapter_registry`]
/// fuzzes, so that a vendor added to the registry is fuzzed without a target of its own.
static PLAIN_ADAPTERS: LazyLock<Vec<Arc<dyn Adapter>>> = LazyLock::new(|| {
    crate::adapters::REGISTRY
        .iter()
        .filter_map(|descriptor| (descriptor.build)(&Settings::new(true)).ok())
        .collect()
});

/// Input: a first line naming an adapter of the registry (Twilio, SendGrid and Standard Webhooks have no target of
/// their own), then a request for it; a first line naming none sends the request to every adapter that builds
/// without settings.
pub fn adapter_registry(data: &[u8]) {
    let (line, rest) = first_line(data);
    let named = PLAIN_ADAPTERS.iter().find(|adapter| adapter.name().as_bytes() == line);
    match named {
        Some(adapter) => deliver(adapter.as_ref(), rest),
        None => PLAIN_ADAPTERS
            .iter()
            .for_each(|adapter| deliver(adapter.as_ref(), rest)),
    }
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

/// Signs the request's body with the adapter's scheme (Standard Webhooks for the generic adapter and for Twilio,
/// whose scheme needs a URL; the kit's test private key for SendGrid), replacing any
/// of the scheme's own headers the input carries but keeping its `webhook-id`/`svix-id` as the signed message id,
/// verifies it (which must succeed) and has the adapter interpret it; an event must be storable.
fn deliver(adapter: &dyn Adapter, data: &[u8]) {
    let scheme = adapter
        .default_scheme()
        .and_then(Scheme::from_name)
        .unwrap_or(Scheme::StandardWebhooks);
    let (key, keys) = if scheme.key_kinds().takes_secrets() {
        let key = |_| match scheme.signing_key(&SecretString::from(SECRET)) {
            Ok(key) => key,
            Err(_) => panic!("{} refused the fuzz secret", scheme.name()),
        };
        (key(()), vec![key(())])
    } else {
        test_keys(&scheme)
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
    let ctx = VerifyContext {
        keys: &keys,
        now: NOW,
        tolerance: Duration::from_secs(300),
        query: None,
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
    fn the_registry_target_covers_every_adapter_but_the_generic_one() {
        let names: Vec<_> = PLAIN_ADAPTERS.iter().map(|adapter| adapter.name()).collect();
        let expected: Vec<_> = crate::adapters::names()
            .into_iter()
            .filter(|name| *name != "generic")
            .collect();
        assert_eq!(names, expected);
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
        adapter_registry(b"sendgrid\n\n[{\"sg_event_id\":\"e1\",\"event\":\"delivered\",\"timestamp\":1}]");
        adapter_registry(
            b"twilio\nContent-Type: application/x-www-form-urlencoded\n\nMessageSid=SM1&MessageStatus=sent",
        );
        adapter_registry(b"nobody\nwebhook-id: msg_1\n\n{\"type\":\"a.b\",\"data\":{\"id\":\"x\"}}");
        generic_locator(b"header: X-Event-Id \nX-Event-Id: e1\n\n{}");
        generic_locator(b"/a~1b\n\n{\"a/b\":\"x\"}");
    }
}
