//! The `[server]` table (the listeners, public and admin, their limits and deadlines, the graceful drain) and the `[store]` table.

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{ConfigError, DatabaseUrl};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// Where `/admin/*`, `/console` and `/metrics` are served instead of `listen` (unset: everything on `listen`).
    pub admin_listen: Option<SocketAddr>,
    pub max_body_bytes: usize,
    /// How long in-flight requests may run after SIGTERM/SIGINT before the process stops anyway.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// A client must begin a request within this of connecting (whatever the protocol), and send each request's
    /// headers within it (slow clients cannot hold connections open); an idle HTTP/1.1 keep-alive connection is
    /// closed after it too.
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// A client must send a request's whole body within this (408 `request-timeout` otherwise).
    #[serde(with = "humantime_serde")]
    pub body_timeout: Duration,
    /// A connection (HTTP/2 included) without a request for this long is closed.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// The most client connections served at once. When they are all open, connections that have held no request
    /// for a second give up their slot to new ones; if none can, further connections wait to be accepted.
    pub max_connections: usize,
    /// The most connections one peer address may hold (unset: no cap; behind a load balancer, every connection
    /// comes from its address).
    pub max_connections_per_peer: Option<usize>,
    /// The most bytes of request line and headers (HTTP/1.1) or of a header list (HTTP/2): 431 past it.
    pub max_header_bytes: usize,
    /// The most concurrent streams one HTTP/2 connection may open.
    pub http2_max_streams: u32,
    /// How `listen` is served: `per-core` (one single-threaded runtime per core, each accepting and serving its
    /// own connections with its own outbound connection pools, as nginx's workers: no hand-off between threads on a
    /// request's way) or `shared` (one work-stealing runtime for every connection).
    pub runtime: Runtime,
}

/// How the public listener's connections are scheduled (`server.runtime`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Runtime {
    PerCore,
    Shared,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            admin_listen: None,
            max_body_bytes: 1024 * 1024,
            shutdown_grace: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(120),
            max_connections: 10_000,
            max_connections_per_peer: None,
            max_header_bytes: 64 * 1024,
            http2_max_streams: 128,
            runtime: Runtime::Shared,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `sqlite://PATH` (relative to the working directory), `sqlite:///ABSOLUTE/PATH`, or
    /// `postgres://user[:password]@host[:port]/db[?sslmode=...]` (printed without its password).
    pub url: DatabaseUrl,
    /// The most webhooks committed in one transaction (group commit).
    pub max_batch: usize,
    /// PostgreSQL: connections per gateway process.
    pub pool_size: usize,
    /// PostgreSQL: the longest one statement may run (`statement_timeout`), and the longest a connection attempt
    /// may take.
    #[serde(with = "humantime_serde")]
    pub statement_timeout: Duration,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            url: DatabaseUrl::new("sqlite://data/gatehouse.db"),
            max_batch: 512,
            pool_size: 16,
            statement_timeout: Duration::from_secs(5),
        }
    }
}

impl StoreConfig {
    /// The rules serde cannot express.
    pub(super) fn check(&self) -> Result<(), ConfigError> {
        if !(1..=10_000).contains(&self.max_batch) {
            return Err(ConfigError::invalid("store.max_batch", "must be between 1 and 10000"));
        }
        if !(2..=1_000).contains(&self.pool_size) {
            return Err(ConfigError::invalid("store.pool_size", "must be between 2 and 1000"));
        }
        if self.statement_timeout < Duration::from_millis(100) {
            return Err(ConfigError::invalid(
                "store.statement_timeout",
                "must be at least 100ms",
            ));
        }
        crate::store::StoreUrl::parse(&self.url).map_err(|e| ConfigError::invalid("store.url", e.to_string()))?;
        Ok(())
    }
}

impl ServerConfig {
    /// The rules serde cannot express.
    pub(super) fn check(&self) -> Result<(), ConfigError> {
        let server = self;
        if server.header_read_timeout.is_zero() || server.body_timeout.is_zero() || server.idle_timeout.is_zero() {
            return Err(ConfigError::invalid(
                "server",
                "header_read_timeout, body_timeout and idle_timeout must be more than zero",
            ));
        }
        if !(1..=1_000_000).contains(&server.max_connections) {
            return Err(ConfigError::invalid(
                "server.max_connections",
                "must be between 1 and 1000000",
            ));
        }
        if server.max_connections_per_peer == Some(0) {
            return Err(ConfigError::invalid(
                "server.max_connections_per_peer",
                "must be at least 1 (leave it out for no cap)",
            ));
        }
        if !(8 * 1024..=16 * 1024 * 1024).contains(&server.max_header_bytes) {
            return Err(ConfigError::invalid(
                "server.max_header_bytes",
                "must be between 8192 and 16777216",
            ));
        }
        if let Some(admin) = server.admin_listen
            && admin.port() != 0
            && admin == server.listen
        {
            return Err(ConfigError::invalid(
                "server.admin_listen",
                "must differ from server.listen (leave it out to serve everything on listen)",
            ));
        }
        if server.http2_max_streams == 0 {
            return Err(ConfigError::invalid("server.http2_max_streams", "must be at least 1"));
        }
        Ok(())
    }
}
