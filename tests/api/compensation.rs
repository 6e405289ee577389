//! The routes that undo what another route did (a saga's compensations) against fake vendors: Stripe's
//! `POST /v1/{provider}/payments/{id}/cancel`, with the caller's key scoped and forwarded so a retried cancellation
//! is one at Stripe, replayed by the gateway without the vendor, and Stripe's refusal in our terms; Acme's
//! `DELETE /v1/{provider}/customers/{id}`, a 204 without a body that marks the read model's copy deleted, and a
//! customer already gone a 404.

use serde_json::json;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;

/// `pay` (stripe) and `crm` (acme-crm) against `vendor`, without retries; `svc` may call both.
async fn app(vendor: &MockServer) -> TestApp {
    let no_retries = "retry = { max_attempts = 1 }";
    let extra = provider_toml("pay", "stripe", &vendor.uri(), no_retries)
        + &provider_toml("crm", "acme-crm", &vendor.uri(), no_retries)
        + &callers_toml(&["pay", "crm"], None);
    spawn_app_with(&extra).await
}

async fn cancel(app: &TestApp, id: &str, key: Option<&str>) -> reqwest::Response {
    let request = app
        .client
        .post(format!("{}/v1/pay/payments/{id}/cancel", app.addr))
        .bearer_auth(CALLER_KEY);
    match key {
        Some(key) => request.header("Idempotency-Key", key),
        None => request,
    }
    .send()
    .await
    .unwrap()
}

#[tokio::test]
async fn a_payment_is_cancelled_once_at_stripe_and_replayed_after() {
    let vendor = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/payment_intents/pi_1/cancel"))
        .and(header("idempotency-key", "svc:undo-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "pi_1", "amount": 2000, "currency": "usd", "customer": "cus_1", "status": "canceled"
        })))
        .expect(1)
        .mount(&vendor)
        .await;
    let app = app(&vendor).await;
    let first = cancel(&app, "pi_1", Some("undo-1")).await;
    assert_eq!(first.status(), 200);
    let body: serde_json::Value = first.json().await.unwrap();
    assert_eq!(
        body,
        json!({"id": "pi_1", "amount": {"value": 2000, "currency": "usd"}, "status": "canceled",
               "customer_id": "cus_1"})
    );
    let again = cancel(&app, "pi_1", Some("undo-1")).await;
    assert_eq!(again.status(), 200);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    app.stop().await;
    vendor.verify().await;
}

#[tokio::test]
async fn a_cancellation_stripe_refuses_is_a_400_in_our_terms() {
    let vendor = MockServer::start().await;
    Mock::given(path("/v1/payment_intents/pi_2/cancel"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": {
            "type": "invalid_request_error", "code": "payment_intent_unexpected_state",
            "message": "You cannot cancel this PaymentIntent because it has a status of succeeded."
        }})))
        .mount(&vendor)
        .await;
    let app = app(&vendor).await;
    let refused = problem(cancel(&app, "pi_2", None).await, 400, "invalid-request").await;
    assert!(
        refused["detail"].as_str().unwrap().contains("status of succeeded"),
        "{refused}"
    );
    // A body is refused before the vendor is called.
    let with_body = app
        .client
        .post(format!("{}/v1/pay/payments/pi_2/cancel", app.addr))
        .bearer_auth(CALLER_KEY)
        .json(&json!({"reason": "duplicate"}))
        .send()
        .await
        .unwrap();
    problem(with_body, 400, "invalid-request").await;
    assert_eq!(hits(&vendor).await, 1);
    app.stop().await;
}

#[tokio::test]
async fn a_customer_is_deleted_with_a_204_and_one_already_gone_is_not_found() {
    let vendor = MockServer::start().await;
    Mock::given(method("DELETE"))
        .and(path("/customers/c_1"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&vendor)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/customers/c_2"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"message": "no such customer"})))
        .mount(&vendor)
        .await;
    let app = app(&vendor).await;
    let delete = |id: &str| {
        app.client
            .delete(format!("{}/v1/crm/customers/{id}", app.addr))
            .bearer_auth(CALLER_KEY)
            .send()
    };
    let deleted = delete("c_1").await.unwrap();
    assert_eq!(deleted.status(), 204);
    assert!(deleted.headers().get("content-type").is_none());
    assert!(deleted.headers().contains_key("x-correlation-id"));
    assert!(deleted.bytes().await.unwrap().is_empty());
    problem(delete("c_2").await.unwrap(), 404, "not-found").await;
    app.stop().await;
    vendor.verify().await;
}

#[tokio::test]
async fn a_deleted_customer_is_deleted_in_the_read_model_too() {
    use crate::read_model::{CUSTOMER, acme_customer, get_with};
    let vendor = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(acme_customer("Ada")))
        .mount(&vendor)
        .await;
    Mock::given(method("DELETE"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&vendor)
        .await;
    let app = crate::read_model::app(&vendor).await;
    assert_eq!(app.get_as(CALLER_KEY, CUSTOMER).await.status(), 200);
    let deleted = app
        .client
        .delete(format!("{}{CUSTOMER}", app.addr))
        .bearer_auth(CALLER_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    // The read model's writer gathers for up to a second; the lookup cache holds a copy for one more.
    let mut cached = None;
    for _ in 0..50 {
        let answer = get_with(&app, CUSTOMER, "only-if-cached").await;
        if answer.status() == 404 {
            cached = Some(answer);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let cached = cached.expect("the deletion reaches the read model");
    assert_eq!(cached.headers()["cache-status"], "gatehouse; hit; detail=deleted");
    problem(cached, 404, "not-found").await;
    app.stop().await;
}
