//! Sagas on PostgreSQL: two gateways on one database share the work — sagas started on either are run by whichever
//! executor claims them, each step sent once (its key seen once by the vendor) — and a refused payment is
//! compensated there as on SQLite.

use std::collections::HashMap;

use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;
use crate::postgres::Database;
use crate::sagas::{customer_created, finished, input, payment_created, sagas_toml, started};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_on_postgres_run_each_saga_step_once() {
    let Some(db) = Database::create().await else {
        return;
    };
    let vendor = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/customers"))
        .respond_with(customer_created())
        .mount(&vendor)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/payment_intents"))
        .respond_with(payment_created())
        .mount(&vendor)
        .await;
    let extra = sagas_toml(&vendor.uri(), 3);
    let one = spawn_app_on(&db.url, &extra).await;
    let two = spawn_app_on(&db.url, &extra).await;
    let mut ids = Vec::new();
    for i in 0..20 {
        let app = if i % 2 == 0 { &one } else { &two };
        ids.push(started(app, &input()).await);
    }
    for id in &ids {
        let saga = finished(&one, id).await;
        assert_eq!(saga["status"], "completed", "{saga}");
    }
    let mut seen: HashMap<String, usize> = HashMap::new();
    for request in vendor.received_requests().await.unwrap() {
        let key = request.headers["idempotency-key"].to_str().unwrap().to_owned();
        *seen.entry(key).or_default() += 1;
    }
    assert_eq!(seen.len(), 40, "two steps per saga");
    assert!(seen.values().all(|n| *n == 1), "a step sent twice: {seen:?}");
    one.stop().await;
    two.stop().await;
}

#[tokio::test]
async fn a_refused_payment_is_compensated_on_postgres() {
    let Some(db) = Database::create().await else {
        return;
    };
    let vendor = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/customers"))
        .respond_with(customer_created())
        .mount(&vendor)
        .await;
    let declined = ResponseTemplate::new(402).set_body_json(json!({"error": {"type": "card_error",
        "message": "Your card was declined."}}));
    Mock::given(method("POST"))
        .and(path("/v1/payment_intents"))
        .respond_with(declined)
        .mount(&vendor)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/customers/cus_1"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&vendor)
        .await;
    let app = spawn_app_on(&db.url, &sagas_toml(&vendor.uri(), 3)).await;
    let id = started(&app, &input()).await;
    let saga = finished(&app, &id).await;
    assert_eq!(saga["status"], "compensated", "{saga}");
    let events: serde_json::Value = app
        .get_as(ADMIN_TOKEN, "/admin/events?provider=gatehouse")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(events["data"][0]["type"], "gatehouse.saga.compensated");
    app.stop().await;
    vendor.verify().await;
}
