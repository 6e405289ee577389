//! Outbound passthrough against nginx: one fake upstream (a minimal hyper HTTP/1.1 server in this process, on its
//! own thread), reached three ways with keep-alive connections: directly, through nginx `proxy_pass` (Debian's
//! nginx, installed with apt-get when missing) and through Gatehouse's `/proxy/{provider}/…` with every policy on
//! (caller auth and rate limit, provider rate limit, circuit breaker, bulkhead, deadline + retries). Then the rate at
//! which an open circuit breaker refuses calls.
//!
//! Run: `cargo bench --bench proxy_vs_nginx`. Env: `BENCH_CONNECTIONS` (default 64); `BENCH_WARMUP_SECONDS`
//! (default 2, per target); `BENCH_ROUNDS` (default 5) × `BENCH_SECONDS` (default 3): the targets are measured in
//! turn, round after round, so a disturbance (another build) is shared rather than falling on one target;
//! `BENCH_IDLE_SECONDS` (default 3, a one-connection latency run per target; 0 skips it); `BENCH_OPEN_SECONDS`
//! (default 5; 0 skips it): every passthrough target at half of nginx's saturated rate, open loop (see
//! [`open_loop`]);
//! `BENCH_ONLY=direct,nginx,gatehouse,breaker` (a subset); any `GATEHOUSE__…` variable reaches the server.
//! For experiments: `BENCH_RATE_LIMITS=off` leaves the caller and provider rate limits out of Gatehouse's config;
//! `BENCH_GATEHOUSE_PRELOAD=/path/lib.so` is Gatehouse's `LD_PRELOAD` (e.g. another allocator);
//! `TOKIO_WORKER_THREADS` sets Gatehouse's worker count.
//! `BENCH_CALLGRIND=1` counts instructions per request instead of timing (see [`instructions`]): nginx and
//! Gatehouse run under valgrind's callgrind, `BENCH_SECONDS` (default 10) of load each is counted.
//!
//! The load generator is a single-threaded tokio runtime (one core) driving keep-alive HTTP/1.1 connections (hyper
//! client connections), each sending its requests one after another for a fixed time. Latency is send → full
//! response body read. Every answer is checked: the upstream's exact body with 200 for the three passthrough runs,
//! a 503 `circuit-open` problem for the open-breaker run; anything else counts as an error and fails the bench.

#[path = "../common/mod.rs"]
mod common;
mod cpu;
mod gatehouse;
mod instructions;
mod load;
mod nginx;
mod open_loop;
mod process;
mod report;
mod upstream;

use std::net::SocketAddr;
use std::time::Duration;

use hyper::StatusCode;

use crate::cpu::{thread_id, with_children};
use crate::gatehouse::start_gatehouse;
use crate::load::{Settings, measure_all};
use crate::nginx::start_nginx;
use crate::report::report;
use crate::upstream::{UPSTREAM_BODY, start_upstream};

/// The caller key the bench presents to Gatehouse (its SHA-256 goes in the config).
const CALLER_KEY: &str = "gh_bench_caller_key_0123456789";

/// What the answers of a run must be.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// 200 with exactly [`UPSTREAM_BODY`].
    Echo,
    /// 503 with a `circuit-open` problem.
    CircuitOpen,
}

/// Where the load goes.
struct Target {
    name: &'static str,
    addr: SocketAddr,
    path: &'static str,
    expect: Expect,
    /// Processes whose CPU time counts as this target's (the proxy's), re-read at each sample.
    proxy_pids: Box<dyn Fn() -> Vec<u32>>,
    /// The name of its profiles when its instructions are counted (`BENCH_CALLGRIND`); `None`: not counted.
    profile: Option<&'static str>,
}

fn env_u64(name: &str, default: u64) -> u64 {
    common::env_parse(name, default, "a non-negative integer", |_| true)
}

fn selected(name: &str) -> bool {
    std::env::var("BENCH_ONLY").map_or(true, |only| only.split(',').any(|n| n.trim() == name))
}

/// Status and body of `GET path` over a fresh blocking connection (with the caller key).
fn get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let auth = format!("authorization: Bearer {CALLER_KEY}\r\n");
    common::get(addr, path, &auth, Some(Duration::from_secs(10)))
}

/// Whether an answer is the one `expect` wants.
fn acceptable(expect: Expect, status: StatusCode, body: &[u8]) -> bool {
    const CIRCUIT_OPEN: &[u8] = b"problem:circuit-open";
    match expect {
        Expect::Echo => status == StatusCode::OK && body == UPSTREAM_BODY,
        Expect::CircuitOpen => {
            status == StatusCode::SERVICE_UNAVAILABLE && body.windows(CIRCUIT_OPEN.len()).any(|w| w == CIRCUIT_OPEN)
        }
    }
}

/// Sends calls to the `down` provider one at a time until its breaker answers `circuit-open`.
fn open_breaker(gatehouse: SocketAddr) -> usize {
    for sent in 1..=50 {
        let (status, body) = get(gatehouse, "/proxy/down/echo").expect("gatehouse answers");
        if acceptable(
            Expect::CircuitOpen,
            StatusCode::from_u16(status).expect("a status"),
            body.as_bytes(),
        ) {
            return sent;
        }
    }
    panic!("the breaker of provider `down` did not open after 50 failing calls");
}

fn main() {
    let connections = usize::try_from(env_u64("BENCH_CONNECTIONS", 64)).expect("a connection count");
    assert!(connections > 0, "BENCH_CONNECTIONS must be at least 1");
    let (upstream, upstream_tid) = start_upstream();
    let counting = instructions::enabled();
    let settings = Settings {
        connections,
        warmup: Duration::from_secs(env_u64("BENCH_WARMUP_SECONDS", 2)),
        rounds: usize::try_from(env_u64("BENCH_ROUNDS", 5).max(1)).expect("a round count"),
        slice: Duration::from_secs(env_u64("BENCH_SECONDS", if counting { 10 } else { 3 }).max(1)),
        idle: Duration::from_secs(env_u64("BENCH_IDLE_SECONDS", 3)),
        upstream_tid,
        loadgen_tid: thread_id(),
    };
    let dir = tempfile::tempdir().expect("create a temp dir");
    let (nginx_wrapper, gatehouse_wrapper) = if counting {
        (
            Some(instructions::wrapper("nginx")),
            Some(instructions::wrapper("gatehouse")),
        )
    } else {
        (None, None)
    };
    let mut nginx = selected("nginx").then(|| start_nginx(dir.path(), upstream, nginx_wrapper.as_deref()));
    let mut gatehouse = (selected("gatehouse") || selected("breaker"))
        .then(|| start_gatehouse(dir.path(), upstream, gatehouse_wrapper.as_deref()));
    eprintln!(
        "upstream {upstream} (thread {upstream_tid}); nginx {}; gatehouse {}",
        nginx
            .as_ref()
            .map_or("-".into(), |(p, a)| format!("{a} (pid {})", p.child.id())),
        gatehouse
            .as_ref()
            .map_or("-".into(), |(p, a)| format!("{a} (pid {})", p.child.id())),
    );

    let mut targets = Vec::new();
    if selected("direct") {
        targets.push(Target {
            name: "direct",
            addr: upstream,
            path: "/echo",
            expect: Expect::Echo,
            proxy_pids: Box::new(Vec::new),
            profile: None,
        });
    }
    if let Some((proc, addr)) = &nginx {
        let pid = proc.child.id();
        targets.push(Target {
            name: "nginx",
            addr: *addr,
            path: "/echo",
            expect: Expect::Echo,
            proxy_pids: Box::new(move || with_children(pid)),
            profile: Some("nginx"),
        });
    }
    if let Some((proc, addr)) = &gatehouse {
        let pid = proc.child.id();
        let target = |name, path, expect| Target {
            name,
            addr: *addr,
            path,
            expect,
            proxy_pids: Box::new(move || vec![pid]),
            profile: Some("gatehouse"),
        };
        if selected("gatehouse") {
            targets.push(target("gatehouse", "/proxy/stripe/echo", Expect::Echo));
        }
        if selected("breaker") {
            let calls = open_breaker(*addr);
            eprintln!("the `down` provider's breaker is open after {calls} calls");
            targets.push(target("open breaker", "/proxy/down/echo", Expect::CircuitOpen));
        }
    }

    if counting {
        let counted = common::block_on_local(instructions::count_all(targets, &settings));
        stop(
            nginx.as_mut().map(|(proc, _)| proc),
            gatehouse.as_mut().map(|(proc, _)| proc),
        );
        instructions::report(&settings, &counted);
        let errors: usize = counted.iter().map(|c| c.errors).sum();
        assert_eq!(errors, 0, "every answer must be the expected one");
        return;
    }
    let outcomes = common::block_on_local(measure_all(&targets, &settings));
    let open_seconds = env_u64("BENCH_OPEN_SECONDS", 5);
    let half_nginx = outcomes
        .iter()
        .find(|o| o.name == "nginx")
        .map(|o| o.loaded.rate() / 2.0);
    let open_errors = match half_nginx {
        Some(rate) if open_seconds > 0 && rate >= 1.0 => common::block_on_local(open_loop::measure(
            &targets,
            connections,
            rate,
            Duration::from_secs(open_seconds),
        )),
        _ => 0,
    };
    stop(
        nginx.as_mut().map(|(proc, _)| proc),
        gatehouse.as_mut().map(|(proc, _)| proc),
    );

    report(&settings, &outcomes);
    let errors: usize = outcomes
        .iter()
        .map(|o| o.loaded.errors + o.idle.as_ref().map_or(0, |p| p.errors))
        .sum();
    assert_eq!(errors + open_errors, 0, "every answer must be the expected one");
}

/// Stops the servers with SIGTERM; Gatehouse must exit 0.
fn stop(nginx: Option<&mut process::Proc>, gatehouse: Option<&mut process::Proc>) {
    let nginx_exit = nginx.map(|proc| proc.stop());
    let gatehouse_exit = gatehouse.map(|proc| proc.stop());
    if let Some(exit) = nginx_exit {
        eprintln!("nginx exit: {exit}");
    }
    if let Some(exit) = gatehouse_exit {
        assert!(exit.success(), "gatehouse must exit 0 after SIGTERM, got {exit}");
    }
}
