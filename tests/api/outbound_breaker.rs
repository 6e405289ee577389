//! The circuit breaker end to end, on real (short) durations: it opens on 5xx and timeouts (and slow calls when
//! configured), never on 4xx; while open it answers 503 `circuit-open` with `Retry-After` without calling the vendor;
//! after `open_for` it admits at most `half_open_calls` probes, which close it on success or re-open it on failure.
//! (The state machine's corner cases are unit-tested in `src/upstream/breaker/tests.rs`.)

use std::time::{Duration, Instant};

use serde_json::json;
use wiremock::matchers::{any, method};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;

const CUSTOMER: &str = "/v1/br/customers/c_1";
/// The longest a [`quick_breaker`] stays open after its first trip.
const OPEN_FOR_AT_MOST: Duration = Duration::from_millis(650);

/// `br` (acme-crm) on `vendor`, without retries, with `breaker` as its `circuit_breaker` table and `settings`.
async fn app(vendor: &MockServer, breaker: &str, settings: &str) -> TestApp {
    let settings = format!("retry = {{ max_attempts = 1 }}\ncircuit_breaker = {breaker}\n{settings}");
    let extra = provider_toml("br", "acme-crm", &vendor.uri(), &settings) + &callers_toml(&["br"], None);
    spawn_app_with(&extra).await
}

/// Trips on 4 calls with half failing; open for 500 ms (±20% jitter); `probes` half-open calls decide.
fn quick_breaker(probes: usize) -> String {
    format!(r#"{{ window = 4, min_calls = 4, failure_rate = 0.5, open_for = "500ms", half_open_calls = {probes} }}"#)
}

async fn vendor_answers(vendor: &MockServer, template: ResponseTemplate) {
    vendor.reset().await;
    Mock::given(any()).respond_with(template).mount(vendor).await;
}

fn acme_customer() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"cust_id": "c_1", "full_name": "Ada",
        "email_address": "ada@example.com", "lifetime_value": "1.00", "created": "2026-01-02 10:00:00"}))
}

/// Four 500s: the breaker opens.
async fn trip(app: &TestApp, vendor: &MockServer) {
    vendor_answers(vendor, ResponseTemplate::new(500)).await;
    for _ in 0..4 {
        problem(app.get_as(CALLER_KEY, CUSTOMER).await, 502, "upstream-error").await;
    }
    assert_eq!(hits(vendor).await, 4);
}

/// The call is refused by the open breaker: 503 `circuit-open` with `Retry-After` (at most `max_wait` seconds, the
/// longest the breaker can stay open), and the vendor not called.
async fn assert_refused(app: &TestApp, vendor: &MockServer, route: &str, max_wait: u64) {
    let before = hits(vendor).await;
    let response = app.get_as(CALLER_KEY, route).await;
    let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=max_wait).contains(&retry_after), "Retry-After: {retry_after}");
    problem(response, 503, "circuit-open").await;
    assert_eq!(hits(vendor).await, before, "an open breaker does not call the vendor");
}

#[tokio::test]
async fn the_breaker_opens_on_5xx_refuses_without_calling_and_closes_after_a_good_probe() {
    let vendor = MockServer::start().await;
    let app = app(&vendor, &quick_breaker(1), "").await;
    trip(&app, &vendor).await;
    assert_refused(&app, &vendor, CUSTOMER, 1).await;
    // Domain routes and passthrough share the provider's breaker.
    assert_refused(&app, &vendor, "/proxy/br/customers/c_1", 1).await;
    assert_eq!(app.admin_provider("br").await["outbound"]["breaker"]["state"], "open");

    vendor_answers(&vendor, acme_customer()).await;
    tokio::time::sleep(OPEN_FOR_AT_MOST).await;
    assert_eq!(
        app.get_as(CALLER_KEY, CUSTOMER).await.status(),
        200,
        "the probe goes through"
    );
    assert_eq!(hits(&vendor).await, 1);
    assert_eq!(app.admin_provider("br").await["outbound"]["breaker"]["state"], "closed");
    for _ in 0..3 {
        assert_eq!(app.get_as(CALLER_KEY, CUSTOMER).await.status(), 200);
    }
    app.stop().await;
}

#[tokio::test]
async fn a_failed_probe_reopens_the_breaker() {
    let vendor = MockServer::start().await;
    let app = app(&vendor, &quick_breaker(1), "").await;
    trip(&app, &vendor).await;
    tokio::time::sleep(OPEN_FOR_AT_MOST).await;
    problem(app.get_as(CALLER_KEY, CUSTOMER).await, 502, "upstream-error").await;
    assert_eq!(hits(&vendor).await, 5, "one probe");
    assert_refused(&app, &vendor, CUSTOMER, 2).await;
    let breaker = &app.admin_provider("br").await["outbound"]["breaker"];
    assert_eq!(breaker["state"], "open");
    // The second trip in a row stays open longer (1 s ± 20%).
    assert!(breaker["open_for_seconds"].as_f64().unwrap() > 0.6, "{breaker}");
    app.stop().await;
}

#[tokio::test]
async fn at_most_half_open_calls_probes_are_admitted_at_once() {
    let vendor = MockServer::start().await;
    let app = app(&vendor, &quick_breaker(2), "").await;
    trip(&app, &vendor).await;
    vendor_answers(&vendor, acme_customer().set_delay(Duration::from_millis(500))).await;
    tokio::time::sleep(OPEN_FOR_AT_MOST).await;
    let calls = (0..6).map(|_| app.get_as(CALLER_KEY, CUSTOMER));
    let responses = futures::future::join_all(calls).await;
    let mut statuses: Vec<u16> = responses.iter().map(|r| r.status().as_u16()).collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 200, 503, 503, 503, 503]);
    for response in responses.into_iter().filter(|r| r.status() == 503) {
        assert!(response.headers().contains_key("retry-after"));
        problem(response, 503, "circuit-open").await;
    }
    assert_eq!(hits(&vendor).await, 2, "only the probes reached the vendor");
    assert_eq!(app.admin_provider("br").await["outbound"]["breaker"]["state"], "closed");
    app.stop().await;
}

#[tokio::test]
async fn timeouts_count_as_failures() {
    let vendor = MockServer::start().await;
    let breaker = r#"{ window = 2, min_calls = 2, failure_rate = 0.5, open_for = "10s" }"#;
    let app = app(&vendor, breaker, r#"timeout = "150ms""#).await;
    vendor_answers(&vendor, acme_customer().set_delay(Duration::from_secs(2))).await;
    for _ in 0..2 {
        let started = Instant::now();
        problem(app.get_as(CALLER_KEY, CUSTOMER).await, 504, "upstream-timeout").await;
        assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
    }
    assert_refused(&app, &vendor, CUSTOMER, 12).await;
    assert_eq!(hits(&vendor).await, 2);
    app.stop().await;
}

#[tokio::test]
async fn vendor_408_and_429_count_as_failures() {
    let vendor = MockServer::start().await;
    let breaker = r#"{ window = 2, min_calls = 2, failure_rate = 1.0, open_for = "10s" }"#;
    let app = app(&vendor, breaker, "").await;
    vendor_answers(&vendor, ResponseTemplate::new(408)).await;
    problem(app.get_as(CALLER_KEY, CUSTOMER).await, 502, "upstream-error").await;
    vendor_answers(&vendor, ResponseTemplate::new(429).insert_header("Retry-After", "3")).await;
    problem(app.get_as(CALLER_KEY, CUSTOMER).await, 429, "rate-limited").await;
    assert_refused(&app, &vendor, CUSTOMER, 12).await;
    app.stop().await;
}

#[tokio::test]
async fn client_errors_never_open_the_breaker() {
    let vendor = MockServer::start().await;
    let app = app(&vendor, &quick_breaker(1), "").await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"error": "not_found"})))
        .mount(&vendor)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"message": "bad email"})))
        .mount(&vendor)
        .await;
    let new = json!({"name": "Ada", "email": "not-an-email"});
    for _ in 0..6 {
        problem(app.get_as(CALLER_KEY, CUSTOMER).await, 404, "not-found").await;
        let response = app.send_json(reqwest::Method::POST, "/v1/br/customers", &new).await;
        problem(response, 400, "invalid-request").await;
    }
    assert_eq!(hits(&vendor).await, 12, "every call reached the vendor");
    let breaker = &app.admin_provider("br").await["outbound"]["breaker"];
    assert_eq!(breaker["state"], "closed", "{breaker}");
    assert_eq!(breaker["failure_rate"], 0.0, "{breaker}");
    app.stop().await;
}

#[tokio::test]
async fn slow_calls_open_the_breaker_only_when_configured() {
    let vendor = MockServer::start().await;
    vendor_answers(&vendor, acme_customer().set_delay(Duration::from_millis(150))).await;
    let breaker = r#"{ window = 2, min_calls = 2, slow_call = "100ms", slow_call_rate = 0.5, open_for = "10s" }"#;
    let patient = provider_toml(
        "patient",
        "acme-crm",
        &vendor.uri(),
        "circuit_breaker = { window = 2, min_calls = 2 }",
    );
    let settings = format!("retry = {{ max_attempts = 1 }}\ncircuit_breaker = {breaker}");
    let extra =
        provider_toml("br", "acme-crm", &vendor.uri(), &settings) + &patient + &callers_toml(&["br", "patient"], None);
    let app = spawn_app_with(&extra).await;
    for _ in 0..2 {
        assert_eq!(
            app.get_as(CALLER_KEY, CUSTOMER).await.status(),
            200,
            "slow, but answered"
        );
    }
    assert_refused(&app, &vendor, CUSTOMER, 12).await;
    let breaker = &app.admin_provider("br").await["outbound"]["breaker"];
    assert_eq!(breaker["slow_call_rate"], 1.0, "{breaker}");
    // With the default slow_call (5s), the same latency is fine.
    for _ in 0..4 {
        assert_eq!(app.get_as(CALLER_KEY, "/v1/patient/customers/c_1").await.status(), 200);
    }
    assert_eq!(
        app.admin_provider("patient").await["outbound"]["breaker"]["state"],
        "closed"
    );
    app.stop().await;
}
