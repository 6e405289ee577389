//! What the benchmarks share: env-var options, a free port, blocking `GET`s, keep-alive hyper client connections
//! driven on a single-threaded runtime's local set, and nearest-rank percentiles; [`phase`] has the server guard
//! and the fixed-list load phase of the request-count benches; [`store`] the store a bench runs on (`BENCH_STORE`).

// Each bench uses its own part of `phase` and `store`.
#[allow(dead_code)]
pub mod phase;
#[allow(dead_code)]
pub mod store;

use std::future::Future;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::str::FromStr;
use std::time::Duration;

use hyper::body::Body;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;

/// The env var `name` parsed as a `T`, or `default` when it is unset; panics, saying the value must be `what`, when
/// it does not parse or `valid` rejects it.
pub fn env_parse<T: FromStr>(name: &str, default: T, what: &str, valid: impl Fn(&T) -> bool) -> T {
    let Ok(text) = std::env::var(name) else {
        return default;
    };
    let n = text.parse().ok().filter(valid);
    n.unwrap_or_else(|| panic!("{name} must be {what}, not {text:?}"))
}

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("find a free port")
}

/// Status and body of `GET path` over a fresh blocking connection. `headers` are header lines (each ending in
/// `\r\n`) sent between `host` and `connection: close`.
pub fn get(addr: SocketAddr, path: &str, headers: &str, read_timeout: Option<Duration>) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(read_timeout).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nhost: bench\r\n{headers}connection: close\r\n\r\n"
    )
    .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    let (head, body) = answer.split_once("\r\n\r\n")?;
    let status = head.get(9..12)?.parse().ok()?;
    Some((status, body.to_owned()))
}

/// Runs `future` to completion on a new single-threaded runtime (one core: the load generator's) inside a local
/// set, so it can `spawn_local`.
pub fn block_on_local<F: Future>(future: F) -> F::Output {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("build the load generator's runtime");
    let local = tokio::task::LocalSet::new();
    let output = local.block_on(&runtime, future);
    drop(local);
    drop(runtime);
    output
}

/// Opens `connections` keep-alive HTTP/1.1 connections, their drivers spawned on the local set.
pub async fn connect<B>(addr: SocketAddr, connections: usize) -> Vec<SendRequest<B>>
where
    B: Body + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut senders = Vec::with_capacity(connections);
    for _ in 0..connections {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
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

/// The nearest-rank `p` percentile (0 < `p` ≤ 1) of `sorted`; `None` when it is empty.
pub fn percentile<T: Copy>(sorted: &[T], p: f64) -> Option<T> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

/// CPU time (user + system) process `pid` has used so far, in seconds, from `/proc/<pid>/stat` (clock ticks of
/// 1/100 s); `None` off Linux or when the process is gone.
#[allow(dead_code)] // Each bench uses its own part of this module.
pub fn process_cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat_cpu_seconds(&stat)
}

/// utime + stime of a `/proc/.../stat` line, in seconds (clock ticks of 1/100 s).
fn stat_cpu_seconds(stat: &str) -> Option<f64> {
    // Fields after the command name (which may hold spaces), from field 3: utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<f64>().ok();
    Some((ticks(11)? + ticks(12)?) / 100.0)
}

/// CPU seconds (user + system) each thread of process `pid` has used so far, by thread id, with the thread's name,
/// from `/proc/<pid>/task/*/stat`; empty off Linux or when the process is gone.
#[allow(dead_code)] // Each bench uses its own part of this module.
pub fn thread_cpu_seconds(pid: u32) -> std::collections::BTreeMap<u32, (String, f64)> {
    let mut threads = std::collections::BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return threads;
    };
    for task in tasks.flatten() {
        let Some(tid) = task.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let name = stat[open + 1..close].to_owned();
        threads.insert(tid, (name, stat_cpu_seconds(&stat).unwrap_or(0.0)));
    }
    threads
}

/// What each thread of a process used between two [`thread_cpu_seconds`] readings, summed by thread name (most
/// first), in seconds.
#[allow(dead_code)] // Each bench uses its own part of this module.
pub fn thread_cpu_between(
    before: &std::collections::BTreeMap<u32, (String, f64)>,
    after: &std::collections::BTreeMap<u32, (String, f64)>,
) -> Vec<(String, f64)> {
    let mut by_name: std::collections::BTreeMap<String, f64> = std::collections::BTreeMap::new();
    for (tid, (name, seconds)) in after {
        let earlier = before.get(tid).map_or(0.0, |(_, s)| *s);
        *by_name.entry(name.clone()).or_default() += seconds - earlier;
    }
    let mut spent: Vec<(String, f64)> = by_name.into_iter().filter(|(_, s)| *s > 0.0).collect();
    spent.sort_by(|a, b| b.1.total_cmp(&a.1));
    spent
}
