//! Sagas against fake vendors (acme-crm as `crm`, stripe as `pay`, on one wiremock server): the checkout saga of
//! the README completes, each step's call carrying its stable vendor key and the caller's correlation id, and its
//! outcome is an event; a refused payment undoes the customer; transient failures are retried, of steps and of
//! compensations; a compensation that cannot succeed leaves the saga `failed` (visible, logged, counted) until an
//! operator retries it.

use std::time::Duration;

use serde_json::{Value, json};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;
use crate::log_capture::Captured;

/// The checkout saga of the README, on providers `crm` and `pay`.
pub const CHECKOUT: &str = r#"
[[sagas]]
name = "checkout"
callers = ["svc"]
[[sagas.steps]]
name = "customer"
provider = "crm"
call = { method = "POST", path = "/customers", body = { name = "{input.name}", email = "{input.email}" } }
compensate = { method = "DELETE", path = "/customers/{steps.customer.id}" }
[[sagas.steps]]
name = "payment"
provider = "pay"
call = { method = "POST", path = "/payments", body = { amount = { value = "{input.amount}", currency = "usd" }, customer_id = "{steps.customer.id}" } }
compensate = { method = "POST", path = "/payments/{steps.payment.id}/cancel" }
"#;

/// `crm` and `pay` against `vendor` without retries of their own, fast saga retries (`max_attempts` of them).
pub fn sagas_toml(vendor: &str, max_attempts: u32) -> String {
    let no_retries = "retry = { max_attempts = 1 }";
    provider_toml("crm", "acme-crm", vendor, no_retries)
        + &provider_toml("pay", "stripe", vendor, no_retries)
        + &callers_toml(&["crm", "pay"], None)
        + &format!(
            "\n[commands]\nbase_delay = \"20ms\"\nmax_delay = \"50ms\"\npoll_every = \"50ms\"\nmax_attempts = {max_attempts}\n"
        )
        + CHECKOUT
}

pub fn customer_created() -> ResponseTemplate {
    ResponseTemplate::new(201).set_body_json(json!({"cust_id": "cus_1", "full_name": "Ada",
        "email_address": "ada@example.com", "lifetime_value": "0.00", "created": "2026-01-02 10:00:00"}))
}

pub fn payment_created() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"id": "pi_1", "amount": 2000, "currency": "usd",
        "customer": "cus_1", "status": "succeeded"}))
}

pub fn input() -> Value {
    json!({"name": "Ada", "email": "ada@example.com", "amount": 2000})
}

pub async fn mount(vendor: &MockServer, verb: &str, route: &str, template: ResponseTemplate) {
    Mock::given(method(verb))
        .and(path(route))
        .respond_with(template)
        .mount(vendor)
        .await;
}

/// `POST /v1/sagas/{name}` as `svc`.
pub async fn start(app: &TestApp, name: &str, body: &Value, key: Option<&str>) -> reqwest::Response {
    let request = app
        .client
        .post(format!("{}/v1/sagas/{name}", app.addr))
        .bearer_auth(CALLER_KEY)
        .header("X-Correlation-Id", "corr-saga-1")
        .json(body);
    let request = match key {
        Some(key) => request.header("Idempotency-Key", key),
        None => request,
    };
    request.send().await.unwrap()
}

/// Starts the checkout saga; its id, after checking the 202.
pub async fn started(app: &TestApp, body: &Value) -> String {
    let response = start(app, "checkout", body, None).await;
    assert_eq!(response.status(), 202);
    response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Polls `GET /v1/sagas/{id}` until the saga is in a final state; the saga.
pub async fn finished(app: &TestApp, id: &str) -> Value {
    for _ in 0..400 {
        let saga: Value = app
            .get_as(CALLER_KEY, &format!("/v1/sagas/{id}"))
            .await
            .json()
            .await
            .unwrap();
        if ["completed", "compensated", "failed"].contains(&saga["status"].as_str().unwrap_or_default()) {
            return saga;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("saga {id} did not finish");
}

/// `POST /admin/sagas/{id}/retry` with the admin token.
async fn retry(app: &TestApp, id: &str) -> reqwest::Response {
    let url = format!("{}/admin/sagas/{id}/retry", app.addr);
    app.client.post(url).bearer_auth(ADMIN_TOKEN).send().await.unwrap()
}

/// The `gatehouse.saga.*` events in the outbox: their envelopes.
async fn saga_events(app: &TestApp) -> Vec<Value> {
    let list: Value = app
        .get_as(ADMIN_TOKEN, "/admin/events?provider=gatehouse")
        .await
        .json()
        .await
        .unwrap();
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| app.envelope(e["id"].as_str().unwrap()))
        .collect()
}

#[tokio::test]
async fn a_checkout_runs_both_steps_with_stable_keys_and_announces_its_completion() {
    let vendor = MockServer::start().await;
    mount(&vendor, "POST", "/customers", customer_created()).await;
    mount(&vendor, "POST", "/v1/payment_intents", payment_created()).await;
    let app = spawn_app_with(&sagas_toml(&vendor.uri(), 3)).await;
    let response = start(&app, "checkout", &input(), None).await;
    assert_eq!(response.status(), 202);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let body: Value = response.json().await.unwrap();
    let id = body["id"].as_str().unwrap();
    assert_eq!(location, format!("/v1/sagas/{id}"));
    assert_eq!(body["status"], "running");

    let saga = finished(&app, id).await;
    assert_eq!(saga["status"], "completed", "{saga}");
    assert_eq!(saga["saga"], "checkout");
    assert_eq!(saga["steps"][0]["status"], "completed");
    assert_eq!(saga["steps"][0]["result"]["id"], "cus_1");
    assert_eq!(saga["steps"][1]["result"]["id"], "pi_1");
    assert_eq!(saga["steps"][1]["attempts"], 1);

    // Each step sent its own key, the caller's correlation id, and the translated templates.
    let requests = vendor.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2);
    assert_eq!(
        requests[0].headers["idempotency-key"],
        format!("saga-{id}-customer").as_str()
    );
    assert_eq!(
        requests[1].headers["idempotency-key"],
        format!("saga-{id}-payment").as_str()
    );
    assert!(requests.iter().all(|r| r.headers["x-correlation-id"] == "corr-saga-1"));
    let customer: Value = serde_json::from_slice(&requests[0].body).unwrap();
    assert_eq!(
        customer,
        json!({"full_name": "Ada", "email_address": "ada@example.com"})
    );
    let form = String::from_utf8(requests[1].body.clone()).unwrap();
    assert!(
        form.contains("amount=2000") && form.contains("customer=cus_1"),
        "{form}"
    );

    let events = saga_events(&app).await;
    assert_eq!(events.len(), 1);
    let event = &events[0];
    assert_eq!(event["type"], "gatehouse.saga.completed");
    assert_eq!(event["correlationid"], "corr-saga-1");
    assert_eq!(event["causationid"], id);
    assert_eq!(event["subject"], id);
    assert_eq!(event["data"]["steps"][1]["result"]["id"], "pi_1");
    app.stop().await;
}

#[tokio::test]
async fn a_refused_payment_undoes_the_customer_and_the_saga_is_compensated() {
    let vendor = MockServer::start().await;
    mount(&vendor, "POST", "/customers", customer_created()).await;
    let declined = ResponseTemplate::new(402).set_body_json(json!({"error": {"type": "card_error",
        "code": "card_declined", "message": "Your card was declined."}}));
    mount(&vendor, "POST", "/v1/payment_intents", declined).await;
    Mock::given(method("DELETE"))
        .and(path("/customers/cus_1"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&vendor)
        .await;
    let app = spawn_app_with(&sagas_toml(&vendor.uri(), 3)).await;
    let id = started(&app, &input()).await;
    let saga = finished(&app, &id).await;
    assert_eq!(saga["status"], "compensated", "{saga}");
    assert_eq!(saga["steps"][0]["status"], "compensated");
    assert_eq!(saga["steps"][1]["status"], "failed");
    assert_eq!(saga["steps"][1]["attempts"], 1, "a refusal is not retried");
    assert!(
        saga["steps"][1]["error"]
            .as_str()
            .unwrap()
            .contains("card was declined"),
        "{saga}"
    );
    let requests = vendor.received_requests().await.unwrap();
    let undo = requests.iter().find(|r| r.url.path() == "/customers/cus_1").unwrap();
    assert_eq!(undo.method.as_str(), "DELETE");
    assert!(
        undo.headers.get("idempotency-key").is_none(),
        "Acme's deletion takes no key"
    );
    let events = saga_events(&app).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["type"], "gatehouse.saga.compensated");
    assert_eq!(events[0]["data"]["status"], "compensated");
    app.stop().await;
    vendor.verify().await;
}

#[tokio::test]
async fn transient_failures_of_a_step_and_of_a_compensation_are_retried() {
    let vendor = MockServer::start().await;
    // The payment fails twice (503), then goes through.
    Mock::given(method("POST"))
        .and(path("/v1/payment_intents"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&vendor)
        .await;
    mount(&vendor, "POST", "/v1/payment_intents", payment_created()).await;
    mount(&vendor, "POST", "/customers", customer_created()).await;
    let app = spawn_app_with(&sagas_toml(&vendor.uri(), 3)).await;
    let id = started(&app, &input()).await;
    let saga = finished(&app, &id).await;
    assert_eq!(saga["status"], "completed", "{saga}");
    assert_eq!(saga["steps"][1]["attempts"], 3);
    let keys = sent_header(&vendor, "idempotency-key", Some("/v1/payment_intents")).await;
    assert_eq!(
        keys,
        vec![format!("saga-{id}-payment"); 3],
        "every attempt sends the same key"
    );

    // Now the payment is refused, and the customer's deletion fails once before it goes through.
    vendor.reset().await;
    mount(&vendor, "POST", "/customers", customer_created()).await;
    mount(
        &vendor,
        "POST",
        "/v1/payment_intents",
        ResponseTemplate::new(400).set_body_json(json!({"error": {
        "type": "invalid_request_error", "message": "Amount too small."}})),
    )
    .await;
    Mock::given(method("DELETE"))
        .and(path("/customers/cus_1"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&vendor)
        .await;
    mount(&vendor, "DELETE", "/customers/cus_1", ResponseTemplate::new(204)).await;
    let id = started(&app, &input()).await;
    let saga = finished(&app, &id).await;
    assert_eq!(saga["status"], "compensated", "{saga}");
    assert_eq!(saga["steps"][0]["compensation_attempts"], 2);
    app.stop().await;
}

#[tokio::test]
async fn a_compensation_that_cannot_succeed_fails_the_saga_until_an_operator_retries_it() {
    let logs = Captured::default();
    let _guard = logs.install();
    let vendor = MockServer::start().await;
    mount(&vendor, "POST", "/customers", customer_created()).await;
    mount(
        &vendor,
        "POST",
        "/v1/payment_intents",
        ResponseTemplate::new(402).set_body_json(json!({"error": {
        "type": "card_error", "message": "Your card was declined."}})),
    )
    .await;
    mount(&vendor, "DELETE", "/customers/cus_1", ResponseTemplate::new(500)).await;
    let app = spawn_app_with(&sagas_toml(&vendor.uri(), 2)).await;
    let id = started(&app, &input()).await;
    let saga = finished(&app, &id).await;
    assert_eq!(saga["status"], "failed", "{saga}");
    assert_eq!(saga["failed_step"], "customer");
    assert_eq!(saga["steps"][0]["status"], "compensation_failed");
    assert_eq!(saga["steps"][0]["compensation_attempts"], 2);

    // Visible to operators, logged, counted, announced.
    let failed: Value = app
        .get_as(ADMIN_TOKEN, "/admin/sagas?status=failed&name=checkout")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(failed["data"].as_array().unwrap().len(), 1);
    assert_eq!(failed["data"][0]["id"], id.as_str());
    let none: Value = app
        .get_as(ADMIN_TOKEN, "/admin/sagas?status=failed&name=refund")
        .await
        .json()
        .await
        .unwrap();
    assert!(none["data"].as_array().unwrap().is_empty());
    let warned = logs.events("gatehouse::sagas::executor").into_iter().any(|e| {
        e["level"] == "WARN"
            && e["fields"]["message"]
                .as_str()
                .unwrap_or_default()
                .starts_with("saga compensation failed")
    });
    assert!(warned, "{}", logs.text());
    // (The recorder is the test process's: other tests' sagas count there too.)
    let metrics = app.metrics().await;
    assert!(
        metrics.contains(r#"gatehouse_sagas_finished_total{saga="checkout",status="failed"} "#),
        "{metrics}"
    );
    assert_eq!(saga_events(&app).await[0]["type"], "gatehouse.saga.failed");

    // The vendor recovers; an operator retries; the saga ends compensated, announced again.
    vendor.reset().await;
    Mock::given(method("DELETE"))
        .and(path_regex("^/customers/cus_1$"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&vendor)
        .await;
    let retried = retry(&app, &id).await;
    assert_eq!(retried.status(), 200);
    let saga = finished(&app, &id).await;
    assert_eq!(saga["status"], "compensated", "{saga}");
    let types: Vec<Value> = saga_events(&app).await.iter().map(|e| e["type"].clone()).collect();
    assert!(types.contains(&json!("gatehouse.saga.compensated")), "{types:?}");
    let again = retry(&app, &id).await;
    problem(again, 409, "saga-not-failed").await;
    let detail: Value = app
        .get_as(ADMIN_TOKEN, &format!("/admin/sagas/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(detail["retries"], 1);
    assert_eq!(detail["input"], input());
    app.stop().await;
    vendor.verify().await;
}
