//! The relay's warnings, read from the real binary's JSON logs: every retry (event, subscription, attempt, next
//! attempt time, error) and every dead letter (event, subscription, attempts, error), without the sink's secret or
//! the credential in its URL's path.

use std::process::Stdio;
use std::time::Duration;

use gatehouse_kit::Scheme;
use serde_json::Value;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::cli::gatehouse;
use crate::helpers::*;
use crate::relay::SINK_SECRET;

/// The credential in the sink URL's path: never logged.
const PATH_TOKEN: &str = "tok-5f1c2a9e";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_and_dead_letters_are_logged_at_warn_with_their_ids() {
    let consumer = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&consumer)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("g.db");
    let config = dir.path().join("g.toml");
    let subscription = format!(
        r#"
[[subscriptions]]
name = "flaky"
events = ["acme-crm.*"]
retry = {{ max_attempts = 2, base_delay = "20ms", max_delay = "50ms" }}
sink = {{ type = "http", url = "{uri}/hooks/{PATH_TOKEN}", secret = "{SINK_SECRET}", timeout = "1s" }}

[relay]
poll_every = "50ms"
"#,
        uri = consumer.uri()
    );
    std::fs::write(&config, test_config_toml(&db) + &subscription).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = gatehouse(&config, &["serve"])
        .env("GATEHOUSE__SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .env("GATEHOUSE_LOG", "warn")
        .env("GATEHOUSE_LOG_FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let addr = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let mut ready = false;
    for _ in 0..200 {
        let answer = client.get(format!("{addr}/readyz")).send().await;
        if answer.is_ok_and(|r| r.status() == 200) {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ready, "gatehouse did not become ready");

    let body = br#"{"type":"customer.updated","data":{"cust_id":"c_1","full_name":"Ada","email_address":"a@x.io","lifetime_value":"1.00","created":"2026-01-02 10:00:00"}}"#;
    let mut request = client.post(format!("{addr}/webhooks/acme-crm")).body(body.to_vec());
    for (name, value) in sign(&Scheme::StandardWebhooks, SW_SECRET, body, now(), "msg_logs") {
        request = request.header(name, value);
    }
    let answer = request.send().await.unwrap();
    assert_eq!(answer.status(), 200);
    let id = answer.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();

    // Two 503s: a retry, then dead (max_attempts = 2).
    let mut status = String::new();
    for _ in 0..200 {
        let conn = rusqlite::Connection::open(&db).unwrap();
        status = conn
            .query_row("SELECT status FROM outbox WHERE id = ?1", [&id], |r| r.get(0))
            .unwrap();
        if status == "dead" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status, "dead");
    let stopped = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    let output = tokio::task::spawn_blocking(move || {
        let _ = child.stdout.take();
        child.wait_with_output()
    })
    .await
    .unwrap()
    .unwrap();
    let logs = String::from_utf8_lossy(&output.stderr);
    assert!(
        !logs.contains(PATH_TOKEN),
        "the sink URL's path is never logged:\n{logs}"
    );
    assert!(
        !logs.contains(SINK_SECRET),
        "the sink's secret is never logged:\n{logs}"
    );

    let lines: Vec<Value> = logs.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let about = |message: &str| -> Vec<&Value> {
        lines
            .iter()
            .filter(|l| l["level"] == "WARN" && l["fields"]["message"].as_str().is_some_and(|m| m.starts_with(message)))
            .map(|l| &l["fields"])
            .collect()
    };
    let retries = about("delivery failed; it will be retried");
    assert_eq!(retries.len(), 1, "one retry:\n{logs}");
    let retry = retries[0];
    assert_eq!(retry["event"], id.as_str());
    assert_eq!(retry["subscription"], "flaky");
    assert_eq!(retry["attempt"], 1);
    assert!(retry["error"].as_str().unwrap().contains("503"), "{retry}");
    let next = retry["next_attempt_at"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(next).is_ok(),
        "next attempt as RFC 3339: {next}"
    );
    let dead = about("delivery is dead");
    assert_eq!(dead.len(), 1, "one dead letter:\n{logs}");
    let dead = dead[0];
    assert_eq!(dead["event"], id.as_str());
    assert_eq!(dead["subscription"], "flaky");
    assert_eq!(dead["attempts"], 2);
    assert!(dead["error"].as_str().unwrap().contains("503"), "{dead}");
}
