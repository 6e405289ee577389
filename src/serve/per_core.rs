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

/// Serves `app` on `listener` from `threads` single-threaded runtimes until `stopping` is cancelled, then waits
/// until every connection has finished (callers bound that wait with the shutdown grace).
pub async fn serve_per_core(
    listener: TcpListener,
    app: Router,
    server: &ServerConfig,
    stopping: CancellationToken,
    threads: usize,
) -> std::io::Result<()> {
    let listener = listener.into_std()?;
    let limits = Arc::new(Limits::new(server));
    let log = tracing::dispatcher::get_default(Clone::clone);
    let mut running = Vec::with_capacity(threads);
    for index in 0..threads.max(1) {
        let listener = listener.try_clone()?;
        let (app, server, limits, stopping, log) = (
            app.clone(),
            server.clone(),
            Arc::clone(&limits),
            stopping.clone(),
            log.clone(),
        );
        let (done, finished) = tokio::sync::oneshot::channel::<()>();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        std::thread::Builder::new()
            .name(format!("gatehouse-core-{index}"))
            .spawn(move || {
                let _log = tracing::dispatcher::set_default(&log);
                runtime.block_on(async {
                    match TcpListener::from_std(listener) {
                        Ok(listener) => accept_loop(listener, app, &server, &limits, stopping).await,
                        Err(error) => tracing::error!(%error, "cannot serve the listener on this thread"),
                    }
                    // This thread's connections run on its runtime: it keeps running until every one is done.
                    limits.drained().await;
                });
                drop(done);
            })?;
        running.push(finished);
    }
    drop(listener);
    for finished in running {
        // Closed when the thread is done (or panicked).
        let _ = finished.await;
    }
    Ok(())
}
