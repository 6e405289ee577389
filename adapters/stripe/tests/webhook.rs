//! Stripe webhooks through the kit's conformance helpers: signed with `Stripe-Signature`, verified, interpreted.

use gatehouse_kit::testing::{assert_conformance, deliver, expect_event};
use gatehouse_kit::{Adapter, InboundEvent, WebhookError, WebhookOutcome};
use gatehouse_stripe::Stripe;
use serde_json::{Value, json};

fn payment_intent_event(event_type: &str, status: &str) -> Value {
    json!({
        "id": "evt_3Q1xYzLkdIwHu7ix0ABCDEF",
        "object": "event",
        "api_version": "2024-06-20",
        "created": 1_700_000_000,
        "livemode": false,
        "pending_webhooks": 1,
        "request": {"id": "req_8cDmY2hJ", "idempotency_key": "a1b2c3"},
        "type": event_type,
        "data": {
            "object": {
                "id": "pi_3Q1xYzLkdIwHu7ix1",
                "object": "payment_intent",
                "amount": 2000,
                "amount_received": 0,
                "currency": "USD",
                "customer": "cus_PmN4",
                "last_payment_error": null,
                "status": status,
                "metadata": {}
            }
        }
    })
}

fn deliver_json(body: &Value) -> Result<WebhookOutcome, WebhookError> {
    deliver(&Stripe::new(), body.to_string().as_bytes(), &[])
}

fn event_of(body: &Value) -> InboundEvent {
    expect_event(deliver_json(body))
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

/// `Default` builds the same adapter as `new()` (a generic call: clippy refuses `Unit::default()`).
fn assert_default_is<T: Default + PartialEq + std::fmt::Debug>(adapter: T) {
    assert_eq!(T::default(), adapter);
}

#[test]
fn names_itself_and_its_scheme() {
    assert_eq!(Stripe::new().name(), "stripe");
    assert_eq!(Stripe.default_scheme(), Some("stripe"));
    assert_default_is(Stripe::new());
}

#[test]
fn translates_a_succeeded_payment_intent() {
    let event = event_of(&payment_intent_event("payment_intent.succeeded", "succeeded"));
    assert_eq!(event.provider_event_id, "evt_3Q1xYzLkdIwHu7ix0ABCDEF");
    assert_eq!(event.event_type, "payment_intent.succeeded");
    assert_eq!(event.subject.as_deref(), Some("pi_3Q1xYzLkdIwHu7ix1"));
    assert_eq!(
        event.data,
        json!({
            "id": "pi_3Q1xYzLkdIwHu7ix1",
            "amount": {"value": 2000, "currency": "usd"},
            "status": "succeeded",
            "customer_id": "cus_PmN4"
        })
    );
}

#[test]
fn maps_statuses() {
    let cases = [
        ("payment_intent.created", "requires_payment_method", "pending"),
        ("payment_intent.requires_action", "requires_action", "pending"),
        ("payment_intent.processing", "processing", "pending"),
        (
            "payment_intent.amount_capturable_updated",
            "requires_capture",
            "pending",
        ),
        ("payment_intent.created", "requires_confirmation", "pending"),
        ("payment_intent.succeeded", "succeeded", "succeeded"),
        ("payment_intent.canceled", "canceled", "canceled"),
        // The failure event is a failure whatever status the intent went back to.
        ("payment_intent.payment_failed", "requires_payment_method", "failed"),
    ];
    for (event_type, status, ours) in cases {
        let event = event_of(&payment_intent_event(event_type, status));
        assert_eq!(event.data["status"], ours, "{event_type} {status}");
    }
}

#[test]
fn a_last_payment_error_marks_a_waiting_intent_failed() {
    let mut body = payment_intent_event("payment_intent.requires_action", "requires_payment_method");
    body["data"]["object"]["last_payment_error"] =
        json!({"type": "card_error", "code": "card_declined", "message": "Your card was declined."});
    assert_eq!(event_of(&body).data["status"], "failed");
    body["data"]["object"]["status"] = json!("succeeded");
    assert_eq!(event_of(&body).data["status"], "succeeded");
}

#[test]
fn rejects_unknown_statuses() {
    for status in [json!("failed"), json!("cancelled"), json!(""), json!(3)] {
        let mut body = payment_intent_event("payment_intent.succeeded", "succeeded");
        body["data"]["object"]["status"] = status.clone();
        assert!(names(&error_of(&body), "status"), "{status}");
    }
}

#[test]
fn reads_every_shape_of_customer() {
    let cases = [
        (json!("cus_A"), Some("cus_A")),
        (
            json!({"id": "cus_B", "object": "customer", "email": "b@example.com"}),
            Some("cus_B"),
        ),
        (json!(null), None),
    ];
    for (customer, id) in cases {
        let mut body = payment_intent_event("payment_intent.succeeded", "succeeded");
        body["data"]["object"]["customer"] = customer;
        let data = event_of(&body).data;
        assert_eq!(data.get("customer_id").and_then(Value::as_str), id);
    }
    let mut body = payment_intent_event("payment_intent.succeeded", "succeeded");
    body["data"]["object"].as_object_mut().unwrap().remove("customer");
    assert_eq!(event_of(&body).data.get("customer_id"), None);
    for bad in [json!(7), json!({"email": "x@example.com"}), json!("")] {
        body["data"]["object"]["customer"] = bad.clone();
        assert!(names(&error_of(&body), "customer"), "{bad}");
    }
}

#[test]
fn rejects_malformed_payment_intents_by_field() {
    let cases = [
        ("id", json!(null)),
        ("amount", json!("2000")),
        ("amount", json!(20.5)),
        ("amount", json!(-1)),
        ("amount", json!(null)),
        ("currency", json!("dollars")),
        ("currency", json!("")),
        ("currency", json!(840)),
        ("status", json!(null)),
    ];
    for (field, value) in cases {
        let mut body = payment_intent_event("payment_intent.succeeded", "succeeded");
        body["data"]["object"][field] = value.clone();
        assert!(names(&error_of(&body), field), "{field} = {value}");
    }
    for field in ["id", "amount", "currency", "status"] {
        let mut body = payment_intent_event("payment_intent.succeeded", "succeeded");
        body["data"]["object"].as_object_mut().unwrap().remove(field);
        assert!(names(&error_of(&body), field), "missing {field}");
    }
}

#[test]
fn passes_other_objects_through_raw() {
    let customer = json!({"id": "cus_PmN4", "object": "customer", "email": "ada@example.com", "balance": 0});
    let body = json!({"id": "evt_1", "object": "event", "type": "customer.created", "data": {"object": customer}});
    let event = event_of(&body);
    assert_eq!(event.event_type, "customer.created");
    assert_eq!(event.subject.as_deref(), Some("cus_PmN4"));
    assert_eq!(event.data, customer);

    // The balance object has no id: no subject.
    let balance = json!({"object": "balance", "available": [{"amount": 100, "currency": "usd"}]});
    let body = json!({"id": "evt_2", "type": "balance.available", "data": {"object": balance}});
    let event = event_of(&body);
    assert_eq!(event.subject, None);
    assert_eq!(event.data, balance);
}

#[test]
fn rejects_malformed_events_by_field() {
    for field in ["id", "type", "data"] {
        let mut body = payment_intent_event("payment_intent.succeeded", "succeeded");
        body.as_object_mut().unwrap().remove(field);
        assert!(names(&error_of(&body), field), "missing {field}");
    }
    let mut body = payment_intent_event("payment_intent.succeeded", "succeeded");
    body["data"] = json!({"previous_attributes": {}});
    assert!(names(&error_of(&body), "object"));
    for object in [json!(null), json!("pi_1"), json!([1])] {
        body["data"] = json!({"object": object});
        assert!(names(&error_of(&body), "data.object"), "{object}");
    }
    let too_long = "e".repeat(256);
    for (field, value) in [
        ("id", json!("")),
        ("id", json!(too_long)),
        ("id", json!(12)),
        ("type", json!("")),
        ("type", json!("a b")),
    ] {
        let mut body = payment_intent_event("payment_intent.succeeded", "succeeded");
        body[field] = value.clone();
        assert!(names(&error_of(&body), field), "{field} = {value}");
    }
    let mut body = payment_intent_event("customer.updated", "succeeded");
    body["data"]["object"]["id"] = json!("");
    assert!(names(&error_of(&body), "data.object.id"));
}

#[test]
fn accepts_a_255_character_event_id() {
    let mut body = payment_intent_event("payment_intent.succeeded", "succeeded");
    body["id"] = json!("e".repeat(255));
    assert_eq!(event_of(&body).provider_event_id.len(), 255);
}

#[test]
fn rejects_bodies_that_are_not_json_objects() {
    let adapter = Stripe::new();
    for body in [
        &b""[..],
        b"\n",
        b"id=evt_1&type=charge.succeeded",
        b"{\"id\":",
        b"null",
        b"[]",
        b"42",
        b"\xc3\x28",
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
    let samples = [
        payment_intent_event("payment_intent.payment_failed", "requires_payment_method"),
        json!({"id": "evt_1", "type": "customer.created", "data": {"object": {"id": "cus_1"}}}),
    ];
    assert_conformance(&Stripe, &samples, &[]);
}

#[test]
fn payment_intent_events_keep_the_read_model_ordered_by_stripes_time() {
    let adapter = Stripe::new();
    gatehouse_kit::testing::assert_entities(&adapter);
    let [spec] = adapter.entities() else {
        panic!("stripe declares one entity kind");
    };
    let event = event_of(&payment_intent_event("payment_intent.succeeded", "succeeded"));
    assert_eq!(event.occurred_at_ms, Some(1_700_000_000_999), "the second's end");
    let seen = spec
        .from_event(&event)
        .expect("a payment_intent event carries the payment");
    assert_eq!(
        (spec.kind, seen.id.as_str(), seen.deleted),
        ("payment", "pi_3Q1xYzLkdIwHu7ix1", false)
    );
    assert_eq!(seen.version, Some(1_700_000_000_999));
    let mut odd = payment_intent_event("payment_intent.created", "requires_payment_method");
    odd["created"] = json!("yesterday");
    assert_eq!(
        event_of(&odd).occurred_at_ms,
        None,
        "an odd time loses the time, not the event"
    );
    let customer =
        json!({"id": "evt_2", "object": "event", "type": "customer.created", "data": {"object": {"id": "cus_1"}}});
    assert!(spec.from_event(&event_of(&customer)).is_none());
}
