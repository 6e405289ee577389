//! Rate limits shared by several gateways through the machine's Redis (127.0.0.1:6379, `[cluster]`): two gateways
//! hammering one vendor keep it within its provider limit; a caller's limit and its `RateLimit` headers count the
//! caller's calls on every gateway; retries spend the shared tokens; and without Redis a gateway enforces its local
//! share of each limit and says so in `/admin/providers` and `/metrics`, the password never shown. Each test uses
//! its own key prefix and deletes its keys (they also expire with their burst window). Tests that need Redis skip
//! loudly without it, unless `GATEHOUSE_REQUIRE_SERVICES` is set (CI sets it): then a missing Redis fails them.

use std::time::{Duration, Instant};

use serde_json::json;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;

const REDIS_URL: &str = "redis://127.0.0.1:6379";

/// A connection to the test Redis, or `None` (after a loud message) when there is none and
/// `GATEHOUSE_REQUIRE_SERVICES` is unset. With it set, a missing Redis fails the test.
async fn redis_or_skip(test: &str) -> Option<redis::aio::MultiplexedConnection> {
    let problem = match tokio::time::timeout(Duration::from_secs(5), redis_probe()).await {
        Ok(Ok(connection)) => return Some(connection),
        Ok(Err(problem)) => problem,
        Err(_) => "no answer within 5 s".to_owned(),
    };
    if std::env::var_os("GATEHOUSE_REQUIRE_SERVICES").is_some() {
        panic!("{test}: Redis is required (GATEHOUSE_REQUIRE_SERVICES is set) but {REDIS_URL} fails: {problem}");
    }
    eprintln!(
        "\n!!!!! SKIPPED {test}: no Redis at {REDIS_URL} ({problem}). Start `redis-server` to run it; set \
         GATEHOUSE_REQUIRE_SERVICES=1 to make this a failure (CI does). !!!!!\n"
    );
    None
}

async fn redis_probe() -> Result<redis::aio::MultiplexedConnection, String> {
    let client = redis::Client::open(REDIS_URL).map_err(|e| e.to_string())?;
    let mut connection = client
        .get_multiplexed_async_connection()
        .await
        .map_err(|e| e.to_string())?;
    redis::cmd("PING")
        .query_async::<()>(&mut connection)
        .await
        .map_err(|e| e.to_string())?;
    Ok(connection)
}

/// Deletes every key under `prefix`.
async fn delete_keys(redis: &mut redis::aio::MultiplexedConnection, prefix: &str) {
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(redis)
        .await
        .unwrap();
    if !keys.is_empty() {
        redis::cmd("DEL").arg(keys).query_async::<()>(redis).await.unwrap();
    }
}

/// `[cluster]` on the test Redis under a key prefix no other test (or run) uses, and that prefix. The timeout is
/// generous so that a loaded test machine does not degrade the cluster by accident.
fn cluster_toml() -> (String, String) {
    let prefix = format!("ghtest-{}", uuid::Uuid::now_v7().simple());
    let toml =
        format!("\n[cluster]\nredis_url = \"{REDIS_URL}\"\nkey_prefix = \"{prefix}\"\nredis_timeout = \"500ms\"\n");
    (toml, prefix)
}

async fn acme_vendor(status: u16) -> MockServer {
    let vendor = MockServer::start().await;
    let answer = ResponseTemplate::new(status).set_body_json(json!({"cust_id": "c_1", "full_name": "Ada",
        "email_address": "ada@example.com", "lifetime_value": "1.00", "created": "2026-01-02 10:00:00"}));
    Mock::given(any()).respond_with(answer).mount(&vendor).await;
    vendor
}

/// Calls `/v1/rl/customers/c_1` on `app` from `loops` concurrent loops, one call every 10 ms each, until `until`:
/// how many calls got 200 and how many 429.
async fn hammer(app: &TestApp, loops: usize, until: Instant) -> (usize, usize) {
    let one_loop = || async {
        let (mut ok, mut limited) = (0, 0);
        while Instant::now() < until {
            match app.get_as(CALLER_KEY, "/v1/rl/customers/c_1").await.status().as_u16() {
                200 => ok += 1,
                429 => limited += 1,
                other => panic!("unexpected status {other}"),
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        (ok, limited)
    };
    let results = futures::future::join_all((0..loops).map(|_| one_loop())).await;
    results
        .iter()
        .fold((0, 0), |(a, b), (ok, limited)| (a + ok, b + limited))
}

#[tokio::test]
async fn two_gateways_sharing_redis_keep_the_vendor_within_its_limit() {
    let test = "two_gateways_sharing_redis_keep_the_vendor_within_its_limit";
    let Some(mut redis) = redis_or_skip(test).await else {
        return;
    };
    let vendor = acme_vendor(200).await;
    let (cluster, prefix) = cluster_toml();
    let settings = "rate_limit = { per_second = 20, burst = 5 }\nretry = { max_attempts = 1 }";
    let extra = provider_toml("rl", "acme-crm", &vendor.uri(), settings) + &callers_toml(&["rl"], None) + &cluster;
    let (one, two) = (spawn_app_with(&extra).await, spawn_app_with(&extra).await);

    let started = Instant::now();
    let until = started + Duration::from_millis(1500);
    let ((ok_one, limited_one), (ok_two, limited_two)) = tokio::join!(hammer(&one, 2, until), hammer(&two, 2, until));
    let elapsed = started.elapsed().as_secs_f64();

    let seen = hits(&vendor).await;
    assert_eq!(seen, ok_one + ok_two);
    // GCRA: at most the burst plus the rate over the time, whichever gateway asks.
    let bound = 5 + (20.0 * elapsed).ceil() as usize;
    assert!(
        seen <= bound,
        "the vendor saw {seen} calls in {elapsed:.2} s (at most {bound}): {ok_one}+{ok_two}"
    );
    assert!(seen >= 20, "the limit admitted only {seen} calls in {elapsed:.2} s");
    for (ok, limited) in [(ok_one, limited_one), (ok_two, limited_two)] {
        assert!(
            ok > 0 && limited > 0,
            "each gateway had calls admitted and refused: {ok}/{limited}"
        );
    }
    for app in [&one, &two] {
        let limit = &app.admin_provider("rl").await["outbound"]["rate_limit"];
        assert_eq!(limit["scope"], "cluster", "{limit}");
        assert_eq!(limit["fallback"], json!({"per_second": 10.0, "burst": 2}), "{limit}");
    }
    one.stop().await;
    two.stop().await;
    delete_keys(&mut redis, &prefix).await;
}

#[tokio::test]
async fn a_callers_limit_and_its_headers_count_its_calls_on_every_gateway() {
    let test = "a_callers_limit_and_its_headers_count_its_calls_on_every_gateway";
    let Some(mut redis) = redis_or_skip(test).await else {
        return;
    };
    let vendor = acme_vendor(200).await;
    let (cluster, prefix) = cluster_toml();
    let extra = provider_toml("rl", "acme-crm", &vendor.uri(), "")
        + &callers_toml(&["rl"], Some("{ per_second = 1, burst = 3 }"))
        + &cluster;
    let (one, two) = (spawn_app_with(&extra).await, spawn_app_with(&extra).await);
    let mut states = Vec::new();
    for app in [&one, &two, &one] {
        let response = app.get_as(CALLER_KEY, "/v1/rl/customers/c_1").await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["ratelimit-policy"], r#""caller";q=3;w=3"#);
        states.push(response.headers()["ratelimit"].to_str().unwrap().to_owned());
    }
    assert_eq!(
        states,
        [r#""caller";r=2;t=1"#, r#""caller";r=1;t=2"#, r#""caller";r=0;t=3"#]
    );
    let refused = two.get_as(CALLER_KEY, "/proxy/rl/customers/c_1").await;
    assert_eq!(refused.headers()["retry-after"], "1");
    assert_eq!(refused.headers()["ratelimit"], r#""caller";r=0;t=3"#);
    problem(refused, 429, "rate-limited").await;
    assert_eq!(hits(&vendor).await, 3);
    one.stop().await;
    two.stop().await;
    delete_keys(&mut redis, &prefix).await;
}

#[tokio::test]
async fn retries_spend_the_providers_tokens_in_redis() {
    let Some(mut redis) = redis_or_skip("retries_spend_the_providers_tokens_in_redis").await else {
        return;
    };
    let vendor = acme_vendor(503).await;
    let (cluster, prefix) = cluster_toml();
    let settings = "rate_limit = { per_second = 1, burst = 2 }\n\
                    retry = { max_attempts = 5, base_delay = \"5ms\", max_delay = \"10ms\" }";
    let extra = provider_toml("rl", "acme-crm", &vendor.uri(), settings) + &callers_toml(&["rl"], None) + &cluster;
    let (one, two) = (spawn_app_with(&extra).await, spawn_app_with(&extra).await);
    problem(
        one.get_as(CALLER_KEY, "/v1/rl/customers/c_1").await,
        502,
        "upstream-error",
    )
    .await;
    assert_eq!(hits(&vendor).await, 2, "two tokens: the call and one retry");
    // The other gateway finds them spent.
    problem(
        two.get_as(CALLER_KEY, "/v1/rl/customers/c_1").await,
        429,
        "rate-limited",
    )
    .await;
    assert_eq!(hits(&vendor).await, 2);
    one.stop().await;
    two.stop().await;
    delete_keys(&mut redis, &prefix).await;
}

/// The value of the series `name{…}` whose labels include every one of `labels`.
fn series(metrics: &str, name: &str, labels: &[&str]) -> Option<f64> {
    metrics
        .lines()
        .filter(|line| line.starts_with(&format!("{name}{{")))
        .filter(|line| labels.iter().all(|label| line.contains(label)))
        .find_map(|line| line.rsplit_once(' ').and_then(|(_, value)| value.parse().ok()))
}

#[tokio::test]
async fn without_redis_a_gateway_enforces_its_local_share_and_shows_it() {
    let vendor = acme_vendor(200).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let cluster = format!("\n[cluster]\nredis_url = \"redis://:hunter2@{closed}/0\"\nlocal_share = 0.5\n");
    // 2/s, 4 at once; this gateway's half: 1/s, 2 at once.
    let settings = "rate_limit = { per_second = 2, burst = 4 }";
    let extra = provider_toml("rl", "acme-crm", &vendor.uri(), settings) + &callers_toml(&["rl"], None) + &cluster;
    let app = spawn_app_with(&extra).await;
    for _ in 0..2 {
        assert_eq!(app.get_as(CALLER_KEY, "/v1/rl/customers/c_1").await.status(), 200);
    }
    let refused = app.get_as(CALLER_KEY, "/v1/rl/customers/c_1").await;
    assert_eq!(refused.headers()["retry-after"], "1");
    problem(refused, 429, "rate-limited").await;
    assert_eq!(hits(&vendor).await, 2);

    let limit = &app.admin_provider("rl").await["outbound"]["rate_limit"];
    assert_eq!(
        limit,
        &json!({"per_second": 2, "burst": 4, "scope": "local-fallback",
            "fallback": {"per_second": 1.0, "burst": 2}})
    );
    let metrics = app.client.get(format!("{}/metrics", app.addr)).send().await.unwrap();
    let metrics = metrics.text().await.unwrap();
    let label = format!("redis=\"redis://[redacted]@{closed}/0\"");
    assert_eq!(
        series(&metrics, "gatehouse_cluster_limits_degraded", &[&label]),
        Some(1.0),
        "{metrics}"
    );
    let admin = app.get_as(ADMIN_TOKEN, "/admin/providers").await.text().await.unwrap();
    for shown in [&metrics, &admin] {
        assert!(!shown.contains("hunter2"));
    }
    app.stop().await;
}

#[test]
fn check_config_redacts_the_redis_password() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.toml");
    let config = format!(
        "[store]\nurl = \"sqlite://{}\"\n[cluster]\nredis_url = \"redis://gate:hunter2@redis.internal:6380/1\"\n",
        dir.path().join("g.db").display()
    );
    std::fs::write(&path, config).unwrap();
    let output = crate::cli::gatehouse(&path, &["check-config"]).output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert!(output.status.success(), "{stderr}");
    assert!(
        stdout.contains("redis_url = \"redis://[redacted]@redis.internal:6380/1\""),
        "{stdout}"
    );
    assert!(
        !stdout.contains("hunter2") && !stderr.contains("hunter2"),
        "{stdout}{stderr}"
    );
}
