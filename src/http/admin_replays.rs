//! `POST /admin/replays` (bulk replay of dead or delivered deliveries by filter, with a dry run that only counts)
//! and `GET /admin/subscriptions` (each subscription's deliveries by state and its oldest pending age).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::admin_events::replay_problem;
use super::admin_query::{self as query, present, store_problem};
use super::problem::{ApiError, Problem};
use crate::store::{Finished, ReplayFilter};

/// The body of `POST /admin/replays`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    /// `dead` (the default) or `delivered`.
    status: Option<String>,
    subscription: Option<String>,
    provider: Option<String>,
    #[serde(rename = "type")]
    event_type: Option<String>,
    since: Option<String>,
    until: Option<String>,
    #[serde(default)]
    dry_run: bool,
}

impl ReplayRequest {
    /// The filter, the one subscription asked for (if any), and whether this is a dry run.
    pub fn filter(self) -> Result<(ReplayFilter, Option<String>, bool), ApiError> {
        let state = match present(self.status).as_deref() {
            None | Some("dead") => Finished::Dead,
            Some("delivered") => Finished::Delivered,
            Some(_) => {
                return Err(ApiError::new(
                    Problem::InvalidRequest,
                    "status must be dead or delivered (pending deliveries are already queued)",
                ));
            }
        };
        let filter = ReplayFilter {
            state,
            provider: present(self.provider),
            event_type: present(self.event_type),
            since_ms: query::time("since", self.since)?,
            until_ms: query::time("until", self.until)?,
        };
        Ok((filter, present(self.subscription), self.dry_run))
    }
}

/// `POST /admin/replays` → `200 {"matched","queued"}`: every matching delivery (of the subscriptions configured now)
/// queued again; with `dry_run`, only counted.
pub async fn replay(
    State(state): State<AppState>,
    body: Result<Json<ReplayRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(request) = body.map_err(|e| ApiError::new(Problem::InvalidRequest, e.body_text()))?;
    let (filter, only, dry_run) = request.filter()?;
    // In a task of its own: a client that hangs up does not stop a replay half way.
    let (store, config) = (Arc::clone(&state.store), Arc::clone(&state.config));
    let replayed = state
        .calls
        .background
        .spawn(async move {
            let only = only.as_deref();
            crate::operations::replay_matching(store.as_ref(), &config.subscriptions, only, filter, dry_run).await
        })
        .await
        .map_err(|e| ApiError::new(Problem::StoreUnavailable, format!("the replay stopped: {e}")).retry_after(1))?
        .map_err(replay_problem)?;
    if replayed.queued > 0 {
        state.relay_wake.notify_one();
    }
    Ok(Json(replayed).into_response())
}

/// `GET /admin/subscriptions` → `{"data":[{"name","pending","retrying","dead","delivered",
/// "oldest_pending_seconds","configured"}]}`.
pub async fn subscriptions(State(state): State<AppState>) -> Result<Response, ApiError> {
    let report = crate::operations::subscriptions(state.store.as_ref(), &state.config.subscriptions)
        .await
        .map_err(store_problem)?;
    Ok(Json(json!({ "data": report })).into_response())
}
