//! Shopify webhooks through the kit's conformance helpers: signed with `X-Shopify-Hmac-Sha256`, verified,
//! interpreted.

use gatehouse_kit::testing::{assert_conformance, deliver, expect_event};
use gatehouse_kit::{Adapter, WebhookError, WebhookOutcome};
use gatehouse_shopify::Shopify;
use serde_json::{Value, json};

const WEBHOOK_ID: &str = "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043";
const EVENT_ID: &str = "98880550-7158-44d4-b7cd-2c97c8a091b5";

fn order() -> Value {
    json!({
        "id": 820982911946154508_u64,
        "admin_graphql_api_id": "gid://shopify/Order/820982911946154508",
        "email": "jon@example.com",
        "currency": "USD",
        "total_price": "403.00",
        "line_items": [{"id": 866550311766439020_u64, "title": "IPod Nano - 8GB", "quantity": 1}]
    })
}

fn headers<'a>(topic: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut headers = vec![
        ("X-Shopify-Topic", topic),
        ("X-Shopify-Shop-Domain", "example.myshopify.com"),
        ("X-Shopify-API-Version", "2025-07"),
    ];
    headers.extend_from_slice(extra);
    headers
}

fn deliver_json(body: &Value, headers: &[(&str, &str)]) -> Result<WebhookOutcome, WebhookError> {
    deliver(&Shopify::new(), body.to_string().as_bytes(), headers)
}

/// Whether an error message names `field` (as `` `field` `` or at the end of a path, `` `data.field` ``).
fn names(message: &str, field: &str) -> bool {
    message.contains(&format!("`{field}`")) || message.contains(&format!(".{field}`"))
}

fn error_of(body: &Value, headers: &[(&str, &str)]) -> String {
    match deliver_json(body, headers) {
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
    assert_eq!(Shopify::new().name(), "shopify");
    assert_eq!(Shopify.default_scheme(), Some("shopify"));
    assert_default_is(Shopify::new());
}

#[test]
fn reads_an_order_webhook() {
    let body = order();
    let both_ids = headers(
        "orders/create",
        &[("X-Shopify-Webhook-Id", WEBHOOK_ID), ("X-Shopify-Event-Id", EVENT_ID)],
    );
    let event = expect_event(deliver_json(&body, &both_ids));
    assert_eq!(event.provider_event_id, WEBHOOK_ID);
    assert_eq!(event.event_type, "orders.create");
    // Beyond 2^53: the id must stay exact.
    assert_eq!(event.subject.as_deref(), Some("820982911946154508"));
    assert_eq!(event.data, body);
}

#[test]
fn falls_back_to_the_event_id_header() {
    let event = expect_event(deliver_json(
        &order(),
        &headers("orders/paid", &[("X-Shopify-Event-Id", EVENT_ID)]),
    ));
    assert_eq!(event.provider_event_id, EVENT_ID);
    assert_eq!(event.event_type, "orders.paid");
    // An empty webhook id counts as absent.
    let with_empty = headers(
        "orders/paid",
        &[("X-Shopify-Webhook-Id", ""), ("X-Shopify-Event-Id", EVENT_ID)],
    );
    assert_eq!(
        expect_event(deliver_json(&order(), &with_empty)).provider_event_id,
        EVENT_ID
    );
}

#[test]
fn requires_an_event_id_header() {
    let err = error_of(&order(), &headers("orders/create", &[]));
    assert!(
        err.contains("X-Shopify-Webhook-Id") && err.contains("X-Shopify-Event-Id"),
        "{err}"
    );
    let too_long = "w".repeat(256);
    let err = error_of(
        &order(),
        &headers("orders/create", &[("X-Shopify-Webhook-Id", &too_long)]),
    );
    assert!(err.contains("X-Shopify-Webhook-Id"), "{err}");
    let repeated = headers(
        "orders/create",
        &[("X-Shopify-Webhook-Id", "a"), ("X-Shopify-Webhook-Id", "b")],
    );
    assert!(deliver_json(&order(), &repeated).is_err());
}

#[test]
fn requires_a_usable_topic() {
    let err = error_of(&order(), &[("X-Shopify-Webhook-Id", WEBHOOK_ID)]);
    assert!(err.contains("X-Shopify-Topic"), "{err}");
    for topic in ["orders create", "/orders", "orders/"] {
        let err = error_of(&order(), &headers(topic, &[("X-Shopify-Webhook-Id", WEBHOOK_ID)]));
        assert!(err.contains("X-Shopify-Topic"), "{topic}: {err}");
    }
}

#[test]
fn translates_multi_part_topics() {
    let body = json!({"id": 1, "name": "Example"});
    let with_id = headers("app_subscriptions/update", &[("X-Shopify-Webhook-Id", WEBHOOK_ID)]);
    assert_eq!(
        expect_event(deliver_json(&body, &with_id)).event_type,
        "app_subscriptions.update"
    );
    let with_id = headers("customers/data_request", &[("X-Shopify-Webhook-Id", WEBHOOK_ID)]);
    assert_eq!(
        expect_event(deliver_json(&body, &with_id)).event_type,
        "customers.data_request"
    );
}

#[test]
fn reads_string_ids_and_bodies_without_one() {
    let with_id = headers("shop/redact", &[("X-Shopify-Webhook-Id", WEBHOOK_ID)]);
    let body = json!({"id": "gid://shopify/Shop/1", "shop_domain": "example.myshopify.com"});
    assert_eq!(
        expect_event(deliver_json(&body, &with_id)).subject.as_deref(),
        Some("gid://shopify/Shop/1")
    );
    let body = json!({"shop_id": 954889, "shop_domain": "example.myshopify.com"});
    assert_eq!(expect_event(deliver_json(&body, &with_id)).subject, None);
    let body = json!({"id": -7});
    assert_eq!(
        expect_event(deliver_json(&body, &with_id)).subject.as_deref(),
        Some("-7")
    );
}

#[test]
fn rejects_unusable_ids() {
    let with_id = headers("orders/create", &[("X-Shopify-Webhook-Id", WEBHOOK_ID)]);
    for id in [json!(""), json!(1.5), json!([1]), json!({"id": 1}), json!(true)] {
        assert!(names(&error_of(&json!({"id": id}), &with_id), "id"), "{id}");
    }
    // Beyond u64: serde reads it as a float, so it would be rounded.
    let body = br#"{"id": 123456789012345678901234567890}"#;
    assert!(deliver(&Shopify::new(), body, &with_id).is_err());
}

#[test]
fn rejects_bodies_that_are_not_json_objects() {
    let with_id = headers("orders/create", &[("X-Shopify-Webhook-Id", WEBHOOK_ID)]);
    for body in [
        &b""[..],
        b"\t",
        b"id=1",
        b"{\"id\":1",
        b"null",
        b"[{\"id\":1}]",
        b"1",
        b"\xfe",
    ] {
        assert!(
            deliver(&Shopify::new(), body, &with_id).is_err(),
            "{:?}",
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn passes_the_kit_conformance_check() {
    let with_id = headers("orders/create", &[("X-Shopify-Webhook-Id", WEBHOOK_ID)]);
    assert_conformance(&Shopify, &[order()], &with_id);
}
