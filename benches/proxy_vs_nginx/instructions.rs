//! Instructions per proxied request (`BENCH_CALLGRIND=1`): nginx and Gatehouse run under valgrind's callgrind with
//! collection off; for each target, after its warm-up, collection is switched on for `BENCH_SECONDS` of the same
//! closed-loop load, then off again, and the profile is dumped. Instructions ÷ answered requests is the figure: counted,
//! not timed, so it repeats on this noisy machine. Callgrind sees user space only (the kernel's TCP work is not
//! counted) and runs a process's threads one at a time.
//!
//! The profiles stay in `BENCH_CALLGRIND_DIR` (default `target/callgrind`) for `callgrind_annotate`; Gatehouse's
//! is also broken down here: self cost by component (what the crate or symbol is) and inclusive cost of the stages
//! of a proxied request.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::Target;
use crate::common::connect;
use crate::load::{Settings, run_for};

/// Whether this run counts instructions instead of timing.
pub fn enabled() -> bool {
    std::env::var("BENCH_CALLGRIND").is_ok_and(|v| v == "1")
}

/// Where the profiles go.
pub fn dir() -> PathBuf {
    let dir = PathBuf::from(std::env::var("BENCH_CALLGRIND_DIR").unwrap_or_else(|_| "target/callgrind".into()));
    std::fs::create_dir_all(&dir).expect("create the callgrind directory");
    dir
}

/// The command line that runs `name`'s server under callgrind, instrumentation off until [`collect`] turns it on.
pub fn wrapper(name: &str) -> Vec<String> {
    let out = dir().join(format!("{name}.%p.callgrind"));
    vec![
        "valgrind".into(),
        "--tool=callgrind".into(),
        "--instr-atstart=no".into(),
        format!("--callgrind-out-file={}", out.display()),
    ]
}

fn control(pid: u32, args: &[&str]) {
    let status = Command::new("callgrind_control")
        .args(args)
        .arg(pid.to_string())
        .output()
        .expect("run callgrind_control (valgrind's package)");
    assert!(
        status.status.success(),
        "callgrind_control {args:?} {pid} failed: {}",
        String::from_utf8_lossy(&status.stderr)
    );
}

/// Switches instruction collection on or off in `pid`.
pub fn collect(pid: u32, on: bool) {
    control(pid, &["-i", if on { "on" } else { "off" }]);
}

/// Dumps `pid`'s counts since its last dump (callgrind zeroes them then); returns the profile file it wrote.
pub fn dump(pid: u32, name: &str) -> PathBuf {
    let before = profiles(name, pid);
    control(pid, &["-d"]);
    for _ in 0..600 {
        if let Some(new) = profiles(name, pid).into_iter().find(|p| !before.contains(p)) {
            // callgrind_control returns once the dump is requested: let the writer finish the file.
            std::thread::sleep(std::time::Duration::from_millis(500));
            return new;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("callgrind wrote no profile for {name} ({pid})");
}

/// The profile files of `name`'s process `pid` so far.
fn profiles(name: &str, pid: u32) -> Vec<PathBuf> {
    let prefix = format!("{name}.{pid}.callgrind");
    std::fs::read_dir(dir())
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with(&prefix))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The instructions a profile counted (its `totals:` line; a dump's `summary:` line may say 0).
pub fn total(profile: &Path) -> u64 {
    let text = std::fs::read_to_string(profile).expect("read a callgrind profile");
    text.lines()
        .filter_map(|l| l.strip_prefix("summary:").or_else(|| l.strip_prefix("totals:")))
        .filter_map(|v| v.split_whitespace().next()?.parse().ok())
        .max()
        .unwrap_or_else(|| panic!("{} has no totals line", profile.display()))
}

/// `(instructions, function)` per function of a profile, most first, exclusive (self) or inclusive cost, from
/// `callgrind_annotate` (which lists a function once per source file its code came from: self costs are summed,
/// the largest inclusive cost is kept).
fn annotate(profile: &Path, inclusive: bool) -> Vec<(u64, String)> {
    let output = Command::new("callgrind_annotate")
        .arg(format!("--inclusive={}", if inclusive { "yes" } else { "no" }))
        .args(["--threshold=100", "--auto=no"])
        .arg(profile)
        .output()
        .expect("run callgrind_annotate");
    let mut functions: HashMap<String, u64> = HashMap::new();
    let lines = String::from_utf8_lossy(&output.stdout).into_owned();
    let rows = lines.lines().filter_map(|line| {
        let line = line.trim();
        let (count, rest) = line.split_once(' ')?;
        let count: u64 = count.replace(',', "").parse().ok()?;
        // `(12.34%)  file:function [object]`
        let rest = rest.trim_start();
        let rest = match rest.strip_prefix('(') {
            Some(r) => r.split_once(')')?.1.trim_start(),
            None => rest,
        };
        let rest = rest.rsplit_once(" [").map_or(rest, |(f, _)| f);
        let function = rest.split_once(':').map_or(rest, |(_, f)| f);
        (function != "PROGRAM TOTALS").then(|| (count, function.to_owned()))
    });
    for (count, function) in rows {
        let seen = functions.entry(function).or_default();
        *seen = if inclusive { (*seen).max(count) } else { *seen + count };
    }
    let mut functions: Vec<(u64, String)> = functions.into_iter().map(|(f, c)| (c, f)).collect();
    functions.sort_unstable_by(|a, b| b.cmp(a));
    functions
}

/// Components of Gatehouse's self cost: the first rule with a pattern the function's name starts with wins.
const COMPONENTS: [(&str, &[&str]); 14] = [
    (
        "allocator (mimalloc, malloc/free)",
        &[
            "mi_",
            "_mi_",
            "mimalloc",
            "malloc",
            "free",
            "realloc",
            "calloc",
            "__rust_alloc",
            "__rust_dealloc",
            "__rdl_",
        ],
    ),
    (
        "memcpy/memmove/memset (moving futures and buffers)",
        &[
            "__memcpy",
            "__memmove",
            "__memset",
            "__memcmp",
            "memcpy",
            "memmove",
            "memset",
            "memcmp",
            "bcmp",
        ],
    ),
    ("tracing, logging", &["tracing"]),
    ("metrics", &["metrics"]),
    ("caller auth (SHA-256)", &["sha2", "gatehouse::http::auth"]),
    (
        "policies (rate limits, breaker, bulkhead, retries)",
        &[
            "governor",
            "quanta",
            "gatehouse::upstream::breaker",
            "gatehouse::upstream::bulkhead",
            "gatehouse::upstream::retry",
            "gatehouse::upstream::rate_limit",
        ],
    ),
    (
        "correlation id (UUIDv7, rand)",
        &["uuid", "rand", "gatehouse::correlation", "gatehouse::http::correlation"],
    ),
    (
        "outbound client (hyper-util pool, connector)",
        &[
            "hyper_util::client",
            "gatehouse::upstream::client",
            "gatehouse::upstream::body",
            "want::",
        ],
    ),
    (
        "HTTP/1 codec (hyper, httparse, http)",
        &["hyper::", "httparse", "http::", "h2::", "smallvec", "percent_encoding"],
    ),
    ("axum routing, tower, middleware", &["axum", "matchit", "tower"]),
    ("tokio runtime, timers, I/O driver", &["tokio", "mio"]),
    ("gatehouse (handlers, admission, orchestration)", &["gatehouse"]),
    (
        "libc system-call wrappers",
        &[
            "epoll",
            "__libc",
            "syscall",
            "writev",
            "recv",
            "send",
            "read",
            "write",
            "clock_gettime",
        ],
    ),
    (
        "core/std (drops, hashing, formatting, sync, futures)",
        &[
            "core::",
            "alloc::",
            "std::",
            "bytes::",
            "hashbrown",
            "futures",
            "atomic_waker",
            "subtle",
            "digest",
        ],
    ),
];

/// The component a function belongs to (see [`COMPONENTS`]).
fn component(function: &str) -> &'static str {
    // `<A as B>::f` belongs to A's crate: look at the name from its first path.
    let name = function.trim_start_matches('<');
    COMPONENTS
        .iter()
        .find(|(_, patterns)| patterns.iter().any(|p| name.starts_with(p)))
        .map_or("other", |(label, _)| label)
}

/// Stages of a proxied request: the largest inclusive cost among functions whose name contains the pattern (async
/// code nests polls, so stages overlap: each figure is the stage with everything it calls).
const STAGES: [(&str, &str); 16] = [
    (
        "a connection's task (parse, route, layers, handler, write)",
        "gatehouse::serve::accept_loop::{{closure}}::{{closure}}",
    ),
    (
        "parse a request (hyper server)",
        "<hyper::proto::h1::role::Server as hyper::proto::h1::Http1Transaction>::parse",
    ),
    (
        "encode an answer (hyper server)",
        "<hyper::proto::h1::role::Server as hyper::proto::h1::Http1Transaction>::encode",
    ),
    ("axum routing", "axum::routing::Router<S>::call_with_state"),
    ("axum path parameters", "axum::routing::url_params::insert_url_params"),
    (
        "correlation and access-log layers with all inside",
        "axum::middleware::from_fn::FromFn<F,S,I,(T1,)>",
    ),
    (
        "/proxy handler with all inside",
        "gatehouse::http::proxy::proxy::{{closure}}",
    ),
    ("caller auth", "gatehouse::http::auth::Callers::authenticate"),
    ("path check", "gatehouse::http::proxy::check_path"),
    (
        "hop-by-hop header stripping",
        "gatehouse::http::proxy::strip_hop_by_hop",
    ),
    ("rate-limit headers", "gatehouse::http::outbound::with_limit_headers"),
    ("metrics recording", "gatehouse::upstream::meters::Meters::record"),
    (
        "policies + client (deadline, retries, send)",
        "gatehouse::upstream::client::HttpClient::execute",
    ),
    (
        "hyper-util client send (pool checkout, dispatch)",
        "hyper_util::client::legacy::client::Client<C,B>::send_request",
    ),
    (
        "parse an answer (hyper client)",
        "<hyper::proto::h1::role::Client as hyper::proto::h1::Http1Transaction>::parse",
    ),
    ("allocator (malloc)", "__rustc::__rust_alloc"),
];

/// Prints where `requests` proxied requests' instructions went in `profile`.
pub fn breakdown(profile: &Path, requests: usize) {
    let per = |n: u64| n as f64 / requests.max(1) as f64;
    let total = total(profile);
    let mut components: BTreeMap<&str, u64> = BTreeMap::new();
    for (count, function) in annotate(profile, false) {
        *components.entry(component(&function)).or_default() += count;
    }
    let mut components: Vec<_> = components.into_iter().collect();
    components.sort_by_key(|c| std::cmp::Reverse(c.1));
    println!(
        "
Gatehouse's instructions by component (self cost; {}):
",
        profile.display()
    );
    println!("| component | instructions/req | share |");
    println!("|---|---:|---:|");
    for (label, count) in components {
        println!(
            "| {label} | {:.0} | {:.1} % |",
            per(count),
            count as f64 * 100.0 / total.max(1) as f64
        );
    }
    let inclusive = annotate(profile, true);
    println!(
        "
by stage (inclusive cost: the stage and everything it calls):
"
    );
    println!("| stage | function | instructions/req |");
    println!("|---|---|---:|");
    for (label, pattern) in STAGES {
        let found = inclusive
            .iter()
            .filter(|(_, f)| f.contains(pattern))
            .max_by_key(|(c, _)| *c);
        match found {
            Some((count, _)) => println!("| {label} | `{pattern}` | {:.0} |", per(*count)),
            None => println!("| {label} | `{pattern}` | – |"),
        }
    }
    println!(
        "
top functions by self cost (instructions/req):
"
    );
    for (count, function) in annotate(profile, false).into_iter().take(25) {
        let short: String = function.chars().take(140).collect();
        println!("  {:>8.0}  {short}", per(count));
    }
}

/// One target's instruction count.
pub struct Counted {
    pub name: &'static str,
    pub requests: usize,
    pub errors: usize,
    pub instructions: u64,
    pub profiles: Vec<PathBuf>,
}

/// Warms each target up, then counts the instructions of its processes during `settings.slice` of load.
pub async fn count_all(targets: Vec<Target>, settings: &Settings) -> Vec<Counted> {
    let mut counted = Vec::new();
    for target in targets {
        let Some(name) = target.profile else { continue };
        let pids = (target.proxy_pids)();
        let mut senders = connect(target.addr, settings.connections).await;
        let warm = run_for(&mut senders, &target, settings.warmup).await;
        for &pid in &pids {
            collect(pid, true);
        }
        let phase = run_for(&mut senders, &target, settings.slice).await;
        for &pid in &pids {
            collect(pid, false);
        }
        let profiles: Vec<PathBuf> = pids.iter().map(|&pid| dump(pid, name)).collect();
        let instructions = profiles.iter().map(|p| total(p)).sum();
        eprintln!(
            "{}: {} requests counted ({:.0} req/s under callgrind), {instructions} instructions",
            target.name,
            phase.latencies_us.len(),
            phase.rate()
        );
        counted.push(Counted {
            name: target.name,
            requests: phase.latencies_us.len(),
            errors: warm.errors + phase.errors,
            instructions,
            profiles,
        });
    }
    counted
}

/// The instructions table, and the breakdown of Gatehouse's passthrough.
pub fn report(settings: &Settings, counted: &[Counted]) {
    let per = |c: &Counted| c.instructions as f64 / c.requests.max(1) as f64;
    let nginx = counted.iter().find(|c| c.name == "nginx").map(per);
    println!(
        "\ninstructions per request under callgrind ({} connections, {} s counted per target; user space only):\n",
        settings.connections,
        settings.slice.as_secs()
    );
    println!("| target | requests | instructions | instructions/req | × nginx | errors |");
    println!("|---|---:|---:|---:|---:|---:|");
    for c in counted {
        let ratio = nginx.map_or("–".to_owned(), |n| format!("{:.2}", per(c) / n));
        println!(
            "| {} | {} | {} | {:.0} | {ratio} | {} |",
            c.name,
            c.requests,
            c.instructions,
            per(c),
            c.errors
        );
    }
    if let Some(g) = counted.iter().find(|c| c.name == "gatehouse") {
        for profile in &g.profiles {
            breakdown(profile, g.requests);
        }
    }
}
