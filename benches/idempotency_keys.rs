//! What `Idempotency-Key` costs: the same `POST`s through Gatehouse to a fast fake vendor with and without keys,
//! on the domain route (`POST /v1/crm/customers`, acme-crm's create, JSON translated both ways) and on passthrough
//! (`POST /proxy/crm/customers`), measured in alternating rounds in one run.
//!
//! Run: `cargo bench --bench idempotency_keys` (env `BENCH_REQUESTS` per round and target, default 20000;
//! `BENCH_ROUNDS`, default 3; `BENCH_CONNECTIONS`, default 64; `BENCH_VENDOR_DELAY_MS`, default 0: how long the
//! fake vendor takes to answer, e.g. 2 for a fast API on a LAN; any `GATEHOUSE__…` variable reaches the server).
//!
//! With a key, each request claims it (one store write) before the vendor call and stores the answer (a second,
//! durable write) before answering; both go through the SQLite writer's group commit. Every key is distinct, so
//! nothing is replayed: after the run the store must hold exactly one completed key per keyed request.

mod common;

use std::convert::Infallible;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;

use bytes::Bytes;
use common::phase::{Phase, Req, Server, commit_stats, run_phase};
use http_body_util::Full;
use hyper::header::CONTENT_TYPE;
use hyper::http::HeaderValue;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use sha2::Digest;

const CALLER_KEY: &str = "bench-caller-key-0123456789";
const WARMUP: usize = 3_000;
/// What the fake vendor answers to every create: an Acme customer.
const VENDOR_BODY: &[u8] = b"{\"cust_id\":\"c_bench\",\"full_name\":\"Ada Lovelace\",\"email_address\":\"ada@example.com\",\"lifetime_value\":\"0.00\",\"created\":\"2026-01-02 10:00:00\"}";

/// One kind of request measured.
struct Target {
    name: &'static str,
    path: &'static str,
    keyed: bool,
}

const TARGETS: [Target; 4] = [
    Target {
        name: "/v1 create, no key",
        path: "/v1/crm/customers",
        keyed: false,
    },
    Target {
        name: "/v1 create, with key",
        path: "/v1/crm/customers",
        keyed: true,
    },
    Target {
        name: "/proxy POST, no key",
        path: "/proxy/crm/customers",
        keyed: false,
    },
    Target {
        name: "/proxy POST, with key",
        path: "/proxy/crm/customers",
        keyed: true,
    },
];

fn env_usize(name: &str, default: usize) -> usize {
    common::env_parse(name, default, "a positive integer", |&n| n > 0)
}

fn config_toml(db: &Path, vendor: SocketAddr) -> String {
    let key_sha256 = hex::encode(sha2::Sha256::digest(CALLER_KEY.as_bytes()));
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
max_body_bytes = 65536
shutdown_grace = "5s"

[store]
url = "sqlite://{db}"

[[callers]]
name = "bench"
key_sha256 = "{key_sha256}"
providers = ["crm"]

[providers.crm]
adapter = "acme-crm"
base_url = "http://{vendor}"
credentials = {{ bearer = "bench-vendor-token" }}
timeout = "5s"
concurrency = 1000
rate_limit = {{ per_second = 10000000, burst = 10000000 }}
"#,
        db = db.display()
    )
}

/// The fake vendor on its own thread (a current-thread runtime: at most one core): `201` and an Acme customer,
/// after `delay` (each request waits on a timer: concurrent requests wait together).
fn start_vendor(delay: std::time::Duration) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the vendor");
    listener
        .set_nonblocking(true)
        .expect("make the vendor's listener non-blocking");
    let addr = listener.local_addr().expect("the vendor's address");
    std::thread::Builder::new()
        .name("vendor".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("build the vendor's runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("register the vendor's listener");
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(move |_: Request<hyper::body::Incoming>| async move {
                            if !delay.is_zero() {
                                tokio::time::sleep(delay).await;
                            }
                            let mut response = Response::new(Full::new(Bytes::from_static(VENDOR_BODY)));
                            *response.status_mut() = StatusCode::CREATED;
                            response
                                .headers_mut()
                                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                            Ok::<_, Infallible>(response)
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            });
        })
        .expect("spawn the vendor thread");
    addr
}

/// `count` requests for `target`, keys (when keyed) unique across the run thanks to `tag`.
fn generate(target: &Target, tag: &str, count: usize, host: &str) -> Vec<Req> {
    (0..count)
        .map(|n| {
            let body = format!(r#"{{"name":"Ada Lovelace {n}","email":"ada.{n}@example.com"}}"#);
            let mut request = Request::post(target.path)
                .header("host", host)
                .header("authorization", format!("Bearer {CALLER_KEY}"))
                .header("content-type", "application/json");
            if target.keyed {
                request = request.header("idempotency-key", format!("bench-{tag}-{n}"));
            }
            request
                .body(Full::new(Bytes::from(body)))
                .expect("a well-formed request")
        })
        .collect()
}

fn main() {
    let requests = env_usize("BENCH_REQUESTS", 20_000);
    let rounds = env_usize("BENCH_ROUNDS", 3);
    let connections = env_usize("BENCH_CONNECTIONS", 64);
    let delay_ms = common::env_parse("BENCH_VENDOR_DELAY_MS", 0u64, "a whole number of milliseconds", |_| {
        true
    });
    if delay_ms > 0 {
        eprintln!("the fake vendor answers after {delay_ms} ms");
    }
    let vendor = start_vendor(std::time::Duration::from_millis(delay_ms));
    let dir = tempfile::tempdir().expect("create a temp dir");
    let db = dir.path().join("gatehouse.db");
    let config = dir.path().join("gatehouse.toml");
    std::fs::write(&config, config_toml(&db, vendor)).expect("write the bench config");
    let (mut server, addr) = Server::serve(&config);
    let host = addr.to_string();
    eprintln!(
        "server pid {}; {rounds} rounds of {requests} requests per target over {connections} connections",
        server.0.id()
    );

    let mut results: Vec<Vec<Phase>> = TARGETS.iter().map(|_| Vec::new()).collect();
    let mut keyed_sent = 0;
    let mut errors = 0;
    common::block_on_local(async {
        for (t, target) in TARGETS.iter().enumerate() {
            let mut senders = common::connect(addr, connections).await;
            let warm = run_phase(
                &mut senders,
                generate(target, &format!("w{t}"), WARMUP, &host),
                StatusCode::CREATED,
            );
            errors += warm.await.errors;
            keyed_sent += if target.keyed { WARMUP } else { 0 };
        }
        for round in 0..rounds {
            for (t, target) in TARGETS.iter().enumerate() {
                // Fresh connections each round, so no target inherits another's warmed-up connection state.
                let mut senders = common::connect(addr, connections).await;
                let batch = generate(target, &format!("r{round}t{t}"), requests, &host);
                let phase = run_phase(&mut senders, batch, StatusCode::CREATED).await;
                eprintln!("round {} {:<24} {:>8.0} req/s", round + 1, target.name, phase.rate());
                errors += phase.errors;
                keyed_sent += if target.keyed { requests } else { 0 };
                results[t].push(phase);
            }
        }
    });
    let commits = commit_stats(addr);
    server.terminate();

    let conn = rusqlite::Connection::open(&db).expect("open the bench database");
    let kept: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM idempotency_keys WHERE state = 'completed'",
            [],
            |row| row.get(0),
        )
        .expect("count the keys");

    println!("\nidempotency keys: {rounds} × {requests} requests per target over {connections} connections\n");
    println!("| target | req/s (median of rounds) | rounds req/s | p50 ms | p99 ms | errors |");
    println!("|---|---:|---|---:|---:|---:|");
    let mut medians = Vec::new();
    for (target, phases) in TARGETS.iter().zip(results) {
        let mut rates: Vec<f64> = phases.iter().map(Phase::rate).collect();
        let listed = rates.iter().map(|r| format!("{r:.0}")).collect::<Vec<_>>().join(", ");
        rates.sort_by(f64::total_cmp);
        let median = rates[rates.len() / 2];
        medians.push(median);
        let mut pooled = Phase {
            elapsed: phases.iter().map(|p| p.elapsed).sum(),
            latencies_us: phases.iter().flat_map(|p| p.latencies_us.iter().copied()).collect(),
            errors: phases.iter().map(|p| p.errors).sum(),
        };
        let (p50, p99) = (pooled.percentile_ms(0.50), pooled.percentile_ms(0.99));
        println!(
            "| {} | {median:.0} | {listed} | {p50:.2} | {p99:.2} | {} |",
            target.name, pooled.errors
        );
    }
    for (route, pair) in ["/v1", "/proxy"].iter().zip(medians.chunks(2)) {
        let cost = 1.0 - pair[1] / pair[0];
        println!(
            "\n{route}: keys cost {:.1} % of throughput (target ≤ 25 %)",
            cost * 100.0
        );
    }
    println!("\ncompleted keys in the store: {kept} of {keyed_sent} keyed requests");
    if let Some((count, batch, ms)) = commits {
        println!("group commits (whole run): {count:.0}, mean batch {batch:.1} writes, mean commit {ms:.3} ms");
    }
    assert_eq!(errors, 0, "every request must be answered 201");
    assert_eq!(
        kept, keyed_sent as i64,
        "every keyed request must have stored its answer"
    );
}
