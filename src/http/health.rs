//! Liveness and readiness: `/healthz` answers while the process runs, `/readyz` only while the store can commit
//! writes (a probe write goes through, and recent writes did not fail).

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::AppState;
use super::problem::{ApiError, Problem};

pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

pub async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    state.store.ping().await.map_err(|e| {
        tracing::warn!(error = %e, "readiness check failed");
        ApiError::new(Problem::StoreUnavailable, "the store cannot commit writes right now").retry_after(1)
    })?;
    Ok(Json(json!({"status": "ready"})))
}
