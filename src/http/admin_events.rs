//! `/admin/events` (admin token): the outbox for operators — a cursor-paginated list, one event with its envelope
//! and per-subscription delivery state and attempts, replay, which queues an event again for every subscription
//! that wants it, and retranslate, which runs the adapter again on a quarantined event.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::AppState;
use super::extract::PathParam;
use super::problem::{ApiError, Problem};
use crate::ingest::quarantine::RetranslateError;
use crate::store::{EventFilter, EventStatus, Replayed, StoreError};

const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 500;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    status: Option<String>,
    provider: Option<String>,
    #[serde(default, deserialize_with = "empty_is_none")]
    limit: Option<usize>,
    cursor: Option<String>,
}

/// A number, or nothing for an empty value.
fn empty_is_none<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<usize>, D::Error> {
    let text: Option<String> = Option::deserialize(deserializer)?;
    match text.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(number) => number.parse().map(Some).map_err(serde::de::Error::custom),
    }
}

fn store_problem(error: StoreError) -> ApiError {
    tracing::error!(%error, "admin events: store error");
    ApiError::new(Problem::StoreUnavailable, "the store cannot answer right now").retry_after(1)
}

fn cursor_after(cursor: &str) -> Option<i64> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    String::from_utf8(bytes).ok()?.strip_prefix("e1:")?.parse().ok()
}

/// `GET /admin/events?status=&provider=&limit=&cursor=` → `{"data":[…],"next_cursor":…}`, oldest first.
pub async fn list(
    State(state): State<AppState>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(mut query) = query.map_err(|e| ApiError::new(Problem::InvalidRequest, format!("bad query: {e}")))?;
    // An empty parameter (`?cursor=`) is the same as an absent one.
    for value in [&mut query.status, &mut query.provider, &mut query.cursor] {
        value.take_if(|v| v.is_empty());
    }
    let status = match query.status.as_deref() {
        None => None,
        Some(text) => Some(EventStatus::parse(text).ok_or_else(|| {
            ApiError::new(
                Problem::InvalidRequest,
                "status must be pending, delivered, dead or quarantined",
            )
        })?),
    };
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::new(
            Problem::InvalidRequest,
            format!("limit must be between 1 and {MAX_LIMIT}"),
        ));
    }
    let after = match query.cursor.as_deref() {
        None => None,
        Some(cursor) => Some(
            cursor_after(cursor)
                .ok_or_else(|| ApiError::new(Problem::InvalidRequest, "cursor is not one this API issued"))?,
        ),
    };
    let filter = EventFilter {
        status,
        provider: query.provider,
        limit,
        after,
    };
    let events = state.store.list_events(filter).await.map_err(store_problem)?;
    let next_cursor = (events.len() == limit)
        .then(|| events.last().map(|e| URL_SAFE_NO_PAD.encode(format!("e1:{}", e.seq))))
        .flatten();
    Ok(Json(json!({"data": events, "next_cursor": next_cursor})).into_response())
}

/// `GET /admin/events/{id}` → the event, its envelope, and its delivery state and attempts per subscription.
pub async fn detail(State(state): State<AppState>, PathParam(id): PathParam) -> Result<Response, ApiError> {
    let not_found = || ApiError::new(Problem::NotFound, format!("no event {id}"));
    let uuid = Uuid::parse_str(&id).map_err(|_| not_found())?;
    match state.store.get_event(uuid).await.map_err(store_problem)? {
        Some(event) => Ok(Json(event).into_response()),
        None => Err(not_found()),
    }
}

/// `POST /admin/events/{id}/replay` → `202 {"id","queued"}`: delivered again to every subscription that wants it
/// now (a delivery still pending is left to its current attempt).
pub async fn replay(State(state): State<AppState>, PathParam(id): PathParam) -> Result<Response, ApiError> {
    let not_found = || ApiError::new(Problem::NotFound, format!("no event {id}"));
    let uuid = Uuid::parse_str(&id).map_err(|_| not_found())?;
    let event = state
        .store
        .get_event(uuid)
        .await
        .map_err(store_problem)?
        .ok_or_else(not_found)?;
    let subscribers = crate::relay::route(&state.config.subscriptions, &event.summary.event_type);
    let queued = match state
        .store
        .replay_event(uuid, subscribers, crate::clock::now_ms())
        .await
        .map_err(store_problem)?
    {
        Replayed::Queued(queued) => queued,
        Replayed::NoSuchEvent => return Err(not_found()),
        Replayed::Quarantined => {
            return Err(ApiError::new(
                Problem::EventQuarantined,
                format!("event {uuid} is quarantined: retranslate it (POST /admin/events/{uuid}/retranslate) first"),
            ));
        }
    };
    state.relay_wake.notify_one();
    Ok((StatusCode::ACCEPTED, Json(json!({"id": uuid, "queued": queued}))).into_response())
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
