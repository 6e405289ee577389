//! The accept loop: HTTP/1.1 and HTTP/2 (hyper-util) with the limits a public-facing server needs, and a graceful
//! drain (on shutdown it stops accepting and lets open connections finish their in-flight requests).
//!
//! Nothing a client does without sending requests can hold the server: a connection must begin a request within
//! `header_read_timeout` and is closed after `idle_timeout` without one (HTTP/2 included, whose PINGs would
//! otherwise keep it forever), and when `max_connections` are open, connections that have held no request for a
//! second give up their slot (as nginx reuses idle keep-alive connections), so a new client such as a health check
//! gets in as soon as any connection is idle. An optional per-peer cap keeps one address from taking every slot. hyper's own answers to unparseable requests
//! become problem documents ([`edge_errors`]).
//!
//! - `connection`: one connection's service (counting its requests) and its watchdog.
//! - `edge_errors`: problem documents for the errors hyper answers before the app sees a request.
//! - `per_core`: `server.runtime = "per-core"`: the same accept loop on one single-threaded runtime per core.

mod connection;
mod edge_errors;
mod per_core;

pub use per_core::serve_per_core;

use std::collections::HashMap;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::{self, UpgradeableConnection};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio_util::sync::CancellationToken;

use crate::config::ServerConfig;
use connection::{Activity, Deadlines, Served, Tracked};
use edge_errors::EdgeErrors;

/// hyper's limit on request header fields; more get 431 (as a problem document).
const MAX_HEADERS: usize = 100;
/// How often a full server asks idle connections for a slot again while it waits for one.
const EVICTION_RETRY: Duration = Duration::from_millis(250);

type Connection = UpgradeableConnection<'static, TokioIo<EdgeErrors<TcpStream>>, Tracked, TokioExecutor>;

impl Served for Connection {
    fn close_gracefully(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

/// What every accept loop of one listener shares: the connection slots (`max_connections`), the call for room
/// that asks idle connections to give theirs up, and the per-peer cap.
struct Limits {
    permits: u32,
    slots: Arc<Semaphore>,
    evict: watch::Sender<u64>,
    peers: Option<PeerCap>,
}

impl Limits {
    fn new(server: &ServerConfig) -> Self {
        let permits = u32::try_from(server.max_connections).unwrap_or(u32::MAX);
        Self {
            permits,
            slots: Arc::new(Semaphore::new(permits as usize)),
            evict: watch::channel(0u64).0,
            peers: server.max_connections_per_peer.map(PeerCap::new),
        }
    }

    /// Waits until every connection has given its slot back.
    async fn drained(&self) {
        let _ = self.slots.acquire_many(self.permits).await;
    }
}

/// Serves `app` on `listener` until `stopping` is cancelled, then waits for open connections to finish their
/// requests (callers bound that wait with the shutdown grace).
pub async fn serve(listener: TcpListener, app: Router, server: &ServerConfig, stopping: CancellationToken) {
    let limits = Limits::new(server);
    accept_loop(listener, app, server, &limits, stopping).await;
    limits.drained().await;
}

/// Accepts connections on `listener` within `limits` until `stopping` is cancelled, each served by a task of the
/// current runtime.
async fn accept_loop(
    listener: TcpListener,
    app: Router,
    server: &ServerConfig,
    limits: &Limits,
    stopping: CancellationToken,
) {
    let builder = builder(server);
    let deadlines = Deadlines {
        first_request: server.header_read_timeout,
        idle: server.idle_timeout,
        close: server.header_read_timeout,
    };
    let Limits {
        slots, evict, peers, ..
    } = limits;
    let evicting = evict.subscribe();
    loop {
        let permit = match Arc::clone(slots).try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                // Full: ask connections that have held no request for a while to give up their slot, and wait for
                // one (asking again now and then: a connection may become idle meanwhile).
                let permit = loop {
                    evict.send_modify(|generation| *generation += 1);
                    tokio::select! {
                        permit = Arc::clone(slots).acquire_owned() => break permit.ok(),
                        () = tokio::time::sleep(EVICTION_RETRY) => {}
                        () = stopping.cancelled() => break None,
                    }
                };
                match permit {
                    Some(permit) => permit,
                    None => break,
                }
            }
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = stopping.cancelled() => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let peer_slot = match peers {
            Some(peers) => match peers.take(peer.ip()) {
                Some(slot) => Some(slot),
                // Refused: dropping the stream closes it.
                None => continue,
            },
            None => None,
        };
        let _ = stream.set_nodelay(true);
        let activity = Arc::new(Activity::new());
        let service = Tracked {
            app: app.clone(),
            activity: Arc::clone(&activity),
        };
        let connection: Connection = builder
            .serve_connection_with_upgrades(TokioIo::new(EdgeErrors::new(stream, Arc::clone(&activity))), service)
            .into_owned();
        let (mut evicting, stopping) = (evicting.clone(), stopping.clone());
        // Only calls for room made from now on concern this connection.
        evicting.borrow_and_update();
        tokio::spawn(async move {
            connection::drive(connection, activity, deadlines, evicting, stopping).await;
            drop(peer_slot);
            drop(permit);
        });
    }
}

/// The HTTP/1.1 and HTTP/2 settings: header deadline and limits, HTTP/2 stream limits and keep-alive pings.
fn builder(server: &ServerConfig) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(server.header_read_timeout)
        .max_headers(MAX_HEADERS)
        .max_buf_size(server.max_header_bytes)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(Duration::from_secs(20)))
        .keep_alive_timeout(Duration::from_secs(20))
        .max_concurrent_streams(server.http2_max_streams)
        .max_header_list_size(u32::try_from(server.max_header_bytes).unwrap_or(u32::MAX))
        // Streams a client opens and resets at once (CVE-2023-44487, "rapid reset").
        .max_pending_accept_reset_streams(Some(20))
        .max_local_error_reset_streams(Some(256));
    builder
}

/// How many connections each peer address holds, within a cap.
struct PeerCap {
    cap: usize,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// A peer's connection slot, given back on drop.
struct PeerSlot {
    peer: IpAddr,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl PeerCap {
    fn new(cap: usize) -> Self {
        Self {
            cap,
            open: Arc::default(),
        }
    }

    fn take(&self, peer: IpAddr) -> Option<PeerSlot> {
        let mut open = self.open.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let count = open.entry(peer).or_default();
        if *count >= self.cap {
            tracing::debug!(%peer, cap = self.cap, "refused a connection: the peer holds its share");
            return None;
        }
        *count += 1;
        Some(PeerSlot {
            peer,
            open: Arc::clone(&self.open),
        })
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(count) = open.get_mut(&self.peer) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.peer);
            }
        }
    }
}
