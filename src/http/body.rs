//! Reading request bodies whole, within `server.max_body_bytes` (413 `payload-too-large` past it).

use axum::body::Body;
use axum::http::{HeaderMap, header};
use bytes::Bytes;

use super::problem::{ApiError, Problem};

/// Reads the body, refusing more than `limit` bytes (413) whether or not `Content-Length` announced it.
pub async fn read_limited(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, ApiError> {
    let too_large = || ApiError::new(Problem::PayloadTooLarge, format!("the body exceeds {limit} bytes"));
    let announced = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let over_limit = std::error::Error::source(&e).is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
        if over_limit {
            too_large()
        } else {
            ApiError::new(Problem::InvalidRequest, "the request body could not be read")
        }
    })
}
