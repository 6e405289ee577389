//! Acme CRM webhooks through the kit's conformance helpers: signed with Standard Webhooks, verified, interpreted.

use gatehouse_acme_crm::AcmeCrm;
use gatehouse_kit::testing::{assert_conformance, deliver, expect_event};
use gatehouse_kit::{Adapter, VerifiedWebhook, WebhookError, WebhookOutcome};
use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Value, json};

/// The message id the kit's Standard Webhooks signer puts in `webhook-id`.
const SIGNED_ID: &str = "msg_test_0001";

fn customer_event(event_type: &str) -> Value {
    json!({
        "type": event_type,
        "data": {
            "cust_id": "cus_8f3a",
            "full_name": "Ada Lovelace",
            "email_address": "ada@example.com",
            "lifetime_value": "1234.50",
            "created": "2026-01-02 10:00:00",
            "tier": "gold"
        }
    })
}

fn deliver_json(body: &Value) -> Result<WebhookOutcome, WebhookError> {
    deliver(&AcmeCrm::new(), body.to_string().as_bytes(), &[])
}

/// Whether an error message names `field` (as `` `field` `` or at the end of a path, `` `data.field` ``).
fn names(message: &str, field: &str) -> bool {
    message.contains(&format!("`{field}`")) || message.contains(&format!(".{field}`"))
}

fn error_of(body: &Value) -> String {
    match deliver_json(body) {
        Err(e) => e.to_string(),
        Ok(outcome) => panic!("expected an error for {body}, got {outcome:?}"),
    }
}

/// Interprets without a signature, to control every header (the signer always sets `webhook-id`).
fn interpret_unsigned(headers: &[(&str, &str)], body: &[u8]) -> Result<WebhookOutcome, WebhookError> {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    AcmeCrm.interpret_webhook(&VerifiedWebhook::assume_verified(map, body.to_vec()))
}

/// `Default` builds the same adapter as `new()` (a generic call: clippy refuses `Unit::default()`).
fn assert_default_is<T: Default + PartialEq + std::fmt::Debug>(adapter: T) {
    assert_eq!(T::default(), adapter);
}

#[test]
fn names_itself_and_its_scheme() {
    assert_eq!(AcmeCrm::new().name(), "acme-crm");
    assert_eq!(AcmeCrm.default_scheme(), Some("standard-webhooks"));
    assert_default_is(AcmeCrm::new());
}

#[test]
fn translates_a_customer_update() {
    let event = expect_event(deliver_json(&customer_event("customer.updated")));
    assert_eq!(event.provider_event_id, SIGNED_ID);
    assert_eq!(event.event_type, "customer.updated");
    assert_eq!(event.subject.as_deref(), Some("cus_8f3a"));
    // Exactly our Customer: vendor names gone, money a number, timestamp RFC 3339 UTC, unknown fields dropped.
    assert_eq!(
        event.data,
        json!({
            "id": "cus_8f3a",
            "name": "Ada Lovelace",
            "email": "ada@example.com",
            "lifetime_value": 1234.5,
            "created_at": "2026-01-02T10:00:00Z"
        })
    );
}

#[test]
fn accepts_every_customer_event_type() {
    for event_type in [
        "customer.created",
        "customer.updated",
        "customer.deleted",
        "customer.merged",
    ] {
        let event = expect_event(deliver_json(&customer_event(event_type)));
        assert_eq!(event.event_type, event_type);
    }
}

#[test]
fn takes_the_event_id_from_the_webhook_id_header() {
    let body = customer_event("customer.created").to_string();
    let outcome = interpret_unsigned(&[("webhook-id", "msg_2abc")], body.as_bytes());
    assert_eq!(expect_event(outcome).provider_event_id, "msg_2abc");
    let longest = "m".repeat(255);
    let outcome = interpret_unsigned(&[("webhook-id", &longest)], body.as_bytes());
    assert_eq!(expect_event(outcome).provider_event_id, longest);
}

#[test]
fn rejects_a_missing_empty_repeated_or_overlong_event_id() {
    let body = customer_event("customer.created").to_string();
    let too_long = "m".repeat(256);
    let cases: [&[(&str, &str)]; 4] = [
        &[],
        &[("webhook-id", "  ")],
        &[("webhook-id", "a"), ("webhook-id", "b")],
        &[("webhook-id", &too_long)],
    ];
    for headers in cases {
        let err = interpret_unsigned(headers, body.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("webhook-id"), "{headers:?}: {err}");
    }
}

#[test]
fn rejects_control_characters_in_the_event_id() {
    let body = customer_event("customer.created").to_string();
    let err = interpret_unsigned(&[("webhook-id", "msg\t1")], body.as_bytes()).unwrap_err();
    assert_eq!(err.to_string(), "header webhook-id contains control characters");
}

#[test]
fn rejects_each_missing_field_by_name() {
    for field in ["type", "data"] {
        let mut body = customer_event("customer.updated");
        body.as_object_mut().unwrap().remove(field);
        assert!(names(&error_of(&body), field), "{field}");
    }
    for field in ["cust_id", "full_name", "email_address", "lifetime_value", "created"] {
        let mut body = customer_event("customer.updated");
        body["data"].as_object_mut().unwrap().remove(field);
        assert!(names(&error_of(&body), field), "{field}");
    }
}

#[test]
fn rejects_fields_of_the_wrong_type_by_name() {
    let cases = [
        ("cust_id", json!(42)),
        ("full_name", json!(null)),
        ("email_address", json!(["a@example.com"])),
        ("lifetime_value", json!(1234.5)),
        ("created", json!(1767348000)),
    ];
    for (field, value) in cases {
        let mut body = customer_event("customer.updated");
        body["data"][field] = value;
        assert!(names(&error_of(&body), field), "{field}");
    }
    let mut body = customer_event("customer.updated");
    body["data"] = json!("cus_8f3a");
    assert!(names(&error_of(&body), "data"));
}

#[test]
fn rejects_event_types_that_are_not_customer_events() {
    for event_type in [
        json!(""),
        json!("customer."),
        json!("invoice.paid"),
        json!("customer. updated"),
        json!(7),
    ] {
        let mut body = customer_event("customer.updated");
        body["type"] = event_type.clone();
        assert!(names(&error_of(&body), "type"), "{event_type}");
    }
}

#[test]
fn rejects_malformed_money_by_name() {
    for value in [
        "NaN",
        "inf",
        "-infinity",
        "1e3",
        "1,234.50",
        "$1234.50",
        "",
        " 12",
        "12.",
    ] {
        let mut body = customer_event("customer.updated");
        body["data"]["lifetime_value"] = json!(value);
        assert!(names(&error_of(&body), "lifetime_value"), "{value:?}");
    }
}

#[test]
fn translates_negative_and_whole_money() {
    for (text, value) in [("-20.75", -20.75), ("0", 0.0), ("100", 100.0)] {
        let mut body = customer_event("customer.updated");
        body["data"]["lifetime_value"] = json!(text);
        assert_eq!(expect_event(deliver_json(&body)).data["lifetime_value"], json!(value));
    }
}

#[test]
fn rejects_malformed_timestamps_by_name() {
    for value in [
        "2026-01-02T10:00:00Z",
        "2026-01-02 10:00",
        "2026-02-30 10:00:00",
        "2026-01-02 25:00:00",
        "02/01/2026 10:00:00",
        "",
    ] {
        let mut body = customer_event("customer.updated");
        body["data"]["created"] = json!(value);
        assert!(names(&error_of(&body), "created"), "{value:?}");
    }
}

#[test]
fn rejects_empty_or_overlong_customer_ids() {
    for id in [String::new(), "x".repeat(256)] {
        let mut body = customer_event("customer.updated");
        body["data"]["cust_id"] = json!(id);
        assert!(names(&error_of(&body), "cust_id"));
    }
}

#[test]
fn rejects_bodies_that_are_not_json_objects() {
    let adapter = AcmeCrm::new();
    for body in [
        &b""[..],
        b"   ",
        b"type=customer.updated",
        b"{",
        b"null",
        b"[]",
        b"\"customer.updated\"",
        b"\xff\xfe",
    ] {
        assert!(
            deliver(&adapter, body, &[]).is_err(),
            "{:?}",
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn passes_the_kit_conformance_check() {
    assert_conformance(&AcmeCrm, &[customer_event("customer.updated")], &[]);
}

#[test]
fn customer_events_keep_the_read_model() {
    let adapter = AcmeCrm::new();
    gatehouse_kit::testing::assert_entities(&adapter);
    let [spec] = adapter.entities() else {
        panic!("acme-crm declares one entity kind");
    };
    for (event_type, deleted) in [
        ("customer.created", false),
        ("customer.updated", false),
        ("customer.deleted", true),
    ] {
        let event = expect_event(deliver_json(&customer_event(event_type)));
        let seen = spec.from_event(&event).expect("a customer event carries the customer");
        assert_eq!(
            (spec.kind, seen.id.as_str(), seen.deleted),
            ("customer", "cus_8f3a", deleted)
        );
        assert_eq!(seen.version, None, "Acme's customers are ordered by receipt");
        assert_eq!(*seen.body, event.data);
    }
    let other = expect_event(deliver_json(&customer_event("customer.merged")));
    assert!(spec.from_event(&other).is_none());
}
