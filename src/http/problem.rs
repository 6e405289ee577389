//! Problems ([`crate::problem`]) as HTTP answers: `application/problem+json` with the request's correlation id,
//! `Retry-After` and `Allow` when the problem carries them, and the [`Problem`] in the response's extensions so
//! metrics and the access log can name the outcome by its slug.

use axum::Json;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

pub use crate::problem::{ApiError, Problem};

use super::correlation;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.problem().status();
        let mut response = (status, Json(self.body(correlation::current()))).into_response();
        response.extensions_mut().insert(self.problem());
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(seconds) = self.retry_after_secs() {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if let Some(allow) = self.allowed().and_then(|methods| HeaderValue::try_from(methods).ok()) {
            headers.insert(header::ALLOW, allow);
        }
        response
    }
}
