//! Helpers for testing an adapter's outbound routes with [`super::FakeUpstream`]: a caller's request as the gateway
//! hands it over, and the error messages a result carries.

use bytes::Bytes;
use http::Method;

use crate::outbound::{DomainRequest, DomainResponse, OutboundError};

/// A caller's request to `route` (the adapter's route pattern) with its path `params`, `query` and raw `body`.
pub fn domain_request(
    method: Method,
    route: &'static str,
    params: &[(&str, &str)],
    query: &[(&str, &str)],
    body: &str,
) -> DomainRequest {
    let pairs = |pairs: &[(&str, &str)]| pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
    DomainRequest {
        route,
        method,
        params: pairs(params),
        query: pairs(query),
        body: Bytes::copy_from_slice(body.as_bytes()),
        idempotency_key: None,
    }
}

/// The message of an [`OutboundError::InvalidRequest`]; any other result fails the test.
pub fn invalid_request(result: Result<DomainResponse, OutboundError>) -> String {
    match result {
        Err(OutboundError::InvalidRequest(message)) => message,
        other => panic!("expected InvalidRequest, got {other:?}"),
    }
}

/// The message of an [`OutboundError::VendorFailed`]; any other result fails the test.
pub fn vendor_failed(result: Result<DomainResponse, OutboundError>) -> String {
    match result {
        Err(OutboundError::VendorFailed(message)) => message,
        other => panic!("expected VendorFailed, got {other:?}"),
    }
}
