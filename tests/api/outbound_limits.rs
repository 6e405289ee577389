//! Limits on the outbound side: caller and provider rate limits (429 `rate-limited` with the right `Retry-After`,
//! `RateLimit-Policy` / `RateLimit` headers for the caller), the bulkhead (503 `bulkhead-full`), and isolation: a
//! vendor that hangs does not slow calls to another.

use std::time::{Duration, Instant};

use serde_json::json;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;

fn acme_customer() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"cust_id": "c_1", "full_name": "Ada",
        "email_address": "ada@example.com", "lifetime_value": "1.00", "created": "2026-01-02 10:00:00"}))
}

async fn vendor_answering(template: ResponseTemplate) -> MockServer {
    let vendor = MockServer::start().await;
    Mock::given(any()).respond_with(template).mount(&vendor).await;
    vendor
}

#[tokio::test]
async fn the_callers_rate_limit_answers_429_with_ratelimit_headers() {
    let vendor = vendor_answering(acme_customer()).await;
    let extra = provider_toml("rl", "acme-crm", &vendor.uri(), "")
        + &callers_toml(&["rl"], Some("{ per_second = 1, burst = 2 }"));
    let app = spawn_app_with(&extra).await;
    let headers = |response: &reqwest::Response| {
        let get = |name: &str| response.headers()[name].to_str().unwrap().to_owned();
        (get("ratelimit-policy"), get("ratelimit"))
    };
    let first = app.get_as(CALLER_KEY, "/v1/rl/customers/c_1").await;
    assert_eq!(first.status(), 200);
    assert_eq!(
        headers(&first),
        (r#""caller";q=2;w=2"#.into(), r#""caller";r=1;t=1"#.into())
    );
    // Gateway errors after admission carry them too, and count against the limit.
    let second = app.get_as(CALLER_KEY, "/v1/rl/orders").await;
    assert_eq!(
        headers(&second),
        (r#""caller";q=2;w=2"#.into(), r#""caller";r=0;t=2"#.into())
    );
    problem(second, 404, "unknown-route").await;

    let third = app.get_as(CALLER_KEY, "/proxy/rl/customers/c_1").await;
    assert_eq!(third.headers()["retry-after"], "1");
    assert_eq!(headers(&third).1, r#""caller";r=0;t=2"#);
    problem(third, 429, "rate-limited").await;
    assert_eq!(hits(&vendor).await, 1, "a refused call never reaches the vendor");

    // Waiting Retry-After is enough.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(app.get_as(CALLER_KEY, "/v1/rl/customers/c_1").await.status(), 200);
    // Callers without a limit get no headers.
    let response = app.get_as(OTHER_KEY, "/v1/rl/customers/c_1").await;
    assert!(!response.headers().contains_key("ratelimit"));
    app.stop().await;
}

#[tokio::test]
async fn the_providers_rate_limit_answers_429_with_retry_after() {
    let vendor = vendor_answering(acme_customer()).await;
    let extra = provider_toml(
        "rl",
        "acme-crm",
        &vendor.uri(),
        "rate_limit = { per_second = 1, burst = 1 }",
    ) + &callers_toml(&["rl"], None);
    let app = spawn_app_with(&extra).await;
    assert_eq!(app.get_as(CALLER_KEY, "/v1/rl/customers/c_1").await.status(), 200);
    for route in ["/v1/rl/customers/c_1", "/proxy/rl/customers/c_1"] {
        let response = app.get_as(CALLER_KEY, route).await;
        assert_eq!(response.headers()["retry-after"], "1", "{route}");
        problem(response, 429, "rate-limited").await;
    }
    assert_eq!(hits(&vendor).await, 1);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(app.get_as(CALLER_KEY, "/v1/rl/customers/c_1").await.status(), 200);
    assert_eq!(hits(&vendor).await, 2);
    app.stop().await;
}

#[tokio::test]
async fn the_bulkhead_refuses_calls_over_the_providers_concurrency() {
    let vendor = vendor_answering(acme_customer().set_delay(Duration::from_millis(500))).await;
    let extra = provider_toml("bh", "acme-crm", &vendor.uri(), "concurrency = 2") + &callers_toml(&["bh"], None);
    let app = spawn_app_with(&extra).await;
    let calls = (0..4).map(|_| app.get_as(CALLER_KEY, "/v1/bh/customers/c_1"));
    let responses = futures::future::join_all(calls).await;
    let mut statuses: Vec<u16> = responses.iter().map(|r| r.status().as_u16()).collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 200, 503, 503]);
    for response in responses.into_iter().filter(|r| r.status() == 503) {
        assert!(response.headers().contains_key("retry-after"));
        problem(response, 503, "bulkhead-full").await;
    }
    assert_eq!(hits(&vendor).await, 2);
    // A full bulkhead says nothing about the vendor: its breaker is untouched.
    let breaker = &app.admin_provider("bh").await["outbound"]["breaker"];
    assert_eq!(
        (breaker["state"].as_str(), breaker["calls_in_window"].as_u64()),
        (Some("closed"), Some(2))
    );
    app.stop().await;
}

#[tokio::test]
async fn a_hanging_vendor_does_not_slow_calls_to_another() {
    let hanging = vendor_answering(acme_customer().set_delay(Duration::from_secs(5))).await;
    let healthy = vendor_answering(acme_customer()).await;
    let extra = provider_toml("hang", "acme-crm", &hanging.uri(), r#"timeout = "10s""#)
        + &provider_toml("fast", "acme-crm", &healthy.uri(), "")
        + &callers_toml(&["hang", "fast"], None);
    let app = std::sync::Arc::new(spawn_app_with(&extra).await);
    let stuck: Vec<_> = (0..20)
        .map(|_| {
            let app = std::sync::Arc::clone(&app);
            tokio::spawn(async move { app.get_as(CALLER_KEY, "/v1/hang/customers/c_1").await })
        })
        .collect();
    // Wait until every call is in flight to the hanging vendor.
    let deadline = Instant::now() + Duration::from_secs(3);
    while app.admin_provider("hang").await["outbound"]["in_flight"] != 20 {
        assert!(Instant::now() < deadline, "the calls never got in flight");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for _ in 0..5 {
        let started = Instant::now();
        assert_eq!(app.get_as(CALLER_KEY, "/v1/fast/customers/c_1").await.status(), 200);
        let elapsed = started.elapsed();
        assert!(
            elapsed < Duration::from_millis(300),
            "a call to another vendor took {elapsed:?}"
        );
    }
    for call in &stuck {
        assert!(!call.is_finished(), "still hanging");
        call.abort();
    }
}
