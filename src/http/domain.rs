//! `/v1/{provider}/…`: a caller's domain request, parsed at the edge (caller key, route, query, body, headers)
//! and handed to the orchestration ([`crate::calls::domain`]: admission, idempotency keys, deferred commands, the
//! adapter through the provider's policy stack); this handler writes its answer with the caller's rate-limit
//! headers and records the call's metrics.

use std::time::Instant;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri, header};
use axum::response::{IntoResponse, Response};
use gatehouse_kit::outbound::{DomainRequest, RouteSpec};

use super::AppState;
use super::correlation::CorrelationId;
use super::outbound::{outcome, provider_name, record, traceparent, with_limit_headers};
use super::problem::{ApiError, Problem};
use crate::calls::domain::DomainCall;
use crate::calls::route::{Params, match_route, query_pairs};
use crate::calls::{Admitted, idempotency};

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
    let caller = match state.callers.authenticate(&headers) {
        Ok(caller) => caller,
        Err(error) => return error.into_response(),
    };
    let admitted = match state.calls.admit(caller, name).await {
        Ok(admitted) => admitted,
        Err(refused) => return with_limit_headers(refused.error.into_response(), refused.limit.as_ref()),
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
    let mut response = match parse(&state, &admitted, request, body, (spec, params)).await {
        Ok(call) => crate::calls::domain::run(&state.calls, &admitted, call).await,
        Err(error) => error.into_response(),
    };
    record(admitted.client, spec.path, outcome(&response), started);
    response.headers_mut().remove(header::SERVER);
    with_limit_headers(response, admitted.limit.as_ref())
}

/// The parts of the caller's request [`parse`] reads besides its body.
struct Incoming<'a> {
    method: Method,
    uri: &'a Uri,
    headers: &'a HeaderMap,
    correlation_id: CorrelationId,
}

/// The rest of the request read and checked: query, body (within its limit), idempotency key, `Prefer`.
async fn parse<'u>(
    state: &AppState,
    admitted: &Admitted<'_>,
    incoming: Incoming<'u>,
    body: Body,
    (spec, params): (&'static RouteSpec, Params),
) -> Result<DomainCall<'u>, ApiError> {
    let Incoming {
        method,
        uri,
        headers,
        correlation_id,
    } = incoming;
    let query = query_pairs(uri.query())?;
    let body = super::body::read_limited(headers, body, &state.config.server).await?;
    let key = idempotency::key(&method, headers)?;
    let deferred = super::commands::prefers_async(headers);
    if deferred && !crate::calls::deferred::is_mutation(&method) {
        return Err(ApiError::new(
            Problem::InvalidRequest,
            format!("Prefer: respond-async is for mutations (POST, PUT, PATCH, DELETE), not {method}"),
        ));
    }
    let caller = admitted.caller.name.as_str();
    let request = DomainRequest {
        route: spec.path,
        method,
        params,
        query,
        body,
        idempotency_key: key.as_deref().map(|k| idempotency::vendor_key(caller, k)),
    };
    Ok(DomainCall {
        request,
        key,
        deferred,
        path_and_query: uri.path_and_query().map_or(uri.path(), |p| p.as_str()),
        correlation_id,
        traceparent: traceparent(headers),
        cache: crate::calls::fallback::Directives::parse(headers),
    })
}
