//! The cost of one cluster-wide rate-limit admission (issue 10): the GCRA script in Redis (one `EVALSHA` on the
//! gateway's multiplexed connection, through the same `Limiter` the provider and caller limits use) against the
//! in-process `governor` check it replaces, per admission: p50/p90/p99/max, and admissions per second. Redis must be
//! running (default `redis://127.0.0.1:6379`); the bench uses a key prefix of its own and deletes its key.
//!
//! Run: `cargo bench --bench cluster_rate_limit` (env `BENCH_ADMISSIONS`, default 20000 per measurement;
//! `BENCH_CONCURRENCY`, default 64, admissions in flight in the concurrent run; `BENCH_REDIS_URL`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use gatehouse::cluster::{Cluster, Scope};
use gatehouse::config::{ClusterConfig, RateLimitConfig, RedisUrl};
use gatehouse::upstream::rate_limit::Limiter;

fn env_usize(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(text) => text
            .parse()
            .ok()
            .filter(|&n| n > 0)
            .unwrap_or_else(|| panic!("{name} must be a positive integer, not {text:?}")),
        Err(_) => default,
    }
}

/// The nearest-rank percentile `p` (0–100) of `sorted`.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn report(mode: &str, mut latencies: Vec<Duration>, elapsed: Duration) {
    latencies.sort_unstable();
    println!(
        "| {mode} | {} | {:.2} | {:.2} | {:.2} | {:.1} | {:.0} |",
        latencies.len(),
        micros(percentile(&latencies, 50.0)),
        micros(percentile(&latencies, 90.0)),
        micros(percentile(&latencies, 99.0)),
        micros(percentile(&latencies, 100.0)),
        latencies.len() as f64 / elapsed.as_secs_f64(),
    );
}

/// `n` admissions one after another, each timed.
async fn sequential(limiter: &Limiter, n: usize) -> (Vec<Duration>, Duration) {
    let mut latencies = Vec::with_capacity(n);
    let started = Instant::now();
    for _ in 0..n {
        let at = Instant::now();
        let verdict = limiter.check().await;
        latencies.push(at.elapsed());
        assert!(verdict.allowed, "the bench's limit is out of the way: {verdict:?}");
    }
    (latencies, started.elapsed())
}

/// `n` admissions from `concurrency` tasks, each timed.
async fn concurrent(limiter: &Arc<Limiter>, n: usize, concurrency: usize) -> (Vec<Duration>, Duration) {
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|i| {
            let limiter = Arc::clone(limiter);
            let share = n / concurrency + usize::from(i < n % concurrency);
            tokio::spawn(async move { sequential(&limiter, share).await.0 })
        })
        .collect();
    let mut latencies = Vec::with_capacity(n);
    for task in tasks {
        latencies.extend(task.await.expect("a bench task panicked"));
    }
    (latencies, started.elapsed())
}

async fn run() {
    let admissions = env_usize("BENCH_ADMISSIONS", 20_000);
    let concurrency = env_usize("BENCH_CONCURRENCY", 64);
    let url = std::env::var("BENCH_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let prefix = format!("ghbench-{}", std::process::id());
    let config = ClusterConfig {
        redis_url: RedisUrl::new(url.as_str()),
        key_prefix: prefix,
        local_share: 0.5,
        redis_timeout: Duration::from_millis(50),
        reconnect_every: Duration::from_secs(1),
    };
    let cluster = Cluster::new(&config).expect("a valid BENCH_REDIS_URL");
    // Out of the way: every admission is allowed (and so writes the key, the dearer path).
    let limit = RateLimitConfig {
        per_second: 1_000_000,
        burst: 1_000_000_000,
    };
    let local = Arc::new(Limiter::build(Scope::Provider, "bench", &limit, None));
    let shared = Arc::new(Limiter::build(Scope::Provider, "bench", &limit, Some(&cluster)));
    // Warm-up: connect, load the script, fill the allocator's caches.
    sequential(&shared, 2_000).await;
    sequential(&local, 2_000).await;
    assert!(
        !cluster.is_degraded(),
        "Redis at {} is unreachable or slower than 50 ms",
        config.redis_url
    );

    println!(
        "\nper-admission latency, µs ({admissions} admissions each; Redis {})\n",
        config.redis_url
    );
    println!("| mode | admissions | p50 | p90 | p99 | max | admissions/s |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let (latencies, elapsed) = sequential(&local, admissions).await;
    report("local governor, 1 in flight", latencies, elapsed);
    let (latencies, elapsed) = concurrent(&local, admissions, concurrency).await;
    report(&format!("local governor, {concurrency} in flight"), latencies, elapsed);
    let (latencies, elapsed) = sequential(&shared, admissions).await;
    report("Redis GCRA, 1 in flight", latencies, elapsed);
    let (latencies, elapsed) = concurrent(&shared, admissions, concurrency).await;
    report(&format!("Redis GCRA, {concurrency} in flight"), latencies, elapsed);
    assert!(
        !cluster.is_degraded(),
        "an admission failed or took over 50 ms: the Redis figures include local fallbacks"
    );

    let client = redis::Client::open(url.as_str()).expect("a valid BENCH_REDIS_URL");
    let mut connection = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect to Redis");
    let key = format!("{}:rl:provider:bench", config.key_prefix);
    let _: redis::RedisResult<()> = redis::cmd("DEL").arg(key).query_async(&mut connection).await;
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("build the bench's runtime");
    runtime.block_on(run());
}
