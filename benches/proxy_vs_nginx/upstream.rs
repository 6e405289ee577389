//! The fake upstream: a minimal hyper HTTP/1.1 server on its own thread, answering [`UPSTREAM_BODY`] (or a 503
//! under [`FAIL_PREFIX`]).

use std::convert::Infallible;
use std::net::{SocketAddr, TcpListener};

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::CONTENT_TYPE;
use hyper::http::HeaderValue;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

use crate::cpu::thread_id;

/// What the fake upstream answers to every passthrough request: 100 bytes.
pub const UPSTREAM_BODY: &[u8; 100] =
    b"{\"id\":\"ch_bench_00000001\",\"object\":\"charge\",\"amount\":4200000,\"currency\":\"eur\",\"status\":\"succeeded\"}\n";
/// The upstream answers 503 under this path (the base URL of the provider whose breaker the bench opens).
pub const FAIL_PREFIX: &str = "/fail";

/// Starts the upstream on its own thread (a current-thread runtime, so at most one core); returns its address and
/// the thread's id (for its CPU time).
pub fn start_upstream() -> (SocketAddr, u32) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the upstream");
    listener
        .set_nonblocking(true)
        .expect("make the upstream listener non-blocking");
    let addr = listener.local_addr().expect("the upstream's address");
    let (tid_tx, tid_rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("upstream".into())
        .spawn(move || {
            tid_tx.send(thread_id()).expect("report the upstream thread id");
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("build the upstream's runtime");
            runtime.block_on(serve_upstream(listener));
        })
        .expect("spawn the upstream thread");
    (addr, tid_rx.recv().expect("the upstream thread's id"))
}

async fn serve_upstream(listener: TcpListener) {
    let listener = tokio::net::TcpListener::from_std(listener).expect("register the upstream listener");
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(|request: Request<hyper::body::Incoming>| async move {
                let (status, body) = if request.uri().path().starts_with(FAIL_PREFIX) {
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        Bytes::from_static(b"{\"error\":\"down\"}\n"),
                    )
                } else {
                    (StatusCode::OK, Bytes::from_static(UPSTREAM_BODY))
                };
                let mut response = Response::new(Full::new(body));
                *response.status_mut() = status;
                response
                    .headers_mut()
                    .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                Ok::<_, Infallible>(response)
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
