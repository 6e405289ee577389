//! `/v1/{provider}/…`: a caller's domain request, admitted (caller auth, provider allowed, caller rate limit),
//! matched to one of the provider's adapter routes and handed to the adapter, which reaches the vendor through the
//! provider's policy stack. With an `Idempotency-Key` (POST, PATCH) the answer is kept for replay; with
//! `Prefer: respond-async` a mutation is stored as a deferred command and answered 202 (see [`super::commands`]).

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, Uri, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use gatehouse_kit::outbound::{DomainRequest, OutboundError, RouteSpec, UpstreamError};

use super::AppState;
use super::correlation::CorrelationId;
use super::idempotency::{self, KeyGuard};
use super::outbound::with_limit_headers;
use super::outbound::{Admitted, admit, outbound_problem, outcome, provider_name, record, traceparent};
use super::problem::{ApiError, Problem};
use crate::providers::Provider;
use crate::upstream::RequestUpstream;

/// Path parameters by name, decoded.
pub type Params = Vec<(String, String)>;

/// The adapter route serving `method` on `path` (relative to `/v1/{provider}`, still percent-encoded), with its
/// path parameters decoded exactly once, as [`DomainRequest`] promises.
pub fn match_route(provider: &Provider, method: &Method, path: &str) -> Result<(&'static RouteSpec, Params), ApiError> {
    // Matched on the raw path so an encoded `/` stays inside its segment (`/customers/a%2Fb` is one id).
    let Ok(matched) = provider.routes.at(path) else {
        return Err(ApiError::new(
            Problem::UnknownRoute,
            format!("{} has no route {path}", provider.name),
        ));
    };
    let routes = provider.adapter.routes();
    let Some(spec) = matched
        .value
        .iter()
        .filter_map(|i| routes.get(*i))
        .find(|r| r.method == method)
    else {
        let allowed: Vec<&str> = matched
            .value
            .iter()
            .filter_map(|i| routes.get(*i))
            .map(|r| r.method.as_str())
            .collect();
        return Err(
            ApiError::new(Problem::MethodNotAllowed, format!("{path} does not accept {method}"))
                .allow(allowed.join(", ")),
        );
    };
    let params = matched
        .params
        .iter()
        .map(|(k, v)| {
            let value = percent_encoding::percent_decode_str(v).decode_utf8().map_err(|_| {
                ApiError::new(
                    Problem::InvalidRequest,
                    format!("path parameter `{k}` is not UTF-8 once decoded"),
                )
            })?;
            Ok((k.to_owned(), value.into_owned()))
        })
        .collect::<Result<Params, ApiError>>()?;
    Ok((spec, params))
}

/// The query string decoded into pairs, or 400.
pub fn query_pairs(query: Option<&str>) -> Result<Vec<(String, String)>, ApiError> {
    serde_urlencoded::from_str(query.unwrap_or(""))
        .map_err(|e| ApiError::new(Problem::InvalidRequest, format!("the query string is invalid: {e}")))
}

pub async fn domain(
    State(state): State<AppState>,
    axum::Extension(correlation_id): axum::Extension<CorrelationId>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let name = provider_name(&uri, "/v1/");
    let admitted = match admit(&state, name, &headers).await {
        Ok(admitted) => admitted,
        Err(refusal) => return *refusal,
    };
    let route = uri.path().strip_prefix(&format!("/v1/{name}")).unwrap_or_default();
    let (spec, params) = match match_route(admitted.provider, &method, route) {
        Ok(matched) => matched,
        Err(error) => return with_limit_headers(error.into_response(), admitted.limit.as_ref()),
    };
    let request = Incoming {
        method,
        uri: &uri,
        headers: &headers,
        correlation_id,
    };
    let mut response = serve(&state, &admitted, spec, params, request, body).await;
    record(admitted.client, spec.path, outcome(&response), started);
    response.headers_mut().remove(header::SERVER);
    with_limit_headers(response, admitted.limit.as_ref())
}

/// The parts of the caller's request [`serve`] needs besides its body.
struct Incoming<'a> {
    method: Method,
    uri: &'a Uri,
    headers: &'a HeaderMap,
    correlation_id: CorrelationId,
}

async fn serve(
    state: &AppState,
    admitted: &Admitted<'_>,
    spec: &'static RouteSpec,
    params: Params,
    incoming: Incoming<'_>,
    body: Body,
) -> Response {
    let Incoming {
        method,
        uri,
        headers,
        correlation_id,
    } = incoming;
    let checked = async {
        let query = query_pairs(uri.query())?;
        let body = super::body::read_limited(headers, body, &state.config.server).await?;
        let key = idempotency::key(&method, headers)?;
        let deferred = super::commands::prefers_async(headers);
        if deferred && !super::commands::is_mutation(&method) {
            return Err(ApiError::new(
                Problem::InvalidRequest,
                format!("Prefer: respond-async is for mutations (POST, PUT, PATCH, DELETE), not {method}"),
            ));
        }
        Ok((query, body, key, deferred))
    }
    .await;
    let (query, body, key, deferred) = match checked {
        Ok(checked) => checked,
        Err(error) => return error.into_response(),
    };
    let caller = admitted.caller.name.as_str();
    let path_and_query = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    let guard = match &key {
        Some(key) => {
            let fingerprint = idempotency::fingerprint(&method, path_and_query, &body);
            match idempotency::claim(
                &state.store,
                &state.config.idempotency,
                caller,
                key.clone(),
                fingerprint,
            )
            .await
            {
                Ok(guard) => Some(guard),
                Err(answer) => return answer,
            }
        }
        None => None,
    };
    let request = DomainRequest {
        route: spec.path,
        method,
        params,
        query,
        body,
        idempotency_key: key.as_deref().map(|k| idempotency::vendor_key(caller, k)),
    };
    if deferred {
        let route = path_and_query
            .strip_prefix(&format!("/v1/{}", admitted.provider.name))
            .unwrap_or_default();
        let submission = super::commands::Submission {
            caller,
            provider: admitted.provider,
            request,
            path: route.to_owned(),
            correlation_id: correlation_id.as_str().to_owned(),
        };
        return super::commands::submit(state, submission, guard).await;
    }
    let correlation = correlation_id.header_value();
    let traceparent = traceparent(headers);
    let max_body_bytes = state.config.server.max_body_bytes;
    let Some(guard) = guard else {
        let upstream = RequestUpstream {
            client: admitted.client,
            correlation_id: correlation,
            traceparent,
            max_body_bytes,
        };
        return answer(admitted.provider.adapter.call(request, &upstream).await);
    };
    // With a key, the call runs to its end even if the caller goes away, so its answer is kept for the retry.
    let provider = Arc::clone(admitted.provider);
    let call = super::correlation::spawn(correlation_id, async move {
        let Some(client) = provider.outbound.as_ref() else {
            guard.release().await;
            return ApiError::new(Problem::UnknownProvider, "the provider takes no outbound calls").into_response();
        };
        let upstream = RequestUpstream {
            client,
            correlation_id: correlation,
            traceparent,
            max_body_bytes,
        };
        let result = provider.adapter.call(request, &upstream).await;
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

/// The adapter's answer as our response: its JSON, or the problem.
fn answer(result: Result<gatehouse_kit::outbound::DomainResponse, OutboundError>) -> Response {
    match result {
        Ok(answer) => {
            let body = serde_json::to_vec(&answer.body).unwrap_or_default();
            let json = [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))];
            (answer.status, json, body).into_response()
        }
        Err(error) => outbound_problem(error).into_response(),
    }
}

/// Whether an adapter's failure came from a vendor answer (kept for replay) rather than from the gateway before
/// any answer (the key is released): caller validation, rate limits, an open breaker, a full bulkhead, timeouts
/// and connect errors are the gateway's.
pub fn vendor_answered(error: &OutboundError) -> bool {
    match error {
        OutboundError::NotFound(_) | OutboundError::VendorRejected(_) | OutboundError::VendorFailed(_) => true,
        OutboundError::Upstream(UpstreamError::Response(_)) => true,
        OutboundError::InvalidRequest(_) | OutboundError::Upstream(_) => false,
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
