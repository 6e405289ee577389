//! `POST /webhooks/{provider}`: raw bytes → verify (the provider's scheme, any of its secrets) → the adapter reads
//! id, type, subject and domain data → inbox + outbox in one durable transaction → 200. Nothing is stored unless
//! every step passes, and nothing is acknowledged before the commit returns.

use std::time::Instant;

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use gatehouse_kit::signature::VerifyContext;
use gatehouse_kit::{InboundEvent, WebhookOutcome};
use serde_json::{Value, json};
use uuid::Uuid;

use super::AppState;
use super::correlation::CorrelationId;
use super::problem::{ApiError, Problem};
use crate::envelope::Envelope;
use crate::metrics::{WEBHOOK_SECONDS, WEBHOOKS};
use crate::providers::{Provider, WebhookVerifier};
use crate::store::{Ingested, NewEvent};

pub async fn receive(
    State(state): State<AppState>,
    provider: Result<Path<String>, PathRejection>,
    axum::Extension(correlation_id): axum::Extension<CorrelationId>,
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
    let result = accept(
        &state,
        provider,
        verifier,
        headers,
        body,
        correlation_id.as_str().to_owned(),
    )
    .await;
    let outcome = match &result {
        Ok(Accepted::Stored(ingested)) if ingested.duplicate => "duplicate",
        Ok(Accepted::Stored(_)) => "accepted",
        Ok(Accepted::Reply(_)) => "reply",
        Err(e) => e.problem().slug(),
    };
    metrics::counter!(WEBHOOKS, "provider" => provider.name.clone(), "outcome" => outcome).increment(1);
    metrics::histogram!(WEBHOOK_SECONDS, "provider" => provider.name.clone()).record(started.elapsed().as_secs_f64());
    Ok(match result? {
        Accepted::Stored(ingested) => Json(json!({"id": ingested.id, "duplicate": ingested.duplicate})).into_response(),
        Accepted::Reply(reply) => Json(reply).into_response(),
    })
}

enum Accepted {
    Stored(Ingested),
    Reply(Value),
}

async fn accept(
    state: &AppState,
    provider: &Provider,
    verifier: &WebhookVerifier,
    headers: HeaderMap,
    body: Body,
    correlation_id: String,
) -> Result<Accepted, ApiError> {
    let name = &provider.name;
    let body = super::body::read_limited(&headers, body, &state.config.server).await?;
    let verified = verifier
        .scheme
        .verify(
            headers,
            body.clone(),
            VerifyContext {
                keys: &verifier.keys,
                now: crate::clock::now_secs(),
                tolerance: verifier.tolerance,
            },
        )
        .map_err(|e| {
            tracing::info!(provider = %name, reason = %e, "webhook rejected: signature");
            ApiError::new(Problem::InvalidSignature, e.to_string())
        })?;
    let event = match provider.adapter.interpret_webhook(&verified) {
        Ok(WebhookOutcome::Event(event)) => event,
        Ok(WebhookOutcome::Reply(reply)) => return Ok(Accepted::Reply(reply)),
        Err(e) => {
            tracing::info!(provider = %name, reason = %e, "webhook rejected: unreadable body");
            return Err(ApiError::new(Problem::InvalidRequest, e.to_string()));
        }
    };
    let mut new_event = new_event(provider, event, body, correlation_id)?;
    new_event.deliver_to = crate::relay::route(&state.config.subscriptions, &new_event.event_type);
    let wake_relay = !new_event.deliver_to.is_empty();
    let ingested = state.store.ingest(new_event).await.map_err(|e| {
        tracing::error!(provider = %name, error = %e, "webhook not committed");
        ApiError::new(Problem::StoreUnavailable, "the event could not be stored; retry later").retry_after(5)
    })?;
    if wake_relay && !ingested.duplicate {
        state.relay_wake.notify_one();
    }
    tracing::debug!(provider = %name, id = %ingested.id, duplicate = ingested.duplicate, "webhook accepted");
    Ok(Accepted::Stored(ingested))
}

fn new_event(
    provider: &Provider,
    event: InboundEvent,
    raw_body: Bytes,
    correlation_id: String,
) -> Result<NewEvent, ApiError> {
    let id = Uuid::now_v7();
    let received_at_ms = crate::clock::now_ms();
    let event_type = format!("{}.{}", provider.name, event.event_type);
    let envelope = Envelope {
        specversion: Envelope::SPEC_VERSION,
        id,
        source: format!("gatehouse/{}", provider.name),
        event_type: &event_type,
        time: crate::clock::rfc3339_from_ms(received_at_ms),
        subject: event.subject.as_deref(),
        datacontenttype: Envelope::CONTENT_TYPE,
        data: &event.data,
        providereventid: &event.provider_event_id,
        correlationid: &correlation_id,
    };
    let envelope = serde_json::to_vec(&envelope)
        .map_err(|e| ApiError::new(Problem::InvalidRequest, format!("the event cannot be encoded: {e}")))?;
    Ok(NewEvent {
        id,
        provider: provider.name.clone(),
        provider_event_id: event.provider_event_id,
        event_type,
        subject: event.subject,
        correlation_id,
        received_at_ms,
        envelope,
        raw_body,
        deliver_to: Vec::new(),
    })
}
