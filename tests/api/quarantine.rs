//! Quarantine end to end: for every shipped adapter, correctly signed webhooks whose payload drifted (a required
//! field missing, a field renamed, a value of the wrong type, bytes that are not JSON) are answered 200
//! `quarantined`, stored once (a redelivery is a duplicate), visible with the adapter's error, counted, and never
//! delivered. (Their retranslation: `retranslate.rs`.)

use gatehouse_kit::Scheme;
use serde_json::Value;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;
use crate::relay::{SINK_SECRET, received, webhook};

/// One drifted webhook: what changed, its body, and the headers besides the signature.
struct Drift {
    what: &'static str,
    body: &'static [u8],
    headers: &'static [(&'static str, &'static str)],
}

/// A subscription to every event, delivered to `consumer`.
pub fn every_event(consumer: &MockServer) -> String {
    format!(
        r#"
[[subscriptions]]
name = "all"
events = ["*"]
retry = {{ max_attempts = 3, base_delay = "20ms", max_delay = "50ms" }}
sink = {{ type = "http", url = "{}/events", secret = "{SINK_SECRET}", timeout = "1s" }}

[relay]
lease = "2s"
poll_every = "50ms"
"#,
        consumer.uri()
    )
}

pub async fn consumer() -> MockServer {
    let consumer = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&consumer)
        .await;
    consumer
}

/// Sends each drift twice (fresh signatures) and checks the quarantine contract; then sends one readable event
/// and, once the relay delivered it, checks that it was the only delivery.
async fn quarantines(provider: &str, scheme: Scheme, secret: &str, drifts: &[Drift]) {
    let consumer = consumer().await;
    let app = spawn_app_with(&(every_event(&consumer) + &callers_toml(&[], None))).await;
    let counted_before = quarantined_total(&app, provider).await;
    let mut ids = Vec::new();
    for (i, drift) in drifts.iter().enumerate() {
        let message_id = format!("msg_drift_{i}");
        let mut replies = Vec::new();
        for _ in 0..2 {
            let mut headers = sign(&scheme, secret, drift.body, now(), &message_id);
            headers.extend(drift.headers.iter().map(|(n, v)| (n.to_string(), v.to_string())));
            let response = app.post_webhook(provider, &headers, drift.body).await;
            assert_eq!(response.status(), 200, "{provider}, {}", drift.what);
            replies.push(response.json::<Value>().await.unwrap());
        }
        let id = replies[0]["id"].as_str().unwrap().to_owned();
        assert_eq!(
            replies[0]["quarantined"], true,
            "{provider}, {}: {}",
            drift.what, replies[0]
        );
        assert_eq!(replies[0]["duplicate"], false, "{provider}, {}", drift.what);
        assert_eq!(
            (replies[1]["id"].as_str(), &replies[1]["duplicate"]),
            (Some(id.as_str()), &Value::Bool(true)),
            "{provider}, {}: a redelivery is the same event",
            drift.what
        );
        let detail: Value = app
            .get_as(ADMIN_TOKEN, &format!("/admin/events/{id}"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(detail["status"], "quarantined", "{detail}");
        assert_eq!(detail["type"], format!("{provider}.unknown"));
        let error = detail["quarantine"]["error"].as_str().unwrap_or_default();
        assert!(
            !error.is_empty(),
            "{provider}, {}: the adapter's error is shown: {detail}",
            drift.what
        );
        assert_eq!(detail["deliveries"], Value::Array(vec![]), "{detail}");
        assert_eq!(app.raw_body(&id), drift.body, "the raw bytes are kept");
        ids.push(id);
    }
    assert_eq!(app.outbox_count(), drifts.len() as i64, "{provider}: each stored once");
    let listed: Value = app
        .get_as(
            ADMIN_TOKEN,
            &format!("/admin/events?status=quarantined&provider={provider}"),
        )
        .await
        .json()
        .await
        .unwrap();
    let listed: Vec<&str> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ids.iter().map(String::as_str).collect::<Vec<_>>());
    // The relay runs: a readable event is delivered, and it is the only delivery.
    let readable = webhook(&app, 1, "updated", "c_1").await;
    let deliveries = received(&consumer, "/events", 1).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(consumer.received_requests().await.unwrap().len(), 1, "{provider}");
    assert_eq!(deliveries[0].headers["webhook-id"], readable.as_str());
    // The recorder is the process's, shared by every test here: count what this test added.
    assert_eq!(
        quarantined_total(&app, provider).await - counted_before,
        drifts.len() as u64
    );
    app.stop().await;
}

/// `gatehouse_webhooks_quarantined_total` for `provider`, as `/metrics` shows it (0 before any).
async fn quarantined_total(app: &TestApp, provider: &str) -> u64 {
    let metrics = app.client.get(format!("{}/metrics", app.addr)).send().await.unwrap();
    let metrics = metrics.text().await.unwrap();
    let series = format!("gatehouse_webhooks_quarantined_total{{provider=\"{provider}\"}} ");
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series.as_str())?.trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn acme_crm_drifts_are_quarantined() {
    quarantines(
        "acme-crm",
        Scheme::StandardWebhooks,
        SW_SECRET,
        &[
            Drift {
                what: "missing email_address",
                body: br#"{"type":"customer.updated","data":{"cust_id":"c_1","full_name":"Ada","lifetime_value":"1.00","created":"2026-01-02 10:00:00"}}"#,
                headers: &[],
            },
            Drift {
                what: "full_name renamed",
                body: br#"{"type":"customer.updated","data":{"cust_id":"c_1","name":"Ada","email_address":"a@x.io","lifetime_value":"1.00","created":"2026-01-02 10:00:00"}}"#,
                headers: &[],
            },
            Drift {
                what: "lifetime_value an object",
                body: br#"{"type":"customer.updated","data":{"cust_id":"c_1","full_name":"Ada","email_address":"a@x.io","lifetime_value":{"amount":1},"created":"2026-01-02 10:00:00"}}"#,
                headers: &[],
            },
            Drift {
                what: "not JSON",
                body: b"\xff\xfe not json",
                headers: &[],
            },
        ],
    )
    .await;
}

#[tokio::test]
async fn stripe_drifts_are_quarantined() {
    quarantines(
        "stripe",
        Scheme::Stripe,
        PLAIN_SECRET,
        &[
            Drift {
                what: "missing data",
                body: br#"{"id":"evt_d1","type":"payment_intent.succeeded"}"#,
                headers: &[],
            },
            Drift {
                what: "type renamed",
                body: br#"{"id":"evt_d2","event_type":"payment_intent.succeeded","data":{"object":{"id":"pi_1"}}}"#,
                headers: &[],
            },
            Drift {
                what: "amount a string",
                body: br#"{"id":"evt_d3","type":"payment_intent.succeeded","data":{"object":{"id":"pi_1","amount":"2000","currency":"usd","status":"succeeded"}}}"#,
                headers: &[],
            },
            Drift {
                what: "not JSON",
                body: b"not json at all",
                headers: &[],
            },
        ],
    )
    .await;
}

#[tokio::test]
async fn github_drifts_are_quarantined() {
    quarantines(
        "github",
        Scheme::Github,
        PLAIN_SECRET,
        &[
            Drift {
                what: "missing X-GitHub-Event",
                body: br#"{"action":"opened","repository":{"full_name":"octo/a"}}"#,
                headers: &[("X-GitHub-Delivery", "d-1")],
            },
            Drift {
                what: "X-GitHub-Delivery renamed",
                body: br#"{"action":"closed","repository":{"full_name":"octo/a"}}"#,
                headers: &[("X-GitHub-Delivery-Id", "d-2"), ("X-GitHub-Event", "issues")],
            },
            Drift {
                what: "full_name a number",
                body: br#"{"action":"opened","repository":{"full_name":42}}"#,
                headers: &[("X-GitHub-Delivery", "d-3"), ("X-GitHub-Event", "issues")],
            },
            Drift {
                what: "form-encoded, not JSON",
                body: b"payload=%7B%7D",
                headers: &[("X-GitHub-Delivery", "d-4"), ("X-GitHub-Event", "push")],
            },
        ],
    )
    .await;
}

#[tokio::test]
async fn shopify_drifts_are_quarantined() {
    quarantines(
        "shopify",
        Scheme::Shopify,
        PLAIN_SECRET,
        &[
            Drift {
                what: "missing X-Shopify-Topic",
                body: br#"{"id":1}"#,
                headers: &[("X-Shopify-Webhook-Id", "w-1")],
            },
            Drift {
                what: "X-Shopify-Webhook-Id renamed",
                body: br#"{"id":2}"#,
                headers: &[("X-Shopify-Hook-Id", "w-2"), ("X-Shopify-Topic", "orders/create")],
            },
            Drift {
                what: "id a boolean",
                body: br#"{"id":true}"#,
                headers: &[("X-Shopify-Webhook-Id", "w-3"), ("X-Shopify-Topic", "orders/create")],
            },
            Drift {
                what: "not JSON",
                body: b"{\"id\":",
                headers: &[("X-Shopify-Webhook-Id", "w-4"), ("X-Shopify-Topic", "orders/create")],
            },
        ],
    )
    .await;
}

#[tokio::test]
async fn slack_drifts_are_quarantined() {
    quarantines(
        "slack",
        Scheme::Slack,
        PLAIN_SECRET,
        &[
            Drift {
                what: "missing event_id",
                body: br#"{"type":"event_callback","team_id":"T1","event":{"type":"app_mention"}}"#,
                headers: &[],
            },
            Drift {
                what: "team_id renamed",
                body: br#"{"type":"event_callback","event_id":"Ev2","team":"T1","event":{"type":"app_mention"}}"#,
                headers: &[],
            },
            Drift {
                what: "event.type a number",
                body: br#"{"type":"event_callback","event_id":"Ev3","team_id":"T1","event":{"type":5}}"#,
                headers: &[],
            },
            Drift {
                what: "not JSON",
                body: b"token=x&challenge=y",
                headers: &[],
            },
        ],
    )
    .await;
}

#[tokio::test]
async fn generic_drifts_are_quarantined() {
    let account = &[("X-Billing-Account", "acct_9")];
    quarantines(
        "billing",
        billing_scheme(),
        GENERIC_SECRET,
        &[
            Drift {
                what: "missing event",
                body: br#"{"id":"inv_1","amount":10}"#,
                headers: account,
            },
            Drift {
                what: "id renamed",
                body: br#"{"event_id":"inv_2","event":"invoice.paid"}"#,
                headers: account,
            },
            Drift {
                what: "id an object",
                body: br#"{"id":{"n":3},"event":"invoice.paid"}"#,
                headers: account,
            },
            Drift {
                what: "not JSON",
                body: b"<invoice/>",
                headers: account,
            },
        ],
    )
    .await;
}
