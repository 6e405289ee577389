//! `/proxy/{provider}/{path…}`: passthrough to the provider's `base_url` + path with the query string, through the
//! same admission and policy stack as domain routes. The provider's credentials replace the caller's
//! `Authorization`; hop-by-hop headers are stripped both ways; the vendor's status, headers and body come back as
//! they are, the body streamed. A path that could leave `base_url` is refused before anything is sent. A `POST` or
//! `PATCH` with an `Idempotency-Key` is read whole instead and kept for replay (see [`super::idempotency`]).

use std::time::Instant;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, Method, Uri, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::correlation::CorrelationId;
use super::domain::keep;
use super::idempotency::{self, KeyGuard};
use super::outbound::{admit, outcome, provider_name, record, traceparent, upstream_problem, with_limit_headers};
use super::problem::{ApiError, Problem};
use futures_util::StreamExt;
use gatehouse_kit::outbound::UpstreamError;

use crate::upstream::{Call, ProviderClient, bulkhead};

const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Refuses a raw (still percent-encoded) path that could escape `base_url` or be read differently by the vendor:
/// dot segments, empty segments (`//host`), backslashes, encoded `.`, `/`, `\` or `%` (double encoding), control
/// characters, and anything that is not a plain absolute path.
pub fn check_path(raw: &str) -> Result<(), &'static str> {
    if !raw.starts_with('/') {
        return Err("the path must start with /");
    }
    if raw.bytes().any(|b| b.is_ascii_control() || b == b'\\' || b == b' ') {
        return Err("the path contains control characters, spaces or backslashes");
    }
    let lower = raw.to_ascii_lowercase();
    if ["%2e", "%2f", "%5c", "%25", "%00", "%3b"]
        .iter()
        .any(|p| lower.contains(p))
    {
        return Err("the path contains encoded dots, slashes, backslashes, semicolons or percent signs");
    }
    let segments: Vec<&str> = raw[1..].split('/').collect();
    let last = segments.len().saturating_sub(1);
    for (i, segment) in segments.iter().enumerate() {
        // `..;x` is `..` to servers that strip path parameters (Tomcat, Spring).
        let name = segment.split(';').next().unwrap_or_default();
        if name == "." || name == ".." {
            return Err("the path contains . or .. segments");
        }
        if segment.is_empty() && i != last {
            return Err("the path contains an empty segment (//)");
        }
        if i == 0 && segment.contains(':') {
            return Err("the path looks like an absolute URL");
        }
    }
    Ok(())
}

/// Whether `name` is hop-by-hop in a message with `headers`: a standard one, or one its `Connection` header names.
fn hop_by_hop(headers: &HeaderMap, name: &HeaderName) -> bool {
    HOP_BY_HOP.contains(&name.as_str())
        || headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|listed| listed.trim().eq_ignore_ascii_case(name.as_str()))
}

fn forwardable(headers: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        let dropped = hop_by_hop(headers, name)
            || matches!(
                name.as_str(),
                "host" | "authorization" | "content-length" | "traceparent"
            )
            || name.as_str() == crate::http::correlation::HEADER;
        if !dropped {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

pub async fn proxy(
    State(state): State<AppState>,
    axum::Extension(CorrelationId(correlation_id)): axum::Extension<CorrelationId>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let name = provider_name(&uri, "/proxy/");
    let admitted = match admit(&state, &name, &headers) {
        Ok(admitted) => admitted,
        Err(refusal) => return *refusal,
    };
    let limit = admitted.limit.as_ref();
    let prefix = format!("/proxy/{name}");
    let raw = uri.path().strip_prefix(prefix.as_str()).unwrap_or("");
    if let Err(reason) = check_path(raw) {
        record(&name, "proxy", Problem::InvalidRequest.slug(), started);
        return with_limit_headers(ApiError::new(Problem::InvalidRequest, reason).into_response(), limit);
    }
    let read = async {
        let body = super::body::read_limited(&headers, body, &state.config.server).await?;
        Ok::<_, ApiError>((body, idempotency::key(&method, &headers)?))
    };
    let (body, key) = match read.await {
        Ok(read) => read,
        Err(error) => return with_limit_headers(error.into_response(), limit),
    };
    let guard = match key {
        Some(key) => {
            let fingerprint = idempotency::fingerprint(&method, uri.path_and_query().map_or("", |p| p.as_str()), &body);
            let caller = admitted.caller.name.as_str();
            match idempotency::claim(&state.store, &state.config.idempotency, caller, key, fingerprint).await {
                Ok(guard) => Some(guard),
                Err(answer) => return with_limit_headers(answer, limit),
            }
        }
        None => None,
    };
    let path_and_query = match uri.query() {
        Some(query) => format!("{raw}?{query}"),
        None => raw.to_owned(),
    };
    let headers_out = forwardable(&headers);
    let call = Call {
        retryable: Call::is_retryable(&method, &headers_out),
        method,
        path_and_query,
        headers: headers_out,
        body,
        correlation_id,
        traceparent: traceparent(&headers),
    };
    let result = admitted.client.call(call).await;
    if let Some(guard) = guard {
        let response = kept(admitted.client, result, guard, state.config.server.max_body_bytes).await;
        record(&name, "proxy", &outcome(&response), started);
        return with_limit_headers(response, limit);
    }
    let response = match result {
        Ok(upstream) => {
            record(&name, "proxy", upstream.status().as_str(), started);
            let mut response = Response::builder().status(upstream.status());
            if let Some(out) = response.headers_mut() {
                *out = forwardable_response(upstream.headers());
            }
            // The bulkhead slot stays taken until the body has been streamed (or the caller went away).
            let permit = upstream.extensions().get::<bulkhead::Permit>().cloned();
            let body = upstream.bytes_stream().map(move |chunk| {
                let _slot = &permit;
                chunk
            });
            response
                .body(Body::from_stream(body))
                .unwrap_or_else(|_| ApiError::new(Problem::UpstreamError, "unusable vendor response").into_response())
        }
        Err(error) => {
            let problem = upstream_problem(&error);
            record(&name, "proxy", problem.problem().slug(), started);
            problem.into_response()
        }
    };
    with_limit_headers(response, limit)
}

/// The answer to a request holding an idempotency key: the vendor's response read whole (up to `limit`) and kept
/// for replay, or the gateway's failure with the key released.
async fn kept(
    client: &ProviderClient,
    result: Result<reqwest::Response, UpstreamError>,
    guard: KeyGuard,
    limit: usize,
) -> Response {
    let upstream = match result {
        Ok(upstream) => upstream,
        Err(error) => {
            guard.release().await;
            return upstream_problem(&error).into_response();
        }
    };
    let status = upstream.status();
    let headers = forwardable_response(upstream.headers());
    // The vendor answered, so whatever comes of its body is kept: a retry must not repeat the call.
    let response = match client.read_body(upstream, limit).await {
        Ok(body) => {
            let mut response = Response::new(Body::from(body));
            *response.status_mut() = status;
            *response.headers_mut() = headers;
            response.headers_mut().remove(header::CONTENT_LENGTH);
            response
        }
        Err(error) => upstream_problem(&error).into_response(),
    };
    keep(guard, response).await
}

fn forwardable_response(headers: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        if !hop_by_hop(headers, name) {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::check_path;

    #[test]
    fn refuses_paths_that_could_leave_base_url() {
        for bad in [
            "",
            "x",
            "/..",
            "/a/../b",
            "/./a",
            "//evil.com/x",
            "/a//b",
            "/%2e%2e/x",
            "/%2E%2E/x",
            "/.%2e/x",
            "/a%2fb",
            "/..;/x",
            "/a/.;x/b",
            "/a%3b/..",
            "/a%3B",
            "/a%5cb",
            "/a\\b",
            "/%252e%252e/x",
            "/http://evil.com",
            "/https:/evil",
            "/a%00",
            "/a b",
        ] {
            assert!(check_path(bad).is_err(), "{bad:?} must be refused");
        }
        for good in [
            "/",
            "/v1/charges",
            "/a/b/",
            "/customers/c_1",
            "/a%20b",
            "/a:b/c:d/x",
            "/path/with:colon",
        ] {
            let first_has_colon = good[1..].split('/').next().is_some_and(|s| s.contains(':'));
            assert_eq!(check_path(good).is_ok(), !first_has_colon, "{good:?}");
        }
    }
}
