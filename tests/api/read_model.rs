//! The read-model fallback end to end: a customer seen in a read (or a webhook) answers single-entity reads when
//! the vendor fails for a vendor-side reason (open breaker, 5xx, timeout, 429), labelled with `Age` and
//! `Cache-Status`, never for a caller's error, never when too stale or unknown, never across providers or
//! permissions; and `Cache-Control: only-if-cached`, `max-stale`, `no-cache` as callers steer it.

use std::time::Duration;

use serde_json::{Value, json};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;

pub const CUSTOMER: &str = "/v1/crm/customers/c_1";

/// `crm` (acme-crm) on `vendor` with the read-model fallback, no retries, a 300 ms timeout and a breaker that
/// opens after 4 failures in a row, for an hour; `crm2` the same vendor without a read model; `svc` may call both.
pub async fn app(vendor: &MockServer) -> TestApp {
    app_named(vendor, "crm").await
}

/// [`app`] with the first provider named `name` (metrics are counted process-wide, across tests: a test that
/// reads a counter needs a provider of its own).
async fn app_named(vendor: &MockServer, name: &str) -> TestApp {
    let settings = r#"retry = { max_attempts = 1 }
timeout = "300ms"
circuit_breaker = { window = 4, min_calls = 4, failure_rate = 1.0, open_for = "1h", half_open_calls = 1 }
fallback = { read_model = true, max_stale = "1h" }"#;
    let webhook = format!("[providers.{name}.webhook]\nsecrets = [\"{SW_SECRET}\"]\n");
    let extra = provider_toml(name, "acme-crm", &vendor.uri(), settings)
        + &webhook
        + &provider_toml("crm2", "acme-crm", &vendor.uri(), "retry = { max_attempts = 1 }")
        + &callers_toml(&[name, "crm2"], None);
    spawn_app_with(&extra).await
}

pub fn acme_customer(name: &str) -> Value {
    json!({"cust_id": "c_1", "full_name": name, "email_address": "ada@example.com",
        "lifetime_value": "1.00", "created": "2026-01-02 10:00:00"})
}

pub async fn vendor_answers(vendor: &MockServer, template: ResponseTemplate) {
    vendor.reset().await;
    Mock::given(any()).respond_with(template).mount(vendor).await;
}

/// `GET path` as `svc` with `Cache-Control: cache_control`.
pub async fn get_with(app: &TestApp, path: &str, cache_control: &str) -> reqwest::Response {
    app.client
        .get(format!("{}{path}", app.addr))
        .bearer_auth(CALLER_KEY)
        .header("cache-control", cache_control)
        .send()
        .await
        .unwrap()
}

pub fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// `GET /admin/read-model/{path}`, polled (up to 10 s) until `ready` holds for it: what answers carry is written
/// in batches gathered for a second after the answers go out.
pub async fn stored(app: &TestApp, path: &str, ready: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..500 {
        let response = app
            .client
            .get(format!("{}/admin/read-model/{path}", app.addr))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        if response.status() == 200 {
            let body: Value = response.json().await.unwrap();
            if ready(&body) {
                return body;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the read model never held what was expected at {path}");
}

/// Reads customer c_1 of `provider` once from a healthy vendor, so the read model keeps it.
async fn seen_in_a_read(app: &TestApp, vendor: &MockServer, provider: &str) {
    vendor_answers(vendor, ResponseTemplate::new(200).set_body_json(acme_customer("Ada"))).await;
    let response = app.get_as(CALLER_KEY, &format!("/v1/{provider}/customers/c_1")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "cache-status"), "gatehouse; fwd=miss; stored");
    let kept = stored(app, &format!("{provider}/customer/c_1"), |body| {
        body["entity"]["name"] == "Ada"
    })
    .await;
    assert_eq!(
        (kept["source"].as_str(), kept["deleted"].as_bool()),
        (Some("read"), Some(false))
    );
}

/// A 200 served from the read model: the stored customer, with `Age` and `Cache-Status`.
async fn served_from_the_read_model(response: reqwest::Response, cache_status: &str) {
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "cache-status"), cache_status);
    let age: u64 = header(&response, "age").parse().expect("an Age header");
    assert!(age < 60, "Age {age}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["id"], "c_1");
    assert_eq!(body["name"], "Ada");
}

#[tokio::test]
async fn vendor_side_failures_are_answered_from_the_read_model_and_caller_errors_are_not() {
    let vendor = MockServer::start().await;
    let app = app_named(&vendor, "crm-fails").await;
    seen_in_a_read(&app, &vendor, "crm-fails").await;
    let customer = "/v1/crm-fails/customers/c_1";

    vendor_answers(&vendor, ResponseTemplate::new(500)).await;
    let answer = app.get_as(CALLER_KEY, customer).await;
    served_from_the_read_model(answer, "gatehouse; fwd=stale; detail=upstream-error").await;
    let slow = ResponseTemplate::new(200)
        .set_body_json(acme_customer("Later"))
        .set_delay(Duration::from_secs(2));
    vendor_answers(&vendor, slow).await;
    let answer = app.get_as(CALLER_KEY, customer).await;
    served_from_the_read_model(answer, "gatehouse; fwd=stale; detail=upstream-timeout").await;
    vendor_answers(&vendor, ResponseTemplate::new(429).insert_header("retry-after", "1")).await;
    let answer = app.get_as(CALLER_KEY, customer).await;
    served_from_the_read_model(answer, "gatehouse; fwd=stale; detail=rate-limited").await;

    // The caller's own errors never fall back: the vendor's 404 and 400 are answered as they are.
    vendor_answers(
        &vendor,
        ResponseTemplate::new(404).set_body_json(json!({"error": "not_found"})),
    )
    .await;
    let missing = app.get_as(CALLER_KEY, customer).await;
    assert_eq!(header(&missing, "cache-status"), "gatehouse; fwd=miss");
    problem(missing, 404, "not-found").await;
    vendor_answers(
        &vendor,
        ResponseTemplate::new(400).set_body_json(json!({"message": "bad id"})),
    )
    .await;
    problem(app.get_as(CALLER_KEY, customer).await, 400, "invalid-request").await;

    let metrics = app.metrics().await;
    for reason in ["upstream-error", "upstream-timeout", "rate-limited"] {
        let line = format!("gatehouse_fallback_answers_total{{provider=\"crm-fails\",reason=\"{reason}\"}} 1");
        assert!(metrics.contains(&line), "{line} in:\n{metrics}");
    }
}

#[tokio::test]
async fn an_open_breaker_is_answered_from_the_read_model_without_calling_the_vendor() {
    let vendor = MockServer::start().await;
    let app = app_named(&vendor, "crm-open").await;
    seen_in_a_read(&app, &vendor, "crm-open").await;
    let customer = "/v1/crm-open/customers/c_1";
    vendor_answers(&vendor, ResponseTemplate::new(503)).await;
    for _ in 0..4 {
        let fallback = app.get_as(CALLER_KEY, customer).await;
        assert_eq!(fallback.status(), 200, "each failure is answered from the read model");
    }
    assert_eq!(
        app.admin_provider("crm-open").await["outbound"]["breaker"]["state"],
        "open"
    );
    let before = hits(&vendor).await;
    let answer = app.get_as(CALLER_KEY, customer).await;
    served_from_the_read_model(answer, "gatehouse; fwd=stale; detail=circuit-open").await;
    assert_eq!(hits(&vendor).await, before, "an open breaker does not call the vendor");

    // `no-cache` forbids a stored answer: the breaker's own problem.
    problem(get_with(&app, customer, "no-cache").await, 503, "circuit-open").await;
    // Unknown customers get the original problem.
    let unknown = app.get_as(CALLER_KEY, "/v1/crm-open/customers/c_unknown").await;
    problem(unknown, 503, "circuit-open").await;
    // A caller not allowed the provider is refused before anything is looked up.
    let outsider = app.get_as(OTHER_KEY, customer).await;
    problem(outsider, 403, "forbidden").await;
    let metrics = app.metrics().await;
    assert!(metrics.contains("gatehouse_fallback_answers_total{provider=\"crm-open\",reason=\"circuit-open\"} 1"));
}

#[tokio::test]
async fn only_if_cached_answers_from_the_read_model_alone_within_max_stale() {
    let vendor = MockServer::start().await;
    let app = app(&vendor).await;
    // Nothing stored yet: 504, and the vendor is never called.
    let empty = get_with(&app, CUSTOMER, "only-if-cached").await;
    assert_eq!(header(&empty, "cache-status"), "gatehouse; detail=not-cached");
    problem(empty, 504, "not-cached").await;
    assert_eq!(hits(&vendor).await, 0);

    seen_in_a_read(&app, &vendor, "crm").await;
    let calls = hits(&vendor).await;
    served_from_the_read_model(get_with(&app, CUSTOMER, "only-if-cached").await, "gatehouse; hit").await;
    let narrowed = get_with(&app, CUSTOMER, "only-if-cached, max-stale=3600").await;
    served_from_the_read_model(narrowed, "gatehouse; hit").await;
    assert_eq!(hits(&vendor).await, calls, "only-if-cached never calls the vendor");

    // A copy two hours old is older than the provider's max_stale (1h), whatever the caller accepts.
    let old = crate::read_model_updates::aged_customer("crm", "c_old", 7200);
    app.store.upsert_entities(vec![old]).await.unwrap();
    let too_old = get_with(&app, "/v1/crm/customers/c_old", "only-if-cached, max-stale=86400").await;
    problem(too_old, 504, "not-cached").await;
    // A copy two minutes old is served, unless the caller's max-stale (or max-age) is shorter.
    let recent = crate::read_model_updates::aged_customer("crm", "c_recent", 120);
    app.store.upsert_entities(vec![recent]).await.unwrap();
    let path = "/v1/crm/customers/c_recent";
    let served = get_with(&app, path, "only-if-cached").await;
    assert!(header(&served, "age").parse::<u64>().unwrap() >= 120);
    assert_eq!(served.status(), 200);
    problem(
        get_with(&app, path, "only-if-cached, max-stale=60").await,
        504,
        "not-cached",
    )
    .await;
    problem(
        get_with(&app, path, "only-if-cached, max-age=60").await,
        504,
        "not-cached",
    )
    .await;
    assert_eq!(
        get_with(&app, path, "only-if-cached, max-stale=300").await.status(),
        200
    );

    // Never across providers: crm2 (same vendor, no read model) holds nothing of crm's.
    problem(
        get_with(&app, "/v1/crm2/customers/c_1", "only-if-cached").await,
        504,
        "not-cached",
    )
    .await;
    // Never across permissions.
    let outsider = app
        .client
        .get(format!("{}{CUSTOMER}", app.addr))
        .bearer_auth(OTHER_KEY)
        .header("cache-control", "only-if-cached")
        .send()
        .await
        .unwrap();
    problem(outsider, 403, "forbidden").await;
    // Routes that are not single-entity reads are never answered from it.
    problem(
        get_with(&app, "/v1/crm/customers", "only-if-cached").await,
        504,
        "not-cached",
    )
    .await;
    assert_eq!(hits(&vendor).await, calls);
}

#[tokio::test]
async fn connect_errors_and_a_full_bulkhead_are_answered_from_the_read_model() {
    let vendor = MockServer::start().await;
    let extra = provider_toml(
        "gone",
        "acme-crm",
        "http://127.0.0.1:9",
        "retry = { max_attempts = 1 }\nfallback = { read_model = true }",
    ) + &provider_toml(
        "narrow",
        "acme-crm",
        &vendor.uri(),
        "retry = { max_attempts = 1 }\ntimeout = \"3s\"\nconcurrency = 1\nfallback = { read_model = true }",
    ) + &callers_toml(&["gone", "narrow"], None);
    let app = spawn_app_with(&extra).await;
    for provider in ["gone", "narrow"] {
        let customer = crate::read_model_updates::aged_customer(provider, "c_1", 5);
        app.store.upsert_entities(vec![customer]).await.unwrap();
    }
    let refused = app.get_as(CALLER_KEY, "/v1/gone/customers/c_1").await;
    assert_eq!(
        header(&refused, "cache-status"),
        "gatehouse; fwd=stale; detail=upstream-error"
    );
    assert!(header(&refused, "age").parse::<u64>().unwrap() >= 5);
    assert_eq!(refused.json::<Value>().await.unwrap()["name"], "Old");

    let slow = ResponseTemplate::new(200)
        .set_body_json(acme_customer("Ada"))
        .set_delay(Duration::from_millis(800));
    vendor_answers(&vendor, slow).await;
    let first = tokio::spawn({
        let (client, url) = (app.client.clone(), format!("{}/v1/narrow/customers/c_1", app.addr));
        async move { client.get(url).bearer_auth(CALLER_KEY).send().await.unwrap() }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let crowded = app.get_as(CALLER_KEY, "/v1/narrow/customers/c_1").await;
    assert_eq!(
        header(&crowded, "cache-status"),
        "gatehouse; fwd=stale; detail=bulkhead-full"
    );
    assert_eq!(crowded.json::<Value>().await.unwrap()["name"], "Old");
    let first = first.await.unwrap();
    assert_eq!(header(&first, "cache-status"), "gatehouse; fwd=miss; stored");
    assert_eq!(
        first.json::<Value>().await.unwrap()["name"],
        "Ada",
        "the slot's holder got the vendor's answer"
    );
}

#[tokio::test]
async fn a_vendor_404_marks_the_entity_deleted_and_no_cache_with_only_if_cached_is_504() {
    let vendor = MockServer::start().await;
    let app = app_named(&vendor, "crm-404").await;
    seen_in_a_read(&app, &vendor, "crm-404").await;
    let customer = "/v1/crm-404/customers/c_1";
    problem(
        get_with(&app, customer, "only-if-cached, no-cache").await,
        504,
        "not-cached",
    )
    .await;

    vendor_answers(
        &vendor,
        ResponseTemplate::new(404).set_body_json(json!({"error": "not_found"})),
    )
    .await;
    problem(app.get_as(CALLER_KEY, customer).await, 404, "not-found").await;
    stored(&app, "crm-404/customer/c_1", |c| c["deleted"] == true).await;
    // The vendor failing later does not bring the customer back: 404 from the read model.
    vendor_answers(&vendor, ResponseTemplate::new(500)).await;
    let gone = app.get_as(CALLER_KEY, customer).await;
    assert_eq!(header(&gone, "cache-status"), "gatehouse; fwd=stale; detail=deleted");
    problem(gone, 404, "not-found").await;
}
