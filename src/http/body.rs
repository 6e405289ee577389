//! Reading request bodies whole, within `server.max_body_bytes` (413 `payload-too-large` past it) and
//! `server.body_timeout` (408 `request-timeout` past it).

use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, header};
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;

use super::problem::{ApiError, Problem};
use crate::config::ServerConfig;

/// After refusing a body past the limit, at most this much more of it is read and thrown away, for at most
/// [`LINGER`], so a client still sending reads the 413 rather than a connection reset (a socket closed with unread
/// data answers with RST, which can destroy the answer in flight: nginx's "lingering close").
const DRAIN_BYTES: usize = 1 << 20;
const LINGER: Duration = Duration::from_secs(1);

/// Reads the body, refusing more than `max_body_bytes` (413) whether or not `Content-Length` announced it, and a
/// body still arriving after `body_timeout` (408).
pub async fn read_limited(headers: &HeaderMap, mut body: Body, server: &ServerConfig) -> Result<Bytes, ApiError> {
    let limit = server.max_body_bytes;
    let too_large = || ApiError::new(Problem::PayloadTooLarge, format!("the body exceeds {limit} bytes"));
    let announced = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > limit as u64) {
        // A client waiting for `100 Continue` has sent nothing yet: reading would invite the upload.
        if !expects_continue(headers) {
            drain(&mut body).await;
        }
        return Err(too_large());
    }
    if http_body::Body::is_end_stream(&body) {
        // No body at all (a `GET`, say): nothing to wait for.
        return Ok(Bytes::new());
    }
    let read = tokio::time::timeout(server.body_timeout, collect(&mut body, limit)).await;
    match read {
        Err(_) => Err(ApiError::new(
            Problem::RequestTimeout,
            "the request body arrived too slowly",
        )),
        Ok(Read::Whole(bytes)) => Ok(bytes),
        Ok(Read::TooLarge) => {
            drain(&mut body).await;
            Err(too_large())
        }
        Ok(Read::Failed) => Err(ApiError::new(
            Problem::InvalidRequest,
            "the request body could not be read",
        )),
    }
}

enum Read {
    Whole(Bytes),
    TooLarge,
    Failed,
}

/// The body's data, up to `limit` bytes (a body of one frame is not copied).
async fn collect(body: &mut Body, limit: usize) -> Read {
    let mut first: Option<Bytes> = None;
    let mut more = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            return Read::Failed;
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let held = first.as_ref().map_or(0, Bytes::len) + more.len();
        if held + data.len() > limit {
            return Read::TooLarge;
        }
        match &first {
            None => first = Some(data),
            Some(_) => more.extend_from_slice(&data),
        }
    }
    match first {
        None => Read::Whole(Bytes::new()),
        Some(first) if more.is_empty() => Read::Whole(first),
        Some(first) => {
            let mut whole = BytesMut::with_capacity(first.len() + more.len());
            whole.extend_from_slice(&first);
            whole.extend_from_slice(&more);
            Read::Whole(whole.freeze())
        }
    }
}

/// Whether the client waits for `100 Continue` before sending its body (`Expect: 100-continue`).
fn expects_continue(headers: &HeaderMap) -> bool {
    headers
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
}

/// Reads and discards what the client still sends, within [`DRAIN_BYTES`] and [`LINGER`].
async fn drain(body: &mut Body) {
    let discard = async {
        let mut drained = 0;
        while drained < DRAIN_BYTES {
            match body.frame().await {
                Some(Ok(frame)) => drained += frame.data_ref().map_or(0, Bytes::len),
                _ => break,
            }
        }
    };
    let _ = tokio::time::timeout(LINGER, discard).await;
}
