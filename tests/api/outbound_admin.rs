//! What operators see of the outbound side: `GET /admin/providers` (admin token only; breaker state, rate limit,
//! in-flight calls) and the Prometheus series of `/metrics` for outbound calls, retries, rate limits and breakers.

use std::time::{Duration, Instant};

use serde_json::json;
use wiremock::matchers::{any, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;

fn acme_customer() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"cust_id": "c_1", "full_name": "Ada",
        "email_address": "ada@example.com", "lifetime_value": "1.00", "created": "2026-01-02 10:00:00"}))
}

/// Opens once the last two calls both failed.
const BREAKER: &str = r#"circuit_breaker = { window = 2, min_calls = 2, failure_rate = 1.0, open_for = "30s" }"#;

#[tokio::test]
async fn admin_providers_needs_the_admin_token() {
    let app = spawn_app_with(&callers_toml(&[], None)).await;
    let url = format!("{}/admin/providers", app.addr);
    problem(app.client.get(&url).send().await.unwrap(), 401, "unauthorized").await;
    for token in ["wrong-token", CALLER_KEY] {
        problem(app.get_as(token, "/admin/providers").await, 401, "unauthorized").await;
    }
    let response = app
        .client
        .get(&url)
        .basic_auth("admin", Some(ADMIN_TOKEN))
        .send()
        .await
        .unwrap();
    problem(response, 401, "unauthorized").await;
    assert_eq!(app.get_as(ADMIN_TOKEN, "/admin/providers").await.status(), 200);
    app.stop().await;

    // Without [admin], the admin API is closed to everyone.
    let app = spawn_app().await;
    problem(app.get_as(ADMIN_TOKEN, "/admin/providers").await, 401, "unauthorized").await;
    app.stop().await;
}

#[tokio::test]
async fn admin_providers_shows_breaker_rate_limit_and_in_flight_calls() {
    let vendor = MockServer::start().await;
    Mock::given(path("/customers/slow"))
        .respond_with(acme_customer().set_delay(Duration::from_millis(500)))
        .mount(&vendor)
        .await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(500))
        .mount(&vendor)
        .await;
    let settings = format!("retry = {{ max_attempts = 1 }}\nconcurrency = 8\n{BREAKER}");
    let extra = provider_toml("adm", "acme-crm", &vendor.uri(), &settings)
        + &provider_toml(
            "adm-limited",
            "stripe",
            &vendor.uri(),
            "rate_limit = { per_second = 5, burst = 10 }",
        )
        + &callers_toml(&["adm", "adm-limited"], None);
    let app = std::sync::Arc::new(spawn_app_with(&extra).await);

    let fresh = app.admin_provider("adm").await;
    assert_eq!(fresh["adapter"], "acme-crm");
    let outbound = &fresh["outbound"];
    assert_eq!(outbound["breaker"]["state"], "closed", "{fresh}");
    assert_eq!(
        (outbound["in_flight"].as_u64(), outbound["concurrency"].as_u64()),
        (Some(0), Some(8))
    );
    assert_eq!(outbound["rate_limit"], serde_json::Value::Null);
    let limited = app.admin_provider("adm-limited").await;
    assert_eq!(
        limited["outbound"]["rate_limit"],
        json!({"per_second": 5, "burst": 10, "scope": "local"})
    );
    // Webhook-only providers have no outbound side.
    assert_eq!(app.admin_provider("github").await["outbound"], serde_json::Value::Null);

    // A call in flight shows.
    let slow = {
        let app = std::sync::Arc::clone(&app);
        tokio::spawn(async move { app.get_as(CALLER_KEY, "/v1/adm/customers/slow").await.status() })
    };
    let deadline = Instant::now() + Duration::from_secs(2);
    while app.admin_provider("adm").await["outbound"]["in_flight"] != 1 {
        assert!(Instant::now() < deadline, "the slow call never showed in flight");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(slow.await.unwrap(), 200);
    assert_eq!(app.admin_provider("adm").await["outbound"]["in_flight"], 0);

    // Trip the breaker: two failures in a window of two.
    for _ in 0..2 {
        problem(
            app.get_as(CALLER_KEY, "/v1/adm/customers/c_1").await,
            502,
            "upstream-error",
        )
        .await;
    }
    let breaker = &app.admin_provider("adm").await["outbound"]["breaker"];
    assert_eq!(breaker["state"], "open", "{breaker}");
    assert_eq!(breaker["failure_rate"], 1.0, "{breaker}");
    let open_for = breaker["open_for_seconds"].as_f64().unwrap();
    assert!((20.0..=36.0).contains(&open_for), "{breaker}");
    app.stop().await;
}

/// The value of the series `name{…}` whose labels include every one of `labels`.
fn series(metrics: &str, name: &str, labels: &[&str]) -> Option<f64> {
    metrics
        .lines()
        .filter(|line| line.starts_with(&format!("{name}{{")))
        .filter(|line| labels.iter().all(|label| line.contains(label)))
        .find_map(|line| line.rsplit_once(' ').and_then(|(_, value)| value.parse().ok()))
}

#[tokio::test]
async fn metrics_show_outbound_calls_retries_rate_limits_and_breakers() {
    let vendor = MockServer::start().await;
    Mock::given(path("/customers/flaky"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&vendor)
        .await;
    Mock::given(path("/customers/flaky"))
        .respond_with(acme_customer())
        .with_priority(2)
        .mount(&vendor)
        .await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(500))
        .mount(&vendor)
        .await;
    // Provider names unique to this test: the metrics recorder is shared by the whole test process.
    let settings = r#"retry = { max_attempts = 2, base_delay = "5ms" }
rate_limit = { per_second = 1, burst = 4 }
circuit_breaker = { window = 3, min_calls = 3, open_for = "30s" }"#;
    let extra = provider_toml("metered", "acme-crm", &vendor.uri(), settings)
        + &callers_toml(&["metered"], Some("{ per_second = 1, burst = 4 }"));
    let app = spawn_app_with(&extra).await;
    assert_eq!(
        app.get_as(CALLER_KEY, "/v1/metered/customers/flaky").await.status(),
        200
    );
    // Two failures of three: the breaker opens.
    for _ in 0..2 {
        problem(
            app.get_as(CALLER_KEY, "/v1/metered/customers/c_1").await,
            502,
            "upstream-error",
        )
        .await;
    }
    // The provider's limit (4 tokens: three calls and the first one's retry) is spent, then the caller's (4 calls).
    problem(
        app.get_as(CALLER_KEY, "/v1/metered/customers/c_1").await,
        429,
        "rate-limited",
    )
    .await;
    problem(
        app.get_as(CALLER_KEY, "/v1/metered/customers/c_1").await,
        429,
        "rate-limited",
    )
    .await;

    let metrics = app.metrics().await;
    let provider = r#"provider="metered""#;
    let calls = |outcome: &str| {
        let outcome = format!(r#"outcome="{outcome}""#);
        series(&metrics, "gatehouse_upstream_requests_total", &[provider, &outcome]).unwrap_or_default()
    };
    assert_eq!(calls("200"), 1.0, "{metrics}");
    assert_eq!(calls("upstream-error"), 2.0, "{metrics}");
    assert_eq!(
        calls("rate-limited"),
        1.0,
        "the provider's refusal is counted as an outbound call"
    );
    let route = series(
        &metrics,
        "gatehouse_upstream_requests_total",
        &[provider, r#"route="/customers/{id}""#],
    );
    assert!(route.is_some(), "{metrics}");
    // Retries: the flaky call's, and the failures' (503 is retried once; 500 is not).
    assert_eq!(
        series(&metrics, "gatehouse_upstream_retries_total", &[provider]),
        Some(1.0),
        "{metrics}"
    );
    for scope in ["provider", "caller"] {
        let scope = format!(r#"scope="{scope}""#);
        let name = if scope.contains("caller") {
            r#"name="svc""#
        } else {
            r#"name="metered""#
        };
        let refused = series(&metrics, "gatehouse_rate_limited_total", &[&scope, name]);
        assert!(refused.is_some_and(|n| n >= 1.0), "{scope}: {metrics}");
    }
    assert_eq!(
        series(&metrics, "gatehouse_breaker_state", &[provider]),
        Some(1.0),
        "open: {metrics}"
    );
    let trips = series(
        &metrics,
        "gatehouse_breaker_transitions_total",
        &[provider, r#"to="open""#],
    );
    assert_eq!(trips, Some(1.0), "{metrics}");
    app.stop().await;
}
