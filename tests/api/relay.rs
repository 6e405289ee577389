//! The outbox relay end to end against a fake HTTP consumer: events signed with the subscription's secret,
//! redelivered with the same id after 5xx, dead-lettered on a refusal, routed by glob, kept in order per subject
//! for ordered subscriptions, and delivered after a crash mid-delivery.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gatehouse_kit::Scheme;
use serde_json::Value;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::helpers::*;

/// The sink's secret (Standard Webhooks).
pub const SINK_SECRET: &str = "whsec_c2luay1zZWNyZXQtZm9yLWdhdGVob3VzZS10ZXN0cw==";

pub fn subscription(name: &str, events: &str, ordered: bool, consumer: &MockServer, max_attempts: u32) -> String {
    format!(
        r#"
[[subscriptions]]
name = "{name}"
events = [{events}]
ordered = {ordered}
retry = {{ max_attempts = {max_attempts}, base_delay = "20ms", max_delay = "50ms" }}
sink = {{ type = "http", url = "{uri}/events/{name}", secret = "{SINK_SECRET}", timeout = "1s" }}
"#,
        uri = consumer.uri()
    )
}

pub async fn app(subscriptions: &str) -> TestApp {
    let relay = "\n[relay]\nlease = \"2s\"\npoll_every = \"50ms\"\n";
    spawn_app_with(&format!("{subscriptions}{relay}")).await
}

/// Sends a signed acme-crm webhook of `kind` about customer `subject`; returns the event id.
pub async fn webhook(app: &TestApp, n: u32, kind: &str, subject: &str) -> String {
    let body = format!(
        r#"{{"type":"customer.{kind}","data":{{"cust_id":"{subject}","full_name":"Ada {n}","email_address":"a{n}@x.io","lifetime_value":"1.00","created":"2026-01-02 10:00:00"}}}}"#
    );
    let headers = sign(
        &Scheme::StandardWebhooks,
        SW_SECRET,
        body.as_bytes(),
        now(),
        &format!("msg_{n}"),
    );
    let response = app.post_webhook("acme-crm", &headers, body.as_bytes()).await;
    assert_eq!(response.status(), 200);
    response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Waits (up to 10 s) until `consumer` has received `count` requests on `path`.
pub async fn received(consumer: &MockServer, on: &str, count: usize) -> Vec<Request> {
    for _ in 0..200 {
        let requests: Vec<Request> = consumer
            .received_requests()
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.url.path() == on)
            .collect();
        if requests.len() >= count {
            return requests;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{on} did not receive {count} requests within 10 s");
}

pub fn status_of(app: &TestApp, id: &str) -> String {
    let conn = rusqlite::Connection::open(&app.db).unwrap();
    conn.query_row("SELECT status FROM outbox WHERE id = ?1", [id], |r| r.get(0))
        .unwrap()
}

/// Waits (up to 10 s) for event `id` to have `status`, read through the app's store (either backend).
pub async fn wait_status(app: &TestApp, id: &str, status: &str) {
    let uuid = uuid::Uuid::parse_str(id).unwrap();
    let mut now = String::new();
    for _ in 0..200 {
        now = app
            .store
            .get_event(uuid)
            .await
            .unwrap()
            .unwrap()
            .summary
            .status
            .as_str()
            .to_owned();
        if now == status {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("event {id} is {now} after 10 s, not {status}");
}

#[tokio::test]
async fn events_arrive_signed_and_are_redelivered_with_the_same_id_after_5xx() {
    let consumer = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&consumer)
        .await;
    Mock::given(method("POST"))
        .and(header("content-type", "application/cloudevents+json"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&consumer)
        .await;
    let app = app(&subscription("crm", r#""acme-crm.customer.*""#, false, &consumer, 5)).await;
    let id = webhook(&app, 1, "updated", "c_1").await;
    let requests = received(&consumer, "/events/crm", 3).await;
    wait_status(&app, &id, "delivered").await;
    assert_eq!(requests.len(), 3, "two 503s, then delivered once");
    for request in &requests {
        let header = |name: &str| request.headers[name].to_str().unwrap().to_owned();
        assert_eq!(header("webhook-id"), id, "the event id, every time");
        let timestamp: u64 = header("webhook-timestamp").parse().unwrap();
        let expected = sign(&Scheme::StandardWebhooks, SINK_SECRET, &request.body, timestamp, &id);
        let signature = expected.iter().find(|(n, _)| n == "webhook-signature").unwrap();
        assert_eq!(
            header("webhook-signature"),
            signature.1,
            "signed with the subscription's secret"
        );
        let envelope: Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(envelope["id"], id);
        assert_eq!(envelope["type"], "acme-crm.customer.updated");
        assert_eq!(envelope["specversion"], "1.0");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_refusal_is_a_dead_letter_and_globs_route_events() {
    let consumer = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/events/refuses"))
        .respond_with(ResponseTemplate::new(400))
        .mount(&consumer)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&consumer)
        .await;
    let subscriptions = subscription("refuses", r#""acme-crm.customer.created""#, false, &consumer, 5)
        + &subscription("updates", r#""*.updated""#, false, &consumer, 5);
    let app = app(&subscriptions).await;
    let created = webhook(&app, 1, "created", "c_1").await;
    let updated = webhook(&app, 2, "updated", "c_1").await;
    wait_status(&app, &created, "dead").await;
    wait_status(&app, &updated, "delivered").await;
    let refused = received(&consumer, "/events/refuses", 1).await;
    assert_eq!(refused.len(), 1, "a 400 is not retried");
    let routed = received(&consumer, "/events/updates", 1).await;
    assert_eq!(routed.len(), 1);
    assert_eq!(routed[0].headers["webhook-id"].to_str().unwrap(), updated);
    // An event no subscription wants has nothing to deliver.
    let deleted = webhook(&app, 3, "deleted", "c_1").await;
    assert_eq!(status_of(&app, &deleted), "delivered");
    app.stop().await;
}

#[tokio::test]
async fn an_ordered_subscription_holds_back_only_the_failing_subject() {
    let consumer = MockServer::start().await;
    // The consumer refuses subject c_slow four times, then takes everything; it logs what it accepted, in order.
    let accepted = Arc::new(Mutex::new(Vec::<String>::new()));
    let refusals = Arc::new(AtomicUsize::new(4));
    let log = Arc::clone(&accepted);
    Mock::given(method("POST"))
        .respond_with(move |request: &Request| {
            let envelope: Value = serde_json::from_slice(&request.body).unwrap_or_default();
            if envelope["subject"] == "c_slow"
                && refusals
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok()
            {
                return ResponseTemplate::new(503);
            }
            log.lock()
                .unwrap()
                .push(envelope["id"].as_str().unwrap_or_default().to_owned());
            ResponseTemplate::new(200)
        })
        .mount(&consumer)
        .await;
    let app = app(&subscription("ordered", r#""acme-crm.*""#, true, &consumer, 50)).await;
    let first = webhook(&app, 1, "updated", "c_slow").await;
    let second = webhook(&app, 2, "updated", "c_slow").await;
    let other = webhook(&app, 3, "updated", "c_fast").await;
    wait_status(&app, &second, "delivered").await;
    wait_status(&app, &other, "delivered").await;
    let order = accepted.lock().unwrap().clone();
    let at = |id: &str| order.iter().position(|x| x == id).unwrap();
    assert_eq!(order.len(), 3, "{order:?}");
    assert!(
        at(&first) < at(&second),
        "c_slow's events in the order received: {order:?}"
    );
    assert!(
        at(&other) < at(&first),
        "c_fast flowed while c_slow's first event was failing: {order:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_crash_mid_delivery_loses_nothing() {
    let consumer = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_millis(700)))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&consumer)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&consumer)
        .await;
    let app = app(&subscription("crm", r#""acme-crm.*""#, false, &consumer, 5)).await;
    let id = webhook(&app, 1, "updated", "c_1").await;
    received(&consumer, "/events/crm", 1).await;
    let app = app.crash_and_restart().await;
    wait_status(&app, &id, "delivered").await;
    let requests = received(&consumer, "/events/crm", 2).await;
    assert!(requests.iter().all(|r| r.headers["webhook-id"].to_str().unwrap() == id));
    app.stop().await;
}

#[tokio::test]
async fn a_consumer_answering_an_endless_body_is_delivered_without_reading_it() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // A consumer that accepts, then streams an answer that never ends.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let served = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&served);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut request = vec![0u8; 64 * 1024];
                let _ = socket.read(&mut request).await;
                let head = "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n";
                if socket.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = format!("10000\r\n{}\r\n", "x".repeat(0x10000));
                while socket.write_all(chunk.as_bytes()).await.is_ok() {}
            });
        }
    });
    let subscriptions = format!(
        r#"
[[subscriptions]]
name = "endless"
events = ["acme-crm.*"]
retry = {{ max_attempts = 2, base_delay = "20ms", max_delay = "50ms" }}
sink = {{ type = "http", url = "http://{addr}/events", secret = "{SINK_SECRET}", timeout = "1500ms" }}
"#
    );
    let app = app(&subscriptions).await;
    let id = webhook(&app, 1, "updated", "c_1").await;
    let mut status = String::new();
    for _ in 0..100 {
        status = status_of(&app, &id);
        if status != "pending" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status, "delivered", "the 200 counts; the endless body is not awaited");
    assert_eq!(served.load(Ordering::SeqCst), 1, "delivered on the first attempt");
    app.stop().await;
}
