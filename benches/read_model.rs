//! Load benchmark of the read model against the release binary, in one run:
//!
//! - `/v1` reads with and without keeping the read model: `GET /v1/{plain|kept}/customers/{id}` through the
//!   acme-crm adapter to a fake vendor, rounds alternating between a provider without `fallback` (`plain`) and
//!   one with `fallback = { read_model = true }` (`kept`), so what keeping the answers costs is their ratio;
//! - answers from the read model alone: `Cache-Control: only-if-cached` on `kept` (its customers stored by the
//!   reads before);
//! - fallbacks with the breaker open: `down`, whose vendor answers 503, its customers kept from signed webhooks,
//!   its breaker opened by a few failing reads, then every read answered from the read model.
//!
//! Run: `cargo bench --bench read_model` (env `BENCH_REQUESTS` per phase, default 100000; `BENCH_CONNECTIONS`,
//! default 64; `BENCH_IDS`, distinct customers, default 10000; `BENCH_ROUNDS`, default 3; `BENCH_STORE=postgres`
//! for a fresh PostgreSQL database). The fake vendor is a hyper server on its own thread (one core at most); the
//! load generator a single-threaded tokio runtime; everything shares the machine's cores. Each phase is followed by
//! a 2 s pause (the read model's writes land in it, and count in that phase's gateway CPU per request). The vendor answers the
//! same customer each time (a read re-confirms it: written at most every 10 s per customer) unless
//! `BENCH_CHANGING=1`, where every answer is a new state to write (the write path's worst case). The cost of
//! keeping the read model on webhook ingest is `webhook_ingest` with and without `BENCH_READ_MODEL=1`.

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use common::phase::{Phase, Req, Server, run_phase};
use gatehouse_kit::Scheme;
use gatehouse_kit::signature::SignRequest;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use secrecy::SecretString;

const CALLER_KEY: &str = "bench-caller-key";
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn env_usize(name: &str, default: usize) -> usize {
    common::env_parse(name, default, "a positive integer", |&n| n > 0)
}

fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

fn config_toml(store_url: &str, vendor: SocketAddr) -> String {
    let provider = |name: &str, base: &str, extra: &str| {
        format!(
            "[providers.{name}]\nadapter = \"acme-crm\"\nbase_url = \"http://{vendor}{base}\"\n\
             credentials = {{ bearer = \"bench-vendor-key\" }}\ntimeout = \"5s\"\nconcurrency = 1000\n{extra}\n"
        )
    };
    let down = "retry = { max_attempts = 1 }\nfallback = { read_model = true }\n\
                circuit_breaker = { window = 10, min_calls = 5, failure_rate = 0.5, open_for = \"1h\", half_open_calls = 1 }\n\
                [providers.down.webhook]\nsecrets = [\"SECRET\"]\ntolerance = \"1h\"\n"
        .replace("SECRET", SECRET);
    format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nmax_body_bytes = 65536\nshutdown_grace = \"5s\"\n\
         header_read_timeout = \"10m\"\nidle_timeout = \"10m\"\n\n[store]\nurl = \"{store_url}\"\n\n\
         [[callers]]\nname = \"bench\"\nkey_sha256 = \"{key}\"\nproviders = [\"*\"]\n\n{plain}{kept}{down}",
        key = sha256_hex(CALLER_KEY),
        plain = provider("plain", "", ""),
        kept = provider("kept", "", "fallback = { read_model = true }"),
        down = provider("down", "/fail", &down),
    )
}

/// The fake vendor: `GET /customers/{id}` answers that Acme customer (with `changing`, a new lifetime value each
/// time, so every answer is a new state to write); anything under `/fail` answers 503.
fn start_vendor(changing: bool) -> SocketAddr {
    static ANSWERS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the vendor");
    listener.set_nonblocking(true).expect("non-blocking vendor listener");
    let addr = listener.local_addr().expect("the vendor's address");
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("the vendor's runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("register the vendor listener");
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(|request: Request<hyper::body::Incoming>| async move {
                        let path = request.uri().path();
                        let mut response = if path.starts_with("/fail") {
                            Response::new(Full::new(Bytes::from_static(b"{\"error\":\"down\"}")))
                        } else {
                            let id = path.rsplit('/').next().unwrap_or_default();
                            let value = match changing {
                                true => ANSWERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                                false => 1234,
                            };
                            Response::new(Full::new(Bytes::from(customer(id, value))))
                        };
                        if path.starts_with("/fail") {
                            *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
                        }
                        response
                            .headers_mut()
                            .insert("content-type", "application/json".parse().expect("a header"));
                        Ok::<_, Infallible>(response)
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
    });
    addr
}

/// Acme's customer `id` with lifetime value `value`, in Acme's words.
fn customer(id: &str, value: u64) -> String {
    format!(
        r#"{{"cust_id":"{id}","full_name":"Augusta Ada King {id}","email_address":"{id}@analytical-engines.example.com","lifetime_value":"{value}.50","created":"2026-01-02 10:00:00"}}"#
    )
}

/// `count` reads of `provider`'s customers, cycling through `ids` of them, with `cache_control` when given.
fn reads(provider: &str, count: usize, ids: usize, host: &str, cache_control: Option<&str>) -> Vec<Req> {
    (0..count)
        .map(|n| {
            let mut request = Request::get(format!("/v1/{provider}/customers/c_{:06}", n % ids))
                .header("host", host)
                .header("authorization", format!("Bearer {CALLER_KEY}"));
            if let Some(value) = cache_control {
                request = request.header("cache-control", value);
            }
            request.body(Full::new(Bytes::new())).expect("a well-formed request")
        })
        .collect()
}

/// Signed `customer.updated` webhooks to `down` for each of `ids` customers.
fn webhooks(ids: usize, host: &str) -> Vec<Req> {
    let scheme = Scheme::StandardWebhooks;
    let key = scheme.signing_key(&SecretString::from(SECRET)).expect("a valid secret");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    (0..ids)
        .map(|n| {
            let body = format!(
                r#"{{"type":"customer.updated","data":{}}}"#,
                customer(&format!("c_{n:06}"), 1234)
            );
            let id = format!("msg_{n:08}");
            let signed = scheme.sign(
                &key,
                SignRequest {
                    body: body.as_bytes(),
                    timestamp: now,
                    message_id: &id,
                },
            );
            let mut request = Request::post("/webhooks/down").header("host", host);
            for (name, value) in signed {
                request = request.header(name, value);
            }
            request
                .body(Full::new(Bytes::from(body)))
                .expect("a well-formed request")
        })
        .collect()
}

/// Prints a phase's row (with the gateway's CPU per request, `cpu` seconds over the phase); its rate and CPU µs.
fn row(label: &str, phase: &mut Phase, cpu: Option<f64>) -> (f64, f64) {
    let rate = phase.rate();
    let [p50, p99] = [0.5, 0.99].map(|p| phase.percentile_ms(p));
    let requests = phase.latencies_us.len();
    let per_request = cpu.map_or(f64::NAN, |seconds| seconds * 1e6 / requests as f64);
    println!(
        "| {label} | {requests} | {rate:.0} | {p50:.2} | {p99:.2} | {per_request:.1} | {} |",
        phase.errors
    );
    (rate, per_request)
}

/// How long the bench waits after each phase, so the read model's writes behind its answers (gathered for a
/// second) land before the next phase, and count in this phase's CPU rather than in the next one's.
const SETTLE: std::time::Duration = std::time::Duration::from_secs(2);

/// Runs `requests` as one phase, with the gateway's (`pid`) CPU seconds over it and the [`SETTLE`] after it.
async fn measured(
    senders: &mut Vec<hyper::client::conn::http1::SendRequest<Full<Bytes>>>,
    requests: Vec<Req>,
    pid: u32,
) -> (Phase, Option<f64>) {
    let before = common::process_cpu_seconds(pid);
    let phase = run_phase(senders, requests, StatusCode::OK).await;
    tokio::time::sleep(SETTLE).await;
    let after = common::process_cpu_seconds(pid);
    (phase, before.zip(after).map(|(b, a)| a - b))
}

fn main() {
    let requests = env_usize("BENCH_REQUESTS", 100_000);
    let connections = env_usize("BENCH_CONNECTIONS", 64);
    let ids = env_usize("BENCH_IDS", 10_000);
    let rounds = env_usize("BENCH_ROUNDS", 3);
    let changing = std::env::var("BENCH_CHANGING").is_ok_and(|v| v == "1");
    let vendor = start_vendor(changing);
    let dir = tempfile::tempdir().expect("a temp dir");
    let store = common::store::BenchStore::from_env(dir.path());
    let config = dir.path().join("gatehouse.toml");
    std::fs::write(&config, config_toml(&store.url(), vendor)).expect("write the bench config");
    let (mut server, addr) = Server::serve(&config);
    let host = addr.to_string();
    eprintln!(
        "read model on {}: {requests} requests per phase over {connections} connections, {ids} customers",
        store.label()
    );

    let pid = server.0.id();
    println!(
        "\n| phase | requests | req/s | p50 ms | p99 ms | gatehouse CPU µs/req | errors |\n|---|---:|---:|---:|---:|---:|---:|"
    );
    let (mut plain, mut kept) = (Vec::new(), Vec::new());
    let mut errors = 0;
    common::block_on_local(async {
        let mut senders = common::connect(addr, connections).await;
        // Warm-up: every customer read once through each provider.
        for provider in ["plain", "kept"] {
            let warm = run_phase(
                &mut senders,
                reads(provider, ids.max(5_000), ids, &host, None),
                StatusCode::OK,
            )
            .await;
            errors += warm.errors;
        }
        for round in 1..=rounds {
            for (provider, rates) in [("plain", &mut plain), ("kept", &mut kept)] {
                let (mut phase, cpu) = measured(&mut senders, reads(provider, requests, ids, &host, None), pid).await;
                errors += phase.errors;
                rates.push(row(&format!("round {round}: `/v1` read, {provider}"), &mut phase, cpu));
            }
        }
        let only = reads("kept", requests, ids, &host, Some("only-if-cached"));
        let (mut phase, cpu) = measured(&mut senders, only, pid).await;
        errors += phase.errors;
        row("only-if-cached, kept", &mut phase, cpu);

        let (mut phase, cpu) = measured(&mut senders, webhooks(ids, &host), pid).await;
        errors += phase.errors;
        row("webhooks keeping `down`'s customers", &mut phase, cpu);
        // Failing reads open the breaker; each is answered from the read model already.
        let trip = run_phase(&mut senders, reads("down", 200, ids, &host, None), StatusCode::OK).await;
        errors += trip.errors;
        let (mut phase, cpu) = measured(&mut senders, reads("down", requests, ids, &host, None), pid).await;
        errors += phase.errors;
        row("fallback, breaker open, down", &mut phase, cpu);
    });
    let (_, metrics) = common::get(addr, "/metrics", "", None).expect("metrics");
    let opened = metrics
        .lines()
        .any(|l| l.starts_with("gatehouse_fallback_answers_total{provider=\"down\",reason=\"circuit-open\"}"));
    let exit = server.terminate();
    let mean =
        |rates: &[(f64, f64)], pick: fn(&(f64, f64)) -> f64| rates.iter().map(pick).sum::<f64>() / rates.len() as f64;
    let (rate, cpu) = (|r: &(f64, f64)| r.0, |r: &(f64, f64)| r.1);
    println!(
        "\nkeeping the read model on `/v1` reads: {:.0} vs {:.0} req/s mean over {rounds} rounds = {:.3} × (target ≥ 0.9); \
         gatehouse CPU {:.1} vs {:.1} µs per read = {:.3} ×",
        mean(&kept, rate),
        mean(&plain, rate),
        mean(&kept, rate) / mean(&plain, rate),
        mean(&kept, cpu),
        mean(&plain, cpu),
        mean(&kept, cpu) / mean(&plain, cpu)
    );
    assert_eq!(errors, 0, "every answer must be a 200");
    assert!(
        opened,
        "the breaker-open phase must be answered by circuit-open fallbacks"
    );
    assert!(exit.success(), "the server must exit 0 after SIGTERM, got {exit}");
}
