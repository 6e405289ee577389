//! `/proxy/{provider}/{path…}` against a fake vendor: the request forwarded under `base_url` with the query string,
//! the provider's credentials instead of the caller's, hop-by-hop headers stripped both ways, correlation and trace
//! headers passed on, the vendor's answer returned as it is; and every path that could leave `base_url` refused
//! without touching the vendor.

use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;

/// `px` proxies to `{vendor}/api` with an `X-Api-Key` credential; `svc` may call it, with a caller rate limit.
async fn app(vendor: &MockServer) -> TestApp {
    let extra = format!(
        r#"
[providers.px]
adapter = "acme-crm"
base_url = "{}/api"
credentials = {{ header = "X-Api-Key", value = "vendor-api-key" }}
retry = {{ max_attempts = 1 }}
"#,
        vendor.uri()
    ) + &callers_toml(&["px"], Some("{ per_second = 100, burst = 1000 }"));
    spawn_app_with(&extra).await
}

#[tokio::test]
async fn requests_are_forwarded_and_answers_returned_as_they_are() {
    let vendor = MockServer::start().await;
    let app = app(&vendor).await;
    Mock::given(method("POST"))
        .and(path("/api/v2/things/42"))
        .respond_with(
            ResponseTemplate::new(418)
                .insert_header("x-vendor-trace", "vt-1")
                .insert_header("set-cookie", "session=abc")
                .insert_header("proxy-authenticate", "Basic realm=\"vendor\"")
                .insert_header("connection", "x-vendor-hop")
                .insert_header("x-vendor-hop", "must-not-pass")
                .set_body_raw("short and stout", "text/x-teapot"),
        )
        .mount(&vendor)
        .await;
    let response = app
        .client
        .post(format!("{}/proxy/px/v2/things/42?b=2&a=%20x&a=y", app.addr))
        .bearer_auth(CALLER_KEY)
        .header("content-type", "application/vnd.thing+json")
        .header("x-custom", "kept")
        .header("idempotency-key", "idem-1")
        .header("x-api-key", "caller-supplied-key")
        .header("x-correlation-id", "corr-proxy-1")
        .header("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        .header("connection", "x-hop-secret")
        .header("x-hop-secret", "must-not-pass")
        .header("keep-alive", "timeout=5")
        .header("proxy-authorization", "Basic cHJveHk6cHJveHk=")
        .header("te", "trailers")
        .body(r#"{"raw":"bytes", "kept": true}"#)
        .send()
        .await
        .unwrap();

    // The vendor's status, headers and body, as they are (hop-by-hop headers aside).
    assert_eq!(response.status(), 418);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "text/x-teapot");
    assert_eq!(headers["x-vendor-trace"], "vt-1");
    assert_eq!(headers["set-cookie"], "session=abc");
    for hop in ["proxy-authenticate", "connection", "x-vendor-hop"] {
        assert!(!headers.contains_key(hop), "{hop} is hop-by-hop");
    }
    assert_eq!(headers["x-correlation-id"], "corr-proxy-1");
    assert!(headers.contains_key("ratelimit-policy") && headers.contains_key("ratelimit"));
    assert_eq!(response.text().await.unwrap(), "short and stout");

    let requests = vendor.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    let sent = &requests[0];
    assert_eq!(sent.url.path(), "/api/v2/things/42");
    assert_eq!(
        sent.url.query(),
        Some("b=2&a=%20x&a=y"),
        "the query string as the caller wrote it"
    );
    assert_eq!(sent.body, br#"{"raw":"bytes", "kept": true}"#);
    let header = |name: &str| sent.headers.get(name).map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(
        header("x-api-key").as_deref(),
        Some("vendor-api-key"),
        "the provider's credential wins"
    );
    assert_eq!(header("authorization"), None, "the caller's key is never forwarded");
    assert_eq!(header("content-type").as_deref(), Some("application/vnd.thing+json"));
    assert_eq!(header("x-custom").as_deref(), Some("kept"));
    assert_eq!(
        header("idempotency-key").as_deref(),
        Some("svc:idem-1"),
        "the caller's key, under the caller's name"
    );
    assert_eq!(header("x-correlation-id").as_deref(), Some("corr-proxy-1"));
    assert_eq!(
        header("traceparent").as_deref(),
        Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
    );
    for hop in ["x-hop-secret", "keep-alive", "proxy-authorization", "te"] {
        assert_eq!(header(hop), None, "{hop} is hop-by-hop");
    }
    assert_ne!(header("host").as_deref(), Some("gatehouse"));
    app.stop().await;
}

#[tokio::test]
async fn vendor_errors_pass_through_unchanged() {
    let vendor = MockServer::start().await;
    let app = app(&vendor).await;
    let error = json!({"error": {"type": "invalid_request_error", "message": "No such thing"}});
    Mock::given(path("/api/missing"))
        .respond_with(ResponseTemplate::new(404).set_body_json(&error))
        .mount(&vendor)
        .await;
    Mock::given(path("/api/broken"))
        .respond_with(ResponseTemplate::new(500).set_body_string("vendor stack trace"))
        .mount(&vendor)
        .await;
    let response = app.get_as(CALLER_KEY, "/proxy/px/missing").await;
    assert_eq!(response.status(), 404);
    assert_eq!(response.json::<serde_json::Value>().await.unwrap(), error);
    let response = app.get_as(CALLER_KEY, "/proxy/px/broken").await;
    assert_eq!(
        response.status(),
        500,
        "passthrough returns the vendor's status, not 502"
    );
    assert_eq!(response.text().await.unwrap(), "vendor stack trace");
    // Any method goes through.
    for verb in ["PUT", "DELETE", "PATCH", "OPTIONS"] {
        Mock::given(method(verb))
            .and(path("/api/any"))
            .respond_with(ResponseTemplate::new(204))
            .mount(&vendor)
            .await;
        let (status, _) = app.raw_request(verb, "/proxy/px/any", CALLER_KEY).await;
        assert_eq!(status, 204, "{verb}");
    }
    app.stop().await;
}

#[tokio::test]
async fn every_path_that_could_leave_base_url_is_refused_without_calling_the_vendor() {
    let vendor = MockServer::start().await;
    let app = app(&vendor).await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(200).set_body_string("reached"))
        .mount(&vendor)
        .await;
    for target in [
        "/proxy/px/..",
        "/proxy/px/../admin",
        "/proxy/px/a/../../b",
        "/proxy/px/./a",
        "/proxy/px/a/.",
        "/proxy/px//evil.example/x",
        "/proxy/px/a//b",
        "/proxy/px/http://evil.example/x",
        "/proxy/px/https:/evil.example",
        "/proxy/px/%2e%2e/admin",
        "/proxy/px/%2E%2E/admin",
        "/proxy/px/.%2e/admin",
        "/proxy/px/%2e./admin",
        "/proxy/px/a%2f..%2f..%2fadmin",
        "/proxy/px/a%2F..%2Fb",
        "/proxy/px/%2f%2fevil.example",
        "/proxy/px/a%5c..%5cb",
        "/proxy/px/%252e%252e/admin",
        "/proxy/px/a%00b",
        "/proxy/px/a%0d%0aX-Injected:%201",
        "/proxy/px/a\\..\\b",
    ] {
        let (status, body) = app.raw_request("GET", target, CALLER_KEY).await;
        assert_eq!(status, 400, "{target}: {body}");
        // The server refuses some targets (a raw backslash) before the gateway sees them; the rest are ours.
        if !body.is_empty() {
            assert!(
                body.contains("urn:gatehouse:problem:invalid-request"),
                "{target}: {body}"
            );
        }
        assert!(!body.contains("reached"), "{target}");
    }
    assert_eq!(hits(&vendor).await, 0, "no refused path reached the vendor");
    // The checks refuse only what is dangerous.
    let allowed = [
        "/proxy/px/a%20b",
        "/proxy/px/v1/charges/",
        "/proxy/px/v1/x:y",
        "/proxy/px/..a/b..",
        "/proxy/px/@evil.example/x",
        "/proxy/px/caf%e9",
    ];
    for target in allowed {
        let (status, body) = app.raw_request("GET", target, CALLER_KEY).await;
        assert_eq!((status, body.as_str()), (200, "reached"), "{target}");
    }
    let paths: Vec<String> = vendor
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| r.url.path().to_owned())
        .collect();
    assert_eq!(
        paths,
        [
            "/api/a%20b",
            "/api/v1/charges/",
            "/api/v1/x:y",
            "/api/..a/b..",
            "/api/@evil.example/x",
            "/api/caf%e9",
        ]
    );
    app.stop().await;
}

#[tokio::test]
async fn vendor_redirects_are_never_followed() {
    let vendor = MockServer::start().await;
    let internal = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(200).set_body_string("internal secret"))
        .mount(&internal)
        .await;
    let location = format!("{}/latest/meta-data", internal.uri());
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(302).insert_header("location", location.as_str()))
        .mount(&vendor)
        .await;
    let app = app(&vendor).await;
    // Passthrough hands the redirect back as it is; a domain route cannot read it and says so.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = client
        .get(format!("{}/proxy/px/customers/c_1", app.addr))
        .bearer_auth(CALLER_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 302);
    assert_eq!(response.headers()["location"], location.as_str());
    problem(
        app.get_as(CALLER_KEY, "/v1/px/customers/c_1").await,
        502,
        "upstream-error",
    )
    .await;
    assert_eq!(hits(&vendor).await, 2);
    assert_eq!(
        hits(&internal).await,
        0,
        "the gateway never follows a vendor's redirect"
    );
    app.stop().await;
}

#[tokio::test]
async fn trace_connect_and_unknown_methods_are_refused_with_allow_before_the_vendor() {
    let vendor = MockServer::start().await;
    let app = app(&vendor).await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(200).set_body_string("reached"))
        .mount(&vendor)
        .await;
    for verb in ["TRACE", "PROPFIND", "BREW", "MKCOL"] {
        let response = app
            .client
            .request(
                reqwest::Method::from_bytes(verb.as_bytes()).unwrap(),
                format!("{}/proxy/px/v1/things", app.addr),
            )
            .bearer_auth(CALLER_KEY)
            .send()
            .await
            .unwrap();
        let allow = response.headers()["allow"].to_str().unwrap().to_owned();
        assert_eq!(allow, "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS", "{verb}");
        problem(response, 405, "method-not-allowed").await;
    }
    // CONNECT in authority form never reaches a route; in origin form it is refused like TRACE.
    let (status, body) = app.raw_request("CONNECT", "/proxy/px/v1/things", CALLER_KEY).await;
    assert!(status == 405 || status == 400, "{status}: {body}");
    assert_eq!(hits(&vendor).await, 0, "nothing reached the vendor");
    app.stop().await;
}

#[tokio::test]
async fn idempotency_keys_on_every_method_reach_the_vendor_under_the_callers_name() {
    let vendor = MockServer::start().await;
    let app = app(&vendor).await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(200))
        .mount(&vendor)
        .await;
    for verb in [reqwest::Method::PUT, reqwest::Method::DELETE, reqwest::Method::GET] {
        let response = app
            .client
            .request(verb.clone(), format!("{}/proxy/px/v1/things/1", app.addr))
            .bearer_auth(CALLER_KEY)
            .header("Idempotency-Key", "shared-key")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{verb}");
        assert!(!response.headers().contains_key("idempotent-replayed"));
    }
    let keys = sent_header(&vendor, "idempotency-key", None).await;
    assert_eq!(keys, ["svc:shared-key"; 3], "never as the caller sent it");
    // A malformed key is refused on every method, before the vendor.
    let refused = app
        .client
        .delete(format!("{}/proxy/px/v1/things/1", app.addr))
        .bearer_auth(CALLER_KEY)
        .header("Idempotency-Key", "")
        .send()
        .await
        .unwrap();
    problem(refused, 400, "invalid-request").await;
    assert_eq!(hits(&vendor).await, 3);
    app.stop().await;
}
