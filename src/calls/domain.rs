//! A `/v1` domain call, once the edge has parsed it: its idempotency key claimed (a replay, 409 or 422 answered
//! instead), then either stored as a deferred command (`Prefer: respond-async`) or run through the adapter and
//! the provider's policy stack, with the read model as the fallback of an unkeyed read ([`super::fallback`]). A
//! keyed call runs in a task of its own so its answer is kept even if the caller goes away.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use gatehouse_kit::outbound::{DomainRequest, DomainResponse, OutboundError};

use super::idempotency::{self, KeyGuard};
use super::problems::{outbound_problem, vendor_answered};
use super::{Admitted, Calls, Origin};
use crate::correlation::CorrelationId;
use crate::problem::{ApiError, Problem};

/// A parsed domain call.
pub struct DomainCall<'a> {
    pub request: DomainRequest,
    /// The caller's `Idempotency-Key` (POST, PATCH).
    pub key: Option<String>,
    /// `Prefer: respond-async`.
    pub deferred: bool,
    /// The request's path and query as sent (`/v1/{provider}/…`), for the key's fingerprint and a command's path.
    pub path_and_query: &'a str,
    pub correlation_id: CorrelationId,
    pub traceparent: Option<HeaderValue>,
    /// The request's `Cache-Control`, for a read the read model may answer.
    pub cache: super::fallback::Directives,
}

/// Runs `call` for the admitted caller: the answer to send.
pub async fn run(calls: &Arc<Calls>, admitted: &Admitted<'_>, call: DomainCall<'_>) -> Response {
    let DomainCall {
        request,
        key,
        deferred,
        path_and_query,
        correlation_id,
        traceparent,
        cache,
    } = call;
    let caller = admitted.caller.name.as_str();
    let guard = match &key {
        Some(key) => {
            let fingerprint = idempotency::fingerprint(&request.method, path_and_query, &request.body);
            let claim = idempotency::claim(
                &calls.store,
                &calls.config.idempotency,
                caller,
                key.clone(),
                fingerprint,
            );
            match claim.await {
                Ok(guard) => Some(guard),
                Err(answer) => return answer,
            }
        }
        None => None,
    };
    if deferred {
        let route = path_and_query
            .strip_prefix(&format!("/v1/{}", admitted.provider.name))
            .unwrap_or_default();
        let submission = super::deferred::Submission {
            caller,
            provider: admitted.provider,
            request,
            path: route.to_owned(),
            correlation_id: correlation_id.as_str().to_owned(),
        };
        return super::deferred::submit(calls, submission, guard).await;
    }
    let origin = Origin {
        correlation_id: correlation_id.header_value(),
        traceparent,
    };
    let Some(guard) = guard else {
        return super::fallback::serve(calls, admitted.provider, request, origin, cache).await;
    };
    // With a key, the call runs to its end even if the caller goes away, so its answer is kept for the retry.
    let background = calls.background.clone();
    let (calls, provider) = (Arc::clone(calls), Arc::clone(admitted.provider));
    let call = crate::correlation::spawn(&background, correlation_id, async move {
        let (result, _) = calls.call(&provider, request, origin, !cache.no_store).await;
        let kept = result.as_ref().err().is_none_or(vendor_answered);
        let response = answer(result);
        if kept {
            keep(guard, response).await
        } else {
            guard.release().await;
            response
        }
    });
    call.await
        .unwrap_or_else(|_| ApiError::new(Problem::UpstreamError, "the call failed unexpectedly").into_response())
}

/// The adapter's answer as our response: its JSON (nothing for a 204), or the problem.
pub fn answer(result: Result<DomainResponse, OutboundError>) -> Response {
    match result {
        Ok(answer) if answer.status == StatusCode::NO_CONTENT => StatusCode::NO_CONTENT.into_response(),
        Ok(answer) => {
            let body = serde_json::to_vec(&answer.body).unwrap_or_default();
            let json = [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))];
            (answer.status, json, body).into_response()
        }
        Err(error) => outbound_problem(error).into_response(),
    }
}

/// Stores a complete in-memory response under the key and sends it.
pub async fn keep(guard: KeyGuard, response: Response) -> Response {
    let (parts, body) = response.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_else(|_| Bytes::new());
    guard.complete(parts.status, &parts.headers, body.clone()).await;
    Response::from_parts(parts, Body::from(body))
}
