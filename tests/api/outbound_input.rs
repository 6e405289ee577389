//! Bad input on the outbound side, from either end: malformed caller JSON (400 naming the field), unknown routes
//! (404), oversized bodies (413), path parameters that try to leave their segment, and vendors answering garbage
//! (non-JSON, truncated, wrong types, too big, not HTTP): 502 `upstream-error`, never a panic.

use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;

async fn app(vendor_url: &str) -> TestApp {
    let no_retries = "retry = { max_attempts = 1 }";
    let extra = provider_toml("crm", "acme-crm", vendor_url, no_retries)
        + &provider_toml("pay", "stripe", vendor_url, no_retries)
        + &callers_toml(&["crm", "pay"], None);
    spawn_app_with(&extra).await
}

#[tokio::test]
async fn malformed_json_to_a_domain_route_is_400_naming_the_field() {
    let vendor = MockServer::start().await;
    let app = app(&vendor.uri()).await;
    let cases: &[(&str, &str, &str)] = &[
        (
            "/v1/crm/customers",
            r#"{"name": 5, "email": "a@example.com"}"#,
            "`name`",
        ),
        ("/v1/crm/customers", r#"{"name": "Ada"}"#, "`email`"),
        (
            "/v1/crm/customers",
            r#"{"name": "Ada", "email": "a@example.com", "vip": true}"#,
            "`vip`",
        ),
        (
            "/v1/crm/customers",
            r#"{"name": "", "email": "a@example.com"}"#,
            "`name`",
        ),
        ("/v1/crm/customers", r#"{"name": "Ada", "#, "not valid JSON"),
        ("/v1/crm/customers", "[1, 2]", "not a JSON object"),
        ("/v1/crm/customers", "", "empty"),
        (
            "/v1/pay/payments",
            r#"{"amount": {"value": "ten", "currency": "usd"}}"#,
            "`amount.value`",
        ),
        (
            "/v1/pay/payments",
            r#"{"amount": {"value": 10, "currency": "dollars"}}"#,
            "`amount.currency`",
        ),
        (
            "/v1/pay/payments",
            r#"{"amount": {"value": -5, "currency": "usd"}}"#,
            "`amount.value`",
        ),
    ];
    for (route, body, field) in cases {
        let response = app
            .client
            .post(format!("{}{route}", app.addr))
            .bearer_auth(CALLER_KEY)
            .header("content-type", "application/json")
            .body(*body)
            .send()
            .await
            .unwrap();
        let problem = problem(response, 400, "invalid-request").await;
        let detail = problem["detail"].as_str().unwrap();
        assert!(detail.contains(field), "{body:?}: {detail}");
    }
    let response = app
        .send_json(Method::PATCH, "/v1/crm/customers/c_1", &json!({"name": null}))
        .await;
    problem(response, 400, "invalid-request").await;
    let response = app.get_as(CALLER_KEY, "/v1/crm/customers?limit=1000").await;
    let body = problem(response, 400, "invalid-request").await;
    assert!(body["detail"].as_str().unwrap().contains("`limit`"), "{body}");
    assert_eq!(hits(&vendor).await, 0, "invalid requests never reach the vendor");
    app.stop().await;
}

#[tokio::test]
async fn unknown_routes_are_404_and_wrong_methods_405() {
    let vendor = MockServer::start().await;
    let app = app(&vendor.uri()).await;
    for route in ["/v1/crm/orders", "/v1/crm/customers/c_1/notes", "/v1/pay/refunds/r_1"] {
        problem(app.get_as(CALLER_KEY, route).await, 404, "unknown-route").await;
    }
    let response = app
        .client
        .put(format!("{}/v1/crm/customers/c_1", app.addr))
        .bearer_auth(CALLER_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["allow"], "GET, PATCH, DELETE");
    problem(response, 405, "method-not-allowed").await;
    assert_eq!(hits(&vendor).await, 0);
    app.stop().await;
}

#[tokio::test]
async fn oversized_bodies_are_413_before_the_vendor_is_called() {
    let vendor = MockServer::start().await;
    let app = app(&vendor.uri()).await;
    let big = format!(r#"{{"name": "{}", "email": "a@example.com"}}"#, "x".repeat(70_000));
    for route in ["/v1/crm/customers", "/proxy/crm/customers"] {
        let response = app
            .client
            .post(format!("{}{route}", app.addr))
            .bearer_auth(CALLER_KEY)
            .header("content-type", "application/json")
            .body(big.clone())
            .send()
            .await
            .unwrap();
        problem(response, 413, "payload-too-large").await;
        // Without a Content-Length (chunked), the limit still holds.
        let chunks = futures::stream::iter((0..20).map(|_| Ok::<_, std::io::Error>(vec![b' '; 4096])));
        let response = app
            .client
            .post(format!("{}{route}", app.addr))
            .bearer_auth(CALLER_KEY)
            .body(reqwest::Body::wrap_stream(chunks))
            .send()
            .await
            .unwrap();
        problem(response, 413, "payload-too-large").await;
    }
    assert_eq!(hits(&vendor).await, 0);
    app.stop().await;
}

#[tokio::test]
async fn path_parameters_cannot_leave_their_segment() {
    let vendor = MockServer::start().await;
    let app = app(&vendor.uri()).await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"error": "not_found"})))
        .mount(&vendor)
        .await;
    for target in [
        "/v1/crm/customers/..",
        "/v1/crm/customers/.",
        "/v1/crm/customers/%2e%2e",
        "/v1/crm/customers/%2E%2e",
        "/v1/crm/customers/%ff",
    ] {
        let (status, body) = app.raw_request("GET", target, CALLER_KEY).await;
        assert_eq!(status, 400, "{target}: {body}");
        assert!(
            body.contains("urn:gatehouse:problem:invalid-request"),
            "{target}: {body}"
        );
    }
    assert_eq!(hits(&vendor).await, 0);
    // An encoded slash stays inside the id: one segment at the vendor, decoded once and encoded once.
    let (status, body) = app
        .raw_request("GET", "/v1/crm/customers/a%2F..%2F..%2Fadmin", CALLER_KEY)
        .await;
    assert_eq!(status, 404, "{body}");
    let (status, _) = app.raw_request("GET", "/v1/crm/customers/c%201", CALLER_KEY).await;
    assert_eq!(status, 404);
    let requests = vendor.received_requests().await.unwrap();
    let paths: Vec<&str> = requests.iter().map(|r| r.url.path()).collect();
    assert_eq!(paths, ["/customers/a%2F..%2F..%2Fadmin", "/customers/c%201"]);
    app.stop().await;
}

#[tokio::test]
async fn a_vendor_answering_garbage_is_502_never_a_panic() {
    let vendor = MockServer::start().await;
    let app = app(&vendor.uri()).await;
    let good = json!({"cust_id": "c_1", "full_name": "Ada", "email_address": "a@example.com",
                      "lifetime_value": "1.50", "created": "2026-01-02 10:00:00"});
    let with = |field: &str, value: Value| {
        let mut body = good.clone();
        body[field] = value;
        body.to_string()
    };
    let garbage: Vec<(&str, String)> = vec![
        ("text/plain", "this is not json".into()),
        ("text/html", "<html><body>Bad gateway</body></html>".into()),
        ("application/json", good.to_string()[..30].to_owned()),
        ("application/json", String::new()),
        ("application/json", "null".into()),
        (
            "application/json",
            "[\"c_1\", \"Ada\", \"a@example.com\", \"1.50\", \"2026-01-02 10:00:00\"]".into(),
        ),
        ("application/json", with("cust_id", json!(5))),
        ("application/json", with("lifetime_value", json!(1.5))),
        ("application/json", with("lifetime_value", json!("NaN"))),
        ("application/json", with("created", json!("yesterday"))),
        ("application/json", with("full_name", json!({"first": "Ada"}))),
        ("application/json", with("cust_id", json!("c\u{0}1"))),
        ("application/json", format!(r#"{{"pad": "{}"}}"#, "x".repeat(70_000))),
    ];
    for (i, (content_type, body)) in garbage.iter().enumerate() {
        Mock::given(path(format!("/customers/g{i}")))
            .respond_with(ResponseTemplate::new(200).set_body_raw(body.clone(), content_type))
            .mount(&vendor)
            .await;
    }
    for (i, (_, body)) in garbage.iter().enumerate() {
        let response = app.get_as(CALLER_KEY, &format!("/v1/crm/customers/g{i}")).await;
        let problem = problem(response, 502, "upstream-error").await;
        let preview: String = body.chars().take(60).collect();
        assert!(problem["detail"].is_string(), "{preview}: {problem}");
    }
    // A list and a payment of the wrong shape, too.
    Mock::given(path("/customers"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"results": "none", "page": 1})))
        .mount(&vendor)
        .await;
    Mock::given(path("/v1/payment_intents/pi_1"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"id": "pi_1", "amount": 5, "currency": "usd", "status": "exploded"})),
        )
        .mount(&vendor)
        .await;
    problem(app.get_as(CALLER_KEY, "/v1/crm/customers").await, 502, "upstream-error").await;
    problem(
        app.get_as(CALLER_KEY, "/v1/pay/payments/pi_1").await,
        502,
        "upstream-error",
    )
    .await;
    assert_eq!(
        app.client
            .get(format!("{}/healthz", app.addr))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    app.stop().await;
}

/// A fake vendor on a raw socket that answers every connection with `answer` and hangs up.
async fn raw_vendor(answer: &'static [u8]) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = stream.write_all(answer).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    url
}

#[tokio::test]
async fn a_truncated_or_non_http_vendor_answer_is_502() {
    let answers: [&'static [u8]; 4] = [
        // Promises 500 bytes, sends 30, hangs up.
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 500\r\n\r\n{\"cust_id\":\"c_1\",\"full_name\":",
        // Not HTTP at all.
        b"SSH-2.0-OpenSSH_9.6\r\n\r\n",
        // A broken chunked body.
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
        // Hangs up without a word.
        b"",
    ];
    for answer in answers {
        let url = raw_vendor(answer).await;
        let app = app(&url).await;
        let response = app.get_as(CALLER_KEY, "/v1/crm/customers/c_1").await;
        let text = String::from_utf8_lossy(answer).into_owned();
        assert_eq!(response.status(), 502, "{text}");
        problem(response, 502, "upstream-error").await;
        app.stop().await;
    }
}

#[tokio::test]
async fn documented_forms_are_accepted_integral_numbers_and_empty_parameters() {
    let vendor = MockServer::start().await;
    let app = app(&vendor.uri()).await;
    // `1999.0` is the integer 1999 to JSON Schema, so to the OpenAPI document, so to the route.
    Mock::given(method("POST"))
        .and(path("/v1/payment_intents"))
        .and(wiremock::matchers::body_string("amount=1999&currency=usd"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"id": "pi_1", "object": "payment_intent",
            "amount": 1999, "currency": "usd", "status": "succeeded"})),
        )
        .expect(1)
        .mount(&vendor)
        .await;
    let created = app
        .send_json(
            Method::POST,
            "/v1/pay/payments",
            &json!({"amount": {"value": 1999.0, "currency": "usd"}}),
        )
        .await;
    assert_eq!(created.status(), 201);
    // `?cursor=&limit=` is the first page at the default size.
    Mock::given(method("GET"))
        .and(path("/customers"))
        .and(wiremock::matchers::query_param("page", "1"))
        .and(wiremock::matchers::query_param("per_page", "20"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"page": 1, "per_page": 20,
            "total_pages": 1, "results": []})),
        )
        .expect(1)
        .mount(&vendor)
        .await;
    let page = app.get_as(CALLER_KEY, "/v1/crm/customers?cursor=&limit=").await;
    assert_eq!(page.status(), 200);
    assert_eq!(
        page.json::<Value>().await.unwrap(),
        json!({"data": [], "next_cursor": null})
    );
    let admin = app
        .get_as(ADMIN_TOKEN, "/admin/events?cursor=&limit=&status=&provider=")
        .await;
    assert_eq!(admin.status(), 200);
    app.stop().await;
}
