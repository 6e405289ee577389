//! Load benchmark of sagas against the release binary: the README's two-step checkout (an Acme customer, then a
//! Stripe payment) against fast fake vendors, in two phases:
//!
//! - **throughput**: `BENCH_SAGAS` sagas (default 20000) started as fast as `BENCH_CONNECTIONS` keep-alive
//!   connections (default 64) can; completed sagas per second, from the first start to the last completion;
//! - **latency**: sagas started open-loop at `BENCH_RATE` per second (default 200) for `BENCH_SECONDS` (default 10),
//!   each at its due time; the time from its start to its completion as the store records them (`created_at_ms`,
//!   taken before the 202's commit, to the final checkpoint's `updated_at_ms`: a bound from above of 202 → completed).
//!
//! Run: `cargo bench --bench sagas` (`BENCH_STORE=postgres` for a fresh PostgreSQL database; `BENCH_CONCURRENCY`,
//! the executor's `commands.concurrency`, default 256). The fake vendors are one hyper server on its own thread;
//! the load generator a single-threaded runtime; everything shares the machine's cores.

mod common;

use std::cell::RefCell;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::phase::{Req, Server, run_phase};
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

const CALLER_KEY: &str = "bench-caller-key";
const INPUT: &str = r#"{"name":"Ada Lovelace","email":"ada@example.com","amount":2000}"#;

fn env_usize(name: &str, default: usize) -> usize {
    common::env_parse(name, default, "a positive integer", |&n| n > 0)
}

fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

/// Two copies of the checkout saga: `bulk` for the throughput phase, `paced` for the latency phase.
fn config_toml(store_url: &str, vendor: SocketAddr, concurrency: usize) -> String {
    let provider = |name: &str, adapter: &str| {
        format!(
            "[providers.{name}]\nadapter = \"{adapter}\"\nbase_url = \"http://{vendor}\"\n\
             credentials = {{ bearer = \"bench-vendor-key\" }}\ntimeout = \"5s\"\nconcurrency = 1000\n\
             retry = {{ max_attempts = 1 }}\n"
        )
    };
    let saga = |name: &str| {
        format!(
            r#"
[[sagas]]
name = "{name}"
callers = ["bench"]
[[sagas.steps]]
name = "customer"
provider = "crm"
call = {{ method = "POST", path = "/customers", body = {{ name = "{{input.name}}", email = "{{input.email}}" }} }}
compensate = {{ method = "DELETE", path = "/customers/{{steps.customer.id}}" }}
[[sagas.steps]]
name = "payment"
provider = "pay"
call = {{ method = "POST", path = "/payments", body = {{ amount = {{ value = "{{input.amount}}", currency = "usd" }}, customer_id = "{{steps.customer.id}}" }} }}
compensate = {{ method = "POST", path = "/payments/{{steps.payment.id}}/cancel" }}
"#
        )
    };
    format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nmax_body_bytes = 65536\nshutdown_grace = \"5s\"\n\
         header_read_timeout = \"10m\"\nidle_timeout = \"10m\"\n\n[store]\nurl = \"{store_url}\"\n\n\
         [commands]\nconcurrency = {concurrency}\npoll_every = \"1s\"\n\n\
         [[callers]]\nname = \"bench\"\nkey_sha256 = \"{key}\"\nproviders = []\n\n{crm}{pay}{bulk}{paced}",
        key = sha256_hex(CALLER_KEY),
        crm = provider("crm", "acme-crm"),
        pay = provider("pay", "stripe"),
        bulk = saga("bulk"),
        paced = saga("paced"),
    )
}

/// The fake vendors: `POST /customers` answers a new Acme customer (201), `POST /v1/payment_intents` a succeeded
/// Stripe PaymentIntent.
fn start_vendor() -> SocketAddr {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
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
                        let customers = request.uri().path() == "/customers";
                        let _ = request.into_body().collect().await;
                        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let (status, body) = if customers {
                            let body = format!(
                                r#"{{"cust_id":"c_{n}","full_name":"Ada Lovelace","email_address":"ada@example.com","lifetime_value":"0.00","created":"2026-01-02 10:00:00"}}"#
                            );
                            (StatusCode::CREATED, body)
                        } else {
                            let body = format!(
                                r#"{{"id":"pi_{n}","amount":2000,"currency":"usd","customer":"c_1","status":"succeeded"}}"#
                            );
                            (StatusCode::OK, body)
                        };
                        let mut response = Response::new(Full::new(Bytes::from(body)));
                        *response.status_mut() = status;
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

fn start(saga: &str, host: &str) -> Req {
    Request::post(format!("/v1/sagas/{saga}"))
        .header("host", host)
        .header("authorization", format!("Bearer {CALLER_KEY}"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(INPUT.as_bytes())))
        .expect("a well-formed request")
}

/// Waits (up to 5 min) until `count` sagas named `saga` are no longer running; when the last one ended.
fn wait_finished(store: &common::store::BenchStore, saga: &str, count: i64) -> Instant {
    let deadline = Instant::now() + Duration::from_secs(300);
    let sql = format!("SELECT COUNT(*) FROM sagas WHERE name = '{saga}' AND status <> 'running'");
    loop {
        if store.count(&sql) >= count {
            return Instant::now();
        }
        assert!(Instant::now() < deadline, "{saga}: sagas still running after 5 min");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Starts `total` sagas open-loop at `rate` per second over `connections` connections (each request at its due
/// time, on the first free connection); how many were not answered 202.
async fn paced(addr: SocketAddr, host: &str, rate: usize, total: usize, connections: usize) -> usize {
    let free = Rc::new(RefCell::new(common::connect(addr, connections).await));
    let errors = Rc::new(RefCell::new(0usize));
    let started = tokio::time::Instant::now();
    let mut tasks = Vec::with_capacity(total);
    for i in 0..total {
        let due = started + Duration::from_secs_f64(i as f64 / rate as f64);
        tokio::time::sleep_until(due).await;
        let Some(mut sender) = free.borrow_mut().pop() else {
            *errors.borrow_mut() += 1;
            eprintln!("no free connection at saga {i}: the gateway is behind");
            continue;
        };
        let (free, errors, request) = (Rc::clone(&free), Rc::clone(&errors), start("paced", host));
        tasks.push(tokio::task::spawn_local(async move {
            let ok = match sender.send_request(request).await {
                Ok(response) => {
                    let status = response.status();
                    let _ = response.into_body().collect().await;
                    status == StatusCode::ACCEPTED
                }
                Err(_) => false,
            };
            if !ok {
                *errors.borrow_mut() += 1;
            }
            free.borrow_mut().push(sender);
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    *errors.borrow()
}

fn main() {
    let sagas = env_usize("BENCH_SAGAS", 20_000);
    let connections = env_usize("BENCH_CONNECTIONS", 64);
    let rate = env_usize("BENCH_RATE", 200);
    let seconds = env_usize("BENCH_SECONDS", 10);
    let concurrency = env_usize("BENCH_CONCURRENCY", 256);
    let vendor = start_vendor();
    let dir = tempfile::tempdir().expect("a temp dir");
    let store = common::store::BenchStore::from_env(dir.path());
    let config = dir.path().join("gatehouse.toml");
    std::fs::write(&config, config_toml(&store.url(), vendor, concurrency)).expect("write the bench config");
    let (mut server, addr) = Server::serve(&config);
    let host = addr.to_string();
    eprintln!(
        "sagas on {}: {sagas} started over {connections} connections, then {rate}/s for {seconds} s; executor \
         concurrency {concurrency}",
        store.label()
    );

    let pid = server.0.id();
    let cpu_before = common::process_cpu_seconds(pid).unwrap_or(f64::NAN);
    let (phase, began) = common::block_on_local(async {
        let mut senders = common::connect(addr, connections).await;
        let requests = (0..sagas).map(|_| start("bulk", &host)).collect();
        let began = Instant::now();
        (run_phase(&mut senders, requests, StatusCode::ACCEPTED).await, began)
    });
    let submitted = began.elapsed();
    let ended = wait_finished(&store, "bulk", sagas as i64);
    let elapsed = ended.duration_since(began);
    let cpu = common::process_cpu_seconds(pid).unwrap_or(f64::NAN) - cpu_before;
    let completed = store.count("SELECT COUNT(*) FROM sagas WHERE name = 'bulk' AND status = 'completed'");
    println!("\n| phase | sagas | completed | sagas/s | started/s | gatehouse CPU µs/saga | errors |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    println!(
        "| throughput, {connections} connections | {sagas} | {completed} | {:.0} | {:.0} | {:.0} | {} |",
        completed as f64 / elapsed.as_secs_f64(),
        sagas as f64 / submitted.as_secs_f64(),
        cpu * 1e6 / sagas as f64,
        phase.errors
    );

    let total = rate * seconds;
    let errors = common::block_on_local(paced(addr, &host, rate, total, 32));
    wait_finished(&store, "paced", (total - errors) as i64);
    let mut latencies =
        store.column("SELECT updated_at_ms - created_at_ms FROM sagas WHERE name = 'paced' AND status = 'completed'");
    latencies.sort_unstable();
    let at = |p: f64| common::percentile(&latencies, p).map_or(f64::NAN, |ms| ms as f64);
    println!("\n| phase | sagas | completed | start → completed p50 ms | p99 ms | max ms | errors |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {rate}/s for {seconds} s | {total} | {} | {:.0} | {:.0} | {:.0} | {errors} |",
        latencies.len(),
        at(0.5),
        at(0.99),
        at(1.0)
    );
    let status = server.terminate();
    assert!(status.success(), "gatehouse exited with {status}");
}
