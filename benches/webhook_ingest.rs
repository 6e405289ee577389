//! Load benchmark of `POST /webhooks/{provider}` against the release binary: distinct `acme-crm`
//! `customer.updated` events, each signed with Standard Webhooks, so every request is verified, interpreted and
//! committed durably (SQLite WAL, `synchronous=FULL`, group commit) before its 200.
//!
//! Run: `cargo bench --bench webhook_ingest` (env `BENCH_REQUESTS`, default 150000; `BENCH_CONNECTIONS`, default
//! 64; any `GATEHOUSE__…` variable reaches the server, e.g. `GATEHOUSE__STORE__MAX_BATCH=2048`).
//!
//! `BENCH_STORE=postgres` runs it on a fresh PostgreSQL database (`synchronous_commit` as the server has it, on
//! by default) instead of SQLite; `BENCH_REPLICAS=2` starts two gateways on it, the connections split between them.
//!
//! `BENCH_BODY=drift` sends bodies the adapter cannot translate (`full_name` renamed, as after a vendor's payload
//! change): each is verified and quarantined (stored with its raw bytes and the adapter's error) instead.
//! `BENCH_IDLE=N` holds N idle connections open (connected, sending nothing) while the load runs.
//! `BENCH_READ_MODEL=1` keeps the read model for `acme-crm` (`fallback = { read_model = true }`): each webhook
//! also upserts its customer in the event's transaction, which the bench checks (one entity per customer).
//!
//! `BENCH_VENDOR=sendgrid` sends SendGrid Event Webhook requests instead (a one-event batch each, signed with ECDSA
//! P-256 by the kit's test key, verified with its public key); `BENCH_VENDOR=sendgrid-hmac` sends the same bodies to
//! the same adapter signed with Standard Webhooks' HMAC-SHA256 (timestamp, id and body, as SendGrid signs timestamp
//! and body): the pair measures what the asymmetric verification costs the whole ingest path. `BENCH_BATCH=N`
//! (SendGrid only, default 1) puts N events in each request, as SendGrid batches them: one verification per
//! request, N events stored; rates are then also given in events/s.
//!
//! The server runs as a child process (`gatehouse serve`); the load generator is a single-threaded tokio runtime
//! (one core) driving keep-alive HTTP/1.1 connections, each sending its requests one after another. Latency is
//! send → full response body read. After a SIGTERM shutdown, the outbox row count must equal the requests sent.

mod common;

use bytes::Bytes;
use common::phase::{Req, Server, commit_stats, run_phase};
use gatehouse_kit::Scheme;
use gatehouse_kit::signature::{SignRequest, SigningKey};
use gatehouse_kit::testing::{TEST_SENDGRID_PRIVATE_KEY, TEST_SENDGRID_PUBLIC_KEY};
use http_body_util::Full;
use hyper::{Request, StatusCode};
use secrecy::SecretString;

/// A throwaway test secret (the same one `tests/api/helpers.rs` uses).
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const WARMUP: usize = 5_000;

fn env_usize(name: &str, default: usize) -> usize {
    common::env_parse(name, default, "a positive integer", |&n| n > 0)
}

/// Who sends the webhooks (`BENCH_VENDOR`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Vendor {
    AcmeCrm,
    Sendgrid,
    SendgridHmac,
}

impl Vendor {
    fn from_env() -> Vendor {
        match std::env::var("BENCH_VENDOR").as_deref() {
            Err(_) | Ok("acme-crm") => Vendor::AcmeCrm,
            Ok("sendgrid") => Vendor::Sendgrid,
            Ok("sendgrid-hmac") => Vendor::SendgridHmac,
            Ok(other) => panic!("BENCH_VENDOR must be acme-crm, sendgrid or sendgrid-hmac, not {other:?}"),
        }
    }

    fn label(self) -> &'static str {
        match self {
            Vendor::AcmeCrm => "acme-crm, Standard Webhooks HMAC",
            Vendor::Sendgrid => "sendgrid, ECDSA P-256",
            Vendor::SendgridHmac => "sendgrid, Standard Webhooks HMAC",
        }
    }

    fn provider(self) -> &'static str {
        match self {
            Vendor::AcmeCrm => "acme-crm",
            Vendor::Sendgrid | Vendor::SendgridHmac => "sendgrid",
        }
    }

    /// The provider's `[webhook]` keys.
    fn webhook_keys(self) -> String {
        match self {
            Vendor::AcmeCrm => format!("scheme = \"standard-webhooks\"\nsecrets = [\"{SECRET}\"]"),
            Vendor::Sendgrid => format!("public_keys = [\"{TEST_SENDGRID_PUBLIC_KEY}\"]"),
            Vendor::SendgridHmac => format!("scheme = \"standard-webhooks\"\nsecrets = [\"{SECRET}\"]"),
        }
    }

    /// The scheme requests are signed with, and the key.
    fn signer(self) -> (Scheme, SigningKey) {
        let (scheme, key) = match self {
            Vendor::AcmeCrm | Vendor::SendgridHmac => (Scheme::StandardWebhooks, SECRET),
            Vendor::Sendgrid => (Scheme::Sendgrid, TEST_SENDGRID_PRIVATE_KEY),
        };
        let key = scheme
            .signing_key(&SecretString::from(key))
            .expect("the bench keys suit their schemes");
        (scheme, key)
    }

    /// The `n`th request's body (`batch` SendGrid events); with `drift`, one the adapter cannot translate.
    fn body(self, n: usize, drift: bool, batch: usize) -> String {
        if self == Vendor::AcmeCrm {
            let name_field = if drift { "name" } else { "full_name" };
            return format!(
                r#"{{"type":"customer.updated","data":{{"cust_id":"c_{n:08}","{name_field}":"Augusta Ada Lovelace-King {n}","email_address":"augusta.ada.lovelace.{n}@analytical-engines.example.com","lifetime_value":"{}.{:02}","created":"2026-01-02 10:{:02}:{:02}"}}}}"#,
                1000 + n % 90_000,
                n % 100,
                n / 60 % 60,
                n % 60
            );
        }
        let id_field = if drift { "event_id" } else { "sg_event_id" };
        let events: Vec<String> = (n * batch..(n + 1) * batch)
            .map(|e| {
                format!(
                    r#"{{"email":"augusta.ada.lovelace.{e}@analytical-engines.example.com","timestamp":{},"smtp-id":"<{e}@analytical-engines.example.com>","event":"delivered","category":["receipts"],"{id_field}":"sg_ev_{e:010}","sg_message_id":"sg_msg_{:08}.filter0001","response":"250 OK"}}"#,
                    1_700_000_000 + e,
                    e / 4
                )
            })
            .collect();
        format!("[{}]", events.join(","))
    }
}

fn config_toml(store_url: &str, read_model: bool, vendor: Vendor) -> String {
    let fallback = if read_model {
        "[providers.acme-crm]\nfallback = { read_model = true }\n"
    } else {
        ""
    };
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
max_body_bytes = 65536
shutdown_grace = "5s"
# Idle connections (BENCH_IDLE) are held for the whole run: no deadline closes them, and they fit the cap.
header_read_timeout = "10m"
idle_timeout = "10m"
max_connections = 30000

[store]
url = "{store_url}"

{fallback}
[providers.{provider}.webhook]
{keys}
# Requests are signed before the run starts; a slow machine must not push the last ones out of tolerance.
tolerance = "1h"
"#,
        provider = vendor.provider(),
        keys = vendor.webhook_keys(),
    )
}

/// `count` distinct signed requests (acme-crm `customer.updated`, or one SendGrid event each), `first` numbering
/// the first event; with `drift`, each body has `name` where Acme's customer has `full_name` (SendGrid:
/// `event_id` for `sg_event_id`), so the adapter cannot translate it.
fn generate(first: usize, count: usize, host: &str, drift: bool, (vendor, batch): (Vendor, usize)) -> Vec<Req> {
    let (scheme, key) = vendor.signer();
    let path = format!("/webhooks/{}", vendor.provider());
    let timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs();
    (first..first + count)
        .map(|n| {
            let body = vendor.body(n, drift, batch);
            let message_id = format!("msg_bench_{n:010}");
            let headers = scheme.sign(
                &key,
                SignRequest {
                    body: body.as_bytes(),
                    timestamp,
                    message_id: &message_id,
                },
            );
            let mut request = Request::post(path.as_str())
                .header("host", host)
                .header("content-type", "application/json");
            for (name, value) in headers {
                request = request.header(name, value);
            }
            request
                .body(Full::new(Bytes::from(body)))
                .expect("a well-formed request")
        })
        .collect()
}

/// Opens `count` connections that send nothing, and keeps them until dropped.
async fn hold_idle(addr: std::net::SocketAddr, count: usize) -> Vec<tokio::net::TcpStream> {
    let mut held = Vec::with_capacity(count);
    for _ in 0..count {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .unwrap_or_else(|e| panic!("open idle connection {} to {addr}: {e}", held.len() + 1));
        held.push(stream);
    }
    if count > 0 {
        // Let the server accept the backlog before the load starts.
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    }
    held
}

fn percentile_ms(sorted_us: &[u64], p: f64) -> f64 {
    common::percentile(sorted_us, p).map_or(f64::NAN, |us| us as f64 / 1000.0)
}

fn main() {
    let requests = env_usize("BENCH_REQUESTS", 150_000);
    let connections = env_usize("BENCH_CONNECTIONS", 64);
    let idle = common::env_parse("BENCH_IDLE", 0usize, "a number of connections", |_| true);
    let drift = match std::env::var("BENCH_BODY").as_deref() {
        Err(_) | Ok("valid") => false,
        Ok("drift") => true,
        Ok(other) => panic!("BENCH_BODY must be valid or drift, not {other:?}"),
    };
    let replicas = env_usize("BENCH_REPLICAS", 1);
    let dir = tempfile::tempdir().expect("create a temp dir");
    let store = common::store::BenchStore::from_env(dir.path());
    let config = dir.path().join("gatehouse.toml");
    let read_model = std::env::var("BENCH_READ_MODEL").is_ok_and(|v| v == "1");
    let vendor = Vendor::from_env();
    let batch = env_usize("BENCH_BATCH", 1);
    assert!(
        batch == 1 || vendor != Vendor::AcmeCrm,
        "BENCH_BATCH needs BENCH_VENDOR=sendgrid or sendgrid-hmac"
    );
    assert!(
        !(read_model && vendor != Vendor::AcmeCrm),
        "BENCH_READ_MODEL needs BENCH_VENDOR=acme-crm"
    );
    std::fs::write(&config, config_toml(&store.url(), read_model, vendor)).expect("write the bench config");
    let mut servers: Vec<(Server, std::net::SocketAddr)> = (0..replicas).map(|_| Server::serve(&config)).collect();
    let addr = servers[0].1;
    let addrs: Vec<std::net::SocketAddr> = servers.iter().map(|(_, addr)| *addr).collect();

    let host = addr.to_string();
    let warmup = generate(0, WARMUP, &host, drift, (vendor, batch));
    let measured = generate(WARMUP, requests, &host, drift, (vendor, batch));
    let body = if drift { "drift" } else { "valid" };
    eprintln!(
        "{} on {}; {WARMUP} warm-up + {requests} measured requests ({body} bodies, {}) over {connections} \
         connections, {idle} idle connections held",
        if replicas == 1 {
            "one gateway".to_owned()
        } else {
            format!("{replicas} gateways")
        },
        store.label(),
        vendor.label()
    );

    let pid = servers[0].0.0.id();
    let mut cpu = None;
    let (warm, mut run) = common::block_on_local(async {
        let held = hold_idle(addr, idle).await;
        let mut senders = Vec::with_capacity(connections);
        for (i, addr) in addrs.iter().enumerate() {
            let share = connections / addrs.len() + usize::from(i < connections % addrs.len());
            senders.extend(common::connect(*addr, share).await);
        }
        let warm = run_phase(&mut senders, warmup, StatusCode::OK).await;
        let before = common::process_cpu_seconds(pid);
        let run = run_phase(&mut senders, measured, StatusCode::OK).await;
        let after = common::process_cpu_seconds(pid);
        cpu = before.zip(after).map(|(b, a)| (a - b) * 1e6 / requests as f64);
        drop(held);
        (warm, run)
    });

    let commits = commit_stats(addr);
    let mut exit = None;
    for (server, _) in &mut servers {
        let status = server.terminate();
        exit = Some(
            exit.filter(|e: &std::process::ExitStatus| !e.success())
                .unwrap_or(status),
        );
    }
    let exit = exit.expect("a gateway ran");

    let outbox = store.count("SELECT COUNT(*) FROM outbox");
    let quarantined = store.count("SELECT COUNT(*) FROM outbox WHERE status = 'quarantined'");
    let entities = store.count("SELECT COUNT(*) FROM read_model");
    let expected = ((WARMUP + requests) * batch) as i64;

    run.latencies_us.sort_unstable();
    let lat = &run.latencies_us;
    let seconds = run.elapsed.as_secs_f64();
    let rate = requests as f64 / seconds;
    if batch > 1 {
        println!("  {batch} events per request: {:.0} events/s", rate * batch as f64);
    }
    let [p50, p90, p99, max] = [0.50, 0.90, 0.99, 1.0].map(|p| percentile_ms(lat, p));
    let warm_rate = WARMUP as f64 / warm.elapsed.as_secs_f64();
    let commits = commits.map_or("n/a".into(), |(n, mean, _)| format!("{n:.0}, mean batch {mean:.1}"));
    println!(
        "\nwebhook ingest on {} with {replicas} gateway(s) ({body} bodies, {}, {idle} idle connections, read model {}): \
         {requests} requests over {connections} connections in {seconds:.2} s",
        store.label(),
        vendor.label(),
        if read_model { "on" } else { "off" }
    );
    println!("  warm-up {warm_rate:.0} req/s; group commits of the first gateway (warm-up included) {commits}");
    let cpu = cpu.map_or("n/a".into(), |us| format!("{us:.1}"));
    println!("  CPU of the first gateway per measured webhook: {cpu} µs (user + system)");
    println!(
        "  errors {} (warm-up {}); outbox rows {outbox} of {expected} ({quarantined} quarantined); server {exit}\n",
        run.errors, warm.errors
    );
    println!("| requests | connections | seconds | req/s | p50 ms | p90 ms | p99 ms | max ms | errors |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {requests} | {connections} | {seconds:.2} | {rate:.0} | {p50:.2} | {p90:.2} | {p99:.2} | {max:.2} | {} |",
        run.errors
    );

    assert_eq!(run.errors + warm.errors, 0, "every webhook must be accepted");
    assert_eq!(outbox, expected, "every acknowledged webhook must be in the outbox");
    let entities_expected = if read_model && !drift { expected } else { 0 };
    assert_eq!(
        entities, entities_expected,
        "each customer is kept once with the read model, none without"
    );
    let quarantined_expected = if drift { expected } else { 0 };
    assert_eq!(
        quarantined, quarantined_expected,
        "drifted bodies, and only they, are quarantined"
    );
    assert!(exit.success(), "the server must exit 0 after SIGTERM, got {exit}");
}
