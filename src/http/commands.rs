//! Deferred commands over HTTP: reading `Prefer: respond-async` (the submission itself is
//! [`crate::calls::deferred`]), and `GET /v1/commands/{id}`, which shows a command's caller how it went.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use uuid::Uuid;

use super::AppState;
use super::extract::PathParam;
use super::outbound::{caller_limit, with_limit_headers};
use super::problem::{ApiError, Problem};
use crate::calls::Caller;
use crate::store::CommandRecord;

const PREFER: HeaderName = HeaderName::from_static("prefer");

/// Whether `Prefer` asks for an asynchronous answer (RFC 7240 `respond-async`).
pub fn prefers_async(headers: &HeaderMap) -> bool {
    headers
        .get_all(&PREFER)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(preferences)
        .any(|preference| {
            let token = preference.split([';', '=']).next().unwrap_or_default().trim();
            token.eq_ignore_ascii_case("respond-async")
        })
}

/// The comma-separated preferences of one `Prefer` value (RFC 7240), commas inside quoted strings (`foo="a,b"`)
/// not splitting them.
fn preferences(value: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in value.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&value[start..]);
    parts
}

/// `GET /v1/commands/{id}`: the command, for the caller that sent it; anyone else gets the same 404 as for an
/// unknown id.
pub async fn get(State(state): State<AppState>, id: Result<PathParam, ApiError>, headers: HeaderMap) -> Response {
    let caller = match state.callers.authenticate(&headers) {
        Ok(caller) => caller,
        Err(error) => return error.into_response(),
    };
    let PathParam(id) = match id {
        Ok(id) => id,
        Err(error) => return error.into_response(),
    };
    // Polling counts against the caller's rate limit like any other call.
    let limit = match caller_limit(&state.caller_limits, &caller.name).await {
        Ok(limit) => limit,
        Err(refusal) => return refusal,
    };
    let response = lookup(&state, caller, &id).await;
    with_limit_headers(response, limit.as_ref())
}

async fn lookup(state: &AppState, caller: &Caller, id: &str) -> Response {
    let not_found = || ApiError::new(Problem::NotFound, format!("no command {id}")).into_response();
    let Ok(uuid) = Uuid::parse_str(id) else {
        return not_found();
    };
    match state.store.get_command(uuid).await {
        Ok(Some(command)) if command.caller == caller.name => Json(view(&command)).into_response(),
        Ok(_) => not_found(),
        Err(error) => {
            tracing::error!(%error, "cannot read a command");
            ApiError::new(Problem::StoreUnavailable, "commands cannot be read right now")
                .retry_after(1)
                .into_response()
        }
    }
}

fn view(command: &CommandRecord) -> serde_json::Value {
    let mut body = json!({
        "id": command.id,
        "status": command.status,
        "attempts": command.attempts,
        "provider": command.provider,
        "method": command.method,
        "path": command.path,
        "created_at": crate::clock::rfc3339_from_ms(command.created_at_ms),
        "updated_at": crate::clock::rfc3339_from_ms(command.updated_at_ms),
    });
    if let Some(response) = &command.response {
        body["response"] = response.clone();
    }
    if let Some(error) = &command.last_error {
        body["last_error"] = json!(error);
    }
    body
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderMap, HeaderValue};

    use super::prefers_async;

    fn prefer(values: &[&str]) -> bool {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("prefer", HeaderValue::from_str(value).unwrap());
        }
        prefers_async(&headers)
    }

    #[test]
    fn respond_async_is_a_preference_token_not_text_in_a_quoted_string() {
        for yes in [
            &["respond-async"][..],
            &["Respond-Async; wait=10"],
            &["return=minimal, respond-async"],
            &["wait=10; x=\"a,b\", respond-async"],
            &["return=minimal", "respond-async"],
        ] {
            assert!(prefer(yes), "{yes:?}");
        }
        for no in [
            &["foo=\"a,respond-async;x\""][..],
            &["return=minimal"],
            &["x=\"\\\",respond-async\""],
            &["respond-asynchronously"],
            &[],
        ] {
            assert!(!prefer(no), "{no:?}");
        }
    }
}
