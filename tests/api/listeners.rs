//! `server.admin_listen`: the admin routes, the console and `/metrics` move to their own listener (404 on the public
//! one), which keeps webhooks, `/v1`, `/proxy` and health; both stop together. `check-config` warns about
//! development credentials on a non-loopback listener.

use gatehouse_kit::Scheme;

use crate::cli::gatehouse;
use crate::helpers::*;

async fn status(app: &TestApp, base: &str, method: reqwest::Method, path: &str, token: Option<&str>) -> u16 {
    let mut request = app.client.request(method, format!("{base}{path}"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn the_admin_listener_serves_the_admin_routes_alone() {
    let app = spawn_app_with_server("admin_listen = \"127.0.0.1:0\"", &callers_toml(&["stripe"], None)).await;
    let public = app.addr.clone();
    let admin = app.admin_addr.clone().expect("the admin listener's address");
    assert_ne!(public, admin);
    let get = reqwest::Method::GET;

    // The public listener: webhooks, health, the OpenAPI document; the operator's routes are unknown there.
    let body = br#"{"id":"evt_split","type":"charge.captured","data":{"object":{"id":"ch_s"}}}"#;
    let headers = sign(&Scheme::Stripe, PLAIN_SECRET, body, now(), "");
    assert_eq!(app.post_webhook("stripe", &headers, body).await.status(), 200);
    for path in ["/healthz", "/readyz", "/openapi.json"] {
        assert_eq!(
            status(&app, &public, get.clone(), path, None).await,
            200,
            "public {path}"
        );
    }
    for path in [
        "/admin/providers",
        "/admin/events",
        "/metrics",
        "/console",
        "/console/events",
    ] {
        let response = app
            .client
            .get(format!("{public}{path}"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        problem(response, 404, "unknown-route").await;
    }
    // /v1 is still public: its caller key is checked there.
    assert_eq!(
        status(&app, &public, get.clone(), "/v1/stripe/payments/pi_1", None).await,
        401
    );

    // The admin listener: the operator's routes, health, the document; no webhooks, /v1 or /proxy.
    assert_eq!(
        status(&app, &admin, get.clone(), "/admin/providers", Some(ADMIN_TOKEN)).await,
        200
    );
    assert_eq!(status(&app, &admin, get.clone(), "/admin/providers", None).await, 401);
    let events: serde_json::Value = app
        .client
        .get(format!("{admin}/admin/events"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(events["data"].as_array().map(Vec::len), Some(1), "{events}");
    for path in ["/metrics", "/healthz", "/readyz", "/openapi.json"] {
        assert_eq!(status(&app, &admin, get.clone(), path, None).await, 200, "admin {path}");
    }
    let response = app
        .client
        .post(format!("{admin}/webhooks/stripe"))
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    problem(response, 404, "unknown-route").await;
    for path in ["/v1/stripe/payments/pi_1", "/proxy/stripe/v1/charges", "/v1/commands/x"] {
        let response = app
            .client
            .get(format!("{admin}{path}"))
            .bearer_auth(CALLER_KEY)
            .send()
            .await
            .unwrap();
        problem(response, 404, "unknown-route").await;
    }

    // Both stop with the server.
    app.stop().await;
    for base in [&public, &admin] {
        let refused = app.client.get(format!("{base}/healthz")).send().await;
        assert!(refused.is_err(), "{base} still answers after stop");
    }
}

#[tokio::test]
async fn without_admin_listen_everything_is_on_one_listener() {
    let app = spawn_app_with(&callers_toml(&["stripe"], None)).await;
    assert!(app.admin_addr.is_none());
    let get = reqwest::Method::GET;
    assert_eq!(
        status(&app, &app.addr, get.clone(), "/admin/providers", Some(ADMIN_TOKEN)).await,
        200
    );
    assert_eq!(status(&app, &app.addr, get.clone(), "/metrics", None).await, 200);
    assert_eq!(status(&app, &app.addr, get, "/healthz", None).await, 200);
    app.stop().await;
}

#[test]
fn check_config_warns_about_development_credentials_on_a_public_address() {
    let default = concat!(env!("CARGO_MANIFEST_DIR"), "/config/gatehouse.toml");
    let warning = "development credentials";
    let output = gatehouse(default.as_ref(), &["check-config"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(!stderr.contains(warning), "loopback only: {stderr}");
    for (variable, address) in [
        ("GATEHOUSE__SERVER__LISTEN", "0.0.0.0:8080"),
        ("GATEHOUSE__SERVER__ADMIN_LISTEN", "0.0.0.0:9090"),
    ] {
        let output = gatehouse(default.as_ref(), &["check-config"])
            .env(variable, address)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{stderr}");
        assert!(stderr.contains(warning), "{variable}: {stderr}");
        assert!(stderr.contains(address), "{stderr}");
        for key in [
            "admin.token_sha256",
            "callers[0].key_sha256",
            "providers.acme-crm.webhook.secrets[0]",
        ] {
            assert!(stderr.contains(key), "{key} in {stderr}");
        }
        assert!(
            !stderr.contains("Z2F0ZWhvdXNl"),
            "the secret itself is never printed: {stderr}"
        );
    }
}
