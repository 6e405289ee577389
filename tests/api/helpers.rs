//! `spawn_app()`: the gateway on port 0 with a temp SQLite store and one provider per shipped adapter, plus
//! signing and store-inspection helpers. `spawn_app_with(extra)` appends TOML (outbound providers pointing at
//! `wiremock` servers, callers, the admin token) to that config.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use gatehouse::config::Config;
use gatehouse::startup::Application;
use gatehouse_kit::Scheme;
use gatehouse_kit::signature::SignRequest;
use secrecy::SecretString;
use tokio::sync::oneshot;

/// Test-only secrets, one per provider (literal secrets are fine in a throwaway config).
pub const SW_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
pub const PLAIN_SECRET: &str = "test-secret-for-gatehouse";
pub const GENERIC_SECRET: &str = "generic-vendor-secret";
/// Keys of the callers [`callers_toml`] configures, and the admin token.
pub const CALLER_KEY: &str = "caller-key-svc-0123456789";
pub const OTHER_KEY: &str = "caller-key-outsider-0123456789";
pub const ADMIN_TOKEN: &str = "admin-token-0123456789";

/// The credential providers built by [`provider_toml`] send to their vendor.
pub const VENDOR_TOKEN: &str = "sk_test_vendor_credential";

/// `[providers.NAME]` served by `adapter`, calling `base_url` with `Authorization: Bearer VENDOR_TOKEN`, plus
/// `settings` (more keys of the table, one per line).
pub fn provider_toml(name: &str, adapter: &str, base_url: &str, settings: &str) -> String {
    format!(
        r#"
[providers.{name}]
adapter = "{adapter}"
base_url = "{base_url}"
credentials = {{ bearer = "{VENDOR_TOKEN}" }}
{settings}
"#
    )
}

/// The value of header `name` on each request the fake vendor has received (on `path` only, if given), in order.
pub async fn sent_header(vendor: &wiremock::MockServer, name: &str, path: Option<&str>) -> Vec<String> {
    let requests = vendor.received_requests().await.unwrap_or_default();
    requests
        .iter()
        .filter(|r| path.is_none_or(|path| r.url.path() == path))
        .map(|r| r.headers[name].to_str().unwrap().to_owned())
        .collect()
}

/// How many requests the fake vendor has received.
pub async fn hits(vendor: &wiremock::MockServer) -> usize {
    vendor.received_requests().await.unwrap_or_default().len()
}

/// Hex SHA-256 of `key`, as `key_sha256` / `token_sha256` in the config want it.
pub fn key_sha256(key: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(key.as_bytes()))
}

/// `[admin]` with [`ADMIN_TOKEN`] and two callers: `svc` ([`CALLER_KEY`]) may call `providers`, optionally with a
/// rate limit (`"{ per_second = 1, burst = 2 }"`); `outsider` ([`OTHER_KEY`]) may call none.
pub fn callers_toml(providers: &[&str], rate_limit: Option<&str>) -> String {
    let providers: Vec<String> = providers.iter().map(|p| format!("{p:?}")).collect();
    let rate_limit = rate_limit.map(|l| format!("rate_limit = {l}")).unwrap_or_default();
    format!(
        r#"
[admin]
token_sha256 = "{admin}"

[[callers]]
name = "svc"
key_sha256 = "{svc}"
providers = [{providers}]
{rate_limit}

[[callers]]
name = "outsider"
key_sha256 = "{outsider}"
providers = []
"#,
        admin = key_sha256(ADMIN_TOKEN),
        svc = key_sha256(CALLER_KEY),
        outsider = key_sha256(OTHER_KEY),
        providers = providers.join(", "),
    )
}

pub fn test_config_toml(db: &Path) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
max_body_bytes = 65536
shutdown_grace = "5s"
header_read_timeout = "500ms"
body_timeout = "500ms"

[store]
url = "sqlite://{db}"

[providers.acme-crm.webhook]
secrets = ["whsec_Z2F0ZWhvdXNlLWRldmVsb3BtZW50LW9ubHkta2V5ISE=", "{SW_SECRET}"]

[providers.stripe.webhook]
secrets = ["{PLAIN_SECRET}"]

[providers.github.webhook]
secrets = ["{PLAIN_SECRET}"]

[providers.shopify.webhook]
secrets = ["{PLAIN_SECRET}"]

[providers.slack.webhook]
secrets = ["{PLAIN_SECRET}"]

[providers.billing]
adapter = "generic"
[providers.billing.webhook]
scheme = "hmac"
header = "X-Billing-Signature"
prefix = "sha256="
signed_content = "{{timestamp}}.{{body}}"
timestamp_header = "X-Billing-Timestamp"
secrets = ["{GENERIC_SECRET}"]
event_id = "/id"
event_type = "/event"
subject = "header:X-Billing-Account"

[providers.outbound-only]
adapter = "stripe"
"#,
        db = db.display()
    )
}

pub struct TestApp {
    pub addr: String,
    /// `http://` + the admin listener's address, when the config sets `server.admin_listen`.
    pub admin_addr: Option<String>,
    pub db: PathBuf,
    pub config_path: PathBuf,
    /// The running app's store (for fault injection).
    pub store: std::sync::Arc<dyn gatehouse::store::Store>,
    pub client: reqwest::Client,
    stop: Mutex<Option<oneshot::Sender<()>>>,
    server: Mutex<Option<tokio::task::JoinHandle<anyhow::Result<()>>>>,
    _dir: tempfile::TempDir,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with("").await
}

/// The app with `extra_toml` appended to [`test_config_toml`] (new tables only: TOML cannot redefine one).
pub async fn spawn_app_with(extra_toml: &str) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("gatehouse.db");
    let config_path = dir.path().join("gatehouse.toml");
    std::fs::write(&config_path, test_config_toml(&db) + extra_toml).unwrap();
    start(dir, db, config_path).await
}

/// The app with `extra_toml` on the store at `store_url` (a PostgreSQL database) instead of a SQLite file.
pub async fn spawn_app_on(store_url: &str, extra_toml: &str) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("gatehouse.db");
    let config_path = dir.path().join("gatehouse.toml");
    let config = test_config_toml(&db).replace(
        &format!("url = \"sqlite://{}\"", db.display()),
        &format!("url = \"{store_url}\""),
    );
    std::fs::write(&config_path, config + extra_toml).unwrap();
    start(dir, db, config_path).await
}

/// The app on [`test_config_toml`] with its `[server]` lines replaced by `server` (a `[server]` table's keys, one per
/// line), plus `extra_toml`.
pub async fn spawn_app_with_server(server: &str, extra_toml: &str) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("gatehouse.db");
    let config_path = dir.path().join("gatehouse.toml");
    let base = test_config_toml(&db);
    let (head, rest) = base.split_once("[server]\n").unwrap();
    let (_, rest) = rest.split_once("\n\n").unwrap();
    let config = format!("{head}[server]\nlisten = \"127.0.0.1:0\"\n{server}\n\n{rest}{extra_toml}");
    std::fs::write(&config_path, config).unwrap();
    start(dir, db, config_path).await
}

/// Starts the app on the config (and store) in `dir`.
async fn start(dir: tempfile::TempDir, db: PathBuf, config_path: PathBuf) -> TestApp {
    let config = Config::load(&config_path).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let app = Application::build(config, Some(listener)).await.unwrap();
    let addr = format!("http://{}", app.local_addr().unwrap());
    let admin_addr = app.admin_addr().map(|a| format!("http://{a}"));
    let store = app.store();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));
    TestApp {
        addr,
        admin_addr,
        db,
        config_path,
        store,
        client: reqwest::Client::new(),
        stop: Mutex::new(Some(stop)),
        server: Mutex::new(Some(server)),
        _dir: dir,
    }
}

impl TestApp {
    pub async fn post_webhook(&self, provider: &str, headers: &[(String, String)], body: &[u8]) -> reqwest::Response {
        let mut request = self
            .client
            .post(format!("{}/webhooks/{provider}", self.addr))
            .body(body.to_vec());
        for (name, value) in headers {
            request = request.header(name.as_str(), value.as_str());
        }
        request.send().await.unwrap()
    }

    /// `GET {path}` with the caller key `key`.
    pub async fn get_as(&self, key: &str, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.addr))
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
    }

    /// `{method} {path}` with [`CALLER_KEY`] and a JSON body.
    pub async fn send_json(&self, method: reqwest::Method, path: &str, body: &serde_json::Value) -> reqwest::Response {
        self.client
            .request(method, format!("{}{path}", self.addr))
            .bearer_auth(CALLER_KEY)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// `{method} {target}` sent byte for byte (no client normalises `..` or `%2e` away) with the caller key `key`:
    /// the status and the body.
    pub async fn raw_request(&self, method: &str, target: &str, key: &str) -> (u16, String) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(self.addr.trim_start_matches("http://"))
            .await
            .unwrap();
        let head = format!(
            "{method} {target} HTTP/1.1\r\nHost: gatehouse\r\nAuthorization: Bearer {key}\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer))
            .await
            .expect("an answer within 5s")
            .unwrap();
        let answer = String::from_utf8_lossy(&answer).into_owned();
        let status = answer.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
        let body = answer
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        (status, body)
    }

    /// `GET /metrics` as text (counters are process-wide: shared by every test in this binary).
    pub async fn metrics(&self) -> String {
        let response = self.client.get(format!("{}/metrics", self.addr)).send().await.unwrap();
        response.text().await.unwrap()
    }

    /// `GET /admin/providers` with the admin token: the entry of `provider`.
    pub async fn admin_provider(&self, provider: &str) -> serde_json::Value {
        let body: serde_json::Value = self.get_as(ADMIN_TOKEN, "/admin/providers").await.json().await.unwrap();
        let all = body["data"].as_array().unwrap();
        all.iter().find(|p| p["name"] == provider).cloned().unwrap()
    }

    /// Kills the server the hard way (its tasks dropped mid-flight, nothing drained, like a crashed process) and
    /// starts a new one on the same config and store.
    pub async fn crash_and_restart(self) -> TestApp {
        // What is left of the old gateway in this process must not write on (a killed process could not).
        let _ = self.store.inject_fault(gatehouse::store::StoreFault::Crash).await;
        let server = self.server.lock().unwrap().take();
        if let Some(server) = server {
            server.abort();
            let _ = server.await;
        }
        // The aborted tasks drop the store (the client's idle connections hold the old server's state: they go
        // first); give its writer thread a moment to close the database.
        drop(self.client);
        drop(self.store);
        tokio::time::sleep(Duration::from_millis(50)).await;
        start(self._dir, self.db, self.config_path).await
    }

    /// Stops the server gracefully and starts it again on the same store and config file (rewrite the file in
    /// between to change the config).
    pub async fn restart(self) -> TestApp {
        self.stop().await;
        drop(self.client);
        drop(self.store);
        start(self._dir, self.db, self.config_path).await
    }

    /// Stops the server gracefully and waits for it (and its store writer) to finish.
    pub async fn stop(&self) {
        if let Some(stop) = self.stop.lock().unwrap().take() {
            let _ = stop.send(());
        }
        let server = self.server.lock().unwrap().take();
        if let Some(server) = server {
            tokio::time::timeout(Duration::from_secs(10), server)
                .await
                .expect("server stops within its grace")
                .unwrap()
                .unwrap();
        }
    }

    pub fn outbox_count(&self) -> i64 {
        count(&self.db, "SELECT COUNT(*) FROM outbox")
    }

    pub fn inbox_count(&self) -> i64 {
        count(&self.db, "SELECT COUNT(*) FROM inbox")
    }

    /// The stored envelope of event `id`, parsed.
    pub fn envelope(&self, id: &str) -> serde_json::Value {
        let conn = rusqlite::Connection::open(&self.db).unwrap();
        let bytes: Vec<u8> = conn
            .query_row("SELECT envelope FROM outbox WHERE id = ?1", [id], |r| r.get(0))
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    pub fn raw_body(&self, id: &str) -> Vec<u8> {
        let conn = rusqlite::Connection::open(&self.db).unwrap();
        conn.query_row("SELECT raw_body FROM outbox WHERE id = ?1", [id], |r| r.get(0))
            .unwrap()
    }

    /// Runs SQL against the live database (to inject store faults).
    pub fn execute(&self, sql: &str) {
        let conn = rusqlite::Connection::open(&self.db).unwrap();
        conn.execute_batch(sql).unwrap();
    }
}

fn count(db: &Path, sql: &str) -> i64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The scheme of the `billing` provider [`test_config_toml`] configures (generic adapter, `hmac`).
pub fn billing_scheme() -> Scheme {
    Scheme::Hmac(
        gatehouse_kit::signature::HmacScheme::new(
            "X-Billing-Signature",
            "sha256=".into(),
            gatehouse_kit::signature::Encoding::Hex,
            "{timestamp}.{body}",
            Some("X-Billing-Timestamp".into()),
        )
        .unwrap(),
    )
}

/// Signs `body` as `scheme` would, with `secret`, at `timestamp`.
pub fn sign(scheme: &Scheme, secret: &str, body: &[u8], timestamp: u64, message_id: &str) -> Vec<(String, String)> {
    let key = scheme.signing_key(&SecretString::from(secret)).unwrap();
    scheme.sign(
        &key,
        SignRequest {
            body,
            timestamp,
            message_id,
        },
    )
}

pub async fn problem(response: reqwest::Response, status: u16, slug: &str) -> serde_json::Value {
    assert_eq!(response.status().as_u16(), status);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/problem+json"
    );
    assert!(response.headers().contains_key("x-correlation-id"));
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["type"], format!("urn:gatehouse:problem:{slug}"), "{body}");
    assert_eq!(body["status"], status);
    assert!(body["correlation_id"].is_string(), "{body}");
    body
}
