//! Edge cases of the outbound stack: hostile `Retry-After`s, headers that try to make a POST retryable, path
//! parameters servers strip (`..;`), unusable base URLs, retries against the provider's rate limit, vendors that
//! stall mid-body, and the RateLimit policy a caller is told.

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;

async fn app(vendor_url: &str, settings: &str, rate_limit: Option<&str>) -> TestApp {
    let extra = provider_toml("edge", "acme-crm", vendor_url, settings) + &callers_toml(&["edge"], rate_limit);
    spawn_app_with(&extra).await
}

#[tokio::test]
async fn an_absurd_retry_after_is_not_waited_for_and_breaks_nothing() {
    let vendor = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(503).insert_header("Retry-After", "18446744073709551615"))
        .mount(&vendor)
        .await;
    let app = app(
        &vendor.uri(),
        r#"retry = { max_attempts = 3, base_delay = "5ms", max_delay = "10ms" }"#,
        None,
    )
    .await;
    let response = app.get_as(CALLER_KEY, "/v1/edge/customers/c_1").await;
    problem(response, 502, "upstream-error").await;
    assert_eq!(
        hits(&vendor).await,
        1,
        "a retry after that long would pass the deadline"
    );
    let health = app.client.get(format!("{}/healthz", app.addr)).send().await.unwrap();
    assert_eq!(health.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn a_key_the_vendor_will_not_see_does_not_make_a_post_retryable() {
    let vendor = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(503))
        .mount(&vendor)
        .await;
    let app = app(
        &vendor.uri(),
        r#"retry = { max_attempts = 3, base_delay = "5ms", max_delay = "10ms" }"#,
        None,
    )
    .await;
    let response = app
        .client
        .post(format!("{}/proxy/edge/orders", app.addr))
        .bearer_auth(CALLER_KEY)
        .header("Connection", "idempotency-key")
        .header("Idempotency-Key", "k1")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503, "the vendor's answer passes through");
    // A blank key is no key at all: refused before the vendor sees anything.
    let response = app
        .client
        .post(format!("{}/proxy/edge/orders", app.addr))
        .bearer_auth(CALLER_KEY)
        .header("Idempotency-Key", " ")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let posts = vendor.received_requests().await.unwrap();
    assert_eq!(posts.len(), 1, "the POST was sent once, never retried");
    assert!(
        !posts[0].headers.contains_key("idempotency-key"),
        "the key named in Connection was not forwarded"
    );
    app.stop().await;
}

#[tokio::test]
async fn path_parameters_servers_strip_cannot_climb_out() {
    let vendor = MockServer::start().await;
    let app = app(&vendor.uri(), "", None).await;
    for target in [
        "/proxy/edge/..;/admin",
        "/proxy/edge/a/.;x/b",
        "/proxy/edge/a%3b/..",
        "/proxy/edge/x%3B",
    ] {
        let (status, body) = app.raw_request("GET", target, CALLER_KEY).await;
        assert_eq!(status, 400, "{target}: {body}");
    }
    assert_eq!(hits(&vendor).await, 0);
    app.stop().await;
}

#[test]
fn base_urls_with_credentials_are_refused_at_start() {
    for url in [
        "http://:pw@127.0.0.1:9/api",
        "http://user@127.0.0.1:9",
        "http://127.0.0.1:9/?q=1",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.toml");
        std::fs::write(
            &path,
            format!("[providers.edge]\nadapter = \"acme-crm\"\nbase_url = \"{url}\"\n"),
        )
        .unwrap();
        let config = gatehouse::config::Config::load(&path).unwrap();
        let error = gatehouse::providers::Providers::build(&config)
            .err()
            .expect("refused")
            .to_string();
        assert!(error.contains("providers.edge.base_url"), "{url}: {error}");
    }
}

#[tokio::test]
async fn retries_spend_the_providers_rate_limit_too() {
    let vendor = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(503))
        .mount(&vendor)
        .await;
    let settings = "rate_limit = { per_second = 1, burst = 2 }\n\
                    retry = { max_attempts = 5, base_delay = \"5ms\", max_delay = \"10ms\" }";
    let app = app(&vendor.uri(), settings, None).await;
    let response = app.get_as(CALLER_KEY, "/v1/edge/customers/c_1").await;
    problem(response, 502, "upstream-error").await;
    assert_eq!(hits(&vendor).await, 2, "two tokens: the call and one retry");
    app.stop().await;
}

#[tokio::test]
async fn a_vendor_stalling_mid_body_times_out_within_the_deadline() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let vendor_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                if !request_read(&mut socket).await {
                    return;
                }
                let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"cust";
                let _ = socket.write_all(head.as_bytes()).await;
                tokio::time::sleep(Duration::from_secs(30)).await;
            });
        }
    });
    let app = app(&vendor_url, "timeout = \"300ms\"\nretry = { max_attempts = 1 }", None).await;
    let started = Instant::now();
    let response = app.get_as(CALLER_KEY, "/v1/edge/customers/c_1").await;
    problem(response, 504, "upstream-timeout").await;
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    app.stop().await;
}

#[tokio::test]
async fn the_ratelimit_policy_states_the_sustained_rate() {
    let vendor = MockServer::start().await;
    Mock::given(any())
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"cust_id": "c_1", "full_name": "A",
            "email_address": "a@example.com", "lifetime_value": "1.00", "created": "2026-01-02 10:00:00"})),
        )
        .mount(&vendor)
        .await;
    let app = app(&vendor.uri(), "", Some("{ per_second = 10, burst = 1 }")).await;
    let response = app.get_as(CALLER_KEY, "/v1/edge/customers/c_1").await;
    assert_eq!(response.headers()["ratelimit-policy"], "\"caller\";q=10;w=1");
    app.stop().await;
}

#[tokio::test]
async fn a_streamed_proxy_body_keeps_its_bulkhead_slot_until_it_ends() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let vendor_url = format!("http://{}", listener.local_addr().unwrap());
    let (finish, finished) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        if !request_read(&mut socket).await {
            return;
        }
        let _ = socket
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello")
            .await;
        let _ = finished.await;
        let _ = socket.write_all(b"world").await;
        tokio::time::sleep(Duration::from_secs(5)).await;
    });
    let app = app(&vendor_url, "concurrency = 1\nretry = { max_attempts = 1 }", None).await;
    let streaming = app.get_as(CALLER_KEY, "/proxy/edge/download").await;
    assert_eq!(streaming.status(), 200);
    assert_eq!(app.admin_provider("edge").await["outbound"]["in_flight"], 1);
    let second = app.get_as(CALLER_KEY, "/proxy/edge/other").await;
    problem(second, 503, "bulkhead-full").await;
    finish.send(()).unwrap();
    assert_eq!(streaming.bytes().await.unwrap(), "helloworld");
    assert_eq!(app.admin_provider("edge").await["outbound"]["in_flight"], 0);
    app.stop().await;
}

/// Reads a request's head from a hand-written vendor's socket, so it answers only once asked (an answer sent
/// before the request is one the client never asked for); `false` when the connection ends first.
async fn request_read(socket: &mut tokio::net::TcpStream) -> bool {
    let mut request = Vec::new();
    while !request.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        if socket.read_exact(&mut byte).await.is_err() {
            return false;
        }
        request.push(byte[0]);
    }
    true
}
