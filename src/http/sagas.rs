//! Sagas over HTTP for callers: `POST /v1/sagas/{name}` starts one (the checks, storage and answer are
//! [`crate::sagas::submit`]) and `GET /v1/sagas/{id}` shows its caller how it goes. Both authenticate the caller and
//! count against its rate limit.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

use super::AppState;
use super::correlation::CorrelationId;
use super::extract::PathParam;
use super::outbound::{caller_limit, with_limit_headers};
use super::problem::{ApiError, Problem};
use crate::calls::idempotency;
use crate::sagas::submit::{Submission, start as submit};

/// `POST /v1/sagas/{name}` with the input as a JSON object (and optionally `Idempotency-Key`) → `202
/// {"id","status":"running"}` and `Location: /v1/sagas/{id}`.
pub async fn start(
    State(state): State<AppState>,
    axum::Extension(correlation_id): axum::Extension<CorrelationId>,
    name: Result<PathParam, ApiError>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let caller = match state.callers.authenticate(&headers) {
        Ok(caller) => caller,
        Err(error) => return error.into_response(),
    };
    let limit = match caller_limit(&state.caller_limits, &caller.name).await {
        Ok(limit) => limit,
        Err(refusal) => return refusal,
    };
    let answer = async {
        let PathParam(name) = name?;
        let key = idempotency::header_key(&headers)?;
        let body = super::body::read_limited(&headers, body, &state.config.server).await?;
        let submission = Submission {
            caller,
            name: &name,
            body,
            correlation_id: correlation_id.as_str().to_owned(),
            idempotency_key: key,
        };
        Ok::<_, ApiError>(submit(&state.calls, &state.sagas, &state.sagas_wake, submission).await)
    };
    let response = answer.await.unwrap_or_else(IntoResponse::into_response);
    with_limit_headers(response, limit.as_ref())
}

/// `GET /v1/sagas/{id}`: the saga, for the caller that started it; anyone else gets the same 404 as for an unknown
/// id.
pub async fn get(State(state): State<AppState>, id: Result<PathParam, ApiError>, headers: HeaderMap) -> Response {
    let caller = match state.callers.authenticate(&headers) {
        Ok(caller) => caller,
        Err(error) => return error.into_response(),
    };
    let limit = match caller_limit(&state.caller_limits, &caller.name).await {
        Ok(limit) => limit,
        Err(refusal) => return refusal,
    };
    let response = match id {
        Ok(PathParam(id)) => lookup(&state, &caller.name, &id).await,
        Err(error) => error.into_response(),
    };
    with_limit_headers(response, limit.as_ref())
}

async fn lookup(state: &AppState, caller: &str, id: &str) -> Response {
    let not_found = || ApiError::new(Problem::NotFound, format!("no saga {id}")).into_response();
    let Ok(uuid) = Uuid::parse_str(id) else {
        return not_found();
    };
    match state.store.get_saga(uuid).await {
        Ok(Some(saga)) if saga.caller == caller => Json(crate::operations::saga_json(&saga, false)).into_response(),
        Ok(_) => not_found(),
        Err(error) => {
            tracing::error!(%error, "cannot read a saga");
            ApiError::new(Problem::StoreUnavailable, "sagas cannot be read right now")
                .retry_after(1)
                .into_response()
        }
    }
}
