//! Relay isolation: each subscription has its own share of delivery concurrency, so a consumer that never answers
//! fills its own subscription's slots only and another subscription's deliveries go through at once.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::spawn_app_with;
use crate::relay::{SINK_SECRET, webhook};

/// Events sent: ten times the relay's concurrency.
const EVENTS: u32 = 40;
/// The hanging consumer's sink timeout.
const HANG_TIMEOUT: Duration = Duration::from_secs(2);

fn subscription(name: &str, consumer: &MockServer) -> String {
    format!(
        r#"
[[subscriptions]]
name = "{name}"
events = ["acme-crm.*"]
retry = {{ max_attempts = 100, base_delay = "20ms", max_delay = "50ms" }}
sink = {{ type = "http", url = "{uri}/events/{name}", secret = "{SINK_SECRET}", timeout = "{timeout}s" }}
"#,
        uri = consumer.uri(),
        timeout = HANG_TIMEOUT.as_secs(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_consumer_does_not_delay_another_subscriptions_deliveries() {
    let consumer = MockServer::start().await;
    // One consumer never answers within the sink's timeout; the other answers at once.
    Mock::given(method("POST"))
        .and(path("/events/hangs"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(600)))
        .mount(&consumer)
        .await;
    Mock::given(method("POST"))
        .and(path("/events/healthy"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&consumer)
        .await;
    // [relay] concurrency 4: two slots each. Had the subscriptions shared the four, the hanging one would hold them
    // for HANG_TIMEOUT at a time and the healthy one would get about one delivery per slot per timeout, so its 40
    // events would take some (40 / 4) × 2 s = 20 s.
    let relay = "\n[relay]\nconcurrency = 4\nlease = \"3s\"\npoll_every = \"50ms\"\n";
    let subscriptions = subscription("hangs", &consumer) + &subscription("healthy", &consumer);
    let app = spawn_app_with(&(subscriptions + relay)).await;

    let started = Instant::now();
    let mut sent = HashSet::new();
    for n in 0..EVENTS {
        sent.insert(webhook(&app, n, "updated", &format!("c_{n}")).await);
    }
    // Within one hanging attempt's timeout of the last event (plus slack for a loaded machine): the shared design
    // could not have delivered even a quarter of them by then.
    let bound = started.elapsed() + HANG_TIMEOUT + Duration::from_secs(1);
    let mut delivered = HashSet::new();
    while delivered.len() < sent.len() && started.elapsed() < bound {
        delivered = received_ids(&consumer, "/events/healthy").await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = started.elapsed();
    assert_eq!(
        delivered.len(),
        sent.len(),
        "the healthy subscription got {} of {} events in {elapsed:?}",
        delivered.len(),
        sent.len()
    );
    assert_eq!(delivered, sent);
    assert!(
        !received_ids(&consumer, "/events/hangs").await.is_empty(),
        "the hanging consumer was tried meanwhile"
    );
    // Stopping the consumer first ends the hanging attempts, so the relay stops at once.
    drop(consumer);
    app.stop().await;
}

/// The distinct event ids `consumer` received on `on`.
async fn received_ids(consumer: &MockServer, on: &str) -> HashSet<String> {
    consumer
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path() == on)
        .filter_map(|r| Some(r.headers.get("webhook-id")?.to_str().ok()?.to_owned()))
        .collect()
}
