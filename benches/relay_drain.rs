//! The outbox relay's throughput and latency: (1) 100,000 events pre-loaded into the store, drained by
//! `gatehouse relay` to a fast HTTP consumer (signed `POST`s), and (2) the end-to-end latency from a webhook's 2xx
//! to the consumer's receipt, with `gatehouse serve` taking signed webhooks at a steady 1,000/s.
//!
//! Run: `cargo bench --bench relay_drain` (env `BENCH_EVENTS`, default 100000; `BENCH_RATE`, default 1000 webhooks/s;
//! `BENCH_SECONDS`, default 10, for the steady run; `BENCH_DRAINS=0` skips the drains; any `GATEHOUSE__…` variable
//! reaches the gateway). The steady run also reports the gateway's CPU per event, by thread (from
//! `/proc/<pid>/task/*/stat`).
//!
//! `BENCH_STORE=postgres` runs it on a fresh PostgreSQL database instead of SQLite, where `BENCH_RELAYS=N` drains
//! with N `gatehouse relay` processes at once (SQLite has one owner: one relay).

mod common;

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::phase::Server;
use gatehouse::store::{NewEvent, Subscriber};
use gatehouse_kit::Scheme;
use gatehouse_kit::signature::SignRequest;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use secrecy::SecretString;

/// Test-only secrets.
const WEBHOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SINK_SECRET: &str = "whsec_c2luay1zZWNyZXQtZm9yLWdhdGVob3VzZS10ZXN0cw==";

/// When the consumer received each event (by `webhook-id`).
type Receipts = Arc<Mutex<HashMap<String, Instant>>>;

fn env_usize(name: &str, default: usize) -> usize {
    common::env_parse(name, default, "a positive integer", |&n| n > 0)
}

/// The HTTP sink to the bench's consumer.
fn http_sink(consumer: SocketAddr) -> String {
    format!(r#"{{ type = "http", url = "http://{consumer}/events", secret = "{SINK_SECRET}", timeout = "5s" }}"#)
}

/// The NATS sink, to a stream of its own.
fn nats_sink(stream: &str) -> String {
    format!(
        r#"{{ type = "nats", url = "nats://127.0.0.1:4222", subject_prefix = "{stream}", stream = "{stream}", timeout = "5s" }}"#
    )
}

fn config_toml(store_url: &str, sink: &str) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
shutdown_grace = "5s"

[store]
url = "{store_url}"

[providers.acme-crm.webhook]
secrets = ["{WEBHOOK_SECRET}"]
tolerance = "1h"

[relay]
concurrency = 256
poll_every = "200ms"

[[subscriptions]]
name = "consumer"
events = ["*"]
sink = {sink}
"#
    )
}

/// The consumer: answers `204` at once and notes when each event arrived.
fn start_consumer(receipts: Receipts) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the consumer");
    listener.set_nonblocking(true).expect("non-blocking listener");
    let addr = listener.local_addr().expect("the consumer's address");
    std::thread::Builder::new()
        .name("consumer".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("register the listener");
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let receipts = Arc::clone(&receipts);
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
                            let receipts = Arc::clone(&receipts);
                            async move {
                                let id = request
                                    .headers()
                                    .get("webhook-id")
                                    .and_then(|v| v.to_str().ok())
                                    .map(str::to_owned);
                                let _ = request.into_body().collect().await;
                                if let Some(id) = id {
                                    receipts
                                        .lock()
                                        .expect("receipts")
                                        .entry(id)
                                        .or_insert_with(Instant::now);
                                }
                                let mut response = Response::new(Full::new(Bytes::new()));
                                *response.status_mut() = StatusCode::NO_CONTENT;
                                Ok::<_, Infallible>(response)
                            }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            });
        })
        .expect("spawn the consumer");
    addr
}

/// Stores `count` events with one delivery each to `consumer`, straight into the store (as webhooks would).
async fn preload(store_url: &str, count: usize) {
    let config = gatehouse::config::StoreConfig {
        url: gatehouse::config::DatabaseUrl::new(store_url),
        ..Default::default()
    };
    let store = gatehouse::store::open(&config).await.expect("open the store");
    store.migrate().await.expect("migrate");
    let mut tasks = tokio::task::JoinSet::new();
    let store = Arc::new(store);
    for chunk in 0..count.div_ceil(1000) {
        let store = Arc::clone(&store);
        tasks.spawn(async move {
            for n in chunk * 1000..((chunk + 1) * 1000).min(count) {
                let id = uuid::Uuid::now_v7();
                let envelope = format!(
                    r#"{{"specversion":"1.0","id":"{id}","source":"gatehouse/acme-crm","type":"acme-crm.customer.updated","time":"2026-11-23T10:00:00Z","subject":"c_{n}","datacontenttype":"application/json","data":{{"id":"c_{n}","name":"Ada {n}"}},"providereventid":"evt_{n}","correlationid":"bench"}}"#
                );
                let event = NewEvent {
                    id,
                    provider: "acme-crm".into(),
                    provider_event_id: format!("evt_{n}"),
                    event_type: "acme-crm.customer.updated".into(),
                    subject: Some(format!("c_{n}")),
                    correlation_id: "bench".into(),
                    received_at_ms: gatehouse::clock::now_ms(),
                    envelope: envelope.into_bytes(),
                    raw_body: Bytes::new(),
                    deliver_to: vec![Subscriber { name: "consumer".into(), ordered: false }],
                    quarantine: None,
                    entity: None,
                };
                store.ingest(event).await.expect("store an event");
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("a preload task");
    }
    store.shutdown().await;
}

fn delivered(store: &common::store::BenchStore) -> i64 {
    store.count("SELECT COUNT(*) FROM deliveries WHERE state = 'delivered'")
}

/// Sends signed webhooks at `rate` per second for `seconds` (open loop: each connection takes the next request as
/// soon as it is free); returns each event's id and when its 2xx arrived.
async fn steady(addr: SocketAddr, rate: usize, seconds: usize) -> Vec<(String, Instant)> {
    let scheme = Scheme::StandardWebhooks;
    let key = scheme
        .signing_key(&SecretString::from(WEBHOOK_SECRET))
        .expect("a valid secret");
    let senders = common::connect::<Full<Bytes>>(addr, 32).await;
    let (free_tx, mut free) = tokio::sync::mpsc::unbounded_channel();
    for sender in senders {
        free_tx.send(sender).expect("the pool is open");
    }
    let acked = Arc::new(Mutex::new(Vec::with_capacity(rate * seconds)));
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let start = tokio::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..rate * seconds {
        tokio::time::sleep_until(start + interval * n as u32).await;
        let body = format!(
            r#"{{"type":"customer.updated","data":{{"cust_id":"c_{n}","full_name":"Ada {n}","email_address":"a{n}@x.io","lifetime_value":"1.00","created":"2026-01-02 10:00:00"}}}}"#
        );
        let timestamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs();
        let message_id = format!("msg_steady_{n}");
        let headers = scheme.sign(
            &key,
            SignRequest {
                body: body.as_bytes(),
                timestamp,
                message_id: &message_id,
            },
        );
        let mut request = Request::post("/webhooks/acme-crm").header("host", addr.to_string());
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let request = request.body(Full::new(Bytes::from(body))).expect("a request");
        let mut sender = free.recv().await.expect("a free connection");
        let (acked, free_tx) = (Arc::clone(&acked), free_tx.clone());
        tasks.spawn_local(async move {
            sender.ready().await.expect("the connection stays open");
            let response = sender.send_request(request).await.expect("an answer");
            let ok = response.status() == StatusCode::OK;
            let body = response.into_body().collect().await.expect("a body").to_bytes();
            if ok {
                let reply: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
                let id = reply["id"].as_str().unwrap_or_default().to_owned();
                acked.lock().expect("acked").push((id, Instant::now()));
            }
            let _ = free_tx.send(sender);
        });
    }
    while tasks.join_next().await.is_some() {}
    std::mem::take(&mut *acked.lock().expect("acked"))
}

/// Pre-loads `events` into a fresh store, then times `relays` `gatehouse relay` processes draining them to `sink`.
fn drain(label: &str, sink: &str, events: usize, relays: usize, target: &str) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let store = common::store::BenchStore::from_env(dir.path());
    let config = dir.path().join("gatehouse.toml");
    std::fs::write(&config, config_toml(&store.url(), sink)).expect("write the config");
    let loading = Instant::now();
    common::block_on_local(preload(&store.url(), events));
    eprintln!(
        "pre-loaded {events} events into {} in {:.1} s",
        store.label(),
        loading.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    let mut running: Vec<Server> = (0..relays).map(|_| Server::spawn(&config, "relay", None)).collect();
    let deadline = Instant::now() + Duration::from_secs(600);
    while delivered(&store) < events as i64 {
        assert!(
            Instant::now() < deadline,
            "the relay did not drain {events} events within 10 minutes"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let seconds = started.elapsed().as_secs_f64();
    for relay in &mut running {
        relay.terminate();
    }
    let rate = events as f64 / seconds;
    println!(
        "\n{label} drain on {} with {relays} relay(s): {events} events in {seconds:.2} s = {rate:.0} events/s (target \
         {target}; relay start-up included)",
        store.label()
    );
}

/// Deletes the bench's JetStream stream (prefix `GHBENCH`: also any a crashed run left behind).
fn delete_stream(stream: &str) {
    common::block_on_local(async {
        let Ok(client) = async_nats::connect("nats://127.0.0.1:4222").await else {
            return;
        };
        let jetstream = async_nats::jetstream::new(client);
        let _ = jetstream.delete_stream(stream).await;
    });
}

fn main() {
    let events = env_usize("BENCH_EVENTS", 100_000);
    let rate = env_usize("BENCH_RATE", 1_000);
    let seconds = env_usize("BENCH_SECONDS", 10);
    let relays = env_usize("BENCH_RELAYS", 1);
    let receipts: Receipts = Arc::new(Mutex::new(HashMap::new()));
    let consumer = start_consumer(Arc::clone(&receipts));

    // 1. Drains: pre-load, then time `gatehouse relay` until every delivery is done; to HTTP, then to NATS.
    let drains = std::env::var("BENCH_DRAINS").map_or(true, |v| v != "0");
    let received = if drains {
        drain("HTTP", &http_sink(consumer), events, relays, "≥ 10,000");
        let received = receipts.lock().expect("receipts").len();
        println!("  the consumer received {received} distinct ids");
        receipts.lock().expect("receipts").clear();
        received
    } else {
        events
    };
    if !drains {
        println!("BENCH_DRAINS=0: drains skipped");
    } else if std::net::TcpStream::connect("127.0.0.1:4222").is_ok() {
        let stream = format!("GHBENCH{}", std::process::id());
        drain(
            "NATS",
            &nats_sink(&stream),
            events,
            relays,
            "≥ 20,000 on SQLite, ≥ 15,000 with two relays on PostgreSQL",
        );
        delete_stream(&stream);
    } else {
        println!("NATS drain: skipped (nothing listens on 127.0.0.1:4222)");
    }
    let dir = tempfile::tempdir().expect("a temp dir");
    let store = common::store::BenchStore::from_env(dir.path());
    let config = dir.path().join("gatehouse.toml");
    std::fs::write(&config, config_toml(&store.url(), &http_sink(consumer))).expect("write the config");

    // 2. Steady: webhooks at `rate`/s through `gatehouse serve`, latency from 2xx to the consumer's receipt.
    let (mut server, addr) = Server::serve(&config);
    let pid = server.0.id();
    let cpu_before = common::thread_cpu_seconds(pid);
    let acked = common::block_on_local(steady(addr, rate, seconds));
    std::thread::sleep(Duration::from_secs(2));
    let cpu = common::thread_cpu_between(&cpu_before, &common::thread_cpu_seconds(pid));
    server.terminate();
    let receipts = receipts.lock().expect("receipts").clone();
    let mut latencies: Vec<u64> = acked
        .iter()
        .filter_map(|(id, at)| {
            receipts
                .get(id)
                .map(|got| got.saturating_duration_since(*at).as_micros() as u64)
        })
        .collect();
    latencies.sort_unstable();
    let ms = |p: f64| common::percentile(&latencies, p).map_or(f64::NAN, |us| us as f64 / 1000.0);
    println!(
        "steady {rate} webhooks/s for {seconds} s: {} acknowledged, {} received; webhook 2xx → consumer: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (target p99 ≤ 50 ms)",
        acked.len(),
        latencies.len(),
        ms(0.50),
        ms(0.99),
        ms(1.0)
    );
    let total: f64 = cpu.iter().map(|(_, s)| s).sum();
    let per_event = |s: f64| s * 1e6 / acked.len().max(1) as f64;
    println!(
        "  gateway CPU over the steady run (and the 2 s after it): {:.2} s = {:.0} µs per event (target ≤ 150), \
         {:.0} % of a core; by thread:",
        total,
        per_event(total),
        total * 100.0 / (seconds as f64 + 2.0)
    );
    for (name, s) in &cpu {
        println!("    {name:<28} {s:>6.2} s  {:>6.0} µs/event", per_event(*s));
    }
    assert_eq!(received, events, "every pre-loaded event reached the consumer");
    assert_eq!(
        latencies.len(),
        acked.len(),
        "every acknowledged webhook reached the consumer"
    );
}
