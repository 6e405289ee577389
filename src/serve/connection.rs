//! One client connection, from accept to close: the app behind a service that counts the requests in it (each
//! until its response body has been sent or dropped, streamed ones included), and a watchdog that closes the
//! connection gracefully when it holds no request — none within `header_read_timeout` of connecting (a silent TCP
//! connection, an HTTP/2 client that only answers PINGs), none for `idle_timeout` since the last one ended, or none
//! for [`EVICTION_GRACE`] when the server is full and needs the slot. A request in flight always finishes.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use bytes::Bytes;
use hyper::body::Incoming;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;
use tower::util::Oneshot;

/// How long a connection must have held no request before the server, when full, takes its slot back.
pub(super) const EVICTION_GRACE: Duration = Duration::from_secs(1);

/// What the watchdog knows of a connection's requests.
pub(super) struct Activity {
    opened: std::time::Instant,
    /// Requests begun (their headers complete) since the connection opened.
    started: AtomicU64,
    /// Requests whose response has not been sent (or dropped) yet.
    in_flight: AtomicU32,
    /// When the last request ended, in milliseconds since `opened`.
    ended_ms: AtomicU64,
}

impl Activity {
    pub(super) fn new() -> Self {
        Self {
            opened: std::time::Instant::now(),
            started: AtomicU64::new(0),
            in_flight: AtomicU32::new(0),
            ended_ms: AtomicU64::new(0),
        }
    }

    /// Whether the connection holds no request right now.
    pub(super) fn idle(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) == 0
    }

    /// How long the connection has held no request (since it opened, or since its last request ended); zero while
    /// it holds one.
    fn idle_for(&self) -> Duration {
        if !self.idle() {
            return Duration::ZERO;
        }
        let since = Duration::from_millis(self.ended_ms.load(Ordering::Acquire));
        self.opened.elapsed().saturating_sub(since)
    }

    /// Counts a request in by hand (tests of what depends on activity).
    #[cfg(test)]
    pub(super) fn begin_request(&self) {
        self.started.fetch_add(1, Ordering::Relaxed);
        self.in_flight.fetch_add(1, Ordering::AcqRel);
    }

    fn end_request(&self) {
        let now = u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.ended_ms.store(now, Ordering::Release);
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The app as hyper calls it, counting each request in [`Activity`] until its response body is done.
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
            in_flight: Some(InFlight(Arc::clone(&self.activity))),
        }
    }
}

/// Counts a request out when it is over: its response body sent or dropped, or the request dropped unanswered.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.end_request();
    }
}

pin_project_lite::pin_project! {
    pub(super) struct TrackedFuture {
        #[pin]
        inner: Oneshot<Router, http::Request<Incoming>>,
        in_flight: Option<InFlight>,
    }
}

impl Future for TrackedFuture {
    type Output = Result<http::Response<Body>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = std::task::ready!(this.inner.poll(cx));
        let in_flight = this.in_flight.take();
        // The request stays counted until its body is over: a streamed answer keeps the connection busy.
        Poll::Ready(response.map(|response| response.map(|body| Body::new(Counted { body, in_flight }))))
    }
}

pin_project_lite::pin_project! {
    /// A response body that counts its request out when it ends or is dropped.
    struct Counted {
        #[pin]
        body: Body,
        in_flight: Option<InFlight>,
    }
}

impl http_body::Body for Counted {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        let this = self.project();
        let frame = std::task::ready!(this.body.poll_frame(cx));
        if frame.is_none() {
            this.in_flight.take();
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
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
/// `evict` asked for the slots of connections idle for [`EVICTION_GRACE`]), or gracefully when `stopping` is
/// cancelled.
pub(super) async fn drive<C: Served>(
    connection: C,
    activity: Arc<Activity>,
    deadlines: Deadlines,
    mut evict: watch::Receiver<u64>,
    stopping: CancellationToken,
) {
    let mut connection = std::pin::pin!(connection);
    let opened = Instant::now();
    let mut deadline = opened + deadlines.first_request.min(deadlines.idle);
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
                let now = Instant::now();
                if !activity.idle() {
                    deadline = now + deadlines.idle;
                    continue;
                }
                if activity.started.load(Ordering::Relaxed) == 0 {
                    let first_request_by = opened + deadlines.first_request;
                    if now >= first_request_by {
                        break "no request";
                    }
                    deadline = first_request_by;
                    continue;
                }
                let idle_for = activity.idle_for();
                if idle_for >= deadlines.idle {
                    break "idle";
                }
                deadline = now + (deadlines.idle - idle_for);
            }
            changed = evict.changed(), if evictable => {
                match changed {
                    Ok(()) if activity.idle_for() >= EVICTION_GRACE => break "evicted",
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
