//! `GET /admin/read-model/{provider}/{kind}/{id}` (admin token): what the read model holds for one entity — the
//! stored domain object, its version, where it came from (webhook, read or write, and the event), when it was
//! seen and how old it is, and whether the vendor said it was deleted. Read from the store, not the request
//! path's memory cache.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::AppState;
use super::admin_query::store_problem;
use super::problem::{ApiError, Problem};

pub async fn entity(
    State(state): State<AppState>,
    path: Result<Path<(String, String, String)>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path((provider, kind, id)) = path.map_err(|_| {
        ApiError::new(
            Problem::InvalidRequest,
            "the path is not valid UTF-8 once percent-decoded",
        )
    })?;
    let Some(known) = state.providers.get(&provider) else {
        return Err(ApiError::new(
            Problem::UnknownProvider,
            format!("no provider {provider:?}"),
        ));
    };
    if !known.adapter.entities().iter().any(|spec| spec.kind == kind) {
        let kinds: Vec<&str> = known.adapter.entities().iter().map(|spec| spec.kind).collect();
        let detail = match kinds.is_empty() {
            true => format!("the {provider} adapter declares no entities"),
            false => format!(
                "{provider} keeps no entity kind {kind:?} (it keeps: {})",
                kinds.join(", ")
            ),
        };
        return Err(ApiError::new(Problem::NotFound, detail));
    }
    let stored = state
        .store
        .get_entity(&provider, &kind, &id)
        .await
        .map_err(store_problem)?;
    let Some(stored) = stored else {
        return Err(ApiError::new(
            Problem::NotFound,
            format!("the read model holds no {kind} {id} of {provider}"),
        ));
    };
    let now = crate::clock::now_ms();
    let entity = serde_json::from_slice::<Value>(&stored.body).unwrap_or(Value::Null);
    let body = json!({
        "provider": stored.provider,
        "kind": stored.kind,
        "id": stored.id,
        "version": stored.version,
        "source": stored.source,
        "event_id": stored.event_id,
        "deleted": stored.deleted,
        "observed_at": crate::clock::rfc3339_from_ms(stored.observed_at_ms),
        "age_seconds": now.saturating_sub(stored.observed_at_ms).max(0) / 1000,
        "entity": entity,
    });
    Ok(Json(body).into_response())
}
