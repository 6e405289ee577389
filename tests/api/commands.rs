//! Deferred commands end to end (`Prefer: respond-async`): accepted with 202 and run in the background through the
//! adapter and policy stack, retried while the vendor fails and waiting out an open breaker, with one stable vendor
//! idempotency key; visible to their caller only; finished commands announced in the outbox; nothing lost across
//! a crash.

use std::time::Duration;

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;

/// `pay` (stripe) and `crm` (acme-crm) against `vendor` with `settings`, one vendor attempt per call; commands
/// retried quickly.
async fn app(vendor: &MockServer, settings: &str, commands: &str) -> TestApp {
    let settings = format!("retry = {{ max_attempts = 1 }}\n{settings}");
    let extra = provider_toml("pay", "stripe", &vendor.uri(), &settings)
        + &provider_toml("crm", "acme-crm", &vendor.uri(), &settings)
        + &callers_toml(&["pay", "crm"], None)
        + &format!(
            "\n[[callers]]\nname = \"other\"\nkey_sha256 = \"{}\"\nproviders = [\"*\"]\n",
            key_sha256(OTHER_CALLER)
        )
        + &format!("\n[commands]\nbase_delay = \"20ms\"\nmax_delay = \"50ms\"\npoll_every = \"50ms\"\n{commands}\n");
    spawn_app_with(&extra).await
}

const OTHER_CALLER: &str = "caller-key-other-0123456789";

fn payment_intent() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"id": "pi_1", "amount": 100, "currency": "usd",
        "status": "succeeded"}))
}

/// Sends `POST /v1/pay/payments` with `Prefer: respond-async`; returns the command id after checking the 202.
async fn submit(app: &TestApp, key: Option<&str>) -> String {
    let mut request = app
        .client
        .post(format!("{}/v1/pay/payments", app.addr))
        .bearer_auth(CALLER_KEY)
        .header("Prefer", "respond-async")
        .header("X-Correlation-Id", "corr-command-1")
        .json(&json!({"amount": {"value": 100, "currency": "usd"}}));
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 202);
    assert_eq!(response.headers()["preference-applied"], "respond-async");
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "pending");
    let id = body["id"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/v1/commands/{id}"));
    id
}

/// Polls `GET /v1/commands/{id}` until the command is no longer pending (at most 10 s).
async fn finished(app: &TestApp, id: &str) -> Value {
    for _ in 0..200 {
        let body: Value = app
            .get_as(CALLER_KEY, &format!("/v1/commands/{id}"))
            .await
            .json()
            .await
            .unwrap();
        if body["status"] != "pending" {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("command {id} still pending after 10 s");
}

/// The stored envelopes of the gateway's own events.
fn command_events(app: &TestApp) -> Vec<Value> {
    let conn = rusqlite::Connection::open(&app.db).unwrap();
    let mut stmt = conn
        .prepare("SELECT envelope FROM outbox WHERE provider = 'gatehouse' ORDER BY seq")
        .unwrap();
    stmt.query_map([], |r| r.get::<_, Vec<u8>>(0))
        .unwrap()
        .map(|e| serde_json::from_slice(&e.unwrap()).unwrap())
        .collect()
}

#[tokio::test]
async fn a_command_sent_while_the_vendor_fails_succeeds_once_it_recovers() {
    let vendor = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&vendor)
        .await;
    Mock::given(method("POST"))
        .respond_with(payment_intent())
        .mount(&vendor)
        .await;
    let app = app(&vendor, "", "").await;
    let id = submit(&app, None).await;
    let command = finished(&app, &id).await;
    assert_eq!(command["status"], "succeeded", "{command}");
    assert_eq!(command["attempts"], 3);
    assert_eq!(command["response"]["status"], 201);
    assert_eq!(command["response"]["body"]["id"], "pi_1");
    assert_eq!(
        command["response"]["body"]["amount"],
        json!({"value": 100, "currency": "usd"})
    );

    let requests = vendor.received_requests().await.unwrap();
    assert_eq!(requests.len(), 3);
    let keys: Vec<_> = requests.iter().map(|r| r.headers["idempotency-key"].clone()).collect();
    assert!(keys.iter().all(|k| *k == keys[0]), "one stable vendor key: {keys:?}");
    assert_eq!(keys[0], format!("svc:command-{id}"));

    let events = command_events(&app);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["type"], "gatehouse.command.succeeded");
    assert_eq!(events[0]["subject"], id);
    assert_eq!(events[0]["correlationid"], "corr-command-1");
    assert_eq!(events[0]["data"]["response"]["body"]["id"], "pi_1");
    app.stop().await;
}

#[tokio::test]
async fn a_command_waits_out_an_open_breaker_without_spending_attempts() {
    let vendor = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&vendor)
        .await;
    Mock::given(method("POST"))
        .respond_with(payment_intent())
        .mount(&vendor)
        .await;
    let breaker = r#"circuit_breaker = { window = 2, min_calls = 2, failure_rate = 0.5, open_for = "400ms", half_open_calls = 1 }"#;
    let app = app(&vendor, breaker, "max_attempts = 1").await;
    for _ in 0..2 {
        assert_eq!(app.get_as(CALLER_KEY, "/v1/pay/payments/pi_x").await.status(), 502);
    }
    assert_eq!(app.admin_provider("pay").await["outbound"]["breaker"]["state"], "open");
    let id = submit(&app, None).await;
    let command = finished(&app, &id).await;
    assert_eq!(command["status"], "succeeded", "ran once the breaker let it: {command}");
    assert_eq!(command["attempts"], 1, "waiting on the breaker spent no attempt");
    let posts = vendor.received_requests().await.unwrap();
    assert_eq!(posts.iter().filter(|r| r.method.as_str() == "POST").count(), 1);
    app.stop().await;
}

#[tokio::test]
async fn a_vendor_refusal_fails_the_command_at_once_and_announces_it() {
    let vendor = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/payment_intents"))
        .respond_with(
            ResponseTemplate::new(402).set_body_json(json!({"error": {"message": "Your card was declined."}})),
        )
        .mount(&vendor)
        .await;
    let app = app(&vendor, "", "").await;
    let id = submit(&app, Some("order-9")).await;
    let command = finished(&app, &id).await;
    assert_eq!(command["status"], "failed");
    assert_eq!(command["attempts"], 1);
    assert_eq!(command["response"]["status"], 400);
    assert_eq!(
        command["response"]["body"]["type"],
        "urn:gatehouse:problem:invalid-request"
    );
    assert!(
        command["response"]["body"]["detail"]
            .as_str()
            .unwrap()
            .contains("declined")
    );
    let requests = vendor.received_requests().await.unwrap();
    assert_eq!(
        requests[0].headers["idempotency-key"], "svc:order-9",
        "the caller's key, forwarded"
    );
    let events = command_events(&app);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["type"], "gatehouse.command.failed");

    // The submission itself is idempotent: the same request again is the same 202, and no second command.
    let again = app
        .client
        .post(format!("{}/v1/pay/payments", app.addr))
        .bearer_auth(CALLER_KEY)
        .header("Prefer", "respond-async")
        .header("Idempotency-Key", "order-9")
        .json(&json!({"amount": {"value": 100, "currency": "usd"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 202);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<Value>().await.unwrap()["id"], id);
    app.stop().await;
}

#[tokio::test]
async fn a_command_is_visible_to_its_caller_only() {
    let vendor = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(payment_intent())
        .mount(&vendor)
        .await;
    let app = app(&vendor, "", "").await;
    let id = submit(&app, None).await;
    finished(&app, &id).await;
    let theirs = problem(
        app.get_as(OTHER_CALLER, &format!("/v1/commands/{id}")).await,
        404,
        "not-found",
    )
    .await;
    let unknown = "0190a5c4-0000-7000-8000-000000000000";
    let none = problem(
        app.get_as(CALLER_KEY, &format!("/v1/commands/{unknown}")).await,
        404,
        "not-found",
    )
    .await;
    assert_eq!(
        theirs["detail"].as_str().unwrap().replace(&id, "ID"),
        none["detail"].as_str().unwrap().replace(unknown, "ID"),
        "another caller's command looks exactly like a missing one"
    );
    problem(
        app.get_as(CALLER_KEY, "/v1/commands/not-a-uuid").await,
        404,
        "not-found",
    )
    .await;
    problem(
        app.get_as("wrong-key", &format!("/v1/commands/{id}")).await,
        401,
        "unauthorized",
    )
    .await;
    app.stop().await;
}

#[tokio::test]
async fn invalid_deferred_requests_are_refused_and_store_nothing() {
    let vendor = MockServer::start().await;
    let app = app(&vendor, "", "").await;
    let send = |method: reqwest::Method, target: &str, body: Value| {
        app.client
            .request(method, format!("{}{target}", app.addr))
            .bearer_auth(CALLER_KEY)
            .header("Prefer", "wait=5, respond-async")
            .json(&body)
            .send()
    };
    let read = send(reqwest::Method::GET, "/v1/pay/payments/pi_1", Value::Null)
        .await
        .unwrap();
    let body = problem(read, 400, "invalid-request").await;
    assert!(body["detail"].as_str().unwrap().contains("respond-async"), "{body}");
    let invalid = send(
        reqwest::Method::POST,
        "/v1/pay/payments",
        json!({"amount": {"value": -1, "currency": "usd"}}),
    );
    let body = problem(invalid.await.unwrap(), 400, "invalid-request").await;
    assert!(body["detail"].as_str().unwrap().contains("amount.value"), "{body}");
    let missing = send(reqwest::Method::POST, "/v1/crm/customers", json!({"name": "Ada"}));
    problem(missing.await.unwrap(), 400, "invalid-request").await;
    let conn = rusqlite::Connection::open(&app.db).unwrap();
    let stored: i64 = conn
        .query_row("SELECT COUNT(*) FROM commands", [], |r| r.get(0))
        .unwrap();
    assert_eq!(stored, 0);
    assert_eq!(hits(&vendor).await, 0);
    app.stop().await;
}

#[tokio::test]
async fn a_crash_mid_command_loses_nothing() {
    let vendor = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(payment_intent().set_delay(Duration::from_millis(900)))
        .mount(&vendor)
        .await;
    let app = app(&vendor, r#"timeout = "1s""#, r#"lease = "1200ms""#).await;
    let id = submit(&app, None).await;
    // Crash while the vendor call is in flight.
    for _ in 0..100 {
        if hits(&vendor).await > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(hits(&vendor).await, 1);
    let app = app.crash_and_restart().await;
    let command = finished(&app, &id).await;
    assert_eq!(command["status"], "succeeded", "{command}");
    let requests = vendor.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2, "run again after the lease expired");
    assert_eq!(
        requests[0].headers["idempotency-key"], requests[1].headers["idempotency-key"],
        "with the same vendor key, so the vendor deduplicates"
    );
    assert_eq!(command_events(&app).len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn a_command_fails_once_its_attempts_are_spent() {
    let vendor = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&vendor)
        .await;
    let app = app(&vendor, "", "max_attempts = 2").await;
    let id = submit(&app, None).await;
    let command = finished(&app, &id).await;
    assert_eq!(command["status"], "failed", "{command}");
    assert_eq!(command["attempts"], 2);
    assert_eq!(command["response"]["status"], 502);
    assert_eq!(
        command["response"]["body"]["type"],
        "urn:gatehouse:problem:upstream-error"
    );
    assert_eq!(hits(&vendor).await, 2);
    let events = command_events(&app);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["type"], "gatehouse.command.failed");
    assert_eq!(events[0]["data"]["attempts"], 2);
    app.stop().await;
}

/// A vendor that answers the first payment with 429 and `retry_after`, then succeeds: the command succeeds on its
/// second attempt (the 429 spent one).
async fn succeeds_after_a_429(retry_after: &str) {
    let vendor = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", retry_after))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&vendor)
        .await;
    Mock::given(method("POST"))
        .respond_with(payment_intent())
        .mount(&vendor)
        .await;
    let app = app(&vendor, "", "").await;
    let id = submit(&app, None).await;
    let command = finished(&app, &id).await;
    assert_eq!(command["status"], "succeeded", "{command}");
    assert_eq!(command["attempts"], 2, "the 429 spent an attempt");
    assert_eq!(hits(&vendor).await, 2);
    app.stop().await;
}

#[tokio::test]
async fn a_vendor_429_counts_as_an_attempt_and_its_retry_after_is_honoured() {
    succeeds_after_a_429("0").await;
}

#[tokio::test]
async fn a_vendor_retry_after_is_capped_by_commands_max_delay() {
    // About a century: uncapped, the command would be parked until then (and `finished` gives up after 10 s).
    succeeds_after_a_429("3153600000").await;
}
