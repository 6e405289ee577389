//! Reading request bodies whole, within `server.max_body_bytes` (413 `payload-too-large` past it) and
//! `server.body_timeout` (408 `request-timeout` past it).

use axum::body::Body;
use axum::http::{HeaderMap, header};
use bytes::Bytes;

use super::problem::{ApiError, Problem};
use crate::config::ServerConfig;

/// Reads the body, refusing more than `max_body_bytes` (413) whether or not `Content-Length` announced it, and a
/// body still arriving after `body_timeout` (408).
pub async fn read_limited(headers: &HeaderMap, body: Body, server: &ServerConfig) -> Result<Bytes, ApiError> {
    let limit = server.max_body_bytes;
    let too_large = || ApiError::new(Problem::PayloadTooLarge, format!("the body exceeds {limit} bytes"));
    let announced = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    if http_body::Body::is_end_stream(&body) {
        // No body at all (a `GET`, say): nothing to wait for.
        return Ok(Bytes::new());
    }
    let read = tokio::time::timeout(server.body_timeout, axum::body::to_bytes(body, limit)).await;
    let read = read.map_err(|_| ApiError::new(Problem::RequestTimeout, "the request body arrived too slowly"))?;
    read.map_err(|e| {
        let over_limit = std::error::Error::source(&e).is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
        if over_limit {
            too_large()
        } else {
            ApiError::new(Problem::InvalidRequest, "the request body could not be read")
        }
    })
}
