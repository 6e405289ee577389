//! `POST /webhooks/{provider}`: the edge of the webhook path. It finds the provider, reads the raw body within its
//! limits, hands both to [`crate::ingest`] (verify → translate or quarantine → commit) and answers: 200 only once
//! the commit returned, 401 for a signature that does not verify, 503 when the store cannot commit.

use std::time::Instant;

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;
use super::correlation::CorrelationId;
use super::problem::{ApiError, Problem};
use crate::ingest::{IngestError, Received};
use crate::metrics::{WEBHOOK_SECONDS, WEBHOOKS};

pub async fn receive(
    State(state): State<AppState>,
    provider: Result<Path<String>, PathRejection>,
    axum::Extension(correlation_id): axum::Extension<CorrelationId>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let name = provider.map(|Path(name)| name).unwrap_or_default();
    let Some((provider, verifier)) = state
        .providers
        .get(&name)
        .and_then(|p| p.webhook.as_ref().map(|verifier| (p, verifier)))
    else {
        // Not labelled with the path: callers must not be able to mint metric series.
        metrics::counter!(WEBHOOKS, "provider" => "", "outcome" => Problem::UnknownProvider.slug()).increment(1);
        return Err(ApiError::new(
            Problem::UnknownProvider,
            format!("no provider {name:?} receives webhooks"),
        ));
    };
    let ingest = state.ingest();
    let result = match super::body::read_limited(&headers, body, &state.config.server).await {
        Ok(body) => ingest
            .receive(
                provider,
                verifier,
                (headers, body, query.as_deref()),
                correlation_id.as_str().to_owned(),
            )
            .await
            .map_err(|error| refusal(&provider.name, error)),
        Err(error) => Err(error),
    };
    let outcomes = match &result {
        Ok(Received::Batch(parts)) => parts.iter().map(outcome).collect(),
        Ok(received) => vec![outcome(received)],
        Err(e) => vec![e.problem().slug()],
    };
    for outcome in outcomes {
        metrics::counter!(WEBHOOKS, "provider" => provider.name.clone(), "outcome" => outcome).increment(1);
    }
    metrics::histogram!(WEBHOOK_SECONDS, "provider" => provider.name.clone()).record(started.elapsed().as_secs_f64());
    Ok(Json(answer(result?)).into_response())
}

/// The `outcome` label of one stored event or reply.
fn outcome(received: &Received) -> &'static str {
    match received {
        Received::Stored { ingested, .. } if ingested.duplicate => "duplicate",
        Received::Stored { quarantined: true, .. } => "quarantined",
        Received::Stored { .. } => "accepted",
        Received::Reply(_) => "reply",
        Received::Batch(_) => "batch",
    }
}

/// The 200 body: the stored event (`id`, `duplicate`, `quarantined`), the handshake's reply, or for a batch
/// `{"events": [...]}` with one such object per event, in the request's order.
fn answer(received: Received) -> serde_json::Value {
    match received {
        Received::Stored { ingested, quarantined } => json!({
            "id": ingested.id,
            "duplicate": ingested.duplicate,
            "quarantined": quarantined,
        }),
        Received::Reply(reply) => reply,
        Received::Batch(parts) => json!({ "events": parts.into_iter().map(answer).collect::<Vec<_>>() }),
    }
}

/// The answer to a webhook that was not taken in.
fn refusal(provider: &str, error: IngestError) -> ApiError {
    match error {
        IngestError::Signature(e) => {
            tracing::info!(%provider, reason = %e, "webhook rejected: signature");
            ApiError::new(Problem::InvalidSignature, e.to_string())
        }
        IngestError::Store(e) => {
            tracing::error!(%provider, error = %e, "webhook not committed");
            ApiError::new(Problem::StoreUnavailable, "the event could not be stored; retry later").retry_after(5)
        }
    }
}
