//! Deferred commands: a mutation sent with `Prefer: respond-async` is validated by its adapter, stored (with its
//! idempotency key's answer, in one transaction) and answered `202 {"id","status":"pending"}` with
//! `Location: /v1/commands/{id}`. The executor ([`crate::commands`]) runs it later through the same adapter and
//! policy stack ([`super::Calls::invoke`]).

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gatehouse_kit::outbound::DomainRequest;
use serde_json::json;
use uuid::Uuid;

use super::Calls;
use super::idempotency::KeyGuard;
use super::problems::outbound_problem;
use crate::problem::{ApiError, Problem};
use crate::providers::Provider;
use crate::store::NewCommand;

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
pub async fn submit(calls: &Calls, submission: Submission<'_>, guard: Option<KeyGuard>) -> Response {
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
    match calls.store.insert_command(command, completion).await {
        Ok(()) => {
            calls.commands_wake.notify_one();
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
