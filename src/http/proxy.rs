//! `/proxy/{provider}/{path…}`: passthrough to the provider's `base_url` + path with the query string, through the
//! same admission and policy stack as domain routes. The provider's credentials replace the caller's
//! `Authorization`; hop-by-hop headers are stripped both ways; the vendor's status, headers and body come back as
//! they are, the body streamed. A path that could leave `base_url` is refused before anything is sent. A `POST` or
//! `PATCH` with an `Idempotency-Key` is read whole instead and kept for replay (see [`super::idempotency`]).

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::correlation::CorrelationId;
use super::outbound::{outcome, provider_name, record, status_label, traceparent, with_limit_headers};
use super::problem::{ApiError, Problem};
use crate::calls::domain::keep;
use crate::calls::idempotency::{self, KeyGuard};
use crate::calls::problems::upstream_problem;
use gatehouse_kit::outbound::UpstreamError;

use crate::upstream::{Call, ProviderClient, UpstreamResponse};

const HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    HeaderName::from_static("proxy-connection"),
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// Request headers the gateway sets itself (or must not pass on): never forwarded as the caller sent them.
const REPLACED: [HeaderName; 5] = [
    header::HOST,
    header::AUTHORIZATION,
    header::CONTENT_LENGTH,
    HeaderName::from_static("traceparent"),
    HeaderName::from_static(crate::http::correlation::HEADER),
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
    let encoded = raw.match_indices('%').any(|(at, _)| {
        raw.as_bytes().get(at + 1..at + 3).is_some_and(|code| {
            FORBIDDEN_ENCODED.contains(&[code[0].to_ascii_lowercase(), code[1].to_ascii_lowercase()])
        })
    });
    if encoded {
        return Err("the path contains encoded dots, slashes, backslashes, semicolons or percent signs");
    }
    let mut segments = raw[1..].split('/').enumerate().peekable();
    while let Some((i, segment)) = segments.next() {
        // `..;x` is `..` to servers that strip path parameters (Tomcat, Spring).
        let name = segment.split(';').next().unwrap_or_default();
        if is_dot_segment(name) {
            return Err("the path contains . or .. segments");
        }
        if segment.is_empty() && segments.peek().is_some() {
            return Err("the path contains an empty segment (//)");
        }
        if i == 0 && segment.contains(':') {
            return Err("the path looks like an absolute URL");
        }
    }
    Ok(())
}

/// Percent-encodings refused anywhere in a path (lower-cased hex): `.`, `/`, `\`, `%`, NUL, `;`.
const FORBIDDEN_ENCODED: [[u8; 2]; 6] = [*b"2e", *b"2f", *b"5c", *b"25", *b"00", *b"3b"];

/// Characters a server that normalises Unicode (NFKC) reads as `.`: fullwidth, one-dot leader, small full stop.
pub(crate) const DOT_LOOKALIKES: [char; 3] = ['\u{FF0E}', '\u{2024}', '\u{FE52}'];

/// Whether a server on the way could read `segment` as `.` or `..`: as it is, or once percent-decoded with
/// surrounding whitespace trimmed (`..%20`, `%09..`) and Unicode dot look-alikes normalised (`．．`, as NFKC does).
fn is_dot_segment(segment: &str) -> bool {
    if segment.is_ascii() && !segment.contains('%') {
        // Nothing to decode or normalise (the look-alikes are not ASCII).
        let dots = segment.trim();
        return dots == "." || dots == "..";
    }
    let decoded = percent_encoding::percent_decode_str(segment).decode_utf8_lossy();
    let dots = decoded.trim().replace(DOT_LOOKALIKES, ".");
    dots == "." || dots == ".."
}

/// Removes, in place, the hop-by-hop headers of a message: the standard ones and those its `Connection` names.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Most messages have none: one pass over the names is cheaper than a lookup per hop-by-hop name.
    if !headers.keys().any(|name| HOP_BY_HOP.contains(name)) {
        return;
    }
    if headers.contains_key(header::CONNECTION) {
        let listed: Vec<HeaderName> = headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
            .collect();
        for name in listed {
            headers.remove(name);
        }
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
}

/// The methods passed through. TRACE would echo the injected credential back to the caller, CONNECT would open a
/// tunnel, and unknown methods have unknown semantics: all three are refused before anything is sent.
const PROXIED_METHODS: [Method; 7] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
    Method::OPTIONS,
];
const PROXIED_ALLOW: &str = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS";

pub async fn proxy(State(state): State<AppState>, request: Request) -> Response {
    let started = Instant::now();
    let (mut parts, body) = request.into_parts();
    let correlation = parts.extensions.remove::<CorrelationId>();
    let correlation_id = correlation.as_ref().map(CorrelationId::header_value);
    let name = provider_name(&parts.uri, "/proxy/");
    let caller = match state.callers.authenticate(&parts.headers) {
        Ok(caller) => caller,
        Err(error) => return error.into_response(),
    };
    let admitted = match state.calls.admit(caller, name).await {
        Ok(admitted) => admitted,
        Err(refused) => return with_limit_headers(refused.error.into_response(), refused.limit.as_ref()),
    };
    let limit = admitted.limit.as_ref();
    if !PROXIED_METHODS.contains(&parts.method) {
        let refusal = ApiError::new(
            Problem::MethodNotAllowed,
            format!("{} is not passed through to vendors", parts.method),
        )
        .allow(PROXIED_ALLOW);
        return with_limit_headers(refusal.into_response(), limit);
    }
    // The rest of the raw path and the query, after `/proxy/{provider}`.
    let rest = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .and_then(|p| p.strip_prefix("/proxy/"))
        .and_then(|p| p.strip_prefix(name))
        .unwrap_or("");
    let raw = rest.split('?').next().unwrap_or_default();
    if let Err(reason) = check_path(raw) {
        record(admitted.client, "proxy", Problem::InvalidRequest.slug(), started);
        return with_limit_headers(ApiError::new(Problem::InvalidRequest, reason).into_response(), limit);
    }
    let read = async {
        if super::commands::prefers_async(&parts.headers) {
            return Err(ApiError::new(
                Problem::InvalidRequest,
                "Prefer: respond-async is for the domain routes under /v1; passthrough calls answer synchronously",
            ));
        }
        let key = idempotency::header_key(&parts.headers)?;
        let body = super::body::read_limited(&parts.headers, body, &state.config.server).await?;
        Ok::<_, ApiError>((body, key))
    };
    let (body, key) = match read.await {
        Ok(read) => read,
        Err(error) => return with_limit_headers(error.into_response(), limit),
    };
    if let Some(key) = &key {
        // The vendor sees the key under the caller's name on every method, as on domain routes: callers share the
        // provider's credentials, so two callers' keys must never meet at the vendor.
        let scoped = idempotency::vendor_key(&admitted.caller.name, key);
        match HeaderValue::from_str(&scoped) {
            Ok(value) => parts.headers.insert(idempotency::HEADER, value),
            Err(_) => parts.headers.remove(idempotency::HEADER),
        };
    }
    // Only POST and PATCH keys are the gateway's to keep (other methods are safe to repeat anyway).
    let key = key.filter(|_| parts.method == Method::POST || parts.method == Method::PATCH);
    let guard = match key {
        Some(key) => {
            let target = parts.uri.path_and_query().map_or("", |p| p.as_str());
            let fingerprint = idempotency::fingerprint(&parts.method, target, &body);
            let caller = admitted.caller.name.as_str();
            match idempotency::claim(&state.store, &state.config.idempotency, caller, key, fingerprint).await {
                Ok(guard) => Some(guard),
                Err(answer) => return with_limit_headers(answer, limit),
            }
        }
        None => None,
    };
    let traceparent = traceparent(&parts.headers);
    let mut headers = std::mem::take(&mut parts.headers);
    strip_hop_by_hop(&mut headers);
    for name in &REPLACED {
        headers.remove(name);
    }
    let call = Call {
        retryable: Call::is_retryable(&parts.method, &headers),
        method: parts.method,
        path_and_query: rest.to_owned(),
        headers,
        body,
        correlation_id,
        traceparent,
    };
    if let Some(guard) = guard {
        // The call runs to its end even if the caller goes away, so its answer is kept for the retry.
        let provider = Arc::clone(admitted.provider);
        let limit_bytes = state.config.server.max_body_bytes;
        let work = async move {
            let Some(client) = provider.outbound.as_ref() else {
                guard.release().await;
                return ApiError::new(Problem::UnknownProvider, "the provider takes no outbound calls").into_response();
            };
            kept(client, client.call(call).await, guard, limit_bytes).await
        };
        let task = match correlation {
            Some(id) => super::correlation::spawn(&state.calls.background, id, work),
            None => state.calls.background.spawn(work),
        };
        let response = task
            .await
            .unwrap_or_else(|_| ApiError::new(Problem::UpstreamError, "the call failed unexpectedly").into_response());
        record(admitted.client, "proxy", outcome(&response), started);
        return with_limit_headers(response, limit);
    }
    let response = match admitted.client.call(call).await {
        Ok(upstream) => {
            let (upstream, body) = upstream.into_parts();
            record(admitted.client, "proxy", status_label(upstream.status), started);
            let mut headers = upstream.headers;
            strip_hop_by_hop(&mut headers);
            // The bulkhead slot rides in the body: it stays taken until the body has been streamed (or the caller
            // went away).
            let mut response = Response::new(Body::new(body));
            *response.status_mut() = upstream.status;
            *response.headers_mut() = headers;
            response
        }
        Err(error) => {
            let problem = upstream_problem(&error);
            record(admitted.client, "proxy", problem.problem().slug(), started);
            problem.into_response()
        }
    };
    with_limit_headers(response, limit)
}

/// The answer to a request holding an idempotency key: the vendor's response read whole (up to `limit`) and kept
/// for replay, or the gateway's failure with the key released.
async fn kept(
    client: &ProviderClient,
    result: Result<UpstreamResponse, UpstreamError>,
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
    let mut headers = upstream.headers().clone();
    strip_hop_by_hop(&mut headers);
    headers.remove(header::CONTENT_LENGTH);
    // The vendor answered, so whatever comes of its body is kept: a retry must not repeat the call.
    let response = match client.read_body(upstream, limit).await {
        Ok(body) => {
            let mut response = Response::new(Body::from(body));
            *response.status_mut() = status;
            *response.headers_mut() = headers;
            response
        }
        Err(error) => upstream_problem(&error).into_response(),
    };
    keep(guard, response).await
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
            "/..%20/x",
            "/%09../x",
            "/a/..%0B",
            "/%EF%BC%8E%EF%BC%8E/x",
            "/\u{FF0E}\u{FF0E}/x",
            "/.%E2%80%A4/x",
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
