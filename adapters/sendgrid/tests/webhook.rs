//! SendGrid Event Webhook batches through the kit's helpers: signed with ECDSA P-256 (the kit's test key pair),
//! verified with the public key, split into events and read; and the kit's conformance.

use gatehouse_kit::Scheme;
use gatehouse_kit::testing::{assert_conformance, expect_event, verified_with};
use gatehouse_kit::{Adapter, WebhookOutcome};
use gatehouse_sendgrid::Sendgrid;
use serde_json::{Value, json};

fn delivered() -> Value {
    json!({"email": "ada@example.com", "timestamp": 1_700_000_100, "event": "delivered",
           "sg_event_id": "ZGVsaXZlcmVkLTAtMjQ", "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
           "smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd-555>", "response": "250 OK"})
}

fn bounced() -> Value {
    json!({"email": "bob@example.com", "timestamp": 1_700_000_200, "event": "bounce", "type": "bounce",
           "sg_event_id": "Ym91bmNlLTEtMjQ", "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.1",
           "reason": "500 unknown recipient", "status": "5.0.0"})
}

fn events_of(body: &str) -> Vec<Result<WebhookOutcome, gatehouse_kit::WebhookError>> {
    let webhook = verified_with(&Scheme::Sendgrid, body.as_bytes(), &[]);
    let parts = Sendgrid.split_batch(&webhook).expect("a JSON array is a batch");
    parts.iter().map(|part| Sendgrid.interpret_webhook(part)).collect()
}

#[test]
fn names_itself_and_its_scheme() {
    assert_eq!(Sendgrid.name(), "sendgrid");
    assert_eq!(Sendgrid.default_scheme(), Some("sendgrid"));
}

#[test]
fn a_batch_becomes_one_event_per_item() {
    let body = format!("[{},\n  {}]\r\n", delivered(), bounced());
    let events: Vec<_> = events_of(&body).into_iter().map(expect_event).collect();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].provider_event_id, "ZGVsaXZlcmVkLTAtMjQ");
    assert_eq!(events[0].event_type, "email.delivered");
    assert_eq!(events[0].subject.as_deref(), delivered()["sg_message_id"].as_str());
    assert_eq!(events[0].occurred_at_ms, Some(1_700_000_100_000));
    assert_eq!(events[0].data, delivered());
    assert_eq!(events[1].event_type, "email.bounce");
    assert_eq!(events[1].data, bounced());
}

#[test]
fn each_item_keeps_its_exact_bytes_and_its_id() {
    let item = r#"{"sg_event_id": "a1",   "event": "open", "email": "x@example.com"}"#;
    let body = format!("[ {item} ]");
    let webhook = verified_with(&Scheme::Sendgrid, body.as_bytes(), &[]);
    let parts = Sendgrid.split_batch(&webhook).unwrap();
    assert_eq!(parts.len(), 1);
    assert_eq!(
        parts[0].body().as_ref(),
        item.as_bytes(),
        "the item's raw bytes, whitespace and all"
    );
    assert_eq!(Sendgrid.event_id(&parts[0]).as_deref(), Some("a1"));
}

#[test]
fn an_unreadable_item_fails_alone() {
    let body = json!([delivered(), {"event": "open"}, {"sg_event_id": "x", "event": 7}, "text"]).to_string();
    let outcomes = events_of(&body);
    assert!(outcomes[0].is_ok());
    let errors: Vec<String> = outcomes[1..]
        .iter()
        .map(|o| o.as_ref().unwrap_err().to_string())
        .collect();
    assert!(errors[0].contains("sg_event_id"), "{errors:?}");
    assert!(errors[1].contains("`event`"), "{errors:?}");
    assert!(errors[2].contains("not a JSON object"), "{errors:?}");
}

#[test]
fn a_body_that_is_not_an_array_is_not_a_batch() {
    let webhook = verified_with(&Scheme::Sendgrid, delivered().to_string().as_bytes(), &[]);
    assert!(Sendgrid.split_batch(&webhook).is_none());
    assert_eq!(
        expect_event(Sendgrid.interpret_webhook(&webhook)).event_type,
        "email.delivered"
    );
}

#[test]
fn conforms() {
    assert_conformance(&Sendgrid, &[delivered(), bounced()], &[]);
}
