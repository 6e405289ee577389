//! Health, readiness, routing errors, correlation ids and graceful shutdown.

use gatehouse_kit::Scheme;

use crate::helpers::*;

#[tokio::test]
async fn health_and_readiness() {
    let app = spawn_app().await;
    for path in ["/healthz", "/readyz"] {
        let response = app.client.get(format!("{}{path}", app.addr)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert!(response.headers().contains_key("x-correlation-id"));
    }
    app.stop().await;
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems() {
    let app = spawn_app().await;
    let response = app.client.get(format!("{}/nowhere", app.addr)).send().await.unwrap();
    problem(response, 404, "unknown-route").await;
    let response = app
        .client
        .get(format!("{}/webhooks/acme-crm", app.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["allow"], "POST");
    problem(response, 405, "method-not-allowed").await;
    app.stop().await;
}

#[tokio::test]
async fn correlation_ids_are_kept_when_valid_and_replaced_otherwise() {
    let app = spawn_app().await;
    let url = format!("{}/nowhere", app.addr);
    let response = app
        .client
        .get(&url)
        .header("X-Correlation-Id", "req-42:abc.DEF_9")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-correlation-id"], "req-42:abc.DEF_9");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["correlation_id"], "req-42:abc.DEF_9");
    for bad in ["has spaces", &"x".repeat(129), "semi;colon"] {
        let response = app
            .client
            .get(&url)
            .header("X-Correlation-Id", bad)
            .send()
            .await
            .unwrap();
        let id = response.headers()["x-correlation-id"].to_str().unwrap().to_owned();
        assert_ne!(id, bad);
        assert!(uuid::Uuid::parse_str(&id).is_ok(), "a fresh UUIDv7 replaces {bad:?}");
    }
    // The id is recorded on the event.
    let body = br#"{"id":"evt_c","type":"charge.captured","data":{"object":{"id":"ch_c"}}}"#;
    let mut headers = sign(&Scheme::Stripe, PLAIN_SECRET, body, now(), "");
    headers.push(("X-Correlation-Id".into(), "trace-me-1".into()));
    let reply: serde_json::Value = app.post_webhook("stripe", &headers, body).await.json().await.unwrap();
    assert_eq!(
        app.envelope(reply["id"].as_str().unwrap())["correlationid"],
        "trace-me-1"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_in_flight_webhooks_commit() {
    let app = spawn_app().await;
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut sends = Vec::new();
    for worker in 0..8 {
        let (client, url, acked) = (
            app.client.clone(),
            format!("{}/webhooks/stripe", app.addr),
            acked.clone(),
        );
        sends.push(tokio::spawn(async move {
            for i in 0..1000 {
                let body = format!(r#"{{"id":"evt_s{worker}_{i}","type":"c.x","data":{{"object":{{"id":"c"}}}}}}"#);
                let headers = sign(&Scheme::Stripe, PLAIN_SECRET, body.as_bytes(), now(), "");
                let mut request = client.post(&url).body(body);
                for (name, value) in &headers {
                    request = request.header(name, value);
                }
                let Ok(response) = request.send().await else { return };
                let Ok(reply) = response.json::<serde_json::Value>().await else {
                    return;
                };
                match reply["id"].as_str() {
                    Some(id) => acked.lock().unwrap().push(id.to_owned()),
                    None => return,
                }
            }
        }));
    }
    // Stop while eight clients are mid-burst.
    while acked.lock().unwrap().len() < 100 {
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    app.stop().await; // stops accepting, drains in-flight requests and the writer queue
    for send in sends {
        send.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= 100 && acked.len() < 8000,
        "stopped mid-burst: {}",
        acked.len()
    );
    for id in &acked {
        assert_eq!(app.envelope(id)["id"], id.as_str(), "an acknowledged webhook is stored");
    }
}

#[tokio::test]
async fn metrics_count_webhooks_by_outcome() {
    let app = spawn_app().await;
    let body = br#"{"id":"evt_m","type":"charge.captured","data":{"object":{"id":"ch_m"}}}"#;
    let headers = sign(&Scheme::Stripe, PLAIN_SECRET, body, now(), "");
    assert_eq!(app.post_webhook("stripe", &headers, body).await.status(), 200);
    assert_eq!(app.post_webhook("stripe", &[], body).await.status(), 401);
    assert_eq!(app.post_webhook("no-such-vendor", &[], body).await.status(), 404);
    let response = app.client.get(format!("{}/metrics", app.addr)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    for series in [
        r#"gatehouse_webhooks_total{provider="stripe",outcome="accepted"}"#,
        r#"gatehouse_webhooks_total{provider="stripe",outcome="invalid-signature"}"#,
        r#"gatehouse_webhooks_total{provider="",outcome="unknown-provider"}"#,
        "gatehouse_webhook_duration_seconds_bucket",
        "gatehouse_store_commit_batch_size_bucket",
    ] {
        assert!(text.contains(series), "{series} missing from:\n{text}");
    }
    assert!(!text.contains("no-such-vendor"), "unknown paths mint no series");
    app.stop().await;
}

#[tokio::test]
async fn unreadable_path_ids_are_problems_and_never_answered_before_authentication() {
    let app = spawn_app_with(&callers_toml(&[], None)).await;
    for (target, key) in [
        ("/admin/events/%FF%FE", "wrong-token"),
        ("/admin/events/%FF%FE/replay", "wrong-token"),
        ("/v1/commands/%FF%FE", "wrong-key"),
    ] {
        let method = if target.ends_with("replay") { "POST" } else { "GET" };
        // Unauthenticated: 401, whatever the path holds.
        let (status, body) = app.raw_request(method, target, key).await;
        assert_eq!(status, 401, "{target}: {body}");
        assert!(body.contains("urn:gatehouse:problem:unauthorized"), "{target}: {body}");
        // Authenticated: a problem document, not a plain-text rejection.
        let key = if target.starts_with("/admin") {
            ADMIN_TOKEN
        } else {
            CALLER_KEY
        };
        let (status, body) = app.raw_request(method, target, key).await;
        assert_eq!(status, 400, "{target}: {body}");
        assert!(
            body.contains("urn:gatehouse:problem:invalid-request"),
            "{target}: {body}"
        );
    }
    app.stop().await;
}
