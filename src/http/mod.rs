//! The HTTP API: one file per route family, plus the middleware every route shares (correlation ids, problem
//! errors).

pub mod correlation;
mod health;
pub mod problem;
mod webhooks;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

use crate::config::Config;
use crate::providers::Providers;
use crate::store::Store;
use problem::{ApiError, Problem};

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub providers: Arc<Providers>,
    pub store: Arc<dyn Store>,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(crate::metrics::render))
        .route("/webhooks/{provider}", post(webhooks::receive))
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn(correlation::layer))
        .with_state(state)
}

async fn unknown_route() -> ApiError {
    ApiError::new(Problem::UnknownRoute, "no route matches this path")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(Problem::MethodNotAllowed, "this route does not accept that method")
}
