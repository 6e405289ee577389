//! `/admin/commands` (admin token): deferred commands for operators — every caller's, filtered by status, provider
//! and caller, newest first with a cursor; one with its request, attempts and response; and cancelling a pending one
//! that no executor is running.

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
use crate::operations::command_json;
use crate::store::{Cancelled, CommandFilter, CommandStatus};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    status: Option<String>,
    provider: Option<String>,
    caller: Option<String>,
    #[serde(default, deserialize_with = "empty_is_none")]
    limit: Option<usize>,
    cursor: Option<String>,
}

/// `GET /admin/commands?status=&provider=&caller=&limit=&cursor=` → `{"data":[…],"next_cursor":…}`, newest first.
pub async fn list(
    State(state): State<AppState>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::new(Problem::InvalidRequest, format!("bad query: {e}")))?;
    let status = query::parsed(
        query.status,
        CommandStatus::parse,
        "status must be pending, succeeded, failed or cancelled",
    )?;
    let limit = query::limit(query.limit)?;
    let filter = CommandFilter {
        status,
        provider: present(query.provider),
        caller: present(query.caller),
        limit,
        before: query::position("c1", query.cursor)?,
    };
    let commands = state.store.list_commands(filter).await.map_err(store_problem)?;
    let next_cursor = (commands.len() == limit)
        .then(|| commands.last().map(|c| query::cursor("c1", c.seq)))
        .flatten();
    let data: Vec<_> = commands.iter().map(|c| command_json(c, false)).collect();
    Ok(Json(json!({"data": data, "next_cursor": next_cursor})).into_response())
}

/// `GET /admin/commands/{id}` → the command with its request body, attempts, last error and response.
pub async fn detail(State(state): State<AppState>, PathParam(id): PathParam) -> Result<Response, ApiError> {
    let not_found = || ApiError::new(Problem::NotFound, format!("no command {id}"));
    let uuid = Uuid::parse_str(&id).map_err(|_| not_found())?;
    match state.store.get_command(uuid).await.map_err(store_problem)? {
        Some(command) => Ok(Json(command_json(&command, true)).into_response()),
        None => Err(not_found()),
    }
}

/// `POST /admin/commands/{id}/cancel` → `200` the cancelled command; `409` when it is not pending (or an executor
/// is running it right now); `404` when there is no such command.
pub async fn cancel(State(state): State<AppState>, PathParam(id): PathParam) -> Result<Response, ApiError> {
    let not_found = || ApiError::new(Problem::NotFound, format!("no command {id}"));
    let uuid = Uuid::parse_str(&id).map_err(|_| not_found())?;
    let subscriptions = &state.config.subscriptions;
    let cancelled =
        crate::operations::cancel_command(state.store.as_ref(), subscriptions, Some(&state.relay_wake), uuid)
            .await
            .map_err(store_problem)?;
    match cancelled {
        Cancelled::Done(command) => Ok(Json(command_json(&command, true)).into_response()),
        Cancelled::Finished(status) => Err(ApiError::new(
            Problem::CommandNotPending,
            format!(
                "command {uuid} is {}: only a pending command can be cancelled",
                status.as_str()
            ),
        )),
        Cancelled::Running => Err(ApiError::new(
            Problem::CommandRunning,
            format!("command {uuid} is being attempted right now; try again once the attempt ends"),
        )
        .retry_after(1)),
        Cancelled::NotFound => Err(not_found()),
    }
}
