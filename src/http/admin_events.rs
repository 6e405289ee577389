//! `/admin/events` (admin token): the outbox for operators — a filtered, cursor-paginated list in either order, one
//! event with its envelope, raw body and per-subscription delivery state and attempts, replay (for one subscription
//! or every one that wants it), and retranslate, which runs the adapter again on a quarantined event.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::AppState;
use super::admin_query::{self as query, empty_is_none, present, store_problem};
use super::extract::PathParam;
use super::problem::{ApiError, Problem};
use crate::ingest::quarantine::RetranslateError;
use crate::operations::ReplayError;
use crate::store::{EventFilter, EventStatus};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    status: Option<String>,
    provider: Option<String>,
    #[serde(rename = "type")]
    event_type: Option<String>,
    subscription: Option<String>,
    providereventid: Option<String>,
    since: Option<String>,
    until: Option<String>,
    order: Option<String>,
    #[serde(default, deserialize_with = "empty_is_none")]
    limit: Option<usize>,
    cursor: Option<String>,
}

/// `GET /admin/events?status=&provider=&type=&subscription=&providereventid=&since=&until=&order=&limit=&cursor=`
/// → `{"data":[…],"next_cursor":…}`, oldest first unless `order=desc`. With `subscription`, `status` is that
/// subscription's delivery state.
pub async fn list(
    State(state): State<AppState>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::new(Problem::InvalidRequest, format!("bad query: {e}")))?;
    let status = query::parsed(
        query.status,
        EventStatus::parse,
        "status must be pending, delivered, dead or quarantined",
    )?;
    let newest_first = match present(query.order).as_deref() {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(_) => return Err(ApiError::new(Problem::InvalidRequest, "order must be asc or desc")),
    };
    let tag = if newest_first { "e2" } else { "e1" };
    let limit = query::limit(query.limit)?;
    let filter = EventFilter {
        status,
        provider: present(query.provider),
        event_type: present(query.event_type),
        subscription: present(query.subscription),
        provider_event_id: present(query.providereventid),
        since_ms: query::time("since", query.since)?,
        until_ms: query::time("until", query.until)?,
        newest_first,
        limit,
        after: query::position(tag, query.cursor)?,
    };
    let events = state.store.list_events(filter).await.map_err(store_problem)?;
    let next_cursor = (events.len() == limit)
        .then(|| events.last().map(|e| query::cursor(tag, e.seq)))
        .flatten();
    Ok(Json(json!({"data": events, "next_cursor": next_cursor})).into_response())
}

/// `GET /admin/events/{id}` → the event, its envelope and raw body, and its delivery state and attempts per
/// subscription.
pub async fn detail(State(state): State<AppState>, PathParam(id): PathParam) -> Result<Response, ApiError> {
    let not_found = || ApiError::new(Problem::NotFound, format!("no event {id}"));
    let uuid = Uuid::parse_str(&id).map_err(|_| not_found())?;
    match state.store.get_event(uuid).await.map_err(store_problem)? {
        Some(event) => Ok(Json(event).into_response()),
        None => Err(not_found()),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayQuery {
    subscription: Option<String>,
}

/// `POST /admin/events/{id}/replay[?subscription=NAME]` → `202 {"id","queued"}`: delivered again to that
/// subscription, or to every subscription that wants it now (a delivery still pending is left to its current
/// attempt).
pub async fn replay(
    State(state): State<AppState>,
    PathParam(id): PathParam,
    query: Result<Query<ReplayQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::new(Problem::InvalidRequest, format!("bad query: {e}")))?;
    let uuid = Uuid::parse_str(&id).map_err(|_| ApiError::new(Problem::NotFound, format!("no event {id}")))?;
    let only = present(query.subscription);
    let queued =
        crate::operations::replay_event(state.store.as_ref(), &state.config.subscriptions, uuid, only.as_deref())
            .await
            .map_err(replay_problem)?;
    state.relay_wake.notify_one();
    Ok((StatusCode::ACCEPTED, Json(json!({"id": uuid, "queued": queued}))).into_response())
}

/// A replay's failure as a problem (shared with bulk replay).
pub fn replay_problem(error: ReplayError) -> ApiError {
    match error {
        ReplayError::NoSuchEvent(_) | ReplayError::NoSuchSubscription(_) => {
            ApiError::new(Problem::NotFound, error.to_string())
        }
        ReplayError::NotRouted { .. } => ApiError::new(Problem::InvalidRequest, error.to_string()),
        ReplayError::Quarantined(id) => ApiError::new(
            Problem::EventQuarantined,
            format!("event {id} is quarantined: retranslate it (POST /admin/events/{id}/retranslate) first"),
        ),
        ReplayError::Store(error) => store_problem(error),
    }
}

/// `POST /admin/events/{id}/retranslate` → `200 {"id","status","retranslated","error"?,"duplicate_of"?}`: the
/// provider's adapter run again on a quarantined event's stored bytes (an event that is not quarantined is left
/// as it is, `retranslated: false`).
pub async fn retranslate(State(state): State<AppState>, PathParam(id): PathParam) -> Result<Response, ApiError> {
    let not_found = || ApiError::new(Problem::NotFound, format!("no event {id}"));
    let uuid = Uuid::parse_str(&id).map_err(|_| not_found())?;
    let ingest = state.ingest();
    match ingest.retranslate(&state.providers, uuid).await {
        Ok(outcome) => Ok(Json(outcome).into_response()),
        Err(RetranslateError::NotFound(_)) => Err(not_found()),
        Err(error @ RetranslateError::ProviderGone { .. }) => {
            Err(ApiError::new(Problem::UnknownProvider, error.to_string()))
        }
        Err(RetranslateError::Store(error)) => Err(store_problem(error)),
    }
}
