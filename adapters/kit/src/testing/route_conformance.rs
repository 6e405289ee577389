//! The route conformance check every adapter with outbound routes runs ([`assert_route_conformance`]): what the
//! gateway relies on from any adapter's `call`, whatever the vendor, checked against a scripted vendor
//! ([`FakeUpstream`]) for every route the adapter declares. What is particular to a vendor (the requests it is
//! sent, its answers' shapes, its error bodies' messages) stays in the adapter's own route tests.

use std::time::Duration;

use http::{Method, StatusCode};

use super::FakeUpstream;
use crate::adapter::Adapter;
use crate::outbound::{DomainRequest, DomainResponse, OutboundError, UpstreamError};

/// Text planted in every vendor body the check sends: an error message that carries it leaked the vendor's body.
const LEAK: &str = "vendor-secret-7f3a";

/// One route's cases: a valid caller request for it (its method and route pattern pick the route) and what else the
/// check needs to know about the route.
#[derive(Debug, Clone)]
pub struct RouteCase {
    request: DomainRequest,
    success: StatusCode,
    reads_answer: bool,
    refused: Vec<(DomainRequest, &'static str)>,
}

impl RouteCase {
    /// A valid request the vendor answers 200 to, reading its body.
    pub fn new(request: DomainRequest) -> Self {
        Self {
            request,
            success: StatusCode::OK,
            reads_answer: true,
            refused: Vec::new(),
        }
    }

    /// The vendor's success status for this route (201 for a creation, say), for the garbage-body cases.
    pub fn success(mut self, status: StatusCode) -> Self {
        self.success = status;
        self
    }

    /// The route answers without reading the vendor's 2xx body (a deletion's 204), so no body is garbage to it.
    pub fn ignores_answer_body(mut self) -> Self {
        self.reads_answer = false;
        self
    }

    /// A caller request the adapter must refuse before any vendor request, with `InvalidRequest` whose message
    /// contains `names` (the field or parameter at fault); `validate` must refuse it the same way.
    pub fn refuses(mut self, request: DomainRequest, names: &'static str) -> Self {
        self.refused.push((request, names));
        self
    }
}

/// Every failure of the gateway's policy stack an adapter must pass through unchanged.
fn upstream_errors() -> [UpstreamError; 6] {
    [
        UpstreamError::RateLimited {
            retry_after: Duration::from_secs(3),
        },
        UpstreamError::CircuitOpen {
            retry_after: Duration::from_secs(30),
        },
        UpstreamError::BulkheadFull,
        UpstreamError::Timeout,
        UpstreamError::Connect("connection refused".into()),
        UpstreamError::Response("connection reset".into()),
    ]
}

/// 2xx bodies no vendor answer is: each must be a `VendorFailed` that quotes none of it.
fn garbage_bodies() -> [String; 6] {
    [
        String::new(),
        format!("<html>{LEAK}</html>"),
        format!("{{\"{LEAK}\""),
        "[]".to_owned(),
        format!("\"{LEAK}\""),
        "null".to_owned(),
    ]
}

/// Checks `adapter`'s routes against `cases`, one or more per route it declares:
///
/// - every declared route has a case and every case is for a declared route; a request for an undeclared method
///   is `InvalidRequest("{name} has no route {method} {path}")` with no vendor request;
/// - every [`UpstreamError`] the policy stack can give is passed through unchanged;
/// - the vendor's statuses map as the kit's `check_status` says: 401/403 → `VendorFailed("{name} refused gatehouse's
///   credentials")`; 408, 5xx, 3xx and 1xx → `VendorFailed("{name} answered {status}")`; 429 with `Retry-After: 7`
///   → `RateLimited` for 7 s; a 400 or 422 whose body is not the vendor's error shape → `VendorRejected("{name}
///   rejected the request (status {status})")`; 404 → `NotFound` for a request with path parameters, else
///   `VendorFailed("{name} answered 404")` (a collection always exists: the `base_url` is wrong);
/// - a 2xx body that is not the vendor's answer (empty, HTML, truncated JSON, an array, a string, `null`) is a
///   `VendorFailed` starting with `{name} answered`, unless the case [ignores the answer body](RouteCase::ignores_answer_body);
/// - no error message quotes the vendor's body;
/// - each [refused](RouteCase::refuses) request is `InvalidRequest` naming the fault, from `validate` and from
///   `call`, before any vendor request.
///
/// # Panics
/// When a check fails (this is a test helper).
pub async fn assert_route_conformance(adapter: &dyn Adapter, cases: &[RouteCase]) {
    let name = adapter.name();
    for route in adapter.routes() {
        let covered = cases
            .iter()
            .any(|case| case.request.method == route.method && case.request.route == route.path);
        assert!(covered, "{name}: no case for {} {}", route.method, route.path);
    }
    for case in cases {
        let request = &case.request;
        let declared = adapter
            .routes()
            .iter()
            .any(|route| route.method == request.method && route.path == request.route);
        assert!(
            declared,
            "{name}: a case for {} {}, which is not declared",
            request.method, request.route
        );
        check_case(adapter, case).await;
    }
    if let Some(route) = adapter.routes().first() {
        undeclared_method(adapter, route.path).await;
    }
}

/// What the adapter answered `request` with, the vendor scripted by `upstream`; and how many requests it sent.
async fn answer(
    adapter: &dyn Adapter,
    request: &DomainRequest,
    upstream: FakeUpstream,
) -> (Result<DomainResponse, OutboundError>, usize) {
    let result = adapter.call(request.clone(), &upstream).await;
    (result, upstream.requests().len())
}

async fn check_case(adapter: &dyn Adapter, case: &RouteCase) {
    let name = adapter.name();
    let request = &case.request;
    let what = format!("{name} {} {}", request.method, request.route);
    for error in upstream_errors() {
        let (result, _) = answer(adapter, request, FakeUpstream::new().fail(error.clone())).await;
        assert_eq!(
            result,
            Err(OutboundError::Upstream(error)),
            "{what}: passes policy errors through"
        );
    }
    let failed = |message: String| Err(OutboundError::VendorFailed(message));
    let mut expected = vec![
        (
            StatusCode::UNAUTHORIZED,
            failed(format!("{name} refused gatehouse's credentials")),
        ),
        (
            StatusCode::FORBIDDEN,
            failed(format!("{name} refused gatehouse's credentials")),
        ),
    ];
    for status in [500, 502, 503, 504, 408, 302, 304, 100] {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        expected.push((status, failed(format!("{name} answered {}", status.as_u16()))));
    }
    for status in [StatusCode::BAD_REQUEST, StatusCode::UNPROCESSABLE_ENTITY] {
        let rejected = format!("{name} rejected the request (status {})", status.as_u16());
        expected.push((status, Err(OutboundError::VendorRejected(rejected))));
    }
    for (status, expected) in expected {
        let body = format!("<html>{LEAK}</html>");
        let (result, _) = answer(adapter, request, FakeUpstream::new().reply(status, body)).await;
        assert_eq!(result, expected, "{what}: the vendor answered {status}");
    }
    let limited = FakeUpstream::new().reply_with_headers(StatusCode::TOO_MANY_REQUESTS, &[("retry-after", "7")], LEAK);
    let (result, _) = answer(adapter, request, limited).await;
    let retry_after = Duration::from_secs(7);
    assert_eq!(
        result,
        Err(OutboundError::Upstream(UpstreamError::RateLimited { retry_after })),
        "{what}: 429 is rate limited for the vendor's Retry-After"
    );
    let (result, _) = answer(adapter, request, FakeUpstream::new().reply(StatusCode::NOT_FOUND, LEAK)).await;
    match result {
        Err(OutboundError::NotFound(message)) if !request.params.is_empty() => no_leak(&what, &message),
        Err(OutboundError::VendorFailed(message)) if request.params.is_empty() => {
            assert_eq!(message, format!("{name} answered 404"), "{what}");
        }
        other => panic!("{what}: a 404 gave {other:?}"),
    }
    if case.reads_answer {
        for body in garbage_bodies() {
            let (result, _) = answer(adapter, request, FakeUpstream::new().reply(case.success, body.clone())).await;
            match result {
                Err(OutboundError::VendorFailed(message)) => {
                    assert!(message.starts_with(&format!("{name} answered")), "{what}: {message}");
                    no_leak(&what, &message);
                }
                other => panic!("{what}: a {} with {body:?} gave {other:?}", case.success),
            }
        }
    }
    for (refused, names) in &case.refused {
        let checked = adapter.validate(refused).await;
        let (result, sent) = answer(adapter, refused, FakeUpstream::new()).await;
        match &result {
            Err(OutboundError::InvalidRequest(message)) => {
                assert!(message.contains(names), "{what}: {message:?} does not name {names:?}");
            }
            other => panic!("{what}: {refused:?} gave {other:?}"),
        }
        assert_eq!(checked, result.map(|_| ()), "{what}: validate and call refuse alike");
        assert_eq!(sent, 0, "{what}: refused before any vendor request");
    }
}

async fn undeclared_method(adapter: &dyn Adapter, path: &'static str) {
    let name = adapter.name();
    let methods = [Method::PUT, Method::DELETE, Method::PATCH, Method::POST, Method::GET];
    let declared = |method: &Method| adapter.routes().iter().any(|r| r.path == path && r.method == *method);
    let Some(method) = methods.into_iter().find(|method| !declared(method)) else {
        return;
    };
    let request = super::domain_request(method.clone(), path, &[("id", "x_1")], &[], "");
    let (result, sent) = answer(adapter, &request, FakeUpstream::new()).await;
    let message = format!("{name} has no route {method} {path}");
    assert_eq!(result, Err(OutboundError::InvalidRequest(message)), "{name}");
    assert_eq!(sent, 0, "{name}: an undeclared route calls no vendor");
}

fn no_leak(what: &str, message: &str) {
    assert!(
        !message.contains(LEAK),
        "{what}: the error quotes the vendor's body: {message}"
    );
}
