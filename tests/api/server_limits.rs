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
