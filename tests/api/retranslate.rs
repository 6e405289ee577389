//! Retranslation end to end: a generic provider whose event-type locator is wrong quarantines its events; a
//! replay is refused and a retranslation with the wrong config keeps them quarantined with the error; fixed in
//! config and restarted, they are retranslated (the admin API for one, the CLI for the rest) and delivered under
//! their original ids, in their original order even when the later one was retranslated first and is retrying.

use std::process::Command;
use std::time::Duration;

use gatehouse_kit::Scheme;
use gatehouse_kit::signature::{Encoding, HmacScheme};
use serde_json::Value;
use wiremock::matchers::{header, method};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;
use crate::quarantine::every_event;
use crate::relay::received;

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

async fn send_feed(app: &TestApp, id: &str) -> Value {
    let body = format!(r#"{{"id":"{id}","event":"order.paid","order":"o_1"}}"#);
    let scheme =
        Scheme::Hmac(HmacScheme::new("X-Feed-Signature", String::new(), Encoding::Hex, "{body}", None).unwrap());
    let headers = sign(&scheme, "feed-secret", body.as_bytes(), now(), "");
    let response = app.post_webhook("feed", &headers, body.as_bytes()).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn retranslate(app: &TestApp, id: &str) -> Value {
    let response = app
        .client
        .post(format!("{}/admin/events/{id}/retranslate", app.addr))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    response.json().await.unwrap()
}

/// The event ids of `consumer`'s requests, in the order they came.
async fn deliveries(consumer: &MockServer) -> Vec<String> {
    let requests = consumer.received_requests().await.unwrap_or_default();
    requests
        .iter()
        .filter_map(|r| Some(r.headers.get("webhook-id")?.to_str().ok()?.to_owned()))
        .collect()
}

#[tokio::test]
async fn a_wrong_locator_fixed_in_config_is_retranslated_and_delivered_under_the_original_ids_in_order() {
    let consumer = MockServer::start().await;
    let subscriptions = every_event(&consumer)
        .replace("\"*\"", "\"feed.*\"")
        .replace("name = \"all\"", "name = \"all\"\nordered = true")
        .replace("max_attempts = 3", "max_attempts = 1000");
    // The vendor sends the type at /event; the config looks at /kind.
    let app = spawn_app_with(&(feed("/kind") + &subscriptions + &callers_toml(&[], None))).await;
    let replies = [send_feed(&app, "f1").await, send_feed(&app, "f2").await];
    assert!(replies.iter().all(|r| r["quarantined"] == true), "{replies:?}");
    let ids = replies.map(|r| r["id"].as_str().unwrap().to_owned());
    let detail: Value = app
        .get_as(ADMIN_TOKEN, &format!("/admin/events/{}", ids[0]))
        .await
        .json()
        .await
        .unwrap();
    let error = detail["quarantine"]["error"].as_str().unwrap();
    assert!(error.contains("/kind"), "the error names the locator: {detail}");
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
    let still = retranslate(&app, &ids[0]).await;
    assert_eq!(
        (&still["status"], &still["retranslated"]),
        (&"quarantined".into(), &true.into())
    );
    assert!(still["error"].as_str().unwrap().contains("/kind"), "{still}");

    // Fixed in config, restarted. The consumer refuses the later event (f2) for now.
    let fixed = std::fs::read_to_string(&app.config_path)
        .unwrap()
        .replace("\"/kind\"", "\"/event\"");
    std::fs::write(&app.config_path, fixed).unwrap();
    let app = app.restart().await;
    Mock::given(method("POST"))
        .and(header("webhook-id", ids[1].as_str()))
        .respond_with(ResponseTemplate::new(503))
        .with_priority(1)
        .mount(&consumer)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .with_priority(2)
        .mount(&consumer)
        .await;
    // The later event first: translated, it is delivered and keeps failing.
    let later = retranslate(&app, &ids[1]).await;
    assert_eq!(
        (&later["status"], &later["retranslated"]),
        (&"pending".into(), &true.into())
    );
    assert!(later.get("error").is_none(), "{later}");
    received(&consumer, "/events", 1).await;
    // Then the earlier one, from the command line (the rest of the provider): it goes first in its subject's order,
    // ahead of the later one retrying.
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
        stdout.contains(&format!("{}: translated, now pending", ids[0])),
        "{stdout}"
    );
    assert!(stderr.contains("1 translated, 0 still quarantined"), "{stderr}");
    for _ in 0..200 {
        if deliveries(&consumer).await.contains(&ids[0]) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        deliveries(&consumer).await.contains(&ids[0]),
        "the earlier event is delivered"
    );
    // The consumer takes the later one now: it arrives after the earlier one.
    consumer.reset().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&consumer)
        .await;
    let delivered = received(&consumer, "/events", 1).await;
    let envelope: Value = serde_json::from_slice(&delivered[0].body).unwrap();
    assert_eq!(envelope["id"], ids[1].as_str(), "original id");
    assert_eq!(
        (&envelope["type"], &envelope["subject"]),
        (&"feed.order.paid".into(), &"o_1".into())
    );
    assert_eq!(envelope["providereventid"], "f2");
    // Retranslating a translated event changes nothing.
    let again = retranslate(&app, &ids[0]).await;
    assert_eq!(again["retranslated"], false, "{again}");
    // The vendor's retry after the fix is a duplicate of the event it became (its id was readable).
    let retry = send_feed(&app, "f1").await;
    assert_eq!(
        (&retry["id"], &retry["duplicate"]),
        (&ids[0].clone().into(), &true.into())
    );
    app.stop().await;
}
