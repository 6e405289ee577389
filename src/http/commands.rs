//! Deferred commands over HTTP: a mutation sent with `Prefer: respond-async` is validated, stored and answered
//! `202 {"id","status":"pending"}` with `Location: /v1/commands/{id}`; `GET /v1/commands/{id}` shows its caller
//! how it went. The executor ([`crate::commands`]) runs it later through the same adapter and policy stack.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gatehouse_kit::outbound::DomainRequest;
use serde_json::json;
use uuid::Uuid;

use super::AppState;
use super::extract::PathParam;
use super::idempotency::KeyGuard;
use super::outbound::{outbound_problem, with_limit_headers};
use super::problem::{ApiError, Problem};
use crate::providers::Provider;
use crate::store::{CommandRecord, NewCommand};

/// Whether `Prefer` asks for an asynchronous answer (RFC 7240 `respond-async`).
pub fn prefers_async(headers: &HeaderMap) -> bool {
    headers
        .get_all("prefer")
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

pub fn is_mutation(method: &Method) -> bool {
    matches!(*method, Method::POST | Method::PUT | Method::PATCH | Method::DELETE)
}

/// A validated-to-be mutation to defer.
pub struct Submission<'a> {
    pub caller: &'a str,
    pub provider: &'a Provider,
    pub request: DomainRequest,
    /// The route path and query under `/v1/{provider}`, as sent.
    pub path: String,
    pub correlation_id: String,
}

/// Validates the request with its adapter, stores it (with the idempotency key's completion, in one transaction)
/// and answers 202. Nothing is stored when validation or the store fails.
pub async fn submit(state: &AppState, submission: Submission<'_>, guard: Option<KeyGuard>) -> Response {
    let Submission {
        caller,
        provider,
        request,
        path,
        correlation_id,
    } = submission;
    if let Err(error) = provider.adapter.validate(&request).await {
        if let Some(guard) = guard {
            guard.release().await;
        }
        return outbound_problem(error).into_response();
    }
    let id = Uuid::now_v7();
    let vendor_key = request
        .idempotency_key
        .clone()
        .unwrap_or_else(|| super::idempotency::vendor_key(caller, &format!("command-{id}")));
    let location = format!("/v1/commands/{id}");
    let body = serde_json::to_vec(&json!({"id": id, "status": "pending"})).unwrap_or_default();
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Ok(value) = HeaderValue::from_str(&location) {
        headers.insert(header::LOCATION, value);
    }
    headers.insert("preference-applied", HeaderValue::from_static("respond-async"));
    let completion = guard
        .as_ref()
        .map(|g| g.completion(StatusCode::ACCEPTED, &headers, body.clone().into()));
    let command = NewCommand {
        id,
        caller: caller.to_owned(),
        provider: provider.name.clone(),
        method: request.method.as_str().to_owned(),
        path,
        body: request.body,
        vendor_key,
        correlation_id,
        created_at_ms: crate::clock::now_ms(),
    };
    match state.store.insert_command(command, completion).await {
        Ok(()) => {
            state.commands_wake.notify_one();
            (StatusCode::ACCEPTED, headers, body).into_response()
        }
        Err(error) => {
            tracing::error!(%error, "cannot store a deferred command");
            // An uncertain write may still store the command (and the key's 202): the key must stay taken, or a
            // retry would store a second command. It frees itself after idempotency.lock_for if it did not land.
            if let Some(guard) = guard.filter(|_| !matches!(error, crate::store::StoreError::Uncertain(_))) {
                guard.release().await;
            }
            ApiError::new(Problem::StoreUnavailable, "the command cannot be stored right now")
                .retry_after(1)
                .into_response()
        }
    }
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
    let limit = state.caller_limits.check(&caller.name).await;
    if let Some(decision) = limit.as_ref().filter(|d| !d.allowed) {
        let refusal = ApiError::new(Problem::RateLimited, "this caller's rate limit is exhausted")
            .retry_after(decision.retry_after)
            .into_response();
        return with_limit_headers(refusal, limit.as_ref());
    }
    let response = lookup(&state, caller, &id).await;
    with_limit_headers(response, limit.as_ref())
}

async fn lookup(state: &AppState, caller: &super::auth::Caller, id: &str) -> Response {
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
