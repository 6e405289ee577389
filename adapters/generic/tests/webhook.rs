//! Generic webhooks through the kit's conformance helpers: signed with a configured scheme, verified, interpreted
//! with the configured locators.

use gatehouse_generic::{Generic, Locator};
use gatehouse_kit::signature::{Encoding, HmacScheme};
use gatehouse_kit::testing::{assert_conformance_with, deliver_with, expect_event};
use gatehouse_kit::{Adapter, InboundEvent, Scheme, WebhookError, WebhookOutcome};
use serde_json::{Value, json};

fn locator(text: &str) -> Locator {
    Locator::parse(text).unwrap()
}

fn generic(event_id: &str, event_type: &str, subject: Option<&str>) -> Generic {
    Generic::new(locator(event_id), locator(event_type), subject.map(locator))
}

fn invoice_paid() -> Value {
    json!({
        "id": "evt_01J9Z8",
        "type": "invoice.paid",
        "data": {"invoice_id": 7_012_345_678_901_234_567_u64, "account": {"id": "acct_42"}, "total": 12.5}
    })
}

fn deliver_to(adapter: &Generic, body: &[u8], headers: &[(&str, &str)]) -> Result<WebhookOutcome, WebhookError> {
    deliver_with(adapter, &Scheme::Github, body, headers)
}

fn event_of(adapter: &Generic, body: &Value, headers: &[(&str, &str)]) -> InboundEvent {
    expect_event(deliver_to(adapter, body.to_string().as_bytes(), headers))
}

fn error_of(adapter: &Generic, body: &[u8], headers: &[(&str, &str)]) -> String {
    match deliver_to(adapter, body, headers) {
        Err(e) => e.to_string(),
        Ok(outcome) => panic!("expected an error, got {outcome:?}"),
    }
}

#[test]
fn names_itself_and_has_no_scheme() {
    let adapter = generic("/id", "/type", None);
    assert_eq!(adapter.name(), "generic");
    assert_eq!(adapter.default_scheme(), None);
}

#[test]
fn reads_everything_from_pointers() {
    let adapter = generic("/id", "/type", Some("/data/account/id"));
    let body = invoice_paid();
    let event = event_of(&adapter, &body, &[]);
    assert_eq!(event.provider_event_id, "evt_01J9Z8");
    assert_eq!(event.event_type, "invoice.paid");
    assert_eq!(event.subject.as_deref(), Some("acct_42"));
    assert_eq!(event.data, body);
}

#[test]
fn reads_everything_from_headers() {
    let adapter = generic("header:X-Event-Id", "header:x-event-type", Some("header:X-Account"));
    let headers = [
        ("X-Event-Id", "d1e2f3"),
        ("X-Event-Type", "invoice.paid"),
        ("x-account", "acct_7"),
    ];
    let body = invoice_paid();
    let event = event_of(&adapter, &body, &headers);
    assert_eq!(event.provider_event_id, "d1e2f3");
    assert_eq!(event.event_type, "invoice.paid");
    assert_eq!(event.subject.as_deref(), Some("acct_7"));
    assert_eq!(event.data, body);
}

#[test]
fn mixes_headers_and_pointers_and_allows_no_subject() {
    let adapter = generic("header:X-Event-Id", "/type", None);
    let event = event_of(&adapter, &invoice_paid(), &[("X-Event-Id", "d1e2f3")]);
    assert_eq!(
        (event.provider_event_id.as_str(), event.event_type.as_str()),
        ("d1e2f3", "invoice.paid")
    );
    assert_eq!(event.subject, None);
}

#[test]
fn reads_integers_as_their_decimal_text() {
    let adapter = generic("/data/invoice_id", "/kind", Some("/seq"));
    let body = json!({"kind": 3, "seq": -12, "data": {"invoice_id": 7_012_345_678_901_234_567_u64}});
    let event = event_of(&adapter, &body, &[]);
    assert_eq!(event.provider_event_id, "7012345678901234567");
    assert_eq!(event.event_type, "3");
    assert_eq!(event.subject.as_deref(), Some("-12"));
}

#[test]
fn follows_escaped_pointers() {
    let adapter = generic("/meta/event~1id", "/meta/type~0name", None);
    let body = json!({"meta": {"event/id": "e-1", "type~name": "thing.happened"}});
    let event = event_of(&adapter, &body, &[]);
    assert_eq!(
        (event.provider_event_id.as_str(), event.event_type.as_str()),
        ("e-1", "thing.happened")
    );
}

#[test]
fn names_the_locator_of_a_missing_or_unusable_value() {
    let adapter = generic("/id", "/type", Some("/data/account/id"));
    let too_long = "i".repeat(256);
    let cases = [
        ("/id", None),
        ("/id", Some(json!(""))),
        ("/id", Some(json!("   "))),
        ("/id", Some(json!(null))),
        ("/id", Some(json!(true))),
        ("/id", Some(json!(["evt_1"]))),
        ("/id", Some(json!({"value": "evt_1"}))),
        ("/id", Some(json!(1.5))),
        ("/id", Some(json!(too_long))),
        ("/id", Some(json!("evt\n1"))),
        ("/type", None),
        ("/type", Some(json!("invoice paid"))),
        ("/type", Some(json!(""))),
        ("/data/account/id", None),
        ("/data/account/id", Some(json!({}))),
    ];
    for (pointer, value) in cases {
        let mut body = invoice_paid();
        match &value {
            Some(value) => *body.pointer_mut(pointer).unwrap() = value.clone(),
            None => {
                let (parent, key) = pointer.rsplit_once('/').unwrap();
                body.pointer_mut(parent).unwrap().as_object_mut().unwrap().remove(key);
            }
        }
        let err = error_of(&adapter, body.to_string().as_bytes(), &[]);
        assert!(err.contains(pointer), "{pointer} = {value:?}: {err}");
    }
    // A path through a non-object.
    let body = json!({"id": "evt_1", "type": "t", "data": "flat"});
    assert!(error_of(&adapter, body.to_string().as_bytes(), &[]).contains("/data/account/id"));
}

#[test]
fn rejects_integers_too_large_to_keep_exact() {
    let adapter = generic("/id", "/type", None);
    let err = error_of(&adapter, br#"{"id": 123456789012345678901234567890, "type": "t"}"#, &[]);
    assert!(err.contains("/id"), "{err}");
}

#[test]
fn names_the_header_of_a_missing_or_unusable_value() {
    let adapter = generic("header:X-Event-Id", "header:X-Event-Type", Some("header:X-Account"));
    let body = invoice_paid().to_string();
    let full = [("X-Event-Id", "d1"), ("X-Event-Type", "t"), ("X-Account", "a")];
    for missing in 0..full.len() {
        let headers: Vec<_> = full
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != missing)
            .map(|(_, h)| *h)
            .collect();
        let err = error_of(&adapter, body.as_bytes(), &headers);
        assert!(err.contains(full[missing].0), "{err}");
    }
    let err = error_of(
        &adapter,
        body.as_bytes(),
        &[("X-Event-Id", "d1"), ("X-Event-Type", "a b"), ("X-Account", "a")],
    );
    assert!(err.contains("X-Event-Type"), "{err}");
    let too_long = "d".repeat(256);
    let err = error_of(
        &adapter,
        body.as_bytes(),
        &[("X-Event-Id", &too_long), ("X-Event-Type", "t"), ("X-Account", "a")],
    );
    assert!(err.contains("X-Event-Id"), "{err}");
}

#[test]
fn requires_a_json_body_even_with_header_locators() {
    let adapter = generic("header:X-Event-Id", "header:X-Event-Type", None);
    let headers = [("X-Event-Id", "d1"), ("X-Event-Type", "t")];
    for body in [&b""[..], b"  ", b"id=1&type=t", b"{\"id\":", b"\xff\xfe"] {
        let err = error_of(&adapter, body, &headers);
        assert!(err.contains("JSON"), "{err}");
    }
    // Any JSON is data when no pointer needs an object.
    let event = expect_event(deliver_to(&adapter, b"[1,2,3]", &headers));
    assert_eq!(event.data, json!([1, 2, 3]));
}

#[test]
fn works_with_a_configured_hmac_scheme_and_standard_webhooks() {
    let adapter = generic("/id", "/type", Some("/data/account/id"));
    let hmac = HmacScheme::new("X-Signature", "sha256=".into(), Encoding::Hex, "{body}", None).unwrap();
    let body = invoice_paid().to_string();
    let event = expect_event(deliver_with(&adapter, &Scheme::Hmac(hmac), body.as_bytes(), &[]));
    assert_eq!(event.provider_event_id, "evt_01J9Z8");

    // Standard Webhooks senders: the id is the `webhook-id` header.
    let adapter = generic("header:webhook-id", "/type", None);
    let event = expect_event(deliver_with(&adapter, &Scheme::StandardWebhooks, body.as_bytes(), &[]));
    assert_eq!(event.provider_event_id, "msg_test_0001");
}

#[test]
fn passes_the_kit_conformance_check() {
    let adapter = generic("/data/invoice_id", "/type", Some("/data/account/id"));
    assert_conformance_with(&adapter, &Scheme::Github, &[invoice_paid()], &[]);
    // With header locators any JSON body is data, so the bodies that are not objects become events too.
    let adapter = generic("header:X-Event-Id", "header:X-Event-Type", Some("header:X-Account"));
    let headers = [
        ("X-Event-Id", "d1"),
        ("X-Event-Type", "invoice.paid"),
        ("X-Account", "a"),
    ];
    assert_conformance_with(&adapter, &Scheme::StandardWebhooks, &[invoice_paid()], &headers);
}
