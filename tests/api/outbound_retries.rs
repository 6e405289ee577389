//! Retries end to end: only for idempotent methods or requests with an `Idempotency-Key`, only on connect errors
//! and 408/429/502/503/504, waiting at least the vendor's `Retry-After` (and not at all when that would pass the
//! deadline), and never more than `max_attempts` or the provider's retry budget allows.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;
use wiremock::matchers::{any, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;

/// `rt` (acme-crm) and `pay` (stripe) on `vendor_url` with `settings`; `svc` may call both.
async fn app(vendor_url: &str, settings: &str) -> TestApp {
    let extra = provider_toml("rt", "acme-crm", vendor_url, settings)
        + &provider_toml("pay", "stripe", vendor_url, settings)
        + &callers_toml(&["rt", "pay"], None);
    spawn_app_with(&extra).await
}

const QUICK_RETRIES: &str = r#"retry = { max_attempts = 3, base_delay = "5ms", max_delay = "10ms" }"#;

/// `route` answers `failure` `times` times, then `then`.
async fn fails_then(vendor: &MockServer, route: &str, failure: ResponseTemplate, times: u64, then: ResponseTemplate) {
    Mock::given(path(route.to_owned()))
        .respond_with(failure)
        .up_to_n_times(times)
        .with_priority(1)
        .mount(vendor)
        .await;
    Mock::given(path(route.to_owned()))
        .respond_with(then)
        .with_priority(2)
        .mount(vendor)
        .await;
}

/// Requests the vendor received on `route`.
async fn hits_on(vendor: &MockServer, route: &str) -> usize {
    let requests = vendor.received_requests().await.unwrap();
    requests.iter().filter(|r| r.url.path() == route).count()
}

fn acme_customer(id: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"cust_id": id, "full_name": "Ada",
        "email_address": "ada@example.com", "lifetime_value": "1.00", "created": "2026-01-02 10:00:00"}))
}

fn payment_intent() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"id": "pi_1", "amount": 100, "currency": "usd",
        "status": "processing"}))
}

#[tokio::test]
async fn safe_calls_are_retried_on_transient_statuses() {
    let vendor = MockServer::start().await;
    let app = app(&vendor.uri(), QUICK_RETRIES).await;
    for status in [408, 429, 502, 503, 504] {
        let route = format!("/customers/t{status}");
        fails_then(&vendor, &route, ResponseTemplate::new(status), 2, acme_customer("c_1")).await;
        let response = app.get_as(CALLER_KEY, &format!("/v1/rt{route}")).await;
        assert_eq!(response.status(), 200, "{status}");
        assert_eq!(
            hits_on(&vendor, &route).await,
            3,
            "{status}: two failures, then the answer"
        );
    }
    for status in [400, 404, 409, 500, 501] {
        let route = format!("/customers/n{status}");
        fails_then(&vendor, &route, ResponseTemplate::new(status), 1, acme_customer("c_1")).await;
        let response = app.get_as(CALLER_KEY, &format!("/v1/rt{route}")).await;
        assert_ne!(response.status(), 200, "{status}");
        assert_eq!(hits_on(&vendor, &route).await, 1, "{status} is not retried");
    }
    app.stop().await;
}

#[tokio::test]
async fn unsafe_calls_are_retried_only_with_an_idempotency_key() {
    let vendor = MockServer::start().await;
    let app = app(&vendor.uri(), QUICK_RETRIES).await;
    let unavailable = ResponseTemplate::new(503);

    // POST without a key: one attempt, whatever the vendor says.
    fails_then(&vendor, "/customers", unavailable.clone(), 1, acme_customer("c_1")).await;
    let new = json!({"name": "Ada", "email": "ada@example.com"});
    problem(
        app.send_json(Method::POST, "/v1/rt/customers", &new).await,
        502,
        "upstream-error",
    )
    .await;
    assert_eq!(hits_on(&vendor, "/customers").await, 1);

    // Stripe with the caller's Idempotency-Key: retried, with the same key each time.
    fails_then(&vendor, "/v1/payment_intents", unavailable.clone(), 1, payment_intent()).await;
    let payment = json!({"amount": {"value": 100, "currency": "usd"}});
    let response = app
        .client
        .post(format!("{}/v1/pay/payments", app.addr))
        .bearer_auth(CALLER_KEY)
        .header("Idempotency-Key", "pay-once")
        .json(&payment)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let keys = sent_header(&vendor, "idempotency-key", Some("/v1/payment_intents")).await;
    assert_eq!(
        keys,
        ["svc:pay-once", "svc:pay-once"],
        "the caller's key, under the caller's name"
    );

    // Passthrough: the same rule.
    fails_then(&vendor, "/orders", unavailable, 1, ResponseTemplate::new(201)).await;
    let post = |key: Option<&str>| {
        let request = app
            .client
            .post(format!("{}/proxy/rt/orders", app.addr))
            .bearer_auth(CALLER_KEY)
            .body("{}");
        match key {
            Some(key) => request.header("Idempotency-Key", key),
            None => request,
        }
        .send()
    };
    assert_eq!(post(None).await.unwrap().status(), 503, "passed through, not retried");
    assert_eq!(hits_on(&vendor, "/orders").await, 1);
    vendor.reset().await;
    fails_then(
        &vendor,
        "/orders",
        ResponseTemplate::new(503),
        1,
        ResponseTemplate::new(201),
    )
    .await;
    assert_eq!(post(Some("order-1")).await.unwrap().status(), 201);
    assert_eq!(hits_on(&vendor, "/orders").await, 2);
    app.stop().await;
}

#[tokio::test]
async fn connection_failures_are_retried_for_safe_calls_only() {
    // A vendor that accepts connections and hangs up at once.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&accepted);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    });
    let app = app(&url, QUICK_RETRIES).await;
    problem(
        app.get_as(CALLER_KEY, "/v1/rt/customers/c_1").await,
        502,
        "upstream-error",
    )
    .await;
    assert_eq!(accepted.swap(0, Ordering::SeqCst), 3, "GET: max_attempts");
    let new = json!({"name": "Ada", "email": "ada@example.com"});
    problem(
        app.send_json(Method::POST, "/v1/rt/customers", &new).await,
        502,
        "upstream-error",
    )
    .await;
    assert_eq!(accepted.load(Ordering::SeqCst), 1, "POST without a key: once");
    app.stop().await;
}

#[tokio::test]
async fn retries_honour_retry_after_within_the_deadline() {
    let vendor = MockServer::start().await;
    let settings = format!("timeout = \"3s\"\n{QUICK_RETRIES}");
    let app = app(&vendor.uri(), &settings).await;
    let busy = |seconds: &str| ResponseTemplate::new(503).insert_header("Retry-After", seconds);
    fails_then(&vendor, "/customers/soon", busy("1"), 1, acme_customer("soon")).await;
    let started = Instant::now();
    assert_eq!(app.get_as(CALLER_KEY, "/v1/rt/customers/soon").await.status(), 200);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited {:?}",
        started.elapsed()
    );
    assert_eq!(hits_on(&vendor, "/customers/soon").await, 2);

    // A Retry-After past the deadline: no retry, the answer comes at once.
    fails_then(&vendor, "/customers/later", busy("30"), 1, acme_customer("later")).await;
    let started = Instant::now();
    problem(
        app.get_as(CALLER_KEY, "/v1/rt/customers/later").await,
        502,
        "upstream-error",
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_millis(800),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(hits_on(&vendor, "/customers/later").await, 1);

    // The same for a vendor 429, whose Retry-After reaches the caller.
    let limited = ResponseTemplate::new(429).insert_header("Retry-After", "30");
    fails_then(&vendor, "/customers/limited", limited, 1, acme_customer("limited")).await;
    let response = app.get_as(CALLER_KEY, "/v1/rt/customers/limited").await;
    assert_eq!(response.headers()["retry-after"], "30");
    problem(response, 429, "rate-limited").await;
    assert_eq!(hits_on(&vendor, "/customers/limited").await, 1);
    app.stop().await;
}

#[tokio::test]
async fn retries_stop_at_max_attempts() {
    let vendor = MockServer::start().await;
    let app = app(&vendor.uri(), QUICK_RETRIES).await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(503))
        .mount(&vendor)
        .await;
    problem(
        app.get_as(CALLER_KEY, "/v1/rt/customers/c_1").await,
        502,
        "upstream-error",
    )
    .await;
    assert_eq!(hits(&vendor).await, 3);
    app.stop().await;
}

#[tokio::test]
async fn retries_stop_at_the_budget() {
    let vendor = MockServer::start().await;
    // No share of traffic, so only the fixed reserve (10 retries/s over 10 s = 100 retries) may be spent.
    let settings = r#"retry = { max_attempts = 20, base_delay = "1ms", max_delay = "1ms", budget_ratio = 0.0 }"#;
    let app = app(&vendor.uri(), settings).await;
    Mock::given(method("GET"))
        .and(header("authorization", format!("Bearer {VENDOR_TOKEN}").as_str()))
        .respond_with(ResponseTemplate::new(503))
        .mount(&vendor)
        .await;
    let mut attempts = Vec::new();
    for _ in 0..8 {
        let before = hits(&vendor).await;
        problem(
            app.get_as(CALLER_KEY, "/v1/rt/customers/c_1").await,
            502,
            "upstream-error",
        )
        .await;
        attempts.push(hits(&vendor).await - before);
    }
    assert_eq!(attempts[0], 20, "{attempts:?}");
    assert_eq!(attempts.iter().map(|a| a - 1).sum::<usize>(), 100, "{attempts:?}");
    assert_eq!(attempts[7], 1, "the budget is spent: {attempts:?}");
    app.stop().await;
}
