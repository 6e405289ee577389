//! `Idempotency-Key` end to end: replays byte for byte without the vendor, 409 while the first request runs, 422
//! for another request under the same key, keys scoped per caller (at the vendor too), keys released after
//! gateway-made failures, a crashed request run again, a call finished for a caller that went away, and bad keys
//! refused.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;

const SECOND_KEY: &str = "caller-key-second-0123456789";

/// `crm` (acme-crm) and `pay` (stripe) against `vendor`, no retries, `settings` on both; callers `svc` and
/// `second` may call both.
async fn app(vendor: &MockServer, settings: &str) -> TestApp {
    let settings = format!("retry = {{ max_attempts = 1 }}\n{settings}");
    let extra = provider_toml("crm", "acme-crm", &vendor.uri(), &settings)
        + &provider_toml("pay", "stripe", &vendor.uri(), &settings)
        + &callers_toml(&["crm", "pay"], None)
        + &format!(
            "\n[[callers]]\nname = \"second\"\nkey_sha256 = \"{}\"\nproviders = [\"*\"]\n",
            key_sha256(SECOND_KEY)
        );
    spawn_app_with(&extra).await
}

fn created(id: &str) -> ResponseTemplate {
    ResponseTemplate::new(201).set_body_json(customer(id))
}

fn customer(id: &str) -> Value {
    json!({"cust_id": id, "full_name": "Ada", "email_address": "a@x.io", "lifetime_value": "10.00",
           "created": "2026-01-02 10:00:00"})
}

async fn post(app: &TestApp, caller: &str, target: &str, key: Option<&str>, body: &Value) -> reqwest::Response {
    let request = app
        .client
        .request(Method::POST, format!("{}{target}", app.addr))
        .bearer_auth(caller)
        .json(body);
    match key {
        Some(key) => request.header("Idempotency-Key", key),
        None => request,
    }
    .send()
    .await
    .unwrap()
}

fn payment_intent() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"id": "pi_1", "amount": 100, "currency": "usd",
        "status": "succeeded"}))
}

fn ada() -> Value {
    json!({"name": "Ada", "email": "a@x.io"})
}

#[tokio::test]
async fn a_completed_request_is_replayed_byte_for_byte_without_the_vendor() {
    let vendor = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(created("c_1"))
        .mount(&vendor)
        .await;
    let app = app(&vendor, "").await;

    let first = post(&app, CALLER_KEY, "/v1/crm/customers", Some("k-1"), &ada()).await;
    assert_eq!(first.status(), 201);
    assert!(!first.headers().contains_key("idempotent-replayed"));
    let first_type = first.headers()["content-type"].clone();
    let first_body = first.bytes().await.unwrap();
    for _ in 0..2 {
        let again = post(&app, CALLER_KEY, "/v1/crm/customers", Some("k-1"), &ada()).await;
        assert_eq!(again.status(), 201);
        assert_eq!(again.headers()["idempotent-replayed"], "true");
        assert_eq!(again.headers()["content-type"], first_type);
        assert!(again.headers().contains_key("ratelimit-policy") || again.headers().contains_key("x-correlation-id"));
        assert_eq!(again.bytes().await.unwrap(), first_body, "the same bytes");
    }
    assert_eq!(hits(&vendor).await, 1, "the vendor was called once");

    // Passthrough too: the vendor's own status, headers and body come back.
    vendor.reset().await;
    Mock::given(method("POST"))
        .and(path("/orders"))
        .respond_with(
            ResponseTemplate::new(202)
                .insert_header("content-type", "text/plain")
                .insert_header("location", "/orders/9")
                .set_body_string("queued #9"),
        )
        .mount(&vendor)
        .await;
    for replayed in [false, true] {
        let response = post(&app, CALLER_KEY, "/proxy/crm/orders", Some("k-2"), &json!({"n": 1})).await;
        assert_eq!(response.status(), 202);
        assert_eq!(response.headers().contains_key("idempotent-replayed"), replayed);
        assert_eq!(response.headers()["location"], "/orders/9");
        assert_eq!(response.headers()["content-type"], "text/plain");
        assert_eq!(response.text().await.unwrap(), "queued #9");
    }
    assert_eq!(hits(&vendor).await, 1);
    app.stop().await;
}

#[tokio::test]
async fn a_key_in_use_is_409_while_the_first_request_runs() {
    let vendor = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(created("c_1").set_delay(Duration::from_millis(600)))
        .mount(&vendor)
        .await;
    let app = app(&vendor, "").await;
    let body = ada();
    let (a, b) = tokio::join!(
        post(&app, CALLER_KEY, "/v1/crm/customers", Some("slow"), &body),
        post(&app, CALLER_KEY, "/v1/crm/customers", Some("slow"), &body),
    );
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 409]);
    let conflict = if a.status() == 409 { a } else { b };
    problem(conflict, 409, "idempotency-key-in-use").await;
    assert_eq!(hits(&vendor).await, 1);
    // Once done, the same request is a replay.
    let again = post(&app, CALLER_KEY, "/v1/crm/customers", Some("slow"), &body).await;
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(hits(&vendor).await, 1);
    app.stop().await;
}

#[tokio::test]
async fn another_request_under_a_used_key_is_422() {
    let vendor = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(created("c_1"))
        .mount(&vendor)
        .await;
    Mock::given(method("PATCH"))
        .respond_with(created("c_1"))
        .mount(&vendor)
        .await;
    let app = app(&vendor, "").await;
    assert_eq!(
        post(&app, CALLER_KEY, "/v1/crm/customers", Some("k"), &ada())
            .await
            .status(),
        201
    );
    let changed = json!({"name": "Ada L.", "email": "a@x.io"});
    problem(
        post(&app, CALLER_KEY, "/v1/crm/customers", Some("k"), &changed).await,
        422,
        "idempotency-key-mismatch",
    )
    .await;
    problem(
        post(&app, CALLER_KEY, "/v1/crm/customers?x=1", Some("k"), &ada()).await,
        422,
        "idempotency-key-mismatch",
    )
    .await;
    let patch = app
        .client
        .patch(format!("{}/v1/crm/customers/c_1", app.addr))
        .bearer_auth(CALLER_KEY)
        .header("Idempotency-Key", "k")
        .json(&ada())
        .send()
        .await
        .unwrap();
    problem(patch, 422, "idempotency-key-mismatch").await;
    assert_eq!(hits(&vendor).await, 1);
    app.stop().await;
}

#[tokio::test]
async fn keys_are_scoped_per_caller() {
    let vendor = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(created("c_1"))
        .mount(&vendor)
        .await;
    let app = app(&vendor, "").await;
    for caller in [CALLER_KEY, SECOND_KEY] {
        let response = post(&app, caller, "/v1/crm/customers", Some("shared"), &ada()).await;
        assert_eq!(response.status(), 201);
        assert!(!response.headers().contains_key("idempotent-replayed"));
    }
    assert_eq!(hits(&vendor).await, 2, "each caller's first request ran");
    app.stop().await;
}

#[tokio::test]
async fn failures_before_any_vendor_answer_release_the_key() {
    let vendor = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(created("c_1").set_delay(Duration::from_millis(1500)))
        .mount(&vendor)
        .await;
    let app = app(
        &vendor,
        r#"timeout = "300ms"
rate_limit = { per_second = 1, burst = 1 }"#,
    )
    .await;
    // The vendor is too slow: 504, and the key is free again.
    problem(
        post(&app, CALLER_KEY, "/v1/crm/customers", Some("t"), &ada()).await,
        504,
        "upstream-timeout",
    )
    .await;
    // The provider's limit is spent: 429, and the key is free again.
    problem(
        post(&app, CALLER_KEY, "/v1/crm/customers", Some("r"), &ada()).await,
        429,
        "rate-limited",
    )
    .await;
    // The caller's body is invalid: 400 before any vendor call, and the key is free again.
    problem(
        post(&app, CALLER_KEY, "/v1/crm/customers", Some("v"), &json!({"name": 1})).await,
        400,
        "invalid-request",
    )
    .await;
    // Each key is free again: the same request gets the gateway's answer again, never 409.
    for (key, body) in [("t", ada()), ("r", ada()), ("v", json!({"name": 1}))] {
        let again = post(&app, CALLER_KEY, "/v1/crm/customers", Some(key), &body).await;
        assert!(
            matches!(again.status().as_u16(), 429 | 400),
            "key {key}: {}",
            again.status()
        );
    }
    let held = |key: &str| {
        let conn = rusqlite::Connection::open(&app.db).unwrap();
        conn.query_row("SELECT COUNT(*) FROM idempotency_keys WHERE key = ?1", [key], |r| {
            r.get::<_, i64>(0)
        })
        .unwrap()
    };
    for key in ["t", "r", "v"] {
        assert_eq!(held(key), 0, "nothing stored for key {key}");
    }
    // A released key runs again (even with another body), once the vendor is quick.
    vendor.reset().await;
    Mock::given(method("POST"))
        .respond_with(created("c_2"))
        .mount(&vendor)
        .await;
    tokio::time::sleep(Duration::from_millis(1100)).await; // the provider's rate limit refills
    let retried = post(&app, CALLER_KEY, "/v1/crm/customers", Some("v"), &ada()).await;
    assert_eq!(retried.status(), 201);
    assert_eq!(held("v"), 1);
    app.stop().await;
}

#[tokio::test]
async fn a_crashed_requests_retry_runs_again_with_the_same_vendor_key() {
    let vendor = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/payment_intents"))
        .respond_with(payment_intent().set_delay(Duration::from_millis(800)))
        .mount(&vendor)
        .await;
    let app = app(&vendor, "").await;
    let body = json!({"amount": {"value": 100, "currency": "usd"}});
    let pay = |app: &TestApp| {
        app.client
            .post(format!("{}/v1/pay/payments", app.addr))
            .bearer_auth(CALLER_KEY)
            .header("Idempotency-Key", "pay-1")
            .json(&body)
            .send()
    };
    // The gateway dies while the vendor call is in flight: nothing was stored for the key.
    let in_flight = tokio::spawn(pay(&app));
    for _ in 0..100 {
        if hits(&vendor).await > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let app = app.crash_and_restart().await;
    in_flight.abort();
    let response = pay(&app).await.unwrap();
    assert_eq!(response.status(), 201, "the retry ran");
    assert!(!response.headers().contains_key("idempotent-replayed"));
    let requests = vendor.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2);
    for request in &requests {
        assert_eq!(
            request.headers["idempotency-key"], "svc:pay-1",
            "the vendor deduplicates with it"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn a_caller_that_goes_away_still_gets_its_answer_kept() {
    let vendor = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(created("c_1").set_delay(Duration::from_millis(500)))
        .mount(&vendor)
        .await;
    let app = app(&vendor, "").await;
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let gone = impatient
        .post(format!("{}/v1/crm/customers", app.addr))
        .bearer_auth(CALLER_KEY)
        .header("Idempotency-Key", "impatient")
        .json(&ada())
        .send()
        .await;
    assert!(gone.is_err(), "the caller gave up");
    // Its retry waits out the running call (409), then gets the answer the vendor gave, without a second call.
    let mut replayed = None;
    for _ in 0..50 {
        let retry = post(&app, CALLER_KEY, "/v1/crm/customers", Some("impatient"), &ada()).await;
        if retry.status() != 409 {
            replayed = Some(retry);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let replayed = replayed.expect("the first call finished");
    assert_eq!(replayed.status(), 201);
    assert_eq!(replayed.headers()["idempotent-replayed"], "true");
    assert_eq!(hits(&vendor).await, 1);
    app.stop().await;
}

#[tokio::test]
async fn passthrough_keys_reach_the_vendor_per_caller_and_prefer_async_is_refused() {
    let vendor = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(201))
        .mount(&vendor)
        .await;
    let app = app(&vendor, "").await;
    for caller in [CALLER_KEY, SECOND_KEY] {
        let response = post(&app, caller, "/proxy/pay/v1/charges", Some("order-1"), &json!({})).await;
        assert_eq!(response.status(), 201);
    }
    let keys = sent_header(&vendor, "idempotency-key", None).await;
    assert_eq!(
        keys,
        ["svc:order-1", "second:order-1"],
        "two callers' keys never meet at the vendor"
    );
    problem(
        post(
            &app,
            CALLER_KEY,
            "/proxy/pay/v1/charges",
            Some("order-1"),
            &json!({"other": 1}),
        )
        .await,
        422,
        "idempotency-key-mismatch",
    )
    .await;
    let deferred = app
        .client
        .post(format!("{}/proxy/pay/v1/charges", app.addr))
        .bearer_auth(CALLER_KEY)
        .header("Prefer", "respond-async")
        .send()
        .await
        .unwrap();
    let body = problem(deferred, 400, "invalid-request").await;
    assert!(body["detail"].as_str().unwrap().contains("respond-async"), "{body}");
    assert_eq!(hits(&vendor).await, 2);
    app.stop().await;
}

#[tokio::test]
async fn bad_keys_are_refused_and_keys_on_reads_ignored() {
    let vendor = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(created("c_1"))
        .mount(&vendor)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(customer("c_1")))
        .mount(&vendor)
        .await;
    let app = app(&vendor, "").await;
    let long = "k".repeat(256);
    for key in ["", " ", long.as_str(), "caf\u{e9}"] {
        let request = app
            .client
            .post(format!("{}/v1/crm/customers", app.addr))
            .bearer_auth(CALLER_KEY)
            .header(
                "Idempotency-Key",
                reqwest::header::HeaderValue::from_bytes(key.as_bytes()).unwrap(),
            )
            .json(&ada());
        let body = problem(request.send().await.unwrap(), 400, "invalid-request").await;
        assert!(body["detail"].as_str().unwrap().contains("Idempotency-Key"), "{body}");
    }
    let longest = "k".repeat(255);
    assert_eq!(
        post(&app, CALLER_KEY, "/v1/crm/customers", Some(&longest), &ada())
            .await
            .status(),
        201
    );
    assert_eq!(hits(&vendor).await, 1, "refused keys never reached the vendor");
    for _ in 0..2 {
        let read = app
            .client
            .get(format!("{}/v1/crm/customers/c_1", app.addr))
            .bearer_auth(CALLER_KEY)
            .header("Idempotency-Key", "read")
            .send()
            .await
            .unwrap();
        assert_eq!(read.status(), 200);
        assert!(!read.headers().contains_key("idempotent-replayed"));
    }
    assert_eq!(hits(&vendor).await, 3, "reads with a key still reach the vendor");
    app.stop().await;
}

#[tokio::test]
async fn an_open_breaker_releases_the_key() {
    let vendor = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&vendor)
        .await;
    Mock::given(method("POST"))
        .respond_with(created("c_1"))
        .mount(&vendor)
        .await;
    let breaker =
        r#"circuit_breaker = { window = 2, min_calls = 2, failure_rate = 0.5, open_for = "1h", half_open_calls = 1 }"#;
    let app = app(&vendor, breaker).await;
    for _ in 0..2 {
        assert_eq!(app.get_as(CALLER_KEY, "/v1/crm/customers/c_1").await.status(), 502);
    }
    for _ in 0..2 {
        let refused = post(&app, CALLER_KEY, "/v1/crm/customers", Some("while-open"), &ada()).await;
        problem(refused, 503, "circuit-open").await;
    }
    assert_eq!(hits(&vendor).await, 2, "no create reached the vendor");
    app.stop().await;
}
