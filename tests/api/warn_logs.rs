//! What an operator sees when vendors fail: every breaker transition and every failed deferred-command attempt at
//! `warn` with its ids, and each provider's last failed calls in `GET /admin/providers` (`outbound.recent_errors`).

use std::time::Duration;

use serde_json::{Value, json};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;
use crate::log_capture::Captured;

/// The `warn` events logged so far whose message starts with `message`, their fields.
fn warnings(logs: &Captured, target: &str, message: &str) -> Vec<Value> {
    logs.events(target)
        .into_iter()
        .filter(|e| e["level"] == "WARN" && e["fields"]["message"].as_str().is_some_and(|m| m.starts_with(message)))
        .map(|e| e["fields"].clone())
        .collect()
}

async fn vendor_answers(vendor: &MockServer, template: ResponseTemplate) {
    vendor.reset().await;
    Mock::given(any()).respond_with(template).mount(vendor).await;
}

#[tokio::test]
async fn breaker_transitions_are_warnings_and_failed_calls_are_kept_newest_first() {
    let logs = Captured::default();
    let _guard = logs.install();
    let vendor = MockServer::start().await;
    vendor_answers(
        &vendor,
        ResponseTemplate::new(503).set_body_string("vendor-body-secret"),
    )
    .await;
    let breaker = r#"{ window = 20, min_calls = 12, failure_rate = 0.5, open_for = "100ms", half_open_calls = 1 }"#;
    let settings = format!("retry = {{ max_attempts = 1 }}\ncircuit_breaker = {breaker}\n");
    let extra = provider_toml("br-vendor", "acme-crm", &vendor.uri(), &settings) + &callers_toml(&["br-vendor"], None);
    let app = spawn_app_with(&extra).await;

    for _ in 0..12 {
        problem(
            app.get_as(CALLER_KEY, "/v1/br-vendor/customers/c_1").await,
            502,
            "upstream-error",
        )
        .await;
    }
    let report = app.admin_provider("br-vendor").await;
    assert_eq!(report["outbound"]["breaker"]["state"], "open");
    let recent = report["outbound"]["recent_errors"].as_array().unwrap().clone();
    assert_eq!(recent.len(), 10, "the last ten: {recent:?}");
    for error in &recent {
        assert_eq!(error["error"], "the vendor answered 503 Service Unavailable");
        let at = error["at"].as_str().unwrap();
        assert!(chrono::DateTime::parse_from_rfc3339(at).is_ok(), "{at}");
    }
    let times: Vec<&str> = recent.iter().map(|e| e["at"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first: {times:?}");

    let opened = warnings(&logs, "gatehouse::upstream::breaker", "circuit breaker open");
    assert_eq!(opened.len(), 1, "{}", logs.text());
    let opened = &opened[0];
    assert_eq!(
        (opened["provider"].as_str(), opened["from"].as_str()),
        (Some("br-vendor"), Some("closed"))
    );
    assert_eq!(opened["to"], "open");
    assert!(
        opened["reason"]
            .as_str()
            .unwrap()
            .starts_with("failure rate 1.00 reached 0.50 over 12 calls"),
        "{opened}"
    );

    // The open period ends; a successful probe closes it: both transitions are warnings too.
    tokio::time::sleep(Duration::from_millis(150)).await;
    vendor_answers(
        &vendor,
        ResponseTemplate::new(200).set_body_json(json!({"cust_id": "c_1", "full_name": "Ada",
            "email_address": "ada@example.com", "lifetime_value": "1.00", "created": "2026-01-02 10:00:00"})),
    )
    .await;
    assert_eq!(
        app.get_as(CALLER_KEY, "/v1/br-vendor/customers/c_1").await.status(),
        200
    );
    let half_open = warnings(&logs, "gatehouse::upstream::breaker", "circuit breaker half_open");
    assert_eq!(half_open.len(), 1, "{}", logs.text());
    assert_eq!(
        (half_open[0]["from"].as_str(), half_open[0]["to"].as_str()),
        (Some("open"), Some("half_open"))
    );
    assert!(half_open[0]["reason"].as_str().unwrap().contains("open period elapsed"));
    let closed = warnings(&logs, "gatehouse::upstream::breaker", "circuit breaker closed");
    assert_eq!(closed.len(), 1, "{}", logs.text());
    assert_eq!(closed[0]["from"], "half_open");
    assert!(
        closed[0]["reason"].as_str().unwrap().contains("probes passed"),
        "{}",
        closed[0]
    );
    app.stop().await;
    let text = logs.text();
    for secret in ["vendor-body-secret", VENDOR_TOKEN, CALLER_KEY] {
        assert!(!text.contains(secret), "{secret} logged");
    }
}

#[tokio::test]
async fn failed_command_attempts_are_warnings_with_the_commands_ids() {
    let logs = Captured::default();
    let _guard = logs.install();
    let vendor = MockServer::start().await;
    vendor_answers(&vendor, ResponseTemplate::new(503)).await;
    let extra = provider_toml("pay", "stripe", &vendor.uri(), "retry = { max_attempts = 1 }")
        + &callers_toml(&["pay"], None)
        + "\n[commands]\nmax_attempts = 2\nbase_delay = \"20ms\"\nmax_delay = \"50ms\"\npoll_every = \"50ms\"\n";
    let app = spawn_app_with(&extra).await;
    let response = app
        .client
        .post(format!("{}/v1/pay/payments", app.addr))
        .bearer_auth(CALLER_KEY)
        .header("Prefer", "respond-async")
        .json(&json!({"amount": {"value": 100, "currency": "usd"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let id = response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut status = Value::Null;
    for _ in 0..200 {
        let command: Value = app
            .get_as(CALLER_KEY, &format!("/v1/commands/{id}"))
            .await
            .json()
            .await
            .unwrap();
        status = command["status"].clone();
        if status != "pending" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(status, "failed");
    app.stop().await;

    let retried = warnings(&logs, "gatehouse::commands", "deferred command attempt failed");
    assert_eq!(retried.len(), 1, "{}", logs.text());
    let failed = warnings(&logs, "gatehouse::commands", "deferred command failed");
    assert_eq!(failed.len(), 1, "{}", logs.text());
    for (line, attempt) in [(&retried[0], 1), (&failed[0], 2)] {
        assert_eq!(line["command"], id.as_str(), "{line}");
        assert_eq!(line["provider"], "pay");
        assert_eq!(line["caller"], "svc");
        assert_eq!(line["attempt"], attempt);
        assert!(line["error"].as_str().is_some_and(|e| !e.is_empty()), "{line}");
    }
}
