//! Deferred commands for operators: every caller's listed newest first with filters and cursors, one shown with its
//! request and last error, and a pending one cancelled over HTTP and from the CLI (announced in the outbox, never
//! run again); a finished one is refused with 409.

use std::time::Duration;

use serde_json::{Value, json};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::cli::gatehouse;
use crate::helpers::*;

/// `crm` (acme-crm) against a vendor that always answers 503; a failed command waits an hour for its next try.
async fn app(vendor: &MockServer) -> TestApp {
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .mount(vendor)
        .await;
    let extra = provider_toml("crm", "acme-crm", &vendor.uri(), "retry = { max_attempts = 1 }\n")
        + &callers_toml(&["crm"], None)
        + "\n[commands]\nbase_delay = \"1h\"\nmax_delay = \"1h\"\npoll_every = \"50ms\"\n"
        + "\n[[subscriptions]]\nname = \"outcomes\"\nevents = [\"gatehouse.command.*\"]\n"
        + "sink = { type = \"log\" }\n";
    spawn_app_with(&extra).await
}

async fn submit(app: &TestApp, name: &str) -> String {
    let response = app
        .client
        .post(format!("{}/v1/crm/customers", app.addr))
        .bearer_auth(CALLER_KEY)
        .header("Prefer", "respond-async")
        .json(&json!({"name": name, "email": "ada@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn admin(app: &TestApp, target: &str) -> (u16, Value) {
    let response = app.get_as(ADMIN_TOKEN, target).await;
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn cancel(app: &TestApp, id: &str) -> reqwest::Response {
    app.client
        .post(format!("{}/admin/commands/{id}/cancel", app.addr))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
}

/// Waits until the command's first attempt has failed (it is then pending, waiting an hour, and not running).
async fn attempted(app: &TestApp, id: &str) -> Value {
    for _ in 0..200 {
        let (_, command) = admin(app, &format!("/admin/commands/{id}")).await;
        if command["attempts"] == 1 && command["running"] == false {
            return command;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("command {id} was not attempted within 10 s");
}

#[tokio::test]
async fn commands_are_listed_shown_and_cancelled_by_an_operator() {
    let vendor = MockServer::start().await;
    let app = app(&vendor).await;
    let first = submit(&app, "Ada").await;
    let second = submit(&app, "Grace").await;
    let shown = attempted(&app, &first).await;
    attempted(&app, &second).await;
    assert_eq!(shown["status"], "pending");
    assert_eq!(shown["caller"], "svc");
    assert_eq!(shown["body"]["name"], "Ada");
    assert!(shown["last_error"].as_str().unwrap().contains("503"), "{shown}");
    assert!(shown["next_attempt_at"].is_string());

    let (status, page) = admin(&app, "/admin/commands?status=pending&provider=crm&caller=svc&limit=1").await;
    assert_eq!(status, 200);
    assert_eq!(page["data"][0]["id"], second.as_str(), "newest first");
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, next) = admin(&app, &format!("/admin/commands?status=pending&limit=1&cursor={cursor}")).await;
    assert_eq!(next["data"][0]["id"], first.as_str());
    let (_, none) = admin(&app, "/admin/commands?caller=someone-else").await;
    assert!(none["data"].as_array().unwrap().is_empty());
    problem(
        app.get_as(ADMIN_TOKEN, "/admin/commands?status=done").await,
        400,
        "invalid-request",
    )
    .await;
    problem(app.get_as(CALLER_KEY, "/admin/commands").await, 401, "unauthorized").await;

    let cancelled = cancel(&app, &first).await;
    assert_eq!(cancelled.status(), 200);
    let cancelled: Value = cancelled.json().await.unwrap();
    assert_eq!(cancelled["status"], "cancelled");
    problem(cancel(&app, &first).await, 409, "command-not-pending").await;
    problem(
        cancel(&app, "0197f5a4-5c1e-7b7e-9d6a-3f1c2b4a5d6e").await,
        404,
        "not-found",
    )
    .await;
    // Its caller sees it cancelled; the outcome is announced like a finished command's.
    let body: Value = app
        .get_as(CALLER_KEY, &format!("/v1/commands/{first}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["status"], "cancelled");
    let (_, announced) = admin(&app, &format!("/admin/events?providereventid=command/{first}")).await;
    assert_eq!(announced["data"][0]["type"], "gatehouse.command.cancelled");

    // The CLI lists, shows and cancels the same way.
    let output = gatehouse(&app.config_path, &["commands", "list", "--status", "pending", "--json"])
        .output()
        .unwrap();
    let listed: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    let output = gatehouse(&app.config_path, &["commands", "show", &second])
        .output()
        .unwrap();
    let shown: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(shown["body"]["name"], "Grace");
    let output = gatehouse(&app.config_path, &["commands", "cancel", &second])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let output = gatehouse(&app.config_path, &["commands", "cancel", &second])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("cancelled"),
        "{output:?}"
    );
    let (_, cancelled) = admin(&app, "/admin/commands?status=cancelled").await;
    assert_eq!(cancelled["data"].as_array().unwrap().len(), 2);
    app.stop().await;
}
