//! Extractors whose rejections are problem documents: [`PathParam`], one path parameter, percent-decoded, refused
//! with 400 `invalid-request` (never axum's plain-text rejection) when it is not UTF-8 once decoded. Handlers that
//! authenticate take it as `Result<PathParam, ApiError>` and authenticate first, so an unauthenticated request
//! learns nothing from the path.

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;

use super::problem::{ApiError, Problem};

/// The route's one path parameter, decoded.
#[derive(Debug, Clone)]
pub struct PathParam(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathParam {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(PathParam(value)),
            Err(rejection) => {
                tracing::debug!(%rejection, "unreadable path parameter");
                Err(ApiError::new(
                    Problem::InvalidRequest,
                    "the path is not valid UTF-8 once percent-decoded",
                ))
            }
        }
    }
}
