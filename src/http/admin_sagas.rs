//! `/admin/sagas` (admin token): sagas for operators — every caller's, filtered by saga name and state, newest first
//! with a cursor; one with its input and steps; and retrying a `failed` one once its vendor can undo the step whose
//! compensation failed.

use axum::Json;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::AppState;
use super::admin_query::{self as query, empty_is_none, present, store_problem};
use super::extract::PathParam;
use super::problem::{ApiError, Problem};
use crate::operations::saga_json;
use crate::store::{SagaFilter, SagaRetried, SagaStatus};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    name: Option<String>,
    status: Option<String>,
    #[serde(default, deserialize_with = "empty_is_none")]
    limit: Option<usize>,
    cursor: Option<String>,
}

/// `GET /admin/sagas?name=&status=&limit=&cursor=` → `{"data":[…],"next_cursor":…}`, newest first.
pub async fn list(
    State(state): State<AppState>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::new(Problem::InvalidRequest, format!("bad query: {e}")))?;
    let status = query::parsed(
        query.status,
        SagaStatus::parse,
        "status must be running, compensating, completed, compensated or failed",
    )?;
    let limit = query::limit(query.limit)?;
    let filter = SagaFilter {
        name: present(query.name),
        status,
        limit,
        before: query::position("s1", query.cursor)?,
    };
    let sagas = state.store.list_sagas(filter).await.map_err(store_problem)?;
    let next_cursor = (sagas.len() == limit)
        .then(|| sagas.last().map(|s| query::cursor("s1", s.seq)))
        .flatten();
    let data: Vec<_> = sagas.iter().map(|s| saga_json(s, false)).collect();
    Ok(Json(json!({"data": data, "next_cursor": next_cursor})).into_response())
}

/// `GET /admin/sagas/{id}` → the saga with its input, steps, retries and next attempt.
pub async fn detail(State(state): State<AppState>, PathParam(id): PathParam) -> Result<Response, ApiError> {
    let not_found = || ApiError::new(Problem::NotFound, format!("no saga {id}"));
    let uuid = Uuid::parse_str(&id).map_err(|_| not_found())?;
    match state.store.get_saga(uuid).await.map_err(store_problem)? {
        Some(saga) => Ok(Json(saga_json(&saga, true)).into_response()),
        None => Err(not_found()),
    }
}

/// `POST /admin/sagas/{id}/retry` → `200` the saga, compensating again from the step whose compensation failed;
/// `409 saga-not-failed` unless it is `failed`; `404` when there is no such saga.
pub async fn retry(State(state): State<AppState>, PathParam(id): PathParam) -> Result<Response, ApiError> {
    let not_found = || ApiError::new(Problem::NotFound, format!("no saga {id}"));
    let uuid = Uuid::parse_str(&id).map_err(|_| not_found())?;
    let retried = state
        .store
        .retry_saga(uuid, crate::clock::now_ms())
        .await
        .map_err(store_problem)?;
    match retried {
        SagaRetried::Done(saga) => {
            tracing::info!(saga = %saga.id, name = %saga.name, "an operator retried a failed saga");
            state.sagas_wake.notify_one();
            Ok(Json(saga_json(&saga, true)).into_response())
        }
        SagaRetried::NotFailed(status) => Err(ApiError::new(
            Problem::SagaNotFailed,
            format!("saga {uuid} is {}: only a failed saga can be retried", status.as_str()),
        )),
        SagaRetried::NotFound => Err(not_found()),
    }
}
