//! Standard Webhooks payloads through the kit's helpers, signed `v1` (HMAC) and `v1a` (Ed25519), verified,
//! interpreted; and the kit's conformance.

use std::time::Duration;

use gatehouse_kit::signature::{SignRequest, VerifyContext};
use gatehouse_kit::testing::{
    TEST_NOW, TEST_V1A_PRIVATE_KEY, TEST_V1A_PUBLIC_KEY, assert_conformance, deliver, expect_event,
};
use gatehouse_kit::{Adapter, Scheme};
use gatehouse_standard_webhooks::StandardWebhooks;
use http::{HeaderMap, HeaderName, HeaderValue};
use secrecy::SecretString;
use serde_json::{Value, json};

fn invoice_paid() -> Value {
    json!({"type": "invoice.paid", "timestamp": "2023-11-14T22:13:20Z",
           "data": {"id": "inv_123", "amount": 1200, "currency": "usd"}})
}

fn error_of(body: &Value) -> String {
    deliver(&StandardWebhooks, body.to_string().as_bytes(), &[])
        .unwrap_err()
        .to_string()
}

#[test]
fn names_itself_and_its_scheme() {
    assert_eq!(StandardWebhooks.name(), "standard-webhooks");
    assert_eq!(StandardWebhooks.default_scheme(), Some("standard-webhooks"));
}

#[test]
fn reads_the_recommended_payload() {
    let event = expect_event(deliver(&StandardWebhooks, invoice_paid().to_string().as_bytes(), &[]));
    assert_eq!(event.provider_event_id, "msg_test_0001", "the signed webhook-id");
    assert_eq!(event.event_type, "invoice.paid");
    assert_eq!(event.subject.as_deref(), Some("inv_123"));
    assert_eq!(event.data, invoice_paid()["data"]);
}

#[test]
fn reads_a_v1a_signed_webhook_verified_with_a_public_key() {
    let scheme = Scheme::StandardWebhooks;
    let private = scheme.signing_key(&SecretString::from(TEST_V1A_PRIVATE_KEY)).unwrap();
    let public = scheme.public_key(TEST_V1A_PUBLIC_KEY).unwrap();
    let body = invoice_paid().to_string();
    let request = SignRequest {
        body: body.as_bytes(),
        timestamp: TEST_NOW,
        message_id: "msg_v1a",
    };
    let mut headers = HeaderMap::new();
    for (name, value) in scheme.sign(&private, request) {
        headers.insert(
            HeaderName::try_from(name).unwrap(),
            HeaderValue::try_from(value).unwrap(),
        );
    }
    assert!(headers["webhook-signature"].to_str().unwrap().starts_with("v1a,"));
    let ctx = |keys| VerifyContext {
        keys,
        now: TEST_NOW,
        tolerance: Duration::from_secs(300),
        query: None,
    };
    let webhook = scheme
        .verify(headers.clone(), body.clone().into(), ctx(std::slice::from_ref(&public)))
        .unwrap();
    let event = expect_event(StandardWebhooks.interpret_webhook(&webhook));
    assert_eq!(
        (event.provider_event_id.as_str(), event.event_type.as_str()),
        ("msg_v1a", "invoice.paid")
    );
    let tampered = body.replace("1200", "1");
    assert!(
        scheme
            .verify(headers, tampered.into(), ctx(std::slice::from_ref(&public)))
            .is_err()
    );
}

#[test]
fn refuses_what_it_cannot_read() {
    assert!(error_of(&json!({"data": {}})).contains("`type` is missing"));
    assert!(error_of(&json!({"type": 7, "data": {}})).contains("`type`"));
    assert!(error_of(&json!({"type": "a b", "data": {}})).contains("type"));
    assert!(error_of(&json!({"type": "x.y"})).contains("`data` is missing"));
    assert!(error_of(&json!({"type": "x.y", "data": [1]})).contains("`data` is not an object"));
}

#[test]
fn conforms() {
    assert_conformance(&StandardWebhooks, &[invoice_paid()], &[]);
}
