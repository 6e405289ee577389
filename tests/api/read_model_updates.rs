//! How the read model is kept: a webhook's state is visible as soon as the webhook is answered (it commits in
//! the event's transaction), a deletion makes the entity 404, an older state never overwrites a newer one
//! whatever order they arrive in (Stripe's events are ordered by their `created`, reads by their arrival), and
//! the fallback works the same on PostgreSQL.

use gatehouse::store::{EntitySource, EntityState};
use gatehouse_kit::Scheme;
use serde_json::{Value, json};
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;
use crate::read_model::{CUSTOMER, acme_customer, get_with, header, stored, vendor_answers};

/// A stored acme-crm customer `id` of `provider`, last seen `age_secs` ago.
pub fn aged_customer(provider: &str, id: &str, age_secs: i64) -> EntityState {
    let seen = gatehouse::clock::now_ms() - age_secs * 1000;
    let body = json!({"id": id, "name": "Old", "email": "old@example.com", "lifetime_value": 1.0,
        "created_at": "2026-01-02T10:00:00Z"});
    EntityState {
        provider: provider.into(),
        kind: "customer".into(),
        id: id.into(),
        version: seen,
        observed_at_ms: seen,
        source: EntitySource::Read,
        deleted: false,
        body: serde_json::to_vec(&body).unwrap().into(),
        event_id: None,
    }
}

async fn acme_webhook(app: &TestApp, event_type: &str, name: &str, message_id: &str) -> Value {
    let body = json!({"type": event_type, "data": acme_customer(name)}).to_string();
    let signed = sign(&Scheme::StandardWebhooks, SW_SECRET, body.as_bytes(), now(), message_id);
    let response = app.post_webhook("crm", &signed, body.as_bytes()).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn admin_read_model(app: &TestApp, path: &str) -> reqwest::Response {
    app.client
        .get(format!("{}/admin/read-model/{path}", app.addr))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn webhooks_keep_the_read_model_in_their_own_commit_and_deletions_answer_404() {
    let vendor = MockServer::start().await;
    let app = crate::read_model::app(&vendor).await;
    let accepted = acme_webhook(&app, "customer.updated", "Ada", "msg_1").await;
    // Visible at once: the entity committed with the event, before the 200.
    let kept: Value = admin_read_model(&app, "crm/customer/c_1").await.json().await.unwrap();
    assert_eq!(kept["entity"]["name"], "Ada", "{kept}");
    assert_eq!(kept["source"], "webhook");
    assert_eq!(kept["event_id"], accepted["id"]);
    assert!(kept["age_seconds"].as_i64().unwrap() < 60);
    let served = get_with(&app, CUSTOMER, "only-if-cached").await;
    assert_eq!(served.status(), 200);
    assert_eq!(served.json::<Value>().await.unwrap()["name"], "Ada");

    acme_webhook(&app, "customer.deleted", "Ada", "msg_2").await;
    let gone: Value = admin_read_model(&app, "crm/customer/c_1").await.json().await.unwrap();
    assert_eq!(gone["deleted"], true, "{gone}");
    let deleted = get_with(&app, CUSTOMER, "only-if-cached").await;
    assert_eq!(header(&deleted, "cache-status"), "gatehouse; hit; detail=deleted");
    problem(deleted, 404, "not-found").await;
    // The vendor failing does not bring it back either.
    vendor_answers(&vendor, ResponseTemplate::new(500)).await;
    problem(app.get_as(CALLER_KEY, CUSTOMER).await, 404, "not-found").await;

    // A duplicate of the first webhook (the vendor's retry) changes nothing.
    acme_webhook(&app, "customer.updated", "Ada", "msg_1").await;
    let still: Value = admin_read_model(&app, "crm/customer/c_1").await.json().await.unwrap();
    assert_eq!(still["deleted"], true);

    // The admin route's own answers.
    problem(admin_read_model(&app, "crm/customer/c_nobody").await, 404, "not-found").await;
    problem(admin_read_model(&app, "crm/invoice/c_1").await, 404, "not-found").await;
    problem(
        admin_read_model(&app, "nowhere/customer/c_1").await,
        404,
        "unknown-provider",
    )
    .await;
    let anonymous = app
        .client
        .get(format!("{}/admin/read-model/crm/customer/c_1", app.addr))
        .send()
        .await
        .unwrap();
    problem(anonymous, 401, "unauthorized").await;
}

fn payment_intent(status: &str) -> Value {
    json!({"id": "pi_1", "object": "payment_intent", "amount": 2000, "currency": "usd", "status": status,
        "customer": "cus_9", "last_payment_error": null})
}

async fn stripe_webhook(app: &TestApp, id: &str, event_type: &str, status: &str, created: i64) {
    let body = json!({"id": id, "object": "event", "type": event_type, "created": created,
        "data": {"object": payment_intent(status)}})
    .to_string();
    let signed = sign(&Scheme::Stripe, PLAIN_SECRET, body.as_bytes(), now(), "");
    assert_eq!(app.post_webhook("pay", &signed, body.as_bytes()).await.status(), 200);
}

/// `pay` (stripe, read model kept, webhooks signed with [`PLAIN_SECRET`]) on a vendor answering a payment intent in
/// `status`.
async fn pay_app(status: &str) -> (MockServer, TestApp) {
    let vendor = MockServer::start().await;
    let extra = provider_toml("pay", "stripe", &vendor.uri(), "fallback = { read_model = true }")
        + &format!("[providers.pay.webhook]\nsecrets = [\"{PLAIN_SECRET}\"]\n")
        + &callers_toml(&["pay"], None);
    let app = spawn_app_with(&extra).await;
    vendor_answers(
        &vendor,
        ResponseTemplate::new(200).set_body_json(payment_intent(status)),
    )
    .await;
    (vendor, app)
}

#[tokio::test]
async fn an_old_webhook_arriving_after_a_newer_read_does_not_regress_the_entity() {
    let (vendor, app) = pay_app("succeeded").await;
    assert_eq!(app.get_as(CALLER_KEY, "/v1/pay/payments/pi_1").await.status(), 200);
    stored(&app, "pay/payment/pi_1", |p| p["entity"]["status"] == "succeeded").await;

    // Stripe retries an event created an hour ago: older than what the read saw.
    let hour_ago = now() as i64 - 3600;
    stripe_webhook(
        &app,
        "evt_old",
        "payment_intent.created",
        "requires_payment_method",
        hour_ago,
    )
    .await;
    let kept: Value = admin_read_model(&app, "pay/payment/pi_1").await.json().await.unwrap();
    assert_eq!(
        (kept["entity"]["status"].as_str(), kept["source"].as_str()),
        (Some("succeeded"), Some("read"))
    );

    // A newer event wins.
    let later = now() as i64 + 60;
    stripe_webhook(&app, "evt_new", "payment_intent.canceled", "canceled", later).await;
    let kept: Value = admin_read_model(&app, "pay/payment/pi_1").await.json().await.unwrap();
    assert_eq!(
        (kept["entity"]["status"].as_str(), kept["source"].as_str()),
        (Some("canceled"), Some("webhook"))
    );
    assert_eq!(kept["version"].as_i64(), Some(later * 1000 + 999));

    // A read answered now is older than that event: it does not undo it. (Once pi_2's read is stored, pi_1's,
    // queued before it, has been written or refused.)
    vendor.reset().await;
    let mut pi_2 = payment_intent("succeeded");
    pi_2["id"] = json!("pi_2");
    Mock::given(path("/v1/payment_intents/pi_2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(pi_2))
        .mount(&vendor)
        .await;
    Mock::given(path("/v1/payment_intents/pi_1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(payment_intent("succeeded")))
        .mount(&vendor)
        .await;
    assert_eq!(app.get_as(CALLER_KEY, "/v1/pay/payments/pi_1").await.status(), 200);
    assert_eq!(app.get_as(CALLER_KEY, "/v1/pay/payments/pi_2").await.status(), 200);
    stored(&app, "pay/payment/pi_2", |p| p["entity"]["status"] == "succeeded").await;
    let kept: Value = admin_read_model(&app, "pay/payment/pi_1").await.json().await.unwrap();
    assert_eq!(kept["entity"]["status"], "canceled", "{kept}");
}

#[tokio::test]
async fn the_fallback_works_the_same_on_postgresql() {
    let Some(database) = crate::postgres::Database::create().await else {
        return;
    };
    let vendor = MockServer::start().await;
    let settings = "retry = { max_attempts = 1 }\nfallback = { read_model = true }";
    let extra = provider_toml("crm", "acme-crm", &vendor.uri(), settings)
        + &format!("[providers.crm.webhook]\nsecrets = [\"{SW_SECRET}\"]\n")
        + &callers_toml(&["crm"], None);
    let app = spawn_app_on(&database.url, &extra).await;
    acme_webhook(&app, "customer.created", "Ada", "msg_pg_1").await;
    vendor_answers(&vendor, ResponseTemplate::new(502)).await;
    let answer = app.get_as(CALLER_KEY, CUSTOMER).await;
    assert_eq!(answer.status(), 200);
    assert_eq!(
        header(&answer, "cache-status"),
        "gatehouse; fwd=stale; detail=upstream-error"
    );
    assert_eq!(answer.json::<Value>().await.unwrap()["name"], "Ada");
    // A read's answer is kept on PostgreSQL too, and newer than the webhook's state.
    vendor_answers(
        &vendor,
        ResponseTemplate::new(200).set_body_json(acme_customer("Ada B.")),
    )
    .await;
    assert_eq!(app.get_as(CALLER_KEY, CUSTOMER).await.status(), 200);
    stored(&app, "crm/customer/c_1", |c| c["entity"]["name"] == "Ada B.").await;
    app.stop().await;
}

#[test]
fn fallback_configs_that_cannot_work_are_refused_naming_their_key() {
    let refused = |provider: &str| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.toml");
        std::fs::write(&path, provider).unwrap();
        match gatehouse::config::Config::load(&path) {
            Err(error) => error.to_string(),
            Ok(config) => gatehouse::providers::Providers::build(&config)
                .err()
                .expect("refused")
                .to_string(),
        }
    };
    let no_entities = refused("[providers.gh]\nadapter = \"github\"\nfallback = { read_model = true }\n");
    assert!(
        no_entities.contains("providers.gh.fallback.read_model"),
        "{no_entities}"
    );
    let unknown_route = refused(
        "[providers.crm]\nadapter = \"acme-crm\"\n[providers.crm.fallback.routes.\"/customers\"]\nmax_stale = \"1h\"\n",
    );
    assert!(
        unknown_route.contains("providers.crm.fallback.routes"),
        "{unknown_route}"
    );
    assert!(
        unknown_route.contains("/customers/{id}"),
        "names the reads it could be: {unknown_route}"
    );
    let zero =
        refused("[providers.crm]\nadapter = \"acme-crm\"\nfallback = { read_model = true, max_stale = \"0s\" }\n");
    assert!(zero.contains("providers.crm.fallback.max_stale"), "{zero}");
    let retention = refused("[retention]\nread_model = \"0s\"\n");
    assert!(retention.contains("retention.read_model"), "{retention}");
}

#[tokio::test]
async fn an_event_in_the_same_second_as_a_created_payment_is_not_taken_for_older() {
    let (_vendor, app) = pay_app("processing").await;
    let created = app
        .client
        .post(format!("{}/v1/pay/payments", app.addr))
        .bearer_auth(CALLER_KEY)
        .json(&json!({"amount": {"value": 2000, "currency": "usd"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    stored(&app, "pay/payment/pi_1", |p| p["entity"]["status"] == "pending").await;
    // Stripe dates its events in whole seconds: `succeeded`, created this very second, still wins.
    stripe_webhook(&app, "evt_ok", "payment_intent.succeeded", "succeeded", now() as i64).await;
    let kept: Value = admin_read_model(&app, "pay/payment/pi_1").await.json().await.unwrap();
    assert_eq!(kept["entity"]["status"], "succeeded", "{kept}");
}
