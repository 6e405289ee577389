//! `server.runtime = "per-core"`: one OS thread per core, each running a single-threaded tokio runtime with its own
//! accept loop on the same listening socket, as nginx's workers do. A connection is served, and its outbound calls
//! are sent (each thread has its own pools: [`crate::upstream`]'s client), on the thread that accepted it, so a
//! request never waits for another thread to be woken. The limits (`max_connections`, the call for room, the
//! per-peer cap) are shared by every thread; the log subscriber of the caller is set on each.

use std::sync::Arc;

use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::{Limits, accept_loop};
use crate::config::ServerConfig;

/// Serves `app` on `listener` from `threads` single-threaded runtimes (at most one per connection slot) until
/// `stopping` is cancelled, then waits until every connection has finished (callers bound that wait with the
/// shutdown grace). If a thread cannot start, or one ends before `stopping` (a panic), `stopping` is cancelled so
/// the whole gateway stops rather than serving with less, and the error is returned; so is it when this future is
/// dropped, so no thread outlives it.
pub async fn serve_per_core(
    listener: TcpListener,
    app: Router,
    server: &ServerConfig,
    stopping: CancellationToken,
    threads: usize,
) -> std::io::Result<()> {
    let _stop_if_dropped = stopping.clone().drop_guard();
    let started = start(
        listener,
        app,
        server,
        &stopping,
        threads.clamp(1, server.max_connections.max(1)),
    );
    let running = match started {
        Ok(running) => running,
        Err(error) => {
            stopping.cancel();
            return Err(error);
        }
    };
    let mut ended_early = false;
    for finished in running {
        // Closed when the thread is done (or panicked).
        let _ = finished.await;
        if !stopping.is_cancelled() {
            tracing::error!("a serving thread stopped on its own; stopping the gateway");
            ended_early = true;
            stopping.cancel();
        }
    }
    if ended_early {
        return Err(std::io::Error::other("a serving thread stopped on its own"));
    }
    Ok(())
}

/// Starts the threads; each answers on its channel (closing it) when it is done.
fn start(
    listener: TcpListener,
    app: Router,
    server: &ServerConfig,
    stopping: &CancellationToken,
    threads: usize,
) -> std::io::Result<Vec<tokio::sync::oneshot::Receiver<()>>> {
    let listener = listener.into_std()?;
    let limits = Arc::new(Limits::new(server));
    let log = tracing::dispatcher::get_default(Clone::clone);
    let mut running = Vec::with_capacity(threads);
    for index in 0..threads {
        let listener = listener.try_clone()?;
        let (app, server, limits, stopping, log) = (
            app.clone(),
            server.clone(),
            Arc::clone(&limits),
            stopping.clone(),
            log.clone(),
        );
        let (done, finished) = tokio::sync::oneshot::channel::<()>();
        let (ready, up) = std::sync::mpsc::channel::<std::io::Result<()>>();
        std::thread::Builder::new()
            .name(format!("gatehouse-core-{index}"))
            .spawn(move || {
                let _log = tracing::dispatcher::set_default(&log);
                // Built on its own thread, so a failure never drops a runtime inside another.
                let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(runtime) => runtime,
                    Err(error) => {
                        let _ = ready.send(Err(error));
                        return;
                    }
                };
                runtime.block_on(async {
                    let listener = match TcpListener::from_std(listener) {
                        Ok(listener) => listener,
                        Err(error) => {
                            let _ = ready.send(Err(error));
                            return;
                        }
                    };
                    let _ = ready.send(Ok(()));
                    accept_loop(listener, app, &server, &limits, stopping).await;
                    // This thread's connections run on its runtime: it keeps running until every one is done.
                    limits.drained().await;
                });
                drop(done);
            })?;
        up.recv()
            .map_err(|_| std::io::Error::other("a serving thread stopped while starting"))??;
        running.push(finished);
    }
    Ok(running)
}
