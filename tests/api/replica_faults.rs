//! Faults across replicas, on real processes: PostgreSQL connections killed mid-burst (only 503s, nothing
//! acknowledged lost, recovery without a restart); PostgreSQL unreachable (webhooks 503 `store-unavailable`,
//! `/readyz` 503, outbound calls without keys still served) and back; an idempotency key in flight on one replica
//! is 409 on another; a second `serve` (or `relay`) on one SQLite file is refused while `events` commands still
//! work.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::json;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::durability::{Burst, start, stripe_event, terminate};
use crate::helpers::*;
use crate::postgres::Database;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_postgres_connections_mid_burst_give_only_503s_and_recover() {
    let Some(db) = Database::create().await else { return };
    let config = db.config("g", "");
    let mut server = start(&config).await;
    let client = reqwest::Client::new();
    let burst = Burst::start(&client, &format!("{}/webhooks/stripe", server.addr), 8);
    burst.wait_acked(100).await;
    for _ in 0..3 {
        assert!(db.kill_connections().await > 0, "the gateway's connections are killed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // It recovers by itself: acknowledgements resume.
    let after = burst.acked();
    tokio::time::timeout(Duration::from_secs(20), burst.wait_acked(after + 100))
        .await
        .expect("webhooks are acknowledged again without a restart");
    let refused = burst.refused.load(Ordering::Relaxed);
    let acked = burst.stop().await;
    eprintln!("{} acknowledged, {refused} refused with 503", acked.len());
    let output = crate::cli::gatehouse(&config, &["events", "list", "--json", "--limit", "1000000"])
        .output()
        .unwrap();
    let events: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();
    let stored: HashSet<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    let lost: Vec<&String> = acked.iter().filter(|id| !stored.contains(id.as_str())).collect();
    assert!(lost.is_empty(), "{} acknowledged webhooks lost: {lost:?}", lost.len());
    let ready = client.get(format!("{}/readyz", server.addr)).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    terminate(&mut server);
}

/// A TCP forwarder to PostgreSQL that can be cut (every connection dropped, new ones refused) and restored.
struct Link {
    port: u16,
    open: Arc<AtomicBool>,
    cut: Arc<tokio::sync::Notify>,
}

impl Link {
    async fn start(target: String) -> Link {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (open, cut) = (Arc::new(AtomicBool::new(true)), Arc::new(tokio::sync::Notify::new()));
        let (up, down) = (open.clone(), cut.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !up.load(Ordering::SeqCst) {
                    continue; // dropped: refused
                }
                let (target, down) = (target.clone(), down.clone());
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        () = down.notified() => {}
                    }
                });
            }
        });
        Link { port, open, cut }
    }

    fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        self.cut.notify_waiters();
    }

    fn restore(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

async fn post_webhook(client: &reqwest::Client, addr: &str, n: usize) -> reqwest::Response {
    let (headers, body) = stripe_event(n);
    let mut request = client.post(format!("{addr}/webhooks/stripe")).body(body);
    for (name, value) in &headers {
        request = request.header(name, value);
    }
    request.send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_unreachable_gives_503_keeps_outbound_calls_and_recovers() {
    let Some(db) = Database::create().await else { return };
    let vendor = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"cust_id": "c_1", "full_name": "Ada",
            "email_address": "a@x.io", "lifetime_value": "10.00", "created": "2026-01-02 10:00:00"})),
        )
        .mount(&vendor)
        .await;
    let url = url::Url::parse(&db.url).unwrap();
    let link = Link::start(format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432))).await;
    let mut through = url.clone();
    through.set_port(Some(link.port)).unwrap();
    let extra =
        provider_toml("crm", "acme-crm", &vendor.uri(), "retry = { max_attempts = 1 }") + &callers_toml(&["crm"], None);
    let config = db.config("g", &extra);
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace(&db.url, through.as_str());
    std::fs::write(&config, text + "\n").unwrap();
    let mut server = start(&config).await;
    let client = reqwest::Client::new();
    assert_eq!(post_webhook(&client, &server.addr, 1).await.status(), 200);

    link.cut();
    let refused = post_webhook(&client, &server.addr, 2).await;
    assert_eq!(refused.status(), 503, "never a 2xx for what is not committed");
    let problem: serde_json::Value = refused.json().await.unwrap();
    assert!(
        problem["type"].as_str().unwrap().ends_with("store-unavailable"),
        "{problem}"
    );
    let ready = client.get(format!("{}/readyz", server.addr)).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let outbound = client
        .get(format!("{}/v1/crm/customers/c_1", server.addr))
        .bearer_auth(CALLER_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(outbound.status(), 200, "calls without keys do not need the store");

    link.restore();
    let mut recovered = false;
    for _ in 0..100 {
        if post_webhook(&client, &server.addr, 2).await.status() == 200 {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "webhooks are stored again without a restart");
    let mut ready = false;
    for _ in 0..100 {
        if client
            .get(format!("{}/readyz", server.addr))
            .send()
            .await
            .unwrap()
            .status()
            == 200
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "/readyz recovers");
    terminate(&mut server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_in_flight_on_one_replica_is_409_on_another() {
    let Some(db) = Database::create().await else { return };
    let vendor = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(json!({"cust_id": "c_1", "full_name": "Ada", "email_address": "a@x.io",
                    "lifetime_value": "10.00", "created": "2026-01-02 10:00:00"}))
                .set_delay(Duration::from_millis(800)),
        )
        .mount(&vendor)
        .await;
    let extra =
        provider_toml("crm", "acme-crm", &vendor.uri(), "retry = { max_attempts = 1 }") + &callers_toml(&["crm"], None);
    let config = db.config("g", &extra);
    let (mut a, mut b) = (start(&config).await, start(&config).await);
    let client = reqwest::Client::new();
    let create = |addr: String| {
        let client = client.clone();
        async move {
            client
                .post(format!("{addr}/v1/crm/customers"))
                .bearer_auth(CALLER_KEY)
                .header("Idempotency-Key", "one-customer")
                .json(&json!({"name": "Ada", "email": "a@x.io"}))
                .send()
                .await
                .unwrap()
        }
    };
    let first = tokio::spawn(create(a.addr.clone()));
    tokio::time::sleep(Duration::from_millis(200)).await; // A's request is at the vendor
    let second = create(b.addr.clone()).await;
    assert_eq!(second.status(), 409, "the key is in flight on A");
    assert_eq!(first.await.unwrap().status(), 201);
    let replayed = create(b.addr.clone()).await;
    assert_eq!(replayed.status(), 201);
    assert_eq!(
        replayed.headers()["idempotent-replayed"],
        "true",
        "B replays A's answer"
    );
    assert_eq!(hits(&vendor).await, 1, "one customer created at the vendor");
    terminate(&mut a);
    terminate(&mut b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_serve_on_one_sqlite_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("g.toml");
    std::fs::write(&config, test_config_toml(&dir.path().join("g.db"))).unwrap();
    let mut first = start(&config).await;
    let second = crate::cli::gatehouse(&config, &["serve"])
        .env("GATEHOUSE__SERVER__LISTEN", "127.0.0.1:0")
        .output()
        .unwrap();
    assert!(!second.status.success());
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(stderr.contains("in use by another gatehouse process"), "{stderr}");
    assert!(stderr.contains("PostgreSQL"), "{stderr}");
    let relay = crate::cli::gatehouse(&config, &["relay"]).output().unwrap();
    assert!(!relay.status.success(), "a second relay is an owner too");
    let list = crate::cli::gatehouse(&config, &["events", "list"]).output().unwrap();
    assert!(
        list.status.success(),
        "read-only commands still work: {}",
        String::from_utf8_lossy(&list.stderr)
    );
    terminate(&mut first);
}
