//! Quarantine end to end: for every shipped adapter, correctly signed webhooks whose payload drifted (a required
//! field missing, a field renamed, a value of the wrong type, bytes that are not JSON) are answered 200
//! `quarantined`, stored once (a redelivery is a duplicate), visible with the adapter's error, and never delivered;
//! a generic provider with a wrong locator is fixed in config, restarted and retranslated (admin API and CLI), and
//! its events are delivered under their original ids, in their original order.

use std::process::Command;

use gatehouse_kit::Scheme;
use gatehouse_kit::signature::{Encoding, HmacScheme};
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
fn every_event(consumer: &MockServer) -> String {
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

async fn consumer() -> MockServer {
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
    let metrics = app.client.get(format!("{}/metrics", app.addr)).send().await.unwrap();
    let metrics = metrics.text().await.unwrap();
    assert!(
        metrics.contains(&format!(
            "gatehouse_webhooks_quarantined_total{{provider=\"{provider}\"}} {}",
            drifts.len()
        )),
        "{metrics}"
    );
    app.stop().await;
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

/// `[providers.feed]`, a generic vendor whose event type is at `type_at`.
fn feed(type_at: &str) -> String {
    format!(
        r#"
[providers.feed]
adapter = "generic"
[providers.feed.webhook]
scheme = "hmac"
header = "X-Feed-Signature"
secrets = ["feed-secret"]
event_id = "/id"
event_type = "{type_at}"
subject = "/order"
"#
    )
}

fn feed_scheme() -> Scheme {
    Scheme::Hmac(HmacScheme::new("X-Feed-Signature", String::new(), Encoding::Hex, "{body}", None).unwrap())
}

async fn send_feed(app: &TestApp, id: &str) -> Value {
    let body = format!(r#"{{"id":"{id}","event":"order.paid","order":"o_1"}}"#);
    let headers = sign(&feed_scheme(), "feed-secret", body.as_bytes(), now(), "");
    let response = app.post_webhook("feed", &headers, body.as_bytes()).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test]
async fn a_wrong_locator_fixed_in_config_is_retranslated_and_delivered_under_the_original_ids() {
    let consumer = consumer().await;
    let subscriptions = every_event(&consumer)
        .replace("\"*\"", "\"feed.*\"")
        .replace("name = \"all\"", "name = \"all\"\nordered = true");
    // The vendor sends the type at /event; the config looks at /kind.
    let app = spawn_app_with(&(feed("/kind") + &subscriptions + &callers_toml(&[], None))).await;
    let first = send_feed(&app, "f1").await;
    let second = send_feed(&app, "f2").await;
    assert_eq!(
        (&first["quarantined"], &second["quarantined"]),
        (&Value::Bool(true), &Value::Bool(true))
    );
    let ids = [
        first["id"].as_str().unwrap().to_owned(),
        second["id"].as_str().unwrap().to_owned(),
    ];
    let detail: Value = app
        .get_as(ADMIN_TOKEN, &format!("/admin/events/{}", ids[0]))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        detail["quarantine"]["error"].as_str().unwrap().contains("/kind"),
        "the error names the locator: {detail}"
    );
    // A quarantined event is not replayed: there is nothing to deliver yet.
    let replay = app
        .client
        .post(format!("{}/admin/events/{}/replay", app.addr, ids[0]))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    problem(replay, 409, "event-quarantined").await;
    // Retranslating with the wrong config still fails: still quarantined, with the error.
    let retranslate = |app: &TestApp, id: &str| {
        app.client
            .post(format!("{}/admin/events/{id}/retranslate", app.addr))
            .bearer_auth(ADMIN_TOKEN)
            .send()
    };
    let still: Value = retranslate(&app, &ids[0]).await.unwrap().json().await.unwrap();
    assert_eq!(still["status"], "quarantined", "{still}");
    assert_eq!(still["retranslated"], true);
    assert!(still["error"].as_str().unwrap().contains("/kind"), "{still}");

    // Fixed in config, restarted.
    let fixed = std::fs::read_to_string(&app.config_path)
        .unwrap()
        .replace("\"/kind\"", "\"/event\"");
    std::fs::write(&app.config_path, fixed).unwrap();
    let app = app.restart().await;
    let translated: Value = retranslate(&app, &ids[0]).await.unwrap().json().await.unwrap();
    assert_eq!(translated["status"], "pending", "{translated}");
    assert_eq!(translated["retranslated"], true);
    assert!(translated.get("error").is_none(), "{translated}");
    // The rest of the provider from the command line.
    let output = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .arg("--config")
        .arg(&app.config_path)
        .args(["events", "retranslate", "--provider", "feed"])
        .env("GATEHOUSE_LOG", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stdout.contains(&format!("{}: translated, now pending", ids[1])),
        "{stdout}"
    );
    assert!(stderr.contains("1 translated, 0 still quarantined"), "{stderr}");

    let delivered = received(&consumer, "/events", 2).await;
    let envelopes: Vec<Value> = delivered
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    let delivered_ids: Vec<&str> = envelopes.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(
        delivered_ids,
        [ids[0].as_str(), ids[1].as_str()],
        "original ids, original order"
    );
    for envelope in &envelopes {
        assert_eq!(envelope["type"], "feed.order.paid");
        assert_eq!(envelope["subject"], "o_1");
    }
    assert_eq!(envelopes[0]["providereventid"], "f1");
    // Retranslating a translated event changes nothing.
    let again: Value = retranslate(&app, &ids[0]).await.unwrap().json().await.unwrap();
    assert_eq!(again["retranslated"], false, "{again}");
    // The vendor's retry after the fix is a duplicate of the event it became.
    let retry = send_feed(&app, "f1").await;
    assert_eq!(
        (&retry["id"], &retry["duplicate"]),
        (&Value::String(ids[0].clone()), &Value::Bool(true))
    );
    app.stop().await;
}
