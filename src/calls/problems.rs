//! The problem each outbound failure is answered with: the adapter's [`OutboundError`]s and the policy stack's
//! [`UpstreamError`]s, classified once here for `/v1`, `/proxy` and a deferred command's stored outcome.

use gatehouse_kit::outbound::{OutboundError, UpstreamError};

use crate::problem::{ApiError, Problem};
use crate::upstream::rate_limit::retry_after_secs;

/// The problem for a gateway-side failure of a vendor call.
pub fn upstream_problem(error: &UpstreamError) -> ApiError {
    match error {
        UpstreamError::RateLimited { retry_after } => {
            ApiError::new(Problem::RateLimited, "the provider's rate limit is exhausted")
                .retry_after(retry_after_secs(*retry_after))
        }
        UpstreamError::CircuitOpen { retry_after } => {
            ApiError::new(Problem::CircuitOpen, "the vendor is failing; calls are paused")
                .retry_after(retry_after_secs(*retry_after))
        }
        UpstreamError::BulkheadFull => {
            ApiError::new(Problem::BulkheadFull, "too many calls in flight to this vendor").retry_after(1)
        }
        UpstreamError::Timeout => ApiError::new(Problem::UpstreamTimeout, "the vendor did not answer in time"),
        UpstreamError::Connect(_) | UpstreamError::Response(_) => {
            ApiError::new(Problem::UpstreamError, error.to_string())
        }
    }
}

/// The problem for an adapter's failure.
pub fn outbound_problem(error: OutboundError) -> ApiError {
    match error {
        OutboundError::InvalidRequest(detail) | OutboundError::VendorRejected(detail) => {
            ApiError::new(Problem::InvalidRequest, detail)
        }
        OutboundError::NotFound(detail) => ApiError::new(Problem::NotFound, detail),
        OutboundError::VendorFailed(detail) => ApiError::new(Problem::UpstreamError, detail),
        OutboundError::Upstream(error) => upstream_problem(&error),
    }
}

/// Whether an adapter's failure came from a vendor answer (kept for replay under an idempotency key) rather than
/// from the gateway before any answer (the key is released): caller validation, rate limits, an open breaker, a
/// full bulkhead, timeouts and connect errors are the gateway's.
pub fn vendor_answered(error: &OutboundError) -> bool {
    match error {
        OutboundError::NotFound(_) | OutboundError::VendorRejected(_) | OutboundError::VendorFailed(_) => true,
        OutboundError::Upstream(UpstreamError::Response(_)) => true,
        OutboundError::InvalidRequest(_) | OutboundError::Upstream(_) => false,
    }
}
