//! The access log of a running gateway: one `gatehouse::access` line per request with method, route template,
//! status, duration, provider, caller and correlation id; never the raw path, query, a key, a token or a secret.

use gatehouse_kit::Scheme;
use serde_json::Value;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;
use crate::log_capture::Captured;

const TARGET: &str = "gatehouse::access";

/// The access line whose correlation id is `id` (exactly one).
fn line(logs: &Captured, id: &str) -> Value {
    let lines: Vec<Value> = logs
        .events(TARGET)
        .into_iter()
        .filter(|e| e["fields"]["correlation_id"] == id)
        .collect();
    assert_eq!(lines.len(), 1, "one access line for {id}: {}", logs.text());
    lines[0]["fields"].clone()
}

#[tokio::test]
async fn every_request_is_logged_with_its_route_template_and_no_secret() {
    let logs = Captured::default();
    let _guard = logs.install();
    let vendor = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_body_string("{}"))
        .mount(&vendor)
        .await;
    let app =
        spawn_app_with(&(provider_toml("crm", "acme-crm", &vendor.uri(), "") + &callers_toml(&["crm"], None))).await;

    // A caller through /proxy, with an idempotency key and a token in the query and path.
    let idempotency_key = "idem-key-value-7f3a9c";
    let response = app
        .client
        .post(format!(
            "{}/proxy/crm/customers/c_path_secret?token=query-secret-99",
            app.addr
        ))
        .bearer_auth(CALLER_KEY)
        .header("Idempotency-Key", idempotency_key)
        .header("X-Correlation-Id", "corr-access-proxy")
        .body("{\"body_secret\":\"in-the-body\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let proxy = line(&logs, "corr-access-proxy");
    assert_eq!(proxy["method"], "POST");
    assert_eq!(proxy["route"], "/proxy/{provider}/{*rest}");
    assert_eq!(proxy["status"], 200);
    assert_eq!(proxy["provider"], "crm");
    assert_eq!(proxy["caller"], "svc");
    assert!(proxy["duration_ms"].as_f64().is_some_and(|ms| ms >= 0.0), "{proxy}");
    assert_eq!(proxy["message"], "request");

    // A signed webhook: the provider, no caller.
    let body = br#"{"id":"evt_access","type":"charge.captured","data":{"object":{"id":"ch_a"}}}"#;
    let mut headers = sign(&Scheme::Stripe, PLAIN_SECRET, body, now(), "");
    headers.push(("X-Correlation-Id".into(), "corr-access-webhook".into()));
    assert_eq!(app.post_webhook("stripe", &headers, body).await.status(), 200);
    let webhook = line(&logs, "corr-access-webhook");
    assert_eq!(webhook["route"], "/webhooks/{provider}");
    assert_eq!(webhook["provider"], "stripe");
    assert_eq!(webhook["status"], 200);
    assert!(webhook.get("caller").is_none(), "{webhook}");

    // A caller that may not call the provider is still named; a provider that is not configured is not logged.
    let send = |path: &str, key: &str, id: &str| {
        app.client
            .get(format!("{}{path}", app.addr))
            .bearer_auth(key)
            .header("X-Correlation-Id", id)
            .send()
    };
    assert_eq!(
        send("/v1/crm/customers", OTHER_KEY, "corr-access-403")
            .await
            .unwrap()
            .status(),
        403
    );
    let forbidden = line(&logs, "corr-access-403");
    assert_eq!(
        (forbidden["caller"].as_str(), forbidden["status"].as_u64()),
        (Some("outsider"), Some(403))
    );
    assert_eq!(forbidden["route"], "/v1/{provider}/{*rest}");
    let unknown = send("/v1/not-configured-9d2/x", CALLER_KEY, "corr-access-unknown")
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    let unknown = line(&logs, "corr-access-unknown");
    assert!(unknown.get("provider").is_none(), "{unknown}");
    // A wrong key: no caller.
    assert_eq!(
        send("/v1/crm/customers", "wrong-key-4c1d", "corr-access-401")
            .await
            .unwrap()
            .status(),
        401
    );
    assert!(line(&logs, "corr-access-401").get("caller").is_none());

    // No route: a placeholder, never the path.
    assert_eq!(
        send("/no/such/tok_in_unmatched_path", CALLER_KEY, "corr-access-404")
            .await
            .unwrap()
            .status(),
        404
    );
    let unmatched = line(&logs, "corr-access-404");
    assert_eq!(unmatched["route"], "<unmatched>");
    assert_eq!(unmatched["method"], "GET");

    // An admin route, with the admin token.
    let admin = app
        .client
        .get(format!("{}/admin/providers", app.addr))
        .bearer_auth(ADMIN_TOKEN)
        .header("X-Correlation-Id", "corr-access-admin")
        .send()
        .await
        .unwrap();
    assert_eq!(admin.status(), 200);
    assert_eq!(line(&logs, "corr-access-admin")["route"], "/admin/providers");
    app.stop().await;

    let text = logs.text();
    for secret in [
        CALLER_KEY,
        OTHER_KEY,
        ADMIN_TOKEN,
        "wrong-key-4c1d",
        idempotency_key,
        PLAIN_SECRET,
        SW_SECRET,
        VENDOR_TOKEN,
        "query-secret-99",
        "c_path_secret",
        "tok_in_unmatched_path",
        "in-the-body",
        "not-configured-9d2",
    ] {
        assert!(!text.contains(secret), "{secret} logged: {text}");
    }
}
