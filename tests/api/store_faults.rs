//! Store faults during a webhook burst: the store made read-only, full (a size limit standing in for a full disk)
//! or locked by another process. While it fails, webhooks get only 503 (the vendor retries) and `/readyz` 503;
//! nothing acknowledged is lost; ingestion resumes by itself; the vendors' retries are stored once. A keyed
//! mutation whose answer cannot be committed is never run twice. On the binary: the store locked mid-burst, then
//! SIGKILL, and every acknowledged webhook is there after the restart.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::time::Duration;

use gatehouse::store::StoreFault;
use gatehouse_kit::Scheme;
use serde_json::{Value, json};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::durability::{Burst, start, terminate};
use crate::helpers::*;

/// A Stripe event `n` with a 6 KB payload, so every one needs new pages in the store.
fn big_event(n: usize) -> (Vec<(String, String)>, Vec<u8>) {
    let body = json!({"id": format!("evt_fault_{n}"), "type": "charge.succeeded",
        "data": {"object": {"id": format!("ch_{n}"), "pad": "x".repeat(6_000)}}})
    .to_string();
    (
        sign(&Scheme::Stripe, PLAIN_SECRET, body.as_bytes(), now(), ""),
        body.into_bytes(),
    )
}

/// Sends events `range` all at once; returns each event's status and, when 200, its id.
async fn burst(app: &TestApp, range: std::ops::Range<usize>) -> HashMap<usize, (u16, Option<String>)> {
    let sends = range.map(|n| async move {
        let (headers, body) = big_event(n);
        let response = app.post_webhook("stripe", &headers, &body).await;
        let status = response.status().as_u16();
        let id = if status == 200 {
            let reply: Value = response.json().await.unwrap();
            Some(reply["id"].as_str().unwrap().to_owned())
        } else {
            None
        };
        (n, (status, id))
    });
    futures::future::join_all(sends).await.into_iter().collect()
}

async fn ready(app: &TestApp) -> u16 {
    let response = app.client.get(format!("{}/readyz", app.addr)).send().await.unwrap();
    response.status().as_u16()
}

fn stored_ids(app: &TestApp) -> HashSet<String> {
    let conn = rusqlite::Connection::open(&app.db).unwrap();
    let mut stmt = conn.prepare("SELECT id FROM outbox").unwrap();
    stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
}

/// The harness: 40 events before the fault, 40 during it (`fault` on, then `clear`), then the 40 retried and 40
/// more. Checks the contract above.
async fn survives<F, C>(fault: F, clear: C)
where
    F: AsyncFnOnce(&TestApp),
    C: AsyncFnOnce(&TestApp),
{
    let app = spawn_app().await;
    let before = burst(&app, 0..40).await;
    assert!(before.values().all(|(status, _)| *status == 200), "{before:?}");
    fault(&app).await;
    let during = burst(&app, 40..80).await;
    let statuses: HashSet<u16> = during.values().map(|(status, _)| *status).collect();
    assert_eq!(statuses, HashSet::from([503]), "only 503 while the store fails");
    assert_eq!(ready(&app).await, 503, "/readyz reflects the failing writes");
    // Housekeeping writes that succeed without needing room (the executor's and the relay's claims, every second
    // or so) do not make the store look healthy again.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(ready(&app).await, 503, "still failing");
    clear(&app).await;
    // Ingestion resumes by itself: the vendors' retries and new events are stored.
    let mut after = HashMap::new();
    for _ in 0..50 {
        after = burst(&app, 40..120).await;
        if after.values().all(|(status, _)| *status == 200) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(after.values().all(|(status, _)| *status == 200), "{after:?}");
    assert_eq!(ready(&app).await, 200);
    let stored = stored_ids(&app);
    for (n, (_, id)) in before.iter().chain(after.iter()) {
        let id = id.as_ref().unwrap();
        assert!(stored.contains(id), "event {n}, acknowledged as {id}, is stored");
    }
    assert_eq!(stored.len(), 120, "each event stored once");
    app.stop().await;
}

#[tokio::test]
async fn a_read_only_store_answers_503_and_recovers() {
    survives(
        async |app: &TestApp| app.store.inject_fault(StoreFault::ReadOnly).await.unwrap(),
        async |app: &TestApp| app.store.inject_fault(StoreFault::None).await.unwrap(),
    )
    .await;
}

#[tokio::test]
async fn a_full_store_answers_503_and_recovers() {
    survives(
        async |app: &TestApp| app.store.inject_fault(StoreFault::Full).await.unwrap(),
        async |app: &TestApp| app.store.inject_fault(StoreFault::None).await.unwrap(),
    )
    .await;
}

#[tokio::test]
async fn a_store_locked_by_another_process_answers_503_and_recovers() {
    let (lock, locked) = std::sync::mpsc::channel::<()>();
    let holder = std::sync::Arc::new(std::sync::Mutex::new(None));
    let release = holder.clone();
    survives(
        async move |app: &TestApp| {
            let db = app.db.clone();
            let (taken, took) = std::sync::mpsc::channel();
            let thread = std::thread::spawn(move || {
                let conn = rusqlite::Connection::open(db).unwrap();
                conn.execute_batch("BEGIN EXCLUSIVE").unwrap();
                taken.send(()).unwrap();
                let _ = locked.recv();
                conn.execute_batch("ROLLBACK").unwrap();
            });
            took.recv().unwrap();
            *holder.lock().unwrap() = Some(thread);
        },
        async move |_: &TestApp| {
            lock.send(()).unwrap();
            if let Some(thread) = release.lock().unwrap().take() {
                thread.join().unwrap();
            }
        },
    )
    .await;
}

#[tokio::test]
async fn a_keyed_mutation_whose_answer_cannot_be_committed_never_runs_twice() {
    let vendor = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(json!({"cust_id": "c_9", "full_name": "Ada",
            "email_address": "ada@x.io", "lifetime_value": "0.00", "created": "2026-01-02 10:00:00"})),
        )
        .mount(&vendor)
        .await;
    let extra =
        provider_toml("crm", "acme-crm", &vendor.uri(), "retry = { max_attempts = 1 }") + &callers_toml(&["crm"], None);
    let app = spawn_app_with(&extra).await;
    let create = async |app: &TestApp| {
        app.client
            .post(format!("{}/v1/crm/customers", app.addr))
            .bearer_auth(CALLER_KEY)
            .header("Idempotency-Key", "create-ada")
            .json(&json!({"name": "Ada", "email": "ada@x.io"}))
            .send()
            .await
            .unwrap()
    };
    app.store.inject_fault(StoreFault::ReadOnly).await.unwrap();
    let first = create(&app).await;
    assert_eq!(first.status(), 201, "the vendor's answer reaches the caller");
    // The answer is not committed yet: the same request replays it rather than calling the vendor again.
    let again = create(&app).await;
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(hits(&vendor).await, 1);
    // Once the store takes writes again, the held answer is committed (a retry, or the last attempt at shutdown),
    // and survives a restart.
    app.store.inject_fault(StoreFault::None).await.unwrap();
    let committed = || -> i64 {
        let conn = rusqlite::Connection::open(&app.db).unwrap();
        conn.query_row("SELECT COUNT(*) FROM idempotency_keys", [], |r| r.get(0))
            .unwrap()
    };
    for _ in 0..200 {
        if committed() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(
        committed(),
        1,
        "the held answer is committed once the store takes writes"
    );
    let app = app.restart().await;
    let replayed = create(&app).await;
    assert_eq!(replayed.status(), 201);
    assert_eq!(replayed.headers()["idempotent-replayed"], "true");
    assert_eq!(hits(&vendor).await, 1, "the vendor was called once");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_locked_mid_burst_then_sigkill_loses_no_acknowledged_webhook() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("g.toml");
    let db = dir.path().join("g.db");
    std::fs::write(&config, test_config_toml(&db)).unwrap();
    let mut server = start(&config).await;
    let client = reqwest::Client::new();
    let url = format!("{}/webhooks/stripe", server.addr);
    let burst = Burst::start(&client, &url, 8);
    burst.wait_acked(100).await;
    // Another process takes the write lock for 5 s.
    let locked = {
        let db = db.clone();
        std::thread::spawn(move || {
            let conn = rusqlite::Connection::open(db).unwrap();
            conn.execute_batch("BEGIN EXCLUSIVE").unwrap();
            std::thread::sleep(Duration::from_secs(5));
            conn.execute_batch("ROLLBACK").unwrap();
        })
    };
    tokio::task::spawn_blocking(move || locked.join().unwrap())
        .await
        .unwrap();
    burst.wait_acked(burst.acked() + 200).await;
    server.child.kill().unwrap(); // SIGKILL
    server.child.wait().unwrap();
    assert!(burst.refused.load(Ordering::Relaxed) > 0, "the lock made writes fail");
    let acked = burst.finish().await;
    let output = crate::cli::gatehouse(&config, &["events", "list", "--json", "--limit", "1000000"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let events: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    let stored: HashSet<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    let lost: Vec<&String> = acked.iter().filter(|id| !stored.contains(id.as_str())).collect();
    assert!(lost.is_empty(), "{} acknowledged webhooks lost: {lost:?}", lost.len());
    let mut server = start(&config).await;
    terminate(&mut server);
}

#[tokio::test]
async fn a_deferred_keyed_command_whose_commit_is_uncertain_is_never_stored_twice() {
    let vendor = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"id": "pi_1", "amount": 100,
            "currency": "usd", "status": "succeeded"})),
        )
        .mount(&vendor)
        .await;
    let extra = provider_toml("pay", "stripe", &vendor.uri(), "retry = { max_attempts = 1 }")
        + &callers_toml(&["pay"], None)
        + "\n[commands]\nbase_delay = \"20ms\"\nmax_delay = \"50ms\"\npoll_every = \"50ms\"\n";
    let app = spawn_app_with(&extra).await;
    let submit = async |app: &TestApp| {
        app.client
            .post(format!("{}/v1/pay/payments", app.addr))
            .bearer_auth(CALLER_KEY)
            .header("Prefer", "respond-async")
            .header("Idempotency-Key", "pay-once")
            .json(&json!({"amount": {"value": 100, "currency": "usd"}}))
            .send()
            .await
            .unwrap()
    };
    // Another process holds the write lock past the write deadline (4 s) but not past the busy timeout (5 s): the
    // command's write is answered as uncertain, then commits.
    let db = app.db.clone();
    let lock = std::thread::spawn(move || {
        let conn = rusqlite::Connection::open(db).unwrap();
        conn.execute_batch("BEGIN EXCLUSIVE").unwrap();
        std::thread::sleep(Duration::from_millis(4_400));
        conn.execute_batch("ROLLBACK").unwrap();
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let first = submit(&app).await;
    assert_eq!(first.status(), 503);
    tokio::task::spawn_blocking(move || lock.join().unwrap()).await.unwrap();
    // The key stays taken: the retry cannot store a second command.
    let retry = submit(&app).await;
    assert_eq!(
        retry.status(),
        409,
        "the key is held while the first write may still land"
    );
    let commands = || -> i64 {
        let conn = rusqlite::Connection::open(&app.db).unwrap();
        conn.query_row("SELECT COUNT(*) FROM commands", [], |r| r.get(0))
            .unwrap()
    };
    for _ in 0..100 {
        if hits(&vendor).await > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(commands(), 1, "one command for one key");
    assert_eq!(hits(&vendor).await, 1);
    app.stop().await;
}
