//! Outbound passthrough against nginx: one fake upstream (a minimal hyper HTTP/1.1 server in this process, on its
//! own thread), reached three ways with keep-alive connections: directly, through nginx `proxy_pass` (Debian's
//! nginx, installed with apt-get when missing) and through Gatehouse's `/proxy/{provider}/…` with every policy on
//! (caller auth and rate limit, provider rate limit, circuit breaker, bulkhead, deadline + retries). Then the rate at
//! which an open circuit breaker refuses calls.
//!
//! Run: `cargo bench --bench proxy_vs_nginx`. Env: `BENCH_CONNECTIONS` (default 64); `BENCH_WARMUP_SECONDS`
//! (default 2, per target); `BENCH_ROUNDS` (default 5) × `BENCH_SECONDS` (default 3): the targets are measured in
//! turn, round after round, so a disturbance (another build) is shared rather than falling on one target;
//! `BENCH_IDLE_SECONDS` (default 3, a one-connection latency run per target; 0 skips it);
//! `BENCH_ONLY=direct,nginx,gatehouse,breaker` (a subset); any `GATEHOUSE__…` variable reaches the server.
//! For experiments: `BENCH_RATE_LIMITS=off` leaves the caller and provider rate limits out of Gatehouse's config;
//! `BENCH_GATEHOUSE_PRELOAD=/path/lib.so` is Gatehouse's `LD_PRELOAD` (e.g. another allocator);
//! `TOKIO_WORKER_THREADS` sets Gatehouse's worker count.
//!
//! The load generator is a single-threaded tokio runtime (one core) driving keep-alive HTTP/1.1 connections (hyper
//! client connections), each sending its requests one after another for a fixed time. Latency is send → full
//! response body read. Every answer is checked: the upstream's exact body with 200 for the three passthrough runs,
//! a 503 `circuit-open` problem for the open-breaker run; anything else counts as an error and fails the bench.

use std::cell::Cell;
use std::convert::Infallible;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::http::HeaderValue;
use hyper::{Request, Response, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use sha2::{Digest, Sha256};

/// The caller key the bench presents to Gatehouse (its SHA-256 goes in the config).
const CALLER_KEY: &str = "gh_bench_caller_key_0123456789";
/// What the fake upstream answers to every passthrough request: 100 bytes.
const UPSTREAM_BODY: &[u8; 100] =
    b"{\"id\":\"ch_bench_00000001\",\"object\":\"charge\",\"amount\":4200000,\"currency\":\"eur\",\"status\":\"succeeded\"}\n";
/// The upstream answers 503 under this path (the base URL of the provider whose breaker the bench opens).
const FAIL_PREFIX: &str = "/fail";
/// The upper limit a limiter is configured with so it never refuses during the bench.
const UNLIMITED: u32 = 10_000_000;
/// Linux's `USER_HZ`: the unit of utime/stime in `/proc/.../stat`.
const TICKS_PER_SECOND: f64 = 100.0;
/// A round during which other work took more than this much CPU (% of one core) counts as disturbed.
const DISTURBED: f64 = 15.0;

type Sender = SendRequest<Empty<Bytes>>;

/// A child process stopped with SIGTERM when the bench ends (or panics): nginx's master stops its workers then.
struct Proc {
    name: &'static str,
    child: Child,
}

impl Proc {
    /// SIGTERM, then the exit status (SIGKILL after 30 s).
    fn stop(&mut self) -> std::process::ExitStatus {
        if let Ok(Some(status)) = self.child.try_wait() {
            return status;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        for _ in 0..1500 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("{} did not stop within 30 s of SIGTERM; killing it", self.name);
        let _ = self.child.kill();
        self.child.wait().expect("wait for a killed child")
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}

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
}

/// What one timed run (or several, absorbed) produced.
#[derive(Default)]
struct Phase {
    elapsed: Duration,
    latencies_us: Vec<u32>,
    errors: usize,
}

impl Phase {
    /// Adds `other`'s requests and time to this one (latencies are sorted again by whoever reads them).
    fn absorb(&mut self, other: Phase) {
        self.elapsed += other.elapsed;
        self.latencies_us.extend(other.latencies_us);
        self.errors += other.errors;
    }

    fn rate(&self) -> f64 {
        self.latencies_us.len() as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile_ms(&self, p: f64) -> f64 {
        let sorted = &self.latencies_us;
        if sorted.is_empty() {
            return f64::NAN;
        }
        let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        f64::from(sorted[rank - 1]) / 1000.0
    }
}

/// CPU use during a run, in % of one core.
#[derive(Default, Clone, Copy)]
struct Cpu {
    loadgen: f64,
    upstream: f64,
    proxy: f64,
    /// The whole machine (all processes and the kernel), in % of one core; `nproc` × 100 is all of it.
    machine: f64,
    /// Of `machine`: time in softirq (loopback TCP), wherever it was charged.
    softirq: f64,
    /// Time the hypervisor took from this guest (not in `machine`).
    steal: f64,
}

impl Cpu {
    /// What the three processes above do not account for: kernel threads, other processes (builds…).
    fn rest(&self) -> f64 {
        self.machine - self.loadgen - self.upstream - self.proxy
    }
}

/// One target's results.
struct Outcome {
    name: &'static str,
    expect: Expect,
    /// Every measured round together (the warm-up's errors included).
    loaded: Phase,
    /// req/s of each round, and the CPU other work took meanwhile (% of one core).
    rounds: Vec<(f64, f64)>,
    cpu: Cpu,
    /// The one-connection run.
    idle: Option<Phase>,
}

fn env_u64(name: &str, default: u64) -> u64 {
    let Ok(text) = std::env::var(name) else {
        return default;
    };
    text.parse()
        .unwrap_or_else(|_| panic!("{name} must be a non-negative integer, not {text:?}"))
}

fn selected(name: &str) -> bool {
    std::env::var("BENCH_ONLY").map_or(true, |only| only.split(',').any(|n| n.trim() == name))
}

fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("find a free port")
}

// ---------------------------------------------------------------------------------------------------------------
// The fake upstream

/// Starts the upstream on its own thread (a current-thread runtime, so at most one core); returns its address and
/// the thread's id (for its CPU time).
fn start_upstream() -> (SocketAddr, u32) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the upstream");
    listener
        .set_nonblocking(true)
        .expect("make the upstream listener non-blocking");
    let addr = listener.local_addr().expect("the upstream's address");
    let (tid_tx, tid_rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("upstream".into())
        .spawn(move || {
            tid_tx.send(thread_id()).expect("report the upstream thread id");
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("build the upstream's runtime");
            runtime.block_on(serve_upstream(listener));
        })
        .expect("spawn the upstream thread");
    (addr, tid_rx.recv().expect("the upstream thread's id"))
}

async fn serve_upstream(listener: TcpListener) {
    let listener = tokio::net::TcpListener::from_std(listener).expect("register the upstream listener");
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(|request: Request<hyper::body::Incoming>| async move {
                let (status, body) = if request.uri().path().starts_with(FAIL_PREFIX) {
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        Bytes::from_static(b"{\"error\":\"down\"}\n"),
                    )
                } else {
                    (StatusCode::OK, Bytes::from_static(UPSTREAM_BODY))
                };
                let mut response = Response::new(Full::new(body));
                *response.status_mut() = status;
                response
                    .headers_mut()
                    .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                Ok::<_, Infallible>(response)
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

// ---------------------------------------------------------------------------------------------------------------
// nginx

/// The nginx binary, installed from Debian's packages (`apt-get install nginx`) when none is found.
fn nginx_binary() -> PathBuf {
    let found = || {
        [
            "/usr/sbin/nginx",
            "/usr/local/sbin/nginx",
            "/usr/local/nginx/sbin/nginx",
        ]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
    };
    if let Some(path) = found() {
        return path;
    }
    eprintln!("nginx not found: installing Debian's nginx with apt-get");
    let install = || {
        Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends", "nginx"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !install() {
        let updated = Command::new("apt-get")
            .arg("update")
            .stdin(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(updated && install(), "could not install nginx with apt-get");
    }
    found().expect("nginx is installed")
}

fn nginx_config(dir: &Path, listen: SocketAddr, upstream: SocketAddr) -> String {
    let dir = dir.display();
    format!(
        r#"daemon off;
master_process on;
worker_processes auto;
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log warn;

events {{
    worker_connections 4096;
}}

http {{
    access_log off;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    # Neither side closes a keep-alive connection after its default 1,000 requests.
    keepalive_requests 100000000;

    upstream fake {{
        server {upstream};
        keepalive 64;
        keepalive_requests 100000000;
    }}

    server {{
        listen {listen};
        location / {{
            proxy_pass http://fake;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Authorization "Bearer x";
        }}
    }}
}}
"#
    )
}

fn start_nginx(dir: &Path, upstream: SocketAddr) -> (Proc, SocketAddr) {
    let binary = nginx_binary();
    let addr = free_addr();
    let config = dir.join("nginx.conf");
    std::fs::write(&config, nginx_config(dir, addr, upstream)).expect("write the nginx config");
    let child = Command::new(&binary)
        .arg("-p")
        .arg(dir)
        .arg("-e")
        .arg(dir.join("nginx-error.log"))
        .arg("-c")
        .arg(&config)
        .stdin(Stdio::null())
        .spawn()
        .expect("start nginx");
    let mut nginx = Proc { name: "nginx", child };
    wait_for(&mut nginx, addr, "/echo");
    (nginx, addr)
}

/// `pid` and its child processes (nginx's workers).
fn with_children(pid: u32) -> Vec<u32> {
    let mut pids = vec![pid];
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(child) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            let parent = std::fs::read_to_string(entry.path().join("stat"))
                .ok()
                .and_then(|stat| stat_field(&stat, 4));
            if parent == Some(u64::from(pid)) {
                pids.push(child);
            }
        }
    }
    pids
}

// ---------------------------------------------------------------------------------------------------------------
// Gatehouse

fn gatehouse_config(db: &Path, upstream: SocketAddr) -> String {
    let key_sha256 = hex::encode(Sha256::digest(CALLER_KEY.as_bytes()));
    let limit = format!("rate_limit = {{ per_second = {UNLIMITED}, burst = {UNLIMITED} }}");
    let limit = if std::env::var("BENCH_RATE_LIMITS").is_ok_and(|v| v == "off") {
        eprintln!("BENCH_RATE_LIMITS=off: no caller or provider rate limits");
        String::new()
    } else {
        limit
    };
    format!(
        r#"
[server]
listen = "127.0.0.1:0"

[store]
url = "sqlite://{db}"

[[callers]]
name = "bench"
key_sha256 = "{key_sha256}"
providers = ["*"]
{limit}

# Every policy on, none refusing: limits far above the load, the default retries and breaker.
[providers.stripe]
base_url = "http://{upstream}"
credentials = {{ bearer = "sk_test_bench" }}
timeout = "5s"
concurrency = 1000
{limit}

# The upstream answers 503 under /fail: five calls open this breaker for an hour.
[providers.down]
adapter = "stripe"
base_url = "http://{upstream}{FAIL_PREFIX}"
credentials = {{ bearer = "sk_test_bench" }}
timeout = "5s"
concurrency = 1000
{limit}
retry = {{ max_attempts = 1 }}
circuit_breaker = {{ window = 10, min_calls = 5, failure_rate = 0.5, open_for = "1h", half_open_calls = 1 }}
"#,
        db = db.display()
    )
}

fn start_gatehouse(dir: &Path, upstream: SocketAddr) -> (Proc, SocketAddr) {
    let config = dir.join("gatehouse.toml");
    std::fs::write(&config, gatehouse_config(&dir.join("gatehouse.db"), upstream)).expect("write the gatehouse config");
    let addr = free_addr();
    let mut command = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    command
        .arg("--config")
        .arg(&config)
        .arg("serve")
        .env("GATEHOUSE_LOG", "warn")
        .env("GATEHOUSE__SERVER__LISTEN", addr.to_string())
        .stdin(Stdio::null());
    if let Ok(preload) = std::env::var("BENCH_GATEHOUSE_PRELOAD") {
        eprintln!("gatehouse runs with LD_PRELOAD={preload}");
        command.env("LD_PRELOAD", preload);
    }
    let child = command.spawn().expect("start `gatehouse serve`");
    let mut gatehouse = Proc {
        name: "gatehouse",
        child,
    };
    wait_for(&mut gatehouse, addr, "/readyz");
    (gatehouse, addr)
}

// ---------------------------------------------------------------------------------------------------------------
// Blocking helpers

/// Status and body of `GET path` over a fresh blocking connection (with the caller key).
fn get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nhost: bench\r\nauthorization: Bearer {CALLER_KEY}\r\nconnection: close\r\n\r\n"
    )
    .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    let (head, body) = answer.split_once("\r\n\r\n")?;
    let status = head.get(9..12)?.parse().ok()?;
    Some((status, body.to_owned()))
}

fn wait_for(server: &mut Proc, addr: SocketAddr, path: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(Some(status)) = server.child.try_wait() {
            panic!("{} exited before it was ready: {status}", server.name);
        }
        if get(addr, path).is_some_and(|(status, _)| status == 200) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} did not answer 200 to GET {path} on {addr} within 30s",
            server.name
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The `n`th (1-based) space-separated field of a `/proc/.../stat` line, counted after the command name.
fn stat_field(stat: &str, n: usize) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 2..];
    after_name.split(' ').nth(n - 3)?.parse().ok()
}

/// utime + stime of a `/proc/.../stat` file, in ticks.
fn cpu_ticks(path: &str) -> u64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|stat| Some(stat_field(&stat, 14)? + stat_field(&stat, 15)?))
        .unwrap_or(0)
}

/// Ticks of the whole machine (`/proc/stat` line `cpu`): busy (all but idle, iowait and steal), softirq, steal.
fn machine_ticks() -> [u64; 3] {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = stat.lines().find(|l| l.starts_with("cpu ")) else {
        return [0; 3];
    };
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let fields: Vec<u64> = line.split_whitespace().skip(1).filter_map(|f| f.parse().ok()).collect();
    let field = |i: usize| fields.get(i).copied().unwrap_or(0);
    [[0, 1, 2, 5, 6].iter().map(|&i| field(i)).sum(), field(6), field(7)]
}

/// This thread's id, from `/proc/thread-self` (→ `PID/task/TID`).
fn thread_id() -> u32 {
    std::fs::read_link("/proc/thread-self")
        .ok()
        .and_then(|p| p.file_name()?.to_str()?.parse().ok())
        .expect("read /proc/thread-self")
}

/// CPU counters at one instant: load generator thread, upstream thread, proxy processes, machine (busy, softirq,
/// steal).
struct CpuSample {
    at: Instant,
    ticks: [u64; 6],
}

fn sample(settings: &Settings, proxy_pids: &[u32]) -> CpuSample {
    let own = std::process::id();
    let [machine, softirq, steal] = machine_ticks();
    CpuSample {
        at: Instant::now(),
        ticks: [
            cpu_ticks(&format!("/proc/{own}/task/{}/stat", settings.loadgen_tid)),
            cpu_ticks(&format!("/proc/{own}/task/{}/stat", settings.upstream_tid)),
            proxy_pids
                .iter()
                .map(|pid| cpu_ticks(&format!("/proc/{pid}/stat")))
                .sum(),
            machine,
            softirq,
            steal,
        ],
    }
}

/// CPU ticks spent during a target's measured slices, summed.
#[derive(Default)]
struct CpuSpent {
    seconds: f64,
    ticks: [u64; 6],
}

impl CpuSpent {
    fn add(&mut self, start: &CpuSample, end: &CpuSample) {
        self.seconds += (end.at - start.at).as_secs_f64();
        for (total, (s, e)) in self.ticks.iter_mut().zip(start.ticks.iter().zip(&end.ticks)) {
            *total += e.saturating_sub(*s);
        }
    }

    fn cpu(&self) -> Cpu {
        let pct = |i: usize| self.ticks[i] as f64 / TICKS_PER_SECOND / self.seconds.max(1e-9) * 100.0;
        Cpu {
            loadgen: pct(0),
            upstream: pct(1),
            proxy: pct(2),
            machine: pct(3),
            softirq: pct(4),
            steal: pct(5),
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Load generator

/// Opens `connections` keep-alive HTTP/1.1 connections, their drivers spawned on the local set.
async fn connect(addr: SocketAddr, connections: usize) -> Vec<Sender> {
    let mut senders = Vec::with_capacity(connections);
    for _ in 0..connections {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .expect("connect to the target");
        stream.set_nodelay(true).expect("set TCP_NODELAY");
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("HTTP/1.1 handshake");
        tokio::task::spawn_local(async move {
            if let Err(e) = connection.await {
                eprintln!("connection error: {e}");
            }
        });
        senders.push(sender);
    }
    senders
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

/// Every connection sends `GET path` one request after another until `duration` is over.
async fn run_for(senders: &mut Vec<Sender>, target: &Target, duration: Duration) -> Phase {
    let uri: Uri = target.path.parse().expect("a valid path");
    let host = HeaderValue::from_str(&target.addr.to_string()).expect("a valid host");
    let auth = HeaderValue::from_str(&format!("Bearer {CALLER_KEY}")).expect("a valid header");
    let expect = target.expect;
    let reported = Rc::new(Cell::new(0usize));
    let started = Instant::now();
    let end = started + duration;
    let workers: Vec<_> = senders
        .drain(..)
        .map(|mut sender| {
            let (uri, host, auth, reported) = (uri.clone(), host.clone(), auth.clone(), Rc::clone(&reported));
            tokio::task::spawn_local(async move {
                let mut latencies = Vec::with_capacity(65_536);
                let mut errors = 0usize;
                let mut report = |what: String| {
                    errors += 1;
                    if reported.get() < 5 {
                        reported.set(reported.get() + 1);
                        eprintln!("unexpected answer: {what}");
                    }
                };
                while Instant::now() < end {
                    let mut request = Request::new(Empty::new());
                    *request.uri_mut() = uri.clone();
                    request.headers_mut().insert(HOST, host.clone());
                    request.headers_mut().insert(AUTHORIZATION, auth.clone());
                    if let Err(e) = sender.ready().await {
                        report(format!("connection closed: {e}"));
                        break;
                    }
                    let sent = Instant::now();
                    let response = match sender.send_request(request).await {
                        Ok(response) => response,
                        Err(e) => {
                            report(format!("request failed: {e}"));
                            break;
                        }
                    };
                    let status = response.status();
                    let body = match response.into_body().collect().await {
                        Ok(body) => body.to_bytes(),
                        Err(e) => {
                            report(format!("body failed: {e}"));
                            break;
                        }
                    };
                    latencies.push(u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX));
                    if !acceptable(expect, status, &body) {
                        report(format!("{status} {}", String::from_utf8_lossy(&body)));
                    }
                }
                (sender, latencies, errors)
            })
        })
        .collect();
    let mut phase = Phase::default();
    for worker in workers {
        let (sender, latencies, failed) = worker.await.expect("a load worker panicked");
        senders.push(sender);
        phase.latencies_us.extend(latencies);
        phase.errors += failed;
    }
    phase.elapsed = started.elapsed();
    phase.latencies_us.sort_unstable();
    phase
}

struct Settings {
    connections: usize,
    warmup: Duration,
    rounds: usize,
    slice: Duration,
    idle: Duration,
    upstream_tid: u32,
    loadgen_tid: u32,
}

/// A target being measured: its open connections and what its slices measured so far.
struct Slot {
    target: Target,
    senders: Vec<Sender>,
    loaded: Phase,
    rounds: Vec<(f64, f64)>,
    spent: CpuSpent,
}

/// Warms every target up, then measures them in turn, `rounds` times (so a disturbance, such as another process
/// taking CPU for a while, falls on every target rather than on one), then runs the one-connection latency runs.
async fn measure_all(targets: Vec<Target>, settings: &Settings) -> Vec<Outcome> {
    let mut slots = Vec::new();
    for target in targets {
        let mut senders = connect(target.addr, settings.connections).await;
        let warm = run_for(&mut senders, &target, settings.warmup).await;
        eprintln!(
            "{}: {} connections to {}{}, warm-up {:.0} req/s",
            target.name,
            settings.connections,
            target.addr,
            target.path,
            warm.rate()
        );
        let loaded = Phase {
            errors: warm.errors,
            ..Phase::default()
        };
        slots.push(Slot {
            target,
            senders,
            loaded,
            rounds: Vec::new(),
            spent: CpuSpent::default(),
        });
    }
    for round in 1..=settings.rounds {
        for slot in &mut slots {
            // Fresh connections for every slice: servers may close keep-alive connections left idle while the
            // other targets were measured (Gatehouse does after `server.header_read_timeout`, 10 s by default).
            drop(std::mem::take(&mut slot.senders));
            slot.senders = connect(slot.target.addr, settings.connections).await;
            let before = sample(settings, &(slot.target.proxy_pids)());
            let phase = run_for(&mut slot.senders, &slot.target, settings.slice).await;
            let after = sample(settings, &(slot.target.proxy_pids)());
            slot.spent.add(&before, &after);
            let rest = cpu_between(&before, &after).rest();
            eprintln!(
                "  round {round} {}: {:.0} req/s, p50 {:.3} ms, p99 {:.3} ms, errors {}, CPU rest {rest:.0} %",
                slot.target.name,
                phase.rate(),
                phase.percentile_ms(0.5),
                phase.percentile_ms(0.99),
                phase.errors,
            );
            slot.rounds.push((phase.rate(), rest));
            slot.loaded.absorb(phase);
        }
    }
    let mut outcomes = Vec::new();
    for mut slot in slots {
        drop(std::mem::take(&mut slot.senders));
        slot.loaded.latencies_us.sort_unstable();
        let idle = if settings.idle.is_zero() {
            None
        } else {
            let mut single = connect(slot.target.addr, 1).await;
            Some(run_for(&mut single, &slot.target, settings.idle).await)
        };
        outcomes.push(Outcome {
            name: slot.target.name,
            expect: slot.target.expect,
            loaded: slot.loaded,
            rounds: slot.rounds,
            cpu: slot.spent.cpu(),
            idle,
        });
    }
    outcomes
}

fn cpu_between(start: &CpuSample, end: &CpuSample) -> Cpu {
    let mut spent = CpuSpent::default();
    spent.add(start, end);
    spent.cpu()
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
    let settings = Settings {
        connections,
        warmup: Duration::from_secs(env_u64("BENCH_WARMUP_SECONDS", 2)),
        rounds: usize::try_from(env_u64("BENCH_ROUNDS", 5).max(1)).expect("a round count"),
        slice: Duration::from_secs(env_u64("BENCH_SECONDS", 3).max(1)),
        idle: Duration::from_secs(env_u64("BENCH_IDLE_SECONDS", 3)),
        upstream_tid,
        loadgen_tid: thread_id(),
    };
    let dir = tempfile::tempdir().expect("create a temp dir");
    let mut nginx = selected("nginx").then(|| start_nginx(dir.path(), upstream));
    let mut gatehouse = (selected("gatehouse") || selected("breaker")).then(|| start_gatehouse(dir.path(), upstream));
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

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("build the load generator's runtime");
    let local = tokio::task::LocalSet::new();
    let outcomes = local.block_on(&runtime, measure_all(targets, &settings));
    drop(local);
    drop(runtime);

    let nginx_exit = nginx.as_mut().map(|(proc, _)| proc.stop());
    let gatehouse_exit = gatehouse.as_mut().map(|(proc, _)| proc.stop());

    report(&settings, &outcomes);
    if let Some(exit) = nginx_exit {
        eprintln!("nginx exit: {exit}");
    }
    if let Some(exit) = gatehouse_exit {
        assert!(exit.success(), "gatehouse must exit 0 after SIGTERM, got {exit}");
    }
    let errors: usize = outcomes
        .iter()
        .map(|o| o.loaded.errors + o.idle.as_ref().map_or(0, |p| p.errors))
        .sum();
    assert_eq!(errors, 0, "every answer must be the expected one");
}

fn report(settings: &Settings, outcomes: &[Outcome]) {
    let find = |name: &str| outcomes.iter().find(|o| o.name == name);
    let (direct, nginx, gatehouse, breaker) = (find("direct"), find("nginx"), find("gatehouse"), find("open breaker"));
    let signed = |v: Option<f64>| v.map_or("–".to_owned(), |v| format!("{v:+.3}"));
    let per_round = |o: &Outcome| {
        o.rounds
            .iter()
            .map(|&(rate, rest)| format!("{rate:.0}{}", if rest > DISTURBED { "*" } else { "" }))
            .collect::<Vec<_>>()
            .join(" / ")
    };
    println!(
        "\noutbound passthrough: {} keep-alive connections; {} rounds of {} s per target after a {} s warm-up\n",
        settings.connections,
        settings.rounds,
        settings.slice.as_secs(),
        settings.warmup.as_secs()
    );
    println!(
        "| target | requests | req/s | per round | p50 ms | p90 ms | p99 ms | max ms | added p50 ms | added p99 ms \
         | × nginx | errors |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for o in outcomes.iter().filter(|o| o.expect == Expect::Echo) {
        let run = &o.loaded;
        let added = |p: f64| direct.map(|d| run.percentile_ms(p) - d.loaded.percentile_ms(p));
        let ratio = nginx.map_or("–".to_owned(), |n| format!("{:.2}", run.rate() / n.loaded.rate()));
        println!(
            "| {} | {} | {:.0} | {} | {:.3} | {:.3} | {:.3} | {:.3} | {} | {} | {ratio} | {} |",
            o.name,
            run.latencies_us.len(),
            run.rate(),
            per_round(o),
            run.percentile_ms(0.5),
            run.percentile_ms(0.9),
            run.percentile_ms(0.99),
            run.percentile_ms(1.0),
            signed(added(0.5)),
            signed(added(0.99)),
            run.errors
        );
    }
    if let Some(b) = breaker {
        let run = &b.loaded;
        println!("\nopen breaker: `circuit-open` 503s (after caller auth, caller and provider rate limits):\n");
        println!("| requests | req/s | per round | p50 ms | p99 ms | errors |");
        println!("|---:|---:|---:|---:|---:|---:|");
        println!(
            "| {} | {:.0} | {} | {:.3} | {:.3} | {} |",
            run.latencies_us.len(),
            run.rate(),
            per_round(b),
            run.percentile_ms(0.5),
            run.percentile_ms(0.99),
            run.errors
        );
    }
    println!("\n(* a round during which other work took more than {DISTURBED:.0} % of a core)");
    if outcomes.iter().any(|o| o.idle.is_some()) {
        println!(
            "\none connection, one request at a time ({} s each):\n",
            settings.idle.as_secs()
        );
        println!("| target | req/s | p50 ms | p99 ms | added p50 ms | added p99 ms |");
        println!("|---|---:|---:|---:|---:|---:|");
        let direct_idle = direct.and_then(|d| d.idle.as_ref());
        for o in outcomes {
            let Some(run) = &o.idle else { continue };
            let added = |p: f64| direct_idle.map(|d| run.percentile_ms(p) - d.percentile_ms(p));
            println!(
                "| {} | {:.0} | {:.3} | {:.3} | {} | {} |",
                o.name,
                run.rate(),
                run.percentile_ms(0.5),
                run.percentile_ms(0.99),
                signed(added(0.5)),
                signed(added(0.99))
            );
        }
    }
    println!(
        "\nCPU during the measured rounds, % of one core (the machine has {} cores; µs = CPU time per request):\n",
        cores()
    );
    println!(
        "| target | load generator | upstream | proxy | proxy µs/req | rest | whole machine | of which softirq | steal |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for o in outcomes {
        let c = o.cpu;
        let per_request = c.proxy / 100.0 / o.loaded.rate() * 1e6;
        println!(
            "| {} | {:.0} | {:.0} | {:.0} | {:.1} | {:.0} | {:.0} | {:.0} | {:.0} |",
            o.name,
            c.loadgen,
            c.upstream,
            c.proxy,
            per_request,
            c.rest(),
            c.machine,
            c.softirq,
            c.steal
        );
    }
    for o in outcomes.iter().filter(|o| o.cpu.rest() > DISTURBED) {
        println!(
            "\nwarning: {:.0} % of a core went to other work during the {} rounds (other builds?): its figures are low",
            o.cpu.rest(),
            o.name
        );
    }

    println!("\ntargets:");
    let verdict = |met: bool| if met { "met" } else { "MISSED" };
    if let (Some(g), Some(n)) = (gatehouse, nginx) {
        let ratio = g.loaded.rate() / n.loaded.rate();
        println!(
            "  throughput gatehouse / nginx = {ratio:.2} (target ≥ 0.90): {}",
            verdict(ratio >= 0.9)
        );
        let quiet = |o: &Outcome| {
            let rates: Vec<f64> = o.rounds.iter().filter(|r| r.1 <= DISTURBED).map(|r| r.0).collect();
            (!rates.is_empty()).then(|| (rates.iter().sum::<f64>() / rates.len() as f64, rates.len()))
        };
        if let (Some((g_rate, g_n)), Some((n_rate, n_n))) = (quiet(g), quiet(n)) {
            println!(
                "  the same over undisturbed rounds only ({g_n} of gatehouse, {n_n} of nginx, mean req/s): {:.2}",
                g_rate / n_rate
            );
        }
    }
    if let (Some(g), Some(d)) = (gatehouse, direct) {
        let added = g.loaded.percentile_ms(0.99) - d.loaded.percentile_ms(0.99);
        println!(
            "  p99 added over direct at {} connections = {added:.3} ms (target ≤ 1 ms): {}",
            settings.connections,
            verdict(added <= 1.0)
        );
        if let (Some(gi), Some(di)) = (&g.idle, &d.idle) {
            let added = gi.percentile_ms(0.99) - di.percentile_ms(0.99);
            println!(
                "  p99 added over direct, one connection = {added:.3} ms (target ≤ 1 ms): {}",
                verdict(added <= 1.0)
            );
        }
    }
    if let Some(b) = breaker {
        let rate = b.loaded.rate();
        println!(
            "  open breaker = {rate:.0} req/s (target ≥ 50,000): {}",
            verdict(rate >= 50_000.0)
        );
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
