//! The one classification of outbound failures ([`ErrorTags`]): where a failure comes from, whether trying again
//! can help (and how soon), and whether it says the vendor is unhealthy. Each error kind and each HTTP status is
//! tagged here, once; the circuit breaker, the retry loop, deferred commands, sagas, the read-model fallback and
//! the relay's sinks read the tags instead of judging errors themselves (as pingora's error types carry their
//! retry decision).

use http::StatusCode;

use super::{OutboundError, UpstreamError};

/// Where a failure comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The caller's request is wrong: nothing else is to blame.
    Caller,
    /// The gateway's own policies refused or stopped the call (rate limit, open circuit, full bulkhead).
    Gateway,
    /// The connection to the vendor failed: refused, timed out, reset before a whole answer.
    Network,
    /// The vendor answered, with an error or something unreadable.
    Vendor,
}

/// Whether the same request can succeed if sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// No: the answer is final (a caller error, a vendor's rejection, a missing resource).
    Never,
    /// Later, not at once: the vendor or the gateway needs time (an open circuit, a 500, a timeout).
    Later,
    /// At once (after the vendor's `Retry-After`, if any): the failure is typically brief (a refused connection,
    /// 502/503/504, 408, 429). The only failures the retry loop resends within a call.
    Now,
}

/// How a failure is classified, for every component that reacts to one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorTags {
    pub origin: Origin,
    pub retry: Retry,
    /// Whether the circuit breaker counts it as the vendor failing (never the caller's or the gateway's doing).
    pub counts_for_breaker: bool,
}

impl ErrorTags {
    const fn new(origin: Origin, retry: Retry, counts_for_breaker: bool) -> Self {
        Self {
            origin,
            retry,
            counts_for_breaker,
        }
    }

    /// Whether trying again, now or later, can help: deferred commands, sagas and the relay retry such failures,
    /// and the read-model fallback answers from what it knows for them (they are not the caller's fault).
    pub const fn retryable(self) -> bool {
        !matches!(self.retry, Retry::Never)
    }

    /// The tags of an HTTP answer with `status` (from a vendor, or from a sink the relay delivers to); `None` for a
    /// 2xx, which is no failure. 408, 429, 502, 503 and 504 can be retried at once; other 5xx later; both count for
    /// the breaker. Any other status (4xx, 3xx, 1xx) is final and says the vendor is up.
    pub fn of_status(status: StatusCode) -> Option<Self> {
        if status.is_success() {
            return None;
        }
        Some(match status.as_u16() {
            408 | 429 | 502 | 503 | 504 => Self::new(Origin::Vendor, Retry::Now, true),
            500..=599 => Self::new(Origin::Vendor, Retry::Later, true),
            _ => Self::new(Origin::Vendor, Retry::Never, false),
        })
    }
}

impl UpstreamError {
    /// This failure's tags. A vendor's 429 reaches adapters as `RateLimited`, tagged like the gateway's own limit:
    /// the breaker has already counted the 429 by its status.
    pub const fn tags(&self) -> ErrorTags {
        match self {
            UpstreamError::RateLimited { .. } | UpstreamError::CircuitOpen { .. } | UpstreamError::BulkheadFull => {
                ErrorTags::new(Origin::Gateway, Retry::Later, false)
            }
            UpstreamError::Connect(_) => ErrorTags::new(Origin::Network, Retry::Now, true),
            // The call's deadline is spent, or the answer broke off after the request was sent: not within this
            // call.
            UpstreamError::Timeout | UpstreamError::Response(_) => ErrorTags::new(Origin::Network, Retry::Later, true),
        }
    }
}

impl OutboundError {
    /// This failure's tags: a caller's invalid request and the vendor's rejections and 404s are final; a vendor
    /// failure (5xx, unreadable answer, refused credentials) may pass; policy failures keep their own tags.
    pub const fn tags(&self) -> ErrorTags {
        match self {
            OutboundError::InvalidRequest(_) => ErrorTags::new(Origin::Caller, Retry::Never, false),
            OutboundError::NotFound(_) | OutboundError::VendorRejected(_) => {
                ErrorTags::new(Origin::Vendor, Retry::Never, false)
            }
            OutboundError::VendorFailed(_) => ErrorTags::new(Origin::Vendor, Retry::Later, true),
            OutboundError::Upstream(error) => error.tags(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn tags(origin: Origin, retry: Retry, counts_for_breaker: bool) -> ErrorTags {
        ErrorTags::new(origin, retry, counts_for_breaker)
    }

    #[test]
    fn every_error_kind_is_tagged() {
        let wait = Duration::from_secs(1);
        let gateway = tags(Origin::Gateway, Retry::Later, false);
        for (error, expected) in [
            (UpstreamError::RateLimited { retry_after: wait }, gateway),
            (UpstreamError::CircuitOpen { retry_after: wait }, gateway),
            (UpstreamError::BulkheadFull, gateway),
            (UpstreamError::Timeout, tags(Origin::Network, Retry::Later, true)),
            (
                UpstreamError::Connect("refused".into()),
                tags(Origin::Network, Retry::Now, true),
            ),
            (
                UpstreamError::Response("reset".into()),
                tags(Origin::Network, Retry::Later, true),
            ),
        ] {
            assert_eq!(error.tags(), expected, "{error:?}");
            assert_eq!(OutboundError::Upstream(error.clone()).tags(), expected, "{error:?}");
            assert!(expected.retryable());
        }
        for (error, expected) in [
            (
                OutboundError::InvalidRequest("x".into()),
                tags(Origin::Caller, Retry::Never, false),
            ),
            (
                OutboundError::NotFound("x".into()),
                tags(Origin::Vendor, Retry::Never, false),
            ),
            (
                OutboundError::VendorRejected("x".into()),
                tags(Origin::Vendor, Retry::Never, false),
            ),
            (
                OutboundError::VendorFailed("x".into()),
                tags(Origin::Vendor, Retry::Later, true),
            ),
        ] {
            assert_eq!(error.tags(), expected, "{error:?}");
        }
        assert!(!OutboundError::VendorRejected("x".into()).tags().retryable());
    }

    #[test]
    fn every_status_is_tagged() {
        for code in 100..600u16 {
            let Ok(status) = StatusCode::from_u16(code) else {
                continue;
            };
            let expected = match code {
                200..=299 => None,
                408 | 429 | 502 | 503 | 504 => Some(tags(Origin::Vendor, Retry::Now, true)),
                500..=599 => Some(tags(Origin::Vendor, Retry::Later, true)),
                _ => Some(tags(Origin::Vendor, Retry::Never, false)),
            };
            assert_eq!(ErrorTags::of_status(status), expected, "{code}");
        }
    }
}
