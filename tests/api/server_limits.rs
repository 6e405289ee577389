//! Slow or stalled clients cannot hold the server: headers and bodies have deadlines.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;

async fn read_all(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn a_stalled_body_gets_408_and_stores_nothing() {
    let app = spawn_app().await;
    let mut stream = TcpStream::connect(app.addr.trim_start_matches("http://"))
        .await
        .unwrap();
    stream
        .write_all(
            b"POST /webhooks/stripe HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n{\"id\"",
        )
        .await
        .unwrap();
    let answer = read_all(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("urn:gatehouse:problem:request-timeout"), "{answer}");
    assert_eq!(app.outbox_count(), 0);
    app.stop().await;
}

#[tokio::test]
async fn stalled_headers_close_the_connection() {
    let app = spawn_app().await;
    let mut stream = TcpStream::connect(app.addr.trim_start_matches("http://"))
        .await
        .unwrap();
    stream
        .write_all(b"POST /webhooks/stripe HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let answer = read_all(&mut stream).await;
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "closed by the header deadline, not the test's"
    );
    assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 408"), "{answer}");
    app.stop().await;
}

fn addr(app: &TestApp) -> &str {
    app.addr.trim_start_matches("http://")
}

/// Whether the server closed `stream` (EOF or reset) within `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut byte = [0u8; 1];
    matches!(
        tokio::time::timeout(within, stream.read(&mut byte)).await,
        Ok(Ok(0) | Err(_))
    )
}

#[tokio::test]
async fn a_silent_connection_is_closed_after_the_header_deadline() {
    let app = spawn_app().await;
    let mut silent = TcpStream::connect(addr(&app)).await.unwrap();
    assert!(
        closed_within(&mut silent, Duration::from_secs(3)).await,
        "a connection that never sends a byte is closed (header_read_timeout is 500ms here)"
    );
    app.stop().await;
}

#[tokio::test]
async fn connections_holding_no_request_give_their_slot_to_healthz_when_the_server_is_full() {
    // A long header deadline: only eviction can free the slots in time.
    let app = spawn_app_with_server(
        "header_read_timeout = \"30s\"\nidle_timeout = \"30s\"\nbody_timeout = \"5s\"\nmax_connections = 3\nshutdown_grace = \"5s\"",
        "",
    )
    .await;
    let mut silent = Vec::new();
    for _ in 0..3 {
        silent.push(TcpStream::connect(addr(&app)).await.unwrap());
    }
    // One slowloris mid-headers too: it holds no request either.
    silent[2]
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let health = tokio::time::timeout(
        Duration::from_secs(5),
        app.client.get(format!("{}/healthz", app.addr)).send(),
    )
    .await
    .expect("healthz answers while the server is full of idle connections")
    .unwrap();
    assert_eq!(health.status(), 200);
    let mut evicted = 0;
    for stream in &mut silent {
        evicted += usize::from(closed_within(stream, Duration::from_secs(2)).await);
    }
    assert!(evicted >= 1, "an idle connection gave up its slot");
    app.stop().await;
}

#[tokio::test]
async fn an_http2_connection_that_only_answers_pings_is_closed_when_idle() {
    let app = spawn_app_with_server(
        "header_read_timeout = \"30s\"\nidle_timeout = \"700ms\"\nbody_timeout = \"5s\"\nshutdown_grace = \"5s\"",
        "",
    )
    .await;
    let stream = TcpStream::connect(addr(&app)).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
        .timer(hyper_util::rt::TokioTimer::new())
        .keep_alive_interval(Duration::from_millis(100))
        .keep_alive_while_idle(true)
        .handshake::<_, http_body_util::Empty<bytes::Bytes>>(hyper_util::rt::TokioIo::new(stream))
        .await
        .unwrap();
    let connection = tokio::spawn(connection);
    let request = http::Request::get(format!("{}/healthz", app.addr))
        .body(http_body_util::Empty::new())
        .unwrap();
    assert_eq!(sender.send_request(request).await.unwrap().status(), 200);
    // From now on the client only pings (every 100 ms) and answers the server's pings.
    let started = std::time::Instant::now();
    let ended = tokio::time::timeout(Duration::from_secs(5), connection).await;
    assert!(ended.is_ok(), "the server closed the idle HTTP/2 connection");
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
    app.stop().await;
}

#[tokio::test]
async fn a_peer_over_its_connection_cap_is_refused_at_once() {
    let app = spawn_app_with_server(
        "header_read_timeout = \"30s\"\nbody_timeout = \"5s\"\nmax_connections_per_peer = 2\nshutdown_grace = \"5s\"",
        "",
    )
    .await;
    let mut held = vec![
        TcpStream::connect(addr(&app)).await.unwrap(),
        TcpStream::connect(addr(&app)).await.unwrap(),
    ];
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut third = TcpStream::connect(addr(&app)).await.unwrap();
    assert!(closed_within(&mut third, Duration::from_secs(2)).await, "over the cap");
    drop(held.pop());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut again = TcpStream::connect(addr(&app)).await.unwrap();
    again
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    assert!(read_all(&mut again).await.starts_with("HTTP/1.1 200"));
    app.stop().await;
}

/// `request` sent byte for byte on a new connection: the whole answer.
async fn raw(app: &TestApp, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr(app)).await.unwrap();
    stream.write_all(request).await.unwrap();
    read_all(&mut stream).await
}

/// The problem document in a raw answer, after checking its status, content type and correlation id.
fn problem_in(answer: &str, status: u16, slug: &str) {
    assert!(answer.starts_with(&format!("HTTP/1.1 {status} ")), "{answer}");
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    let head = head.to_ascii_lowercase();
    assert!(head.contains("content-type: application/problem+json"), "{answer}");
    assert!(head.contains("x-correlation-id: "), "{answer}");
    let body: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(body["type"], format!("urn:gatehouse:problem:{slug}"), "{answer}");
    assert!(body["correlation_id"].is_string(), "{answer}");
}

#[tokio::test]
async fn requests_the_server_cannot_parse_get_problem_documents() {
    let app = spawn_app().await;
    let many: String = (0..150).map(|i| format!("X-Header-{i}: v\r\n")).collect();
    let huge = format!("X-Big: {}\r\n", "a".repeat(70 * 1024));
    for (request, status, slug) in [
        (
            format!("GET /healthz HTTP/1.1\r\nHost: x\r\n{many}\r\n"),
            431,
            "header-fields-too-large",
        ),
        (
            format!("GET /healthz HTTP/1.1\r\nHost: x\r\n{huge}\r\n"),
            431,
            "header-fields-too-large",
        ),
        (
            "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n".into(),
            400,
            "invalid-request",
        ),
        ("GET /a\x01b HTTP/1.1\r\nHost: x\r\n\r\n".into(), 400, "invalid-request"),
        ("NOT HTTP AT ALL\r\n\r\n".into(), 400, "invalid-request"),
        (
            "GET /healthz HTTP/1.1\r\nBad Header: v\r\n\r\n".into(),
            400,
            "invalid-request",
        ),
    ] {
        problem_in(&raw(&app, request.as_bytes()).await, status, slug);
    }
    // The app's own answers are left as they are.
    let ok = raw(&app, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    app.stop().await;
}

#[tokio::test]
async fn a_response_streaming_longer_than_the_idle_timeout_arrives_whole() {
    // A vendor that streams its answer over ~2.5 s, a chunk every 500 ms.
    let vendor = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let vendor_addr = vendor.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = vendor.accept().await {
            tokio::spawn(async move {
                let mut request = vec![0u8; 16 * 1024];
                let _ = socket.read(&mut request).await;
                let head = "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n";
                let _ = socket.write_all(head.as_bytes()).await;
                for _ in 0..5 {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    let _ = socket.write_all(b"5\r\nhello\r\n").await;
                }
                let _ = socket.write_all(b"0\r\n\r\n").await;
            });
        }
    });
    let extra = format!(
        "\n[providers.px]\nadapter = \"acme-crm\"\nbase_url = \"http://{vendor_addr}\"\ntimeout = \"10s\"\n\
         retry = {{ max_attempts = 1 }}\n"
    ) + &callers_toml(&["px"], None);
    // The watchdog looks at the connection every 300 ms, and a connection it closes as idle gets
    // header_read_timeout (1 s) to finish; the answer takes ~2.5 s.
    let app = spawn_app_with_server(
        "header_read_timeout = \"1s\"\nidle_timeout = \"300ms\"\nbody_timeout = \"5s\"\nshutdown_grace = \"5s\"",
        &extra,
    )
    .await;
    let response = app.get_as(CALLER_KEY, "/proxy/px/stream").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "hello".repeat(5), "the whole body");
    app.stop().await;
}

#[tokio::test]
async fn both_runtimes_serve_many_connections_at_once() {
    for runtime in ["per-core", "shared"] {
        let app = spawn_app_with_server(&format!("runtime = \"{runtime}\"\nshutdown_grace = \"5s\""), "").await;
        // A client each: 32 connections, spread over the accepting threads.
        let answers = futures::future::join_all((0..32).map(|_| {
            let url = format!("{}/healthz", app.addr);
            async move {
                reqwest::Client::new()
                    .get(url)
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
            }
        }))
        .await;
        assert!(answers.iter().all(|a| matches!(a, Ok(200))), "{runtime}: {answers:?}");
        app.stop().await;
    }
}
