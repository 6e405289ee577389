//! The operator console on a big outbox: with 1,000,000 events stored (100,000 of them dead for subscription `crm`),
//! the latency of the events page's API call (`GET /admin/events?order=desc&limit=50`) under every filter the page
//! offers, its next page by cursor, and the time a bulk replay of the 100,000 dead deliveries takes
//! (`POST /admin/replays`), against a real `gatehouse serve` whose relay runs meanwhile.
//!
//! Run: `cargo bench --bench console_events` (env `BENCH_EVENTS`, default 1000000; `BENCH_DEAD`, default 100000;
//! `BENCH_REQUESTS`, default 200 per filter; `BENCH_STORE=postgres` for a fresh PostgreSQL database, and with it
//! `BENCH_VACUUM=1` to vacuum the tables after the preload, as autovacuum would on a server that has it on).

// Each bench uses its own part of `common`.
#[allow(dead_code)]
mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::phase::Server;
use gatehouse::store::{DeliveryOutcome, NewEvent, Store, Subscriber};

const ADMIN_TOKEN: &str = "admin-token-for-the-console-bench";
const PROVIDERS: [&str; 4] = ["acme-crm", "stripe", "github", "shopify"];
/// One event every 100 ms of receipt time: 1,000,000 events span about 28 hours.
const SPACING_MS: i64 = 100;

fn env_usize(name: &str, default: usize) -> usize {
    common::env_parse(name, default, "a positive integer", |&n| n > 0)
}

/// Stores `count` events of four providers and two types each, received `SPACING_MS` apart up to now; every
/// `count / dead`-th one goes to subscription `crm`, whose deliveries are then all dead. Answers the first event's
/// receipt time.
async fn preload(store_url: &str, count: usize, dead: usize) -> i64 {
    let config = gatehouse::config::StoreConfig {
        url: gatehouse::config::DatabaseUrl::new(store_url),
        ..Default::default()
    };
    let store: Arc<dyn Store> = gatehouse::store::open(&config).await.expect("open the store");
    store.migrate().await.expect("migrate");
    let start_ms = gatehouse::clock::now_ms() - count as i64 * SPACING_MS;
    let every = (count / dead).max(1);
    let mut tasks = tokio::task::JoinSet::new();
    for chunk in 0..count.div_ceil(5000) {
        let store = Arc::clone(&store);
        tasks.spawn(async move {
            for n in chunk * 5000..((chunk + 1) * 5000).min(count) {
                let provider = PROVIDERS[n % 4];
                let kind = if n % 8 < 4 { "updated" } else { "created" };
                let event_type = format!("{provider}.thing.{kind}");
                let id = uuid::Uuid::now_v7();
                let envelope = format!(
                    r#"{{"specversion":"1.0","id":"{id}","source":"gatehouse/{provider}","type":"{event_type}","subject":"s_{n}","data":{{"n":{n}}},"providereventid":"evt_{n}","correlationid":"bench"}}"#
                );
                let deliver_to = if n % every == 0 {
                    vec![Subscriber { name: "crm".into(), ordered: false }]
                } else {
                    Vec::new()
                };
                let event = NewEvent {
                    id,
                    provider: provider.into(),
                    provider_event_id: format!("evt_{n}"),
                    event_type,
                    subject: Some(format!("s_{n}")),
                    correlation_id: "bench".into(),
                    received_at_ms: start_ms + n as i64 * SPACING_MS,
                    envelope: envelope.into_bytes(),
                    raw_body: Bytes::from(format!(r#"{{"n":{n}}}"#)),
                    deliver_to,
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
    // Every delivery of `crm` dead, as a consumer refusing them all would leave them.
    let now = gatehouse::clock::now_ms();
    loop {
        let claimed = store
            .claim_deliveries("bench".into(), vec!["crm".into()], now, 600_000, 500)
            .await
            .expect("claim");
        if claimed.is_empty() {
            break;
        }
        let finishes = claimed.iter().map(|delivery| {
            let dead = DeliveryOutcome::Dead {
                error: "410 Gone".into(),
            };
            store.finish_delivery(delivery, "bench".into(), now, 3, dead)
        });
        for recorded in futures_util::future::join_all(finishes).await {
            assert!(recorded.expect("record a dead letter"));
        }
    }
    store.shutdown().await;
    start_ms
}

/// A request over a fresh connection: status and body.
fn request(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .expect("timeout");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nhost: bench\r\nauthorization: Bearer {ADMIN_TOKEN}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("send");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read");
    let (head, body) = answer.split_once("\r\n\r\n").expect("an HTTP answer");
    (head[9..12].parse().expect("a status"), body.to_owned())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn main() {
    let count = env_usize("BENCH_EVENTS", 1_000_000);
    let dead = env_usize("BENCH_DEAD", 100_000).min(count);
    let requests = env_usize("BENCH_REQUESTS", 200);
    let dir = tempfile::tempdir().expect("a temp dir");
    let bench_store = common::store::BenchStore::from_env(dir.path());
    let store_url = bench_store.url();
    let started = Instant::now();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let start_ms = runtime.block_on(preload(&store_url, count, dead));
    drop(runtime);
    println!(
        "{}: {count} events stored ({dead} dead letters of `crm`) in {:.1} s",
        bench_store.label(),
        started.elapsed().as_secs_f64()
    );

    if std::env::var_os("BENCH_VACUUM").is_some() {
        let started = Instant::now();
        bench_store.execute_on_postgres("VACUUM (ANALYZE) outbox, deliveries, inbox");
        println!("vacuumed in {:.1} s", started.elapsed().as_secs_f64());
    }
    let config = dir.path().join("gatehouse.toml");
    let token_sha256 = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(ADMIN_TOKEN.as_bytes()));
    std::fs::write(
        &config,
        format!(
            r#"
[server]
listen = "127.0.0.1:0"
[store]
url = "{store_url}"
[admin]
token_sha256 = "{token_sha256}"
[[subscriptions]]
name = "crm"
events = ["*"]
sink = {{ type = "log" }}
"#
        ),
    )
    .expect("write the config");
    let (mut server, addr) = Server::serve(&config);

    let middle = start_ms + count as i64 / 2 * SPACING_MS;
    let at = |ms: i64| gatehouse::clock::rfc3339_from_ms(ms);
    let window = format!("since={}&until={}", at(middle), at(middle + 3_600_000));
    let filters: Vec<(String, String)> = vec![
        ("none".into(), String::new()),
        ("status=dead".into(), "status=dead".into()),
        ("status=pending (none match)".into(), "status=pending".into()),
        ("provider".into(), "provider=stripe".into()),
        ("type".into(), "type=github.thing.created".into()),
        ("type matching nothing".into(), "type=nobody.nothing".into()),
        ("subscription".into(), "subscription=crm".into()),
        (
            "subscription + status=dead".into(),
            "subscription=crm&status=dead".into(),
        ),
        ("providereventid".into(), format!("providereventid=evt_{}", count / 3)),
        ("1-hour window".into(), window.clone()),
        (
            "1-day window, a day ago".into(),
            format!(
                "since={}&until={}",
                at(start_ms + count as i64 * SPACING_MS - 2 * 86_400_000),
                at(start_ms + count as i64 * SPACING_MS - 86_400_000)
            ),
        ),
        (
            "provider + type + window".into(),
            format!("provider=acme-crm&type=acme-crm.thing.updated&{window}"),
        ),
        ("status=dead + provider".into(), "status=dead&provider=shopify".into()),
        (
            "status=dead + type".into(),
            "status=dead&type=stripe.thing.created".into(),
        ),
        (
            "subscription + dead + provider".into(),
            "subscription=crm&status=dead&provider=shopify".into(),
        ),
        (
            "subscription + dead + type".into(),
            "subscription=crm&status=dead&type=github.thing.created".into(),
        ),
    ];
    let mut all = Vec::new();
    println!("GET /admin/events?order=desc&limit=50&… ({requests} requests per filter, then the next page)");
    println!(
        "{:<30} {:>8} {:>8} {:>8} {:>8}",
        "filter", "rows", "p50 ms", "p99 ms", "page 2"
    );
    for (name, query) in &filters {
        let target = format!("/admin/events?order=desc&limit=50&{query}");
        let mut times = Vec::with_capacity(requests);
        let mut body = String::new();
        for _ in 0..requests {
            let sent = Instant::now();
            let (status, answer) = request(addr, "GET", &target, "");
            times.push(sent.elapsed().as_secs_f64() * 1000.0);
            assert_eq!(status, 200, "{target}: {answer}");
            body = answer;
        }
        let page: serde_json::Value = serde_json::from_str(&body).expect("a page");
        let rows = page["data"].as_array().map_or(0, Vec::len);
        let next = match page["next_cursor"].as_str() {
            Some(cursor) => {
                let sent = Instant::now();
                let (status, _) = request(addr, "GET", &format!("{target}&cursor={cursor}"), "");
                assert_eq!(status, 200);
                format!("{:.2}", sent.elapsed().as_secs_f64() * 1000.0)
            }
            None => "-".into(),
        };
        times.sort_by(f64::total_cmp);
        println!(
            "{name:<30} {rows:>8} {:>8.2} {:>8.2} {next:>8}",
            percentile(&times, 50.0),
            percentile(&times, 99.0)
        );
        all.extend(times);
    }
    all.sort_by(f64::total_cmp);
    println!(
        "all filters: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (target: p99 <= 50 ms)",
        percentile(&all, 50.0),
        percentile(&all, 99.0),
        all[all.len() - 1]
    );

    // The overview's other call, made every few seconds while it is open: counts per subscription.
    let mut overview = Vec::new();
    for _ in 0..20 {
        let sent = Instant::now();
        let (status, answer) = request(addr, "GET", "/admin/subscriptions", "");
        overview.push(sent.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(status, 200, "{answer}");
    }
    overview.sort_by(f64::total_cmp);
    println!(
        "GET /admin/subscriptions: p50 {:.2} ms, p99 {:.2} ms",
        percentile(&overview, 50.0),
        percentile(&overview, 99.0)
    );

    let sent = Instant::now();
    let (status, counted) = request(
        addr,
        "POST",
        "/admin/replays",
        r#"{"subscription":"crm","dry_run":true}"#,
    );
    println!("dry run: {status} {counted} in {:.2} s", sent.elapsed().as_secs_f64());
    let sent = Instant::now();
    let (status, replayed) = request(
        addr,
        "POST",
        "/admin/replays",
        r#"{"status":"dead","subscription":"crm"}"#,
    );
    let took = sent.elapsed().as_secs_f64();
    assert_eq!(status, 200, "{replayed}");
    println!("bulk replay: {replayed} in {took:.2} s (target: 100,000 dead deliveries in <= 10 s)");
    let exit = server.terminate();
    assert!(exit.success(), "the server exits cleanly: {exit}");
}
