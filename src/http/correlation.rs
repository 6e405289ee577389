//! The correlation-id layer: every request gets one (the caller's `X-Correlation-Id` when well-formed, else a new
//! UUIDv7, see [`crate::correlation`]), every response carries it, and logs of the request are in its span (with
//! the route template, never the raw path).

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

pub use crate::correlation::{CorrelationId, HEADER, HEADER_NAME, current, spawn};

pub async fn layer(mut request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(&HEADER_NAME)
        .and_then(CorrelationId::parse)
        .unwrap_or_else(CorrelationId::new);
    request.extensions_mut().insert(id.clone());
    let span = tracing::info_span!(
        "request",
        method = %request.method(),
        route = %super::access_log::route_of(&request),
        correlation_id = %id.as_str(),
    );
    let header = id.header_value();
    let mut response = crate::correlation::scope(id, next.run(request)).instrument(span).await;
    response.headers_mut().insert(HEADER_NAME, header);
    response
}
