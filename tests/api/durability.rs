//! Crash durability and signals, on the real binary: SIGKILL during a burst loses no acknowledged webhook, and
//! SIGTERM stops the server cleanly with exit status 0.

use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gatehouse_kit::Scheme;

use crate::cli::gatehouse;
use crate::helpers::*;

pub struct Server {
    pub child: Child,
    pub addr: String,
}

/// A test that fails midway must not leave its gateway running (it would hold the test's files and ports).
impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub async fn start(config: &std::path::Path) -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = gatehouse(config, &["serve"])
        .env("GATEHOUSE__SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut server = Server {
        child,
        addr: format!("http://127.0.0.1:{port}"),
    };
    let client = reqwest::Client::new();
    for _ in 0..200 {
        let ready = client.get(format!("{}/readyz", server.addr)).send().await;
        if ready.is_ok_and(|r| r.status() == 200) {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = server.child.kill();
    let _ = server.child.wait();
    panic!("gatehouse did not become ready");
}

pub fn stripe_event(i: usize) -> (Vec<(String, String)>, Vec<u8>) {
    let body = format!(r#"{{"id":"evt_burst_{i}","type":"charge.succeeded","data":{{"object":{{"id":"ch_{i}"}}}}}}"#);
    (
        sign(&Scheme::Stripe, PLAIN_SECRET, body.as_bytes(), now(), ""),
        body.into_bytes(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_a_burst_loses_no_acknowledged_webhook() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("g.toml");
    std::fs::write(&config, test_config_toml(&dir.path().join("g.db"))).unwrap();
    let mut server = start(&config).await;
    let client = reqwest::Client::new();
    let url = format!("{}/webhooks/stripe", server.addr);

    // 16 senders post distinct events until the server dies; the process is killed once 300 are acknowledged.
    let burst = Burst::start(&client, &url, 16);
    burst.wait_acked(300).await;
    server.child.kill().unwrap(); // SIGKILL
    server.child.wait().unwrap();
    let acked = burst.finish().await;
    assert!(acked.len() >= 300);

    // After a restart, every acknowledged event is in the outbox.
    let output = gatehouse(&config, &["events", "list", "--json", "--limit", "1000000"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let events: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();
    let stored: std::collections::HashSet<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    let lost: Vec<&String> = acked.iter().filter(|id| !stored.contains(id.as_str())).collect();
    assert!(lost.is_empty(), "{} acknowledged webhooks lost: {lost:?}", lost.len());

    // And the restarted gateway still recognises them as duplicates.
    let mut server = start(&config).await;
    let (headers, body) = stripe_event(0);
    let mut request = client.post(format!("{}/webhooks/stripe", server.addr)).body(body);
    for (name, value) in &headers {
        request = request.header(name, value);
    }
    let reply: serde_json::Value = request.send().await.unwrap().json().await.unwrap();
    assert_eq!(reply["duplicate"], true);
    terminate(&mut server);
}

/// Senders posting distinct Stripe events to a gateway until it dies, keeping the ids of those acknowledged (200)
/// and counting the 503s; any other status fails the test.
pub struct Burst {
    acked: Arc<Mutex<Vec<String>>>,
    pub refused: Arc<AtomicUsize>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    senders: Vec<tokio::task::JoinHandle<()>>,
}

impl Burst {
    pub fn start(client: &reqwest::Client, url: &str, workers: usize) -> Burst {
        Self::start_at(client, url, workers, 0)
    }

    /// [`Self::start`] with event numbers from `first` on (bursts at several gateways send distinct events).
    pub fn start_at(client: &reqwest::Client, url: &str, workers: usize, first: usize) -> Burst {
        let acked = Arc::new(Mutex::new(Vec::new()));
        let refused = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let senders = (0..workers)
            .map(|worker| {
                let (client, url, acked, refused) = (client.clone(), url.to_owned(), acked.clone(), refused.clone());
                let stop = stop.clone();
                tokio::spawn(async move {
                    for n in 0..10_000 {
                        if stop.load(Ordering::Relaxed) {
                            return;
                        }
                        let (headers, body) = stripe_event(first + worker * 10_000 + n);
                        let mut request = client.post(&url).body(body);
                        for (name, value) in &headers {
                            request = request.header(name, value);
                        }
                        let Ok(response) = request.send().await else {
                            return;
                        };
                        match response.status().as_u16() {
                            200 => {
                                let Ok(reply) = response.json::<serde_json::Value>().await else {
                                    return;
                                };
                                acked.lock().unwrap().push(reply["id"].as_str().unwrap().to_owned());
                            }
                            503 => {
                                refused.fetch_add(1, Ordering::Relaxed);
                            }
                            other => panic!("only 200 or 503, not {other}"),
                        }
                    }
                })
            })
            .collect();
        Burst {
            acked,
            refused,
            stop,
            senders,
        }
    }

    pub fn acked(&self) -> usize {
        self.acked.lock().unwrap().len()
    }

    /// Waits until `count` webhooks are acknowledged in all.
    pub async fn wait_acked(&self, count: usize) {
        while self.acked() < count {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Stops the senders after their current request; the acknowledged ids.
    pub async fn stop(self) -> Vec<String> {
        self.stop.store(true, Ordering::Relaxed);
        self.finish().await
    }

    /// Waits for the senders (they stop when the server is gone); the acknowledged ids.
    pub async fn finish(self) -> Vec<String> {
        for sender in self.senders {
            sender.await.unwrap();
        }
        self.acked.lock().unwrap().clone()
    }
}

pub fn terminate(server: &mut Server) {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = server.child.wait().unwrap();
    assert_eq!(exit.code(), Some(0), "SIGTERM is a clean stop");
}

#[tokio::test]
async fn sigterm_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("g.toml");
    std::fs::write(&config, test_config_toml(&dir.path().join("g.db"))).unwrap();
    let mut server = start(&config).await;
    terminate(&mut server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_per_core_runtime_takes_webhooks_on_every_connection_and_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("g.toml");
    let toml =
        test_config_toml(&dir.path().join("g.db")).replacen("[server]\n", "[server]\nruntime = \"per-core\"\n", 1);
    std::fs::write(&config, toml).unwrap();
    let mut server = start(&config).await;
    let url = format!("{}/webhooks/stripe", server.addr);
    // A client each: 16 connections, spread over the accepting threads.
    let statuses = futures::future::join_all((0..16).map(|i| {
        let url = url.clone();
        async move {
            let (headers, body) = stripe_event(i);
            let mut request = reqwest::Client::new().post(url).body(body);
            for (name, value) in headers {
                request = request.header(name, value);
            }
            request.send().await.map(|r| r.status().as_u16())
        }
    }))
    .await;
    assert!(statuses.iter().all(|s| matches!(s, Ok(200))), "{statuses:?}");
    terminate(&mut server);
    let output = gatehouse(&config, &["events", "list", "--json"]).output().unwrap();
    let events: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(events.len(), 16, "every acknowledged webhook is stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_delivery_then_every_event_is_delivered_after_restart() {
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let consumer = MockServer::start().await;
    // A slow consumer: the gateway dies with deliveries in flight.
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_millis(300)))
        .mount(&consumer)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("g.toml");
    let subscription = format!(
        "\n[relay]\nlease = \"2s\"\npoll_every = \"100ms\"\n\n[[subscriptions]]\nname = \"all\"\nevents = [\"*\"]\n\
         sink = {{ type = \"http\", url = \"{}/events\", secret = \"{}\", timeout = \"1s\" }}\n",
        consumer.uri(),
        crate::relay::SINK_SECRET
    );
    std::fs::write(&config, test_config_toml(&dir.path().join("g.db")) + &subscription).unwrap();
    let mut server = start(&config).await;
    let client = reqwest::Client::new();
    let mut ids = Vec::new();
    for i in 0..20 {
        let (headers, body) = stripe_event(i);
        let mut request = client.post(format!("{}/webhooks/stripe", server.addr)).body(body);
        for (name, value) in &headers {
            request = request.header(name, value);
        }
        let reply: serde_json::Value = request.send().await.unwrap().json().await.unwrap();
        ids.push(reply["id"].as_str().unwrap().to_owned());
    }
    while consumer.received_requests().await.unwrap_or_default().is_empty() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.child.kill().unwrap(); // SIGKILL, deliveries in flight
    server.child.wait().unwrap();

    let mut server = start(&config).await;
    let mut missing = ids.clone();
    for _ in 0..200 {
        let received: std::collections::HashSet<String> = consumer
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .filter_map(|r| {
                r.headers
                    .get("webhook-id")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            })
            .collect();
        missing.retain(|id| !received.contains(id));
        if missing.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(missing.is_empty(), "never delivered after the restart: {missing:?}");
    terminate(&mut server);
}
