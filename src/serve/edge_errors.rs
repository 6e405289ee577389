//! Problem documents for the errors hyper answers by itself, before any request reaches the app: a request it
//! cannot parse (400), headers past `server.max_header_bytes` or 100 headers (431), a URI too long to parse (414).
//! hyper writes those as a bare status line without a body and closes the connection; this wrapper around the
//! client's socket recognises such a head (on HTTP/1, while no request of the app is in flight — its answers'
//! heads and bodies pass untouched — a 4xx without the `x-correlation-id` every app response carries) and writes
//! an `application/problem+json` answer with a new correlation id in its place.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::connection::Activity;
use crate::correlation::CorrelationId;
use crate::http::problem::{ApiError, Problem};

/// A socket whose automatic hyper error answers become problem documents.
pub(super) struct EdgeErrors<S> {
    inner: S,
    /// The connection's requests: an answer written while one is in flight (its head or its body) is the app's.
    activity: Arc<Activity>,
    /// What the client has sent first, until the protocol is known.
    preface: Vec<u8>,
    /// `Some(true)` once the client spoke HTTP/2 (nothing is ever intercepted then), `Some(false)` HTTP/1.
    http2: Option<bool>,
    /// A replacement answer still being written, and how much of it is out.
    pending: Option<(Vec<u8>, usize)>,
}

/// How an HTTP/2 connection starts (RFC 9113 §3.4).
const HTTP2_PREFACE: &[u8] = b"PRI * HTTP/2.0";

impl<S> EdgeErrors<S> {
    pub(super) fn new(inner: S, activity: Arc<Activity>) -> Self {
        Self {
            inner,
            activity,
            preface: Vec::new(),
            http2: None,
            pending: None,
        }
    }

    /// Learns the protocol from the first bytes the client sends.
    fn saw(&mut self, read: &[u8]) {
        if self.http2.is_some() || read.is_empty() {
            return;
        }
        let wanted = HTTP2_PREFACE.len() - self.preface.len();
        self.preface.extend_from_slice(&read[..read.len().min(wanted)]);
        if !HTTP2_PREFACE.starts_with(&self.preface) {
            self.http2 = Some(false);
        } else if self.preface.len() == HTTP2_PREFACE.len() {
            self.http2 = Some(true);
        }
    }

    /// Whether a write now could be hyper's own error answer: on HTTP/1, with no request of the app in flight.
    fn may_intercept(&self) -> bool {
        self.http2 != Some(true) && self.activity.idle()
    }
}

/// The replacement for hyper's own answer `head`, if `head` is one: a 4xx status line without the correlation id.
fn replacement(head: &[u8]) -> Option<Vec<u8>> {
    let status = head
        .strip_prefix(b"HTTP/1.1 ")
        .or_else(|| head.strip_prefix(b"HTTP/1.0 "))?;
    if status.first() != Some(&b'4') {
        return None;
    }
    let end = head.windows(4).position(|w| w == b"\r\n\r\n")?;
    let lower = head[..end].to_ascii_lowercase();
    if lower.windows(18).any(|w| w == b"\r\nx-correlation-id") {
        return None;
    }
    let (problem, detail) = match status.get(..3)? {
        b"431" => (
            Problem::HeaderFieldsTooLarge,
            "the request's headers exceed server.max_header_bytes or 100 fields",
        ),
        b"414" => (Problem::UriTooLong, "the request's URI is too long"),
        _ => (
            Problem::InvalidRequest,
            "the request is not valid HTTP/1.1 (request line, header syntax or message framing)",
        ),
    };
    let id = CorrelationId::new();
    let body = serde_json::to_vec(&ApiError::new(problem, detail).to_json(id.as_str())).ok()?;
    let status = problem.status();
    let mut answer = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/problem+json\r\nx-correlation-id: {}\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or_default(),
        id.as_str(),
        body.len()
    )
    .into_bytes();
    answer.extend_from_slice(&body);
    Some(answer)
}

impl<S: AsyncWrite + Unpin> EdgeErrors<S> {
    /// Writes what is left of a replacement; `Ready(Ok)` once it is all out.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((answer, written)) = &mut self.pending {
            if *written == answer.len() {
                self.pending = None;
                break;
            }
            let n = std::task::ready!(Pin::new(&mut self.inner).poll_write(cx, &answer[*written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *written += n;
        }
        Poll::Ready(Ok(()))
    }

    /// Swaps hyper's answer `head` (all `len` bytes of this write) for its replacement, if it is one.
    fn intercept(&mut self, cx: &mut Context<'_>, head: &[u8], len: usize) -> Option<Poll<io::Result<usize>>> {
        if !self.may_intercept() {
            return None;
        }
        let answer = replacement(head)?;
        self.pending = Some((answer, 0));
        Some(match self.poll_pending(cx) {
            // The bytes hyper handed over count as written: they were answered in their place.
            Poll::Ready(Ok(())) | Poll::Pending => Poll::Ready(Ok(len)),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
        })
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for EdgeErrors<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let read = Pin::new(&mut self.inner).poll_read(cx, buf);
        if self.http2.is_none() {
            let fresh = buf.filled()[before..].to_vec();
            self.saw(&fresh);
        }
        read
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for EdgeErrors<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        std::task::ready!(self.poll_pending(cx))?;
        if let Some(answer) = self.intercept(cx, buf, buf.len()) {
            return answer;
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        std::task::ready!(self.poll_pending(cx))?;
        // hyper's automatic answer is a head alone; a head with a body is the app's.
        let mut filled = bufs.iter().filter(|b| !b.is_empty());
        if let (Some(head), None) = (filled.next(), filled.next())
            && let Some(answer) = self.intercept(cx, head, head.len())
        {
            return answer;
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hyper_s_own_error_heads_are_replaced() {
        let bare = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\ndate: Mon, 30 Nov 2026 10:00:00 GMT\r\n\r\n";
        let answer = String::from_utf8(replacement(bare).unwrap()).unwrap();
        assert!(answer.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{answer}");
        assert!(answer.contains("content-type: application/problem+json"), "{answer}");
        assert!(answer.contains("x-correlation-id: "), "{answer}");
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("content-length: {}", body.len())), "{answer}");
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["type"], "urn:gatehouse:problem:invalid-request");
        assert!(body["correlation_id"].is_string());
        let large = replacement(b"HTTP/1.1 431 Request Header Fields Too Large\r\n\r\n").unwrap();
        assert!(String::from_utf8(large).unwrap().contains("header-fields-too-large"));
        let long = replacement(b"HTTP/1.1 414 URI Too Long\r\n\r\n").unwrap();
        assert!(String::from_utf8(long).unwrap().contains("uri-too-long"));
        // The app's answers carry their correlation id; successes and 5xx are never touched.
        for kept in [
            &b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/problem+json\r\nx-correlation-id: a\r\n\r\n"[..],
            b"HTTP/1.1 404 Not Found\r\nX-Correlation-Id: a\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 503 Service Unavailable\r\n\r\n",
            b"\x00\x00\x12\x04\x00\x00\x00\x00\x00",
            b"HTTP/1.1 400",
        ] {
            assert!(replacement(kept).is_none(), "{}", String::from_utf8_lossy(kept));
        }
    }

    /// What a bare-400-looking write becomes through the wrapper, after the client sent `first`.
    async fn through(first: &[u8], activity: Arc<Activity>) -> Vec<u8> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut client, server) = tokio::io::duplex(64 * 1024);
        let mut server = EdgeErrors::new(server, activity);
        client.write_all(first).await.unwrap();
        let mut read = vec![0u8; first.len()];
        server.read_exact(&mut read).await.unwrap();
        let looks_like_an_error = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n";
        server.write_all(looks_like_an_error).await.unwrap();
        server.shutdown().await.unwrap();
        let mut written = Vec::new();
        client.read_to_end(&mut written).await.unwrap();
        written
    }

    #[tokio::test]
    async fn app_bytes_and_http2_are_never_rewritten() {
        let bare = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n".to_vec();
        // HTTP/1, no request in flight: hyper's own answer, replaced.
        let replaced = through(b"GET / HTTP/1.1\r\n", Arc::new(Activity::new())).await;
        assert!(String::from_utf8_lossy(&replaced).contains("problem+json"));
        // A request in flight: the bytes are its answer's (a body chunk that looks like a head), untouched.
        let busy = Arc::new(Activity::new());
        busy.begin_request();
        assert_eq!(through(b"GET / HTTP/1.1\r\n", busy).await, bare);
        // HTTP/2: frames are never HTTP/1 heads, whatever their payload.
        assert_eq!(
            through(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", Arc::new(Activity::new())).await,
            bare
        );
    }

    #[tokio::test]
    async fn a_replacement_is_written_whole_through_a_slow_socket() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (client, server) = tokio::io::duplex(7);
        let mut server = EdgeErrors::new(server, Arc::new(Activity::new()));
        let writer = tokio::spawn(async move {
            let bare = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n";
            let n = server.write(bare).await.unwrap();
            assert_eq!(n, bare.len());
            server.shutdown().await.unwrap();
        });
        let mut client = client;
        let mut answer = String::new();
        client.read_to_string(&mut answer).await.unwrap();
        writer.await.unwrap();
        assert!(answer.ends_with('}'), "{answer}");
        assert!(answer.contains("urn:gatehouse:problem:invalid-request"), "{answer}");
    }
}
