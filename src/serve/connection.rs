//! One client connection, from accept to close: the app behind a service that counts the requests in it, and a
//! watchdog that closes the connection gracefully when it holds no request — none within `header_read_timeout`
//! of connecting (a silent TCP connection, an HTTP/2 client that only answers PINGs), none for `idle_timeout`
//! afterwards, or none when the server is full and needs the slot. Graceful: a request in flight always finishes.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;
use tower::util::Oneshot;

/// What the watchdog knows of a connection's requests.
#[derive(Default)]
pub(super) struct Activity {
    /// Requests begun (their headers complete) since the connection opened.
    started: AtomicU64,
    /// Requests whose handler has not answered yet.
    in_flight: AtomicU32,
}

impl Activity {
    fn idle(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) == 0
    }
}

/// The app as hyper calls it, counting each request in [`Activity`] until its handler answers.
#[derive(Clone)]
pub(super) struct Tracked {
    pub app: Router,
    pub activity: Arc<Activity>,
}

impl hyper::service::Service<http::Request<Incoming>> for Tracked {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = TrackedFuture;

    fn call(&self, request: http::Request<Incoming>) -> Self::Future {
        self.activity.started.fetch_add(1, Ordering::Relaxed);
        self.activity.in_flight.fetch_add(1, Ordering::AcqRel);
        TrackedFuture {
            inner: self.app.clone().oneshot(request),
            _in_flight: InFlight(Arc::clone(&self.activity)),
        }
    }
}

/// Counts a request out when its handler answered (or the request was dropped).
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

pin_project_lite::pin_project! {
    pub(super) struct TrackedFuture {
        #[pin]
        inner: Oneshot<Router, http::Request<Incoming>>,
        _in_flight: InFlight,
    }
}

impl Future for TrackedFuture {
    type Output = Result<http::Response<Body>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().inner.poll(cx)
    }
}

/// When the watchdog acts.
#[derive(Clone, Copy)]
pub(super) struct Deadlines {
    /// The first request must begin within this of connecting.
    pub first_request: Duration,
    /// Afterwards, a connection without a request for this long is closed.
    pub idle: Duration,
    /// How long a graceful close the watchdog asked for may take before the connection is dropped.
    pub close: Duration,
}

/// A connection being served: hyper-util's connection future, whichever protocol it speaks.
pub(super) trait Served: Future + Send {
    fn close_gracefully(self: Pin<&mut Self>);
}

/// Serves `connection` to its end: closed by the client, by the watchdog (no request within the deadlines, or
/// `evict` asked for idle connections' slots), or gracefully when `stopping` is cancelled.
pub(super) async fn drive<C: Served>(
    connection: C,
    activity: Arc<Activity>,
    deadlines: Deadlines,
    mut evict: watch::Receiver<u64>,
    stopping: CancellationToken,
) {
    let mut connection = std::pin::pin!(connection);
    let opened = Instant::now();
    let first_request_by = opened + deadlines.first_request;
    let mut deadline = opened + deadlines.first_request.min(deadlines.idle);
    // Requests begun by the last check: none begun since, and none in flight, is idleness.
    let mut seen = 0;
    let mut evictable = true;
    // Until the watchdog closes the connection; then it has `close` to finish.
    let closed_by_watchdog = loop {
        tokio::select! {
            _ = connection.as_mut() => return,
            () = stopping.cancelled() => {
                // The server's drain (bounded by the shutdown grace) waits for in-flight requests.
                connection.as_mut().close_gracefully();
                connection.await;
                return;
            }
            () = tokio::time::sleep_until(deadline) => {
                let started = activity.started.load(Ordering::Relaxed);
                let now = Instant::now();
                if started == seen && activity.idle() {
                    if started > 0 || now >= first_request_by {
                        break "idle";
                    }
                    // No request yet, but there is time left for the first one.
                    deadline = first_request_by;
                    continue;
                }
                seen = started;
                deadline = now + deadlines.idle;
            }
            changed = evict.changed(), if evictable => {
                match changed {
                    Ok(()) if activity.idle() => break "evicted",
                    Ok(()) => {}
                    // The accept loop is gone: only the deadlines are left.
                    Err(_) => evictable = false,
                }
            }
        }
    };
    tracing::debug!(reason = closed_by_watchdog, "closing a connection without requests");
    connection.as_mut().close_gracefully();
    let _ = tokio::time::timeout(deadlines.close, connection).await;
}
