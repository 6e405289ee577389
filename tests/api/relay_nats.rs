//! The `nats` sink against the machine's real NATS JetStream (127.0.0.1:4222): events are published to
//! `<prefix>.<provider>.<type>` with `Nats-Msg-Id` = the event id, the stream is created if missing, and a
//! redelivery (by the relay or by the sink twice) leaves one message in the stream. Each test uses its own stream and
//! subject prefix, so tests do not see each other's messages. Without NATS these tests skip loudly, unless
//! `GATEHOUSE_REQUIRE_SERVICES` is set (CI sets it): then a missing NATS fails them.

use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream};
use futures::StreamExt;
use gatehouse::config::SinkConfig;
use gatehouse::relay::sink::{Attempt, Sink};
use gatehouse::store::Delivery;
use uuid::Uuid;

use crate::helpers::*;
use crate::relay::{status_of, wait_status, webhook};

const NATS_URL: &str = "nats://127.0.0.1:4222";

/// A JetStream context on the test NATS, or `None` (after a loud message) when there is none and
/// `GATEHOUSE_REQUIRE_SERVICES` is unset. With it set, a missing NATS fails the test.
async fn nats_or_skip(test: &str) -> Option<jetstream::Context> {
    let problem = match tokio::time::timeout(Duration::from_secs(5), jetstream_probe()).await {
        Ok(Ok(jetstream)) => return Some(jetstream),
        Ok(Err(problem)) => problem,
        Err(_) => "no answer within 5 s".to_owned(),
    };
    if std::env::var_os("GATEHOUSE_REQUIRE_SERVICES").is_some() {
        panic!(
            "{test}: NATS JetStream is required (GATEHOUSE_REQUIRE_SERVICES is set) but {NATS_URL} fails: {problem}"
        );
    }
    eprintln!(
        "\n!!!!! SKIPPED {test}: no NATS JetStream at {NATS_URL} ({problem}). Start `nats-server -js` to run it; \
         set GATEHOUSE_REQUIRE_SERVICES=1 to make this a failure (CI does). !!!!!\n"
    );
    None
}

/// Connects and asks JetStream for the account's info (raw, so any server version answers in a form we read).
async fn jetstream_probe() -> Result<jetstream::Context, String> {
    let client = async_nats::connect(NATS_URL).await.map_err(|e| e.to_string())?;
    let answer = client
        .request("$JS.API.INFO", bytes::Bytes::new())
        .await
        .map_err(|e| format!("JetStream is not available: {e}"))?;
    let info: serde_json::Value = serde_json::from_slice(&answer.payload).unwrap_or_default();
    if info.get("error").is_some() || info.get("type").is_none() {
        return Err(format!("JetStream is not enabled: {info}"));
    }
    Ok(jetstream::new(client))
}

/// A subject prefix and stream name no other test (or run) uses.
fn unique() -> (String, String) {
    let tag = Uuid::now_v7().simple().to_string();
    (format!("ghtest_{tag}.events"), format!("GHTEST_{tag}"))
}

fn nats_subscription(prefix: &str, stream: &str) -> String {
    format!(
        r#"
[[subscriptions]]
name = "bus"
events = ["acme-crm.*"]
retry = {{ max_attempts = 50, base_delay = "20ms", max_delay = "200ms" }}
sink = {{ type = "nats", url = "{NATS_URL}", subject_prefix = "{prefix}", stream = "{stream}", timeout = "2s" }}

[relay]
lease = "5s"
poll_every = "50ms"
"#
    )
}

/// The envelope of event `id` byte for byte as stored.
fn stored_envelope(app: &TestApp, id: &str) -> Vec<u8> {
    let conn = rusqlite::Connection::open(&app.db).unwrap();
    conn.query_row("SELECT envelope FROM outbox WHERE id = ?1", [id], |r| r.get(0))
        .unwrap()
}

/// The delivery of event `id` to `bus`: its state and attempts so far.
fn delivery_of(app: &TestApp, id: &str) -> (String, u32, Option<String>) {
    let conn = rusqlite::Connection::open(&app.db).unwrap();
    conn.query_row(
        "SELECT d.state, d.attempts, d.last_error FROM deliveries d JOIN outbox o ON o.seq = d.event_seq
         WHERE o.id = ?1 AND d.subscription = 'bus'",
        [id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
    .unwrap()
}

/// Every message in `stream`, read with an ephemeral pull consumer.
async fn consume(jetstream: &jetstream::Context, stream: &str) -> Vec<async_nats::jetstream::Message> {
    let stream = jetstream.get_stream(stream).await.unwrap();
    let consumer: consumer::PullConsumer = stream
        .create_consumer(consumer::pull::Config {
            deliver_policy: consumer::DeliverPolicy::All,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut batch = consumer
        .fetch()
        .max_messages(100)
        .expires(Duration::from_secs(1))
        .messages()
        .await
        .unwrap();
    let mut messages = Vec::new();
    while let Some(message) = batch.next().await {
        messages.push(message.unwrap());
    }
    messages
}

async fn stream_messages(jetstream: &jetstream::Context, stream: &str) -> u64 {
    jetstream.get_stream(stream).await.unwrap().cached_info().state.messages
}

#[tokio::test]
async fn events_are_published_on_a_stream_created_if_missing_with_the_event_id_as_msg_id() {
    let Some(jetstream) = nats_or_skip("events_are_published_on_a_stream_created_if_missing").await else {
        return;
    };
    let (prefix, stream) = unique();
    assert!(
        jetstream.get_stream(&stream).await.is_err(),
        "the stream starts missing"
    );
    let app = spawn_app_with(&nats_subscription(&prefix, &stream)).await;
    let id = webhook(&app, 1, "updated", "c_1").await;
    wait_status(&app, &id, "delivered").await;

    let info = jetstream.get_stream(&stream).await.unwrap().cached_info().clone();
    assert_eq!(
        info.config.subjects,
        vec![format!("{prefix}.>")],
        "created for the prefix"
    );
    let messages = consume(&jetstream, &stream).await;
    assert_eq!(messages.len(), 1);
    let message = &messages[0];
    assert_eq!(message.subject.as_str(), format!("{prefix}.acme-crm.customer.updated"));
    let headers = message.headers.as_ref().expect("headers");
    assert_eq!(headers.get("Nats-Msg-Id").unwrap().as_str(), id);
    assert_eq!(
        headers.get("Content-Type").unwrap().as_str(),
        "application/cloudevents+json"
    );
    assert_eq!(
        message.payload.as_ref(),
        stored_envelope(&app, &id),
        "the stored envelope"
    );
    assert_eq!(app.envelope(&id)["type"], "acme-crm.customer.updated");
    app.stop().await;
    jetstream.delete_stream(&stream).await.unwrap();
}

#[tokio::test]
async fn a_redelivery_by_the_relay_leaves_one_message() {
    let Some(jetstream) = nats_or_skip("a_redelivery_by_the_relay_leaves_one_message").await else {
        return;
    };
    let (prefix, stream) = unique();
    // An existing stream is used as it is.
    jetstream
        .create_stream(stream::Config {
            name: stream.clone(),
            subjects: vec![format!("{prefix}.>")],
            ..Default::default()
        })
        .await
        .unwrap();
    let app = spawn_app_with(&nats_subscription(&prefix, &stream)).await;
    let id = webhook(&app, 1, "created", "c_1").await;
    wait_status(&app, &id, "delivered").await;
    assert_eq!(delivery_of(&app, &id).1, 1);
    // As if the relay had crashed after the publish but before recording it: the delivery is due again.
    app.execute(&format!(
        "UPDATE deliveries SET state = 'pending', next_attempt_ms = 0, lease_owner = NULL, lease_until_ms = 0
         WHERE event_seq = (SELECT seq FROM outbox WHERE id = '{id}');
         UPDATE outbox SET status = 'pending' WHERE id = '{id}';"
    ));
    for _ in 0..200 {
        if delivery_of(&app, &id) == ("delivered".to_owned(), 2, None) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        delivery_of(&app, &id),
        ("delivered".to_owned(), 2, None),
        "published again and acknowledged (as a duplicate)"
    );
    assert_eq!(status_of(&app, &id), "delivered");
    assert_eq!(
        stream_messages(&jetstream, &stream).await,
        1,
        "Nats-Msg-Id suppressed the copy"
    );
    let messages = consume(&jetstream, &stream).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(
        messages[0].subject.as_str(),
        format!("{prefix}.acme-crm.customer.created")
    );
    app.stop().await;
    jetstream.delete_stream(&stream).await.unwrap();
}

#[tokio::test]
async fn the_sink_publishing_an_event_twice_leaves_one_message() {
    let Some(jetstream) = nats_or_skip("the_sink_publishing_an_event_twice_leaves_one_message").await else {
        return;
    };
    let (prefix, stream) = unique();
    let config = SinkConfig::Nats {
        url: NATS_URL.to_owned(),
        subject_prefix: prefix.clone(),
        stream: stream.clone(),
        timeout: Duration::from_secs(2),
    };
    let sink = Sink::build("subscriptions[0].sink", &config).unwrap();
    let delivery = |id: Uuid, attempts: u32| Delivery {
        subscription: "bus".into(),
        event_seq: 1,
        event_id: id,
        provider: "stripe".into(),
        event_type: "stripe.payment_intent.succeeded".into(),
        received_at_ms: 0,
        attempts,
        envelope: format!(r#"{{"id":"{id}"}}"#).into_bytes(),
    };
    let (first, second) = (Uuid::now_v7(), Uuid::now_v7());
    assert_eq!(sink.deliver(&delivery(first, 0)).await, Attempt::Delivered);
    assert_eq!(
        sink.deliver(&delivery(first, 1)).await,
        Attempt::Delivered,
        "a duplicate is delivered"
    );
    assert_eq!(stream_messages(&jetstream, &stream).await, 1);
    assert_eq!(sink.deliver(&delivery(second, 0)).await, Attempt::Delivered);
    let messages = consume(&jetstream, &stream).await;
    let ids: Vec<&str> = messages
        .iter()
        .map(|m| m.headers.as_ref().unwrap().get("Nats-Msg-Id").unwrap().as_str())
        .collect();
    assert_eq!(ids, vec![first.to_string(), second.to_string()]);
    assert!(
        messages
            .iter()
            .all(|m| m.subject.as_str() == format!("{prefix}.stripe.payment_intent.succeeded"))
    );
    // A stream deleted behind the sink's back fails that attempt and is created again for the next.
    jetstream.delete_stream(&stream).await.unwrap();
    let third = Uuid::now_v7();
    assert!(matches!(
        sink.deliver(&delivery(third, 0)).await,
        Attempt::Failed { .. }
    ));
    assert_eq!(sink.deliver(&delivery(third, 1)).await, Attempt::Delivered);
    assert_eq!(stream_messages(&jetstream, &stream).await, 1);
    jetstream.delete_stream(&stream).await.unwrap();
}

#[tokio::test]
async fn with_nats_down_the_relay_starts_and_retries_with_backoff() {
    // Needs no NATS: a port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let subscription =
        nats_subscription("gatehouse", "GATEHOUSE").replace(NATS_URL, &format!("nats://127.0.0.1:{port}"));
    let app = spawn_app_with(&subscription).await;
    let id = webhook(&app, 1, "updated", "c_1").await;
    let mut seen = delivery_of(&app, &id);
    for _ in 0..200 {
        if seen.1 >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        seen = delivery_of(&app, &id);
    }
    let (state, attempts, error) = seen;
    assert_eq!(state, "pending", "still to deliver");
    assert!(attempts >= 2, "retried: {attempts} attempts");
    let error = error.unwrap_or_default();
    assert!(error.contains("NATS"), "{error}");
    // The gateway still serves.
    let other = webhook(&app, 2, "updated", "c_2").await;
    assert_eq!(status_of(&app, &other), "pending");
    app.stop().await;
}

#[tokio::test]
async fn an_existing_stream_capturing_another_prefix_gets_ours_added() {
    let Some(jetstream) = nats_or_skip("an_existing_stream_capturing_another_prefix_gets_ours_added").await else {
        return;
    };
    let (prefix, stream) = unique();
    // An earlier deployment's stream, under the configured name, capturing another prefix.
    let earlier = format!("{prefix}_earlier");
    jetstream
        .create_stream(stream::Config {
            name: stream.clone(),
            subjects: vec![format!("{earlier}.>")],
            ..Default::default()
        })
        .await
        .unwrap();
    let app = spawn_app_with(&nats_subscription(&prefix, &stream)).await;
    let id = webhook(&app, 1, "updated", "c_1").await;
    wait_status(&app, &id, "delivered").await;
    let info = jetstream.get_stream(&stream).await.unwrap().cached_info().clone();
    assert_eq!(
        info.config.subjects,
        vec![format!("{earlier}.>"), format!("{prefix}.>")],
        "the prefix was added, the earlier subjects kept"
    );
    assert_eq!(stream_messages(&jetstream, &stream).await, 1);
    app.stop().await;
    jetstream.delete_stream(&stream).await.unwrap();
}
