//! Gatehouse: its config (every policy on, none refusing, plus a provider whose breaker the bench opens) and its
//! start as a child process (`gatehouse serve`).

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;

use sha2::{Digest, Sha256};

use crate::CALLER_KEY;
use crate::common::free_addr;
use crate::process::{Proc, command, patience, wait_for};
use crate::upstream::FAIL_PREFIX;

/// The upper limit a limiter is configured with so it never refuses during the bench (the highest rate a limit
/// shared through `[cluster]` may have, so `GATEHOUSE__CLUSTER__REDIS_URL` can share them).
const UNLIMITED: u32 = 1_000_000;

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

/// Starts Gatehouse (under `wrapper`, e.g. valgrind, when given) and waits until it is ready.
pub fn start_gatehouse(dir: &Path, upstream: SocketAddr, wrapper: Option<&[String]>) -> (Proc, SocketAddr) {
    let config = dir.join("gatehouse.toml");
    std::fs::write(&config, gatehouse_config(&dir.join("gatehouse.db"), upstream)).expect("write the gatehouse config");
    let addr = free_addr();
    let mut command = command(Path::new(env!("CARGO_BIN_EXE_gatehouse")), wrapper);
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
        patience: patience(wrapper),
    };
    wait_for(&mut gatehouse, addr, "/readyz");
    (gatehouse, addr)
}
