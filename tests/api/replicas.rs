//! Several real `gatehouse serve` processes on one PostgreSQL database: a duplicate sent to two replicas at once is
//! one event; SIGKILL of one replica mid-burst loses no acknowledged webhook and the survivor delivers them all
//! (its leased deliveries after the lease); per-subject order holds with two relays; an event stored by one
//! replica is delivered by another's relay at once (LISTEN/NOTIFY, not its poll).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use gatehouse_kit::Scheme;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::durability::{Burst, Server, start, terminate};
use crate::helpers::*;
use crate::postgres::Database;
use crate::relay::SINK_SECRET;

/// An http subscription `all` (every event) to `consumer`, `ordered` or not, with `relay` settings.
pub fn subscription(consumer: &MockServer, ordered: bool, relay: &str) -> String {
    format!(
        "\n[relay]\n{relay}\n\n[[subscriptions]]\nname = \"all\"\nevents = [\"*\"]\nordered = {ordered}\n\
         sink = {{ type = \"http\", url = \"{}/events\", secret = \"{SINK_SECRET}\", timeout = \"2s\" }}\n",
        consumer.uri()
    )
}

/// A Stripe event `evt_{id}` about object `object` (its subject).
fn stripe(id: &str, object: &str) -> (Vec<(String, String)>, Vec<u8>) {
    let body = format!(r#"{{"id":"evt_{id}","type":"charge.succeeded","data":{{"object":{{"id":"{object}"}}}}}}"#);
    (
        sign(&Scheme::Stripe, PLAIN_SECRET, body.as_bytes(), now(), ""),
        body.into_bytes(),
    )
}

async fn post(
    client: &reqwest::Client,
    server: &Server,
    (headers, body): (Vec<(String, String)>, Vec<u8>),
) -> serde_json::Value {
    let mut request = client.post(format!("{}/webhooks/stripe", server.addr)).body(body);
    for (name, value) in &headers {
        request = request.header(name, value);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// The envelopes `consumer` received, in order of arrival.
async fn received(consumer: &MockServer) -> Vec<serde_json::Value> {
    let requests = consumer.received_requests().await.unwrap_or_default();
    requests
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

/// Waits (up to `limit`) until `consumer` received every id in `ids`; the ones still missing.
async fn wait_delivered(consumer: &MockServer, ids: &[String], limit: Duration) -> Vec<String> {
    let started = Instant::now();
    loop {
        let got: HashSet<String> = received(consumer)
            .await
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_owned())
            .collect();
        let missing: Vec<String> = ids.iter().filter(|id| !got.contains(*id)).cloned().collect();
        if missing.is_empty() || started.elapsed() > limit {
            return missing;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_sent_to_two_replicas_at_once_is_one_event() {
    let Some(db) = Database::create().await else { return };
    let config = db.config("g", "");
    let (mut a, mut b) = (start(&config).await, start(&config).await);
    let client = reqwest::Client::new();
    for i in 0..25 {
        let id = format!("dup_{i}");
        let (first, second) = tokio::join!(
            post(&client, &a, stripe(&id, "ch_1")),
            post(&client, &b, stripe(&id, "ch_1"))
        );
        assert_eq!(
            first["id"], second["id"],
            "both replicas answer with the one event's id"
        );
        let fresh = [&first, &second].iter().filter(|r| r["duplicate"] == false).count();
        assert_eq!(fresh, 1, "{first} {second}");
    }
    let listed: Vec<serde_json::Value> = a_list(&config);
    assert_eq!(listed.len(), 25);
    terminate(&mut a);
    terminate(&mut b);
}

fn a_list(config: &std::path::Path) -> Vec<serde_json::Value> {
    let output = crate::cli::gatehouse(config, &["events", "list", "--json", "--limit", "1000000"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_of_one_replica_mid_burst_loses_nothing_and_the_survivor_delivers_everything() {
    let Some(db) = Database::create().await else { return };
    let consumer = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_millis(100)))
        .mount(&consumer)
        .await;
    let config = db.config(
        "g",
        &subscription(&consumer, false, "lease = \"3s\"\npoll_every = \"200ms\""),
    );
    let (mut a, mut b) = (start(&config).await, start(&config).await);
    let client = reqwest::Client::new();
    let at_a = Burst::start_at(&client, &format!("{}/webhooks/stripe", a.addr), 6, 0);
    let at_b = Burst::start_at(&client, &format!("{}/webhooks/stripe", b.addr), 6, 1_000_000);
    // A dies with webhooks in flight and deliveries leased.
    at_a.wait_acked(150).await;
    at_b.wait_acked(150).await;
    a.child.kill().unwrap();
    a.child.wait().unwrap();
    let mut acked = at_a.finish().await;
    let before = at_b.acked();
    at_b.wait_acked(before + 50).await;
    acked.extend(at_b.stop().await);

    let stored: HashSet<String> = a_list(&config)
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    let lost: Vec<&String> = acked.iter().filter(|id| !stored.contains(*id)).collect();
    assert!(lost.is_empty(), "{} acknowledged webhooks lost: {lost:?}", lost.len());
    // B delivers everything, A's leased deliveries included once their lease lapses.
    let missing = wait_delivered(&consumer, &acked, Duration::from_secs(30)).await;
    assert!(missing.is_empty(), "{} never delivered: {missing:?}", missing.len());
    terminate(&mut b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_relays_keep_each_subjects_order() {
    let Some(db) = Database::create().await else { return };
    let consumer = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_millis(20)))
        .mount(&consumer)
        .await;
    let config = db.config("g", &subscription(&consumer, true, "poll_every = \"100ms\""));
    let (mut a, mut b) = (start(&config).await, start(&config).await);
    let client = reqwest::Client::new();
    // Three subjects, their events received alternately by A and B, each after the last was acknowledged.
    let mut sent: HashMap<String, Vec<String>> = HashMap::new();
    let mut ids = Vec::new();
    for i in 0..30 {
        let subject = format!("ch_{}", i % 3);
        let replica = if i % 2 == 0 { &a } else { &b };
        let reply = post(&client, replica, stripe(&format!("order_{i}"), &subject)).await;
        let id = reply["id"].as_str().unwrap().to_owned();
        sent.entry(subject).or_default().push(id.clone());
        ids.push(id);
    }
    let missing = wait_delivered(&consumer, &ids, Duration::from_secs(30)).await;
    assert!(missing.is_empty(), "never delivered: {missing:?}");
    let mut got: HashMap<String, Vec<String>> = HashMap::new();
    for envelope in received(&consumer).await {
        got.entry(envelope["subject"].as_str().unwrap().to_owned())
            .or_default()
            .push(envelope["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        got, sent,
        "each subject's events arrive one at a time, in the order they were received"
    );
    terminate(&mut a);
    terminate(&mut b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_stored_by_one_replica_is_delivered_by_another_at_once() {
    let Some(db) = Database::create().await else { return };
    let consumer = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&consumer)
        .await;
    // A stores events and runs no relay; B is a relay alone that would poll only once a minute.
    let a_config = db.config("a", &subscription(&consumer, false, "enabled = false"));
    let b_config = db.config("b", &subscription(&consumer, false, "poll_every = \"60s\""));
    let mut a = start(&a_config).await;
    let mut relay = crate::cli::gatehouse(&b_config, &["relay"]).spawn().unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await; // the relay is up and listening
    let client = reqwest::Client::new();
    for i in 0..3 {
        let started = Instant::now();
        let reply = post(&client, &a, stripe(&format!("wake_{i}"), "ch_1")).await;
        let id = reply["id"].as_str().unwrap().to_owned();
        let missing = wait_delivered(&consumer, std::slice::from_ref(&id), Duration::from_secs(5)).await;
        assert!(missing.is_empty(), "not delivered by the other replica");
        assert!(started.elapsed() < Duration::from_secs(5), "woken, not polled");
    }
    terminate(&mut a);
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &relay.id().to_string()])
        .status();
    assert_eq!(relay.wait().unwrap().code(), Some(0));
}
