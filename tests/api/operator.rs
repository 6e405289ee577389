//! Recovering without SQL over the admin API and the CLI: events filtered newest first with cursors, an event's raw
//! body and attempt latencies, replay for one subscription only (the healthy one gets nothing twice), bulk replay of
//! dead letters with a dry run, and the subscriptions report.

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::cli::gatehouse;
use crate::helpers::*;
use crate::relay::{app, received, subscription, wait_status, webhook};

async fn admin_get(app: &TestApp, target: &str) -> (u16, Value) {
    let response = app.get_as(ADMIN_TOKEN, target).await;
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn admin_post(app: &TestApp, target: &str, body: Option<Value>) -> reqwest::Response {
    let mut request = app
        .client
        .post(format!("{}{target}", app.addr))
        .bearer_auth(ADMIN_TOKEN);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

/// `crm` (its consumer refuses the first `refusals` deliveries with 400: dead at once) and `audit` (always 200),
/// both taking every acme-crm event.
async fn two_subscriptions(consumer: &MockServer, refusals: u64) -> TestApp {
    Mock::given(method("POST"))
        .and(path("/events/crm"))
        .respond_with(ResponseTemplate::new(400))
        .up_to_n_times(refusals)
        .with_priority(1)
        .mount(consumer)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(consumer)
        .await;
    let subscriptions = subscription("crm", r#""acme-crm.*""#, false, consumer, 3)
        + &subscription("audit", r#""acme-crm.*""#, false, consumer, 3);
    app(&(subscriptions + &callers_toml(&[], None))).await
}

/// `GET /admin/subscriptions`, and the entry of subscription `name` in it.
async fn subscription_report(app: &TestApp, name: &str) -> (Value, Value) {
    let (_, report) = admin_get(app, "/admin/subscriptions").await;
    let entry = report["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap()
        .clone();
    (report, entry)
}

fn ids(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn events_are_filtered_newest_first_and_paged_with_cursors() {
    let consumer = MockServer::start().await;
    let app = two_subscriptions(&consumer, 100).await;
    let mut sent = Vec::new();
    for n in 1..=3 {
        sent.push(webhook(&app, n, "updated", &format!("c_{n}")).await);
    }
    for id in &sent {
        wait_status(&app, id, "dead").await;
    }
    let newest: Vec<String> = sent.iter().rev().cloned().collect();
    let (status, page) = admin_get(&app, "/admin/events?order=desc").await;
    assert_eq!(status, 200);
    assert_eq!(ids(&page), newest);
    let (_, page) = admin_get(&app, "/admin/events?order=desc&limit=2").await;
    assert_eq!(ids(&page), newest[..2]);
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let (_, next) = admin_get(&app, &format!("/admin/events?order=desc&limit=2&cursor={cursor}")).await;
    assert_eq!(ids(&next), newest[2..]);
    // A cursor of one order is refused in the other (it would skip or repeat events).
    let (status, _) = admin_get(&app, &format!("/admin/events?order=asc&cursor={cursor}")).await;
    assert_eq!(status, 400);

    let (_, dead_for_crm) = admin_get(&app, "/admin/events?subscription=crm&status=dead&order=desc").await;
    assert_eq!(ids(&dead_for_crm), newest);
    let (_, dead_for_audit) = admin_get(&app, "/admin/events?subscription=audit&status=dead").await;
    assert!(ids(&dead_for_audit).is_empty());
    let (_, by_vendor_id) = admin_get(&app, "/admin/events?providereventid=msg_2").await;
    assert_eq!(ids(&by_vendor_id), vec![sent[1].clone()]);
    let (_, typed) = admin_get(&app, "/admin/events?type=acme-crm.customer.updated&provider=acme-crm").await;
    assert_eq!(ids(&typed), sent);
    let (_, later) = admin_get(&app, "/admin/events?since=2999-01-01T00:00:00Z").await;
    assert!(ids(&later).is_empty());
    let (_, earlier) = admin_get(&app, "/admin/events?until=2999-01-01T00:00:00%2B02:00&since=").await;
    assert_eq!(ids(&earlier), sent);
    for bad in [
        "since=yesterday",
        "order=sideways",
        "status=lost",
        "limit=0",
        "colour=red",
    ] {
        let response = app.get_as(ADMIN_TOKEN, &format!("/admin/events?{bad}")).await;
        problem(response, 400, "invalid-request").await;
    }
    let anonymous = app
        .client
        .get(format!("{}/admin/events", app.addr))
        .send()
        .await
        .unwrap();
    problem(anonymous, 401, "unauthorized").await;

    // The raw body as the vendor sent it, and each attempt's latency.
    let (_, detail) = admin_get(&app, &format!("/admin/events/{}", sent[0])).await;
    assert!(
        detail["raw_body"].as_str().unwrap().contains("\"full_name\":\"Ada 1\""),
        "{detail}"
    );
    assert!(detail.get("raw_body_base64").is_none());
    let crm = detail["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["subscription"] == "crm")
        .unwrap();
    assert!(crm["history"][0]["latency_ms"].as_i64().unwrap() >= 0, "{crm}");
    app.stop().await;
}

#[tokio::test]
async fn a_dead_event_is_replayed_for_its_one_subscription_only() {
    let consumer = MockServer::start().await;
    let app = two_subscriptions(&consumer, 1).await;
    let id = webhook(&app, 1, "updated", "c_1").await;
    wait_status(&app, &id, "dead").await;
    received(&consumer, "/events/audit", 1).await;

    for (query, status, slug) in [
        ("?subscription=nope", 404, "not-found"),
        ("?colour=red", 400, "invalid-request"),
    ] {
        let response = admin_post(&app, &format!("/admin/events/{id}/replay{query}"), None).await;
        problem(response, status, slug).await;
    }
    let replayed = admin_post(&app, &format!("/admin/events/{id}/replay?subscription=crm"), None).await;
    assert_eq!(replayed.status(), 202);
    assert_eq!(replayed.json::<Value>().await.unwrap()["queued"], 1);
    wait_status(&app, &id, "delivered").await;
    assert_eq!(received(&consumer, "/events/crm", 2).await.len(), 2);
    assert_eq!(
        received(&consumer, "/events/audit", 1).await.len(),
        1,
        "audit got it once"
    );
    app.stop().await;
}

#[tokio::test]
async fn dead_letters_are_counted_then_replayed_in_bulk_over_http_and_from_the_cli() {
    let consumer = MockServer::start().await;
    let app = two_subscriptions(&consumer, 10).await;
    let mut sent = Vec::new();
    for n in 1..=10 {
        sent.push(webhook(&app, n, "updated", &format!("c_{n}")).await);
    }
    for id in &sent {
        wait_status(&app, id, "dead").await;
    }
    let (report, crm) = subscription_report(&app, "crm").await;
    assert_eq!(
        (crm["dead"].as_u64(), crm["pending"].as_u64()),
        (Some(10), Some(0)),
        "{report}"
    );
    assert!(crm["oldest_pending_seconds"].is_null());

    let count = admin_post(
        &app,
        "/admin/replays",
        Some(json!({"status": "dead", "subscription": "crm",
        "provider": "acme-crm", "since": "2020-01-01T00:00:00Z", "dry_run": true})),
    )
    .await;
    assert_eq!(count.status(), 200);
    assert_eq!(
        count.json::<Value>().await.unwrap(),
        json!({"matched": 10, "queued": 0})
    );
    let (_, unchanged) = admin_get(&app, "/admin/events?subscription=crm&status=dead&limit=100").await;
    assert_eq!(ids(&unchanged).len(), 10, "a dry run queues nothing");
    // The CLI's dry run counts the same.
    let output = gatehouse(
        &app.config_path,
        &[
            "events",
            "replay",
            "--status",
            "dead",
            "--subscription",
            "crm",
            "--dry-run",
        ],
    )
    .output()
    .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("10 dead deliveries match"),
        "{output:?}"
    );

    for (body, status, slug) in [
        (json!({"subscription": "nope"}), 404, "not-found"),
        (json!({"status": "pending"}), 400, "invalid-request"),
        (json!({"since": "last week"}), 400, "invalid-request"),
        (json!({"colour": "red"}), 400, "invalid-request"),
    ] {
        problem(admin_post(&app, "/admin/replays", Some(body)).await, status, slug).await;
    }
    let replayed = admin_post(&app, "/admin/replays", Some(json!({"subscription": "crm"}))).await;
    assert_eq!(
        replayed.json::<Value>().await.unwrap(),
        json!({"matched": 10, "queued": 10})
    );
    for id in &sent {
        wait_status(&app, id, "delivered").await;
    }
    assert_eq!(
        received(&consumer, "/events/audit", 10).await.len(),
        10,
        "audit got nothing twice"
    );
    let (report, crm) = subscription_report(&app, "crm").await;
    assert_eq!(
        (crm["dead"].as_u64(), crm["delivered"].as_u64()),
        (Some(0), Some(10)),
        "{report}"
    );
    assert_eq!(crm["configured"], true);

    // `events show` prints the event as the admin API does.
    let output = gatehouse(&app.config_path, &["events", "show", &sent[0]])
        .output()
        .unwrap();
    let shown: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(shown["id"], sent[0].as_str());
    assert_eq!(shown["status"], "delivered");
    // And replays one event for one subscription.
    let output = gatehouse(
        &app.config_path,
        &["events", "replay", &sent[0], "--subscription", "audit"],
    )
    .output()
    .unwrap();
    assert!(output.status.success(), "{output:?}");
    received(&consumer, "/events/audit", 11).await;
    app.stop().await;
}
