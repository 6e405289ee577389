//! Reading the vendor's answers, the same way in every adapter: what a non-2xx status means ([`check_status`], with
//! the vendor's own error shape read into a [`VendorError`] by the adapter), the `Retry-After` of a 429
//! ([`retry_after`]), vendor messages cleaned and shortened before they reach a caller ([`clean_message`]), 2xx
//! bodies as the vendor's DTOs ([`vendor_json`]) and as our domain types ([`vendor_domain`]), and the domain answer
//! as JSON ([`to_json`]).
//!
//! Every message these produce starts with the vendor's name as the adapter gives it (`acme-crm answered 500`) and
//! never carries the vendor's body, only the text the adapter picked out of it, cleaned.

use std::fmt::Display;
use std::time::Duration;

use http::{HeaderMap, StatusCode, header};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{OutboundError, UpstreamError, VendorResponse};
use crate::webhook::deserialize_at;

/// How long to wait when a vendor answers 429 without a readable `Retry-After`.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);
/// The most characters of a vendor's error message passed on by [`clean_message`] (which then adds `…`).
pub const MAX_MESSAGE_CHARS: usize = 200;

/// What a vendor's error body says, as its adapter reads it for [`check_status`]: the human-readable message and,
/// for vendors that have one, a machine-readable code. Both should be [`clean_message`]d.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VendorError {
    pub code: Option<String>,
    pub message: Option<String>,
}

/// `Ok` for a 2xx; otherwise the [`OutboundError`] the status means:
///
/// - 404 → [`OutboundError::NotFound`] with the message `not_found` gives, when the request was about one resource
///   (`not_found` is handed what `read_error` made of the body); when `not_found` answers `None` (a collection
///   endpoint, which always exists) the 404 means a misconfigured `base_url`: `VendorFailed("{vendor} answered
///   404")`.
/// - 429 → [`UpstreamError::RateLimited`] with the vendor's [`retry_after`].
/// - 401, 403 → `VendorFailed("{vendor} refused gatehouse's credentials")`: gatehouse's credentials, not the
///   caller's fault.
/// - any other 4xx but 408 → [`OutboundError::VendorRejected`]: `{vendor} rejected the request: {message}` with the
///   [`VendorError`]'s message, else `{vendor} rejected the request (status {status}, code {code})` with its code,
///   else `{vendor} rejected the request (status {status})`.
/// - anything else (408, 5xx, 1xx, 3xx) → `VendorFailed("{vendor} answered {status}")`.
///
/// `read_error` reads the vendor's error body (`None` when it is not the vendor's error shape); it is only called
/// for a 404 or a rejection.
pub fn check_status(
    vendor: &str,
    response: &VendorResponse,
    read_error: impl FnOnce(&[u8]) -> Option<VendorError>,
    not_found: impl FnOnce(Option<VendorError>) -> Option<String>,
) -> Result<(), OutboundError> {
    let status = response.status;
    if status.is_success() {
        return Ok(());
    }
    Err(match status {
        StatusCode::NOT_FOUND => match not_found(read_error(&response.body)) {
            Some(message) => OutboundError::NotFound(message),
            None => OutboundError::VendorFailed(format!("{vendor} answered 404")),
        },
        StatusCode::TOO_MANY_REQUESTS => OutboundError::Upstream(UpstreamError::RateLimited {
            retry_after: retry_after(&response.headers),
        }),
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
            OutboundError::VendorFailed(format!("{vendor} refused gatehouse's credentials"))
        }
        status if status.is_client_error() && status != StatusCode::REQUEST_TIMEOUT => {
            let status = status.as_u16();
            OutboundError::VendorRejected(match read_error(&response.body) {
                Some(VendorError {
                    message: Some(message), ..
                }) => format!("{vendor} rejected the request: {message}"),
                Some(VendorError { code: Some(code), .. }) => {
                    format!("{vendor} rejected the request (status {status}, code {code})")
                }
                _ => format!("{vendor} rejected the request (status {status})"),
            })
        }
        status => OutboundError::VendorFailed(format!("{vendor} answered {}", status.as_u16())),
    })
}

/// `Retry-After` in whole seconds; garbage or nothing counts as [`DEFAULT_RETRY_AFTER`]. See [`parse_retry_after`].
pub fn retry_after(headers: &HeaderMap) -> Duration {
    parse_retry_after(headers).unwrap_or(DEFAULT_RETRY_AFTER)
}

/// `Retry-After` as delay-seconds or an HTTP date (a date in the past is zero); `None` when absent or unreadable.
/// The one parser the gateway's retries and every adapter share.
pub fn parse_retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(text).ok()?;
    Some(when.duration_since(std::time::SystemTime::now()).unwrap_or_default())
}

/// A vendor's message fit to pass on: trimmed, each control character replaced by a space, and shortened to
/// [`MAX_MESSAGE_CHARS`] characters followed by `…` when longer; `None` when nothing but whitespace is left.
pub fn clean_message(text: &str) -> Option<String> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let mut cleaned: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_MESSAGE_CHARS)
        .collect();
    if text.chars().nth(MAX_MESSAGE_CHARS).is_some() {
        cleaned.push('…');
    }
    Some(cleaned)
}

/// A 2xx body as the vendor DTO `T`, refused as [`OutboundError::VendorFailed`] when it is not a JSON object (serde
/// would also read a struct from an array of its fields) or not of `T`'s shape. `what` names the body in the
/// messages (`a customer`): `{vendor} answered {what} that is not valid JSON: {reason}`, `{vendor} answered {what}
/// that is not a JSON object`, ``{vendor} answered {what} of the wrong shape: field `{path}`: {reason}``.
pub fn vendor_json<T: DeserializeOwned>(
    vendor: &str,
    response: &VendorResponse,
    what: &str,
) -> Result<T, OutboundError> {
    let value: Value = serde_json::from_slice(&response.body)
        .map_err(|e| OutboundError::VendorFailed(format!("{vendor} answered {what} that is not valid JSON: {e}")))?;
    if !value.is_object() {
        return Err(OutboundError::VendorFailed(format!(
            "{vendor} answered {what} that is not a JSON object"
        )));
    }
    deserialize_at(&value, "", &format!("{vendor} answered {what} of the wrong shape"))
        .map_err(|e| OutboundError::VendorFailed(e.to_string()))
}

/// A 2xx body as the vendor DTO `V` ([`vendor_json`]) translated into our domain type `D` (the DTO's `TryFrom`, the
/// adapter's anti-corruption layer); a translation error is `VendorFailed("{vendor} answered {what} that is not
/// valid: {error}")`.
pub fn vendor_domain<V, D>(vendor: &str, response: &VendorResponse, what: &str) -> Result<D, OutboundError>
where
    V: DeserializeOwned,
    D: TryFrom<V>,
    D::Error: Display,
{
    D::try_from(vendor_json::<V>(vendor, response, what)?)
        .map_err(|e| OutboundError::VendorFailed(format!("{vendor} answered {what} that is not valid: {e}")))
}

/// Our domain answer (made from the vendor's) as the JSON of a [`super::DomainResponse`]; a failure, which our
/// domain types never give, is `VendorFailed("cannot encode {vendor}'s answer: {reason}")`.
pub fn to_json<T: Serialize>(vendor: &str, value: &T) -> Result<Value, OutboundError> {
    serde_json::to_value(value)
        .map_err(|e| OutboundError::VendorFailed(format!("cannot encode {vendor}'s answer: {e}")))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use bytes::Bytes;
    use http::HeaderValue;
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    fn response(status: u16, body: &str) -> VendorResponse {
        VendorResponse {
            status: StatusCode::from_u16(status).unwrap(),
            headers: HeaderMap::new(),
            body: Bytes::copy_from_slice(body.as_bytes()),
        }
    }

    /// Reads `{"message": ..., "code": ...}`.
    fn read_error(body: &[u8]) -> Option<VendorError> {
        let value: Value = serde_json::from_slice(body).ok()?;
        let field = |name: &str| value.get(name).and_then(Value::as_str).and_then(clean_message);
        Some(VendorError {
            code: field("code"),
            message: field("message"),
        })
    }

    fn check(status: u16, body: &str) -> Result<(), OutboundError> {
        check_status("acme", &response(status, body), read_error, |error| {
            Some(error.and_then(|e| e.message).unwrap_or_else(|| "no thing t_1".into()))
        })
    }

    #[test]
    fn success_is_any_2xx() {
        for status in [200, 201, 204, 299] {
            assert_eq!(check(status, "not even json"), Ok(()), "{status}");
        }
    }

    #[test]
    fn a_404_is_not_found_or_a_vendor_failure_as_the_adapter_says() {
        assert_eq!(
            check(404, r#"{"message":"No such thing: t_1"}"#),
            Err(OutboundError::NotFound("No such thing: t_1".into()))
        );
        assert_eq!(check(404, ""), Err(OutboundError::NotFound("no thing t_1".into())));
        let collection = check_status("acme", &response(404, r#"{"message":"x"}"#), read_error, |_| None);
        assert_eq!(collection, Err(OutboundError::VendorFailed("acme answered 404".into())));
    }

    #[test]
    fn a_429_is_rate_limited_with_the_vendors_retry_after() {
        let mut limited = response(429, r#"{"message":"slow down"}"#);
        assert_eq!(
            check_status("acme", &limited, read_error, |_| None),
            Err(OutboundError::Upstream(UpstreamError::RateLimited {
                retry_after: DEFAULT_RETRY_AFTER
            }))
        );
        limited
            .headers
            .insert(header::RETRY_AFTER, HeaderValue::from_static("9"));
        assert_eq!(
            check_status("acme", &limited, read_error, |_| None),
            Err(OutboundError::Upstream(UpstreamError::RateLimited {
                retry_after: Duration::from_secs(9)
            }))
        );
    }

    #[test]
    fn refused_credentials_are_a_vendor_failure() {
        for status in [401, 403] {
            assert_eq!(
                check(status, r#"{"message":"bad key sk_live_123"}"#),
                Err(OutboundError::VendorFailed(
                    "acme refused gatehouse's credentials".into()
                ))
            );
        }
    }

    #[test]
    fn other_client_errors_are_rejections_with_the_message_else_the_code() {
        let rejected = |message: &str| Err(OutboundError::VendorRejected(message.into()));
        for (status, body, expected) in [
            (
                400,
                r#"{"message":" bad\nemail ","code":"invalid"}"#,
                "acme rejected the request: bad email",
            ),
            (
                402,
                r#"{"code":"card_declined"}"#,
                "acme rejected the request (status 402, code card_declined)",
            ),
            (
                409,
                r#"{"message":"  ","code":""}"#,
                "acme rejected the request (status 409)",
            ),
            (410, "", "acme rejected the request (status 410)"),
            (422, "[1]", "acme rejected the request (status 422)"),
            (499, "oops", "acme rejected the request (status 499)"),
        ] {
            assert_eq!(check(status, body), rejected(expected), "{status} {body}");
        }
    }

    #[test]
    fn anything_else_is_a_vendor_failure_without_the_body() {
        for status in [100, 301, 304, 408, 500, 502, 503, 599] {
            assert_eq!(
                check(status, r#"{"message":"db password hunter2"}"#),
                Err(OutboundError::VendorFailed(format!("acme answered {status}"))),
                "{status}"
            );
        }
    }

    #[test]
    fn the_error_body_is_only_read_when_needed() {
        let unread = |_: &[u8]| -> Option<VendorError> { panic!("the body was read") };
        for status in [200, 401, 408, 429, 500] {
            let _ = check_status("acme", &response(status, "{}"), unread, |_| None);
        }
    }

    #[test]
    fn retry_after_is_seconds_or_a_date_and_defaults_to_one_second() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::RETRY_AFTER, HeaderValue::from_str(value).unwrap());
            retry_after(&headers)
        };
        assert_eq!(DEFAULT_RETRY_AFTER, Duration::from_secs(1));
        assert_eq!(with("7"), Duration::from_secs(7));
        assert_eq!(with(" 0 "), Duration::ZERO);
        assert_eq!(
            with("Wed, 21 Oct 2026 07:28:00 GMT"),
            Duration::ZERO,
            "a past date: now"
        );
        let in_a_minute = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(61));
        let wait = with(&in_a_minute);
        assert!(
            wait > Duration::from_secs(55) && wait <= Duration::from_secs(61),
            "{wait:?}"
        );
        assert_eq!(with("-3"), DEFAULT_RETRY_AFTER);
        assert_eq!(with("1.5"), DEFAULT_RETRY_AFTER);
        assert_eq!(with(""), DEFAULT_RETRY_AFTER);
        assert_eq!(retry_after(&HeaderMap::new()), DEFAULT_RETRY_AFTER);
    }

    #[test]
    fn messages_are_cleaned_and_shortened() {
        assert_eq!(clean_message(" bad\nemail ").as_deref(), Some("bad email"));
        assert_eq!(clean_message("a\u{0}b\u{85}c").as_deref(), Some("a b c"));
        assert_eq!(
            clean_message("Your card was declined.").as_deref(),
            Some("Your card was declined.")
        );
        for blank in ["", "  ", "\n\t "] {
            assert_eq!(clean_message(blank), None, "{blank:?}");
        }
        let longest = "é".repeat(MAX_MESSAGE_CHARS);
        assert_eq!(clean_message(&longest), Some(longest.clone()));
        let long = clean_message(&"x".repeat(500)).unwrap();
        assert_eq!(long.chars().count(), MAX_MESSAGE_CHARS + 1);
        assert!(long.ends_with("x…"), "{long}");
        assert_eq!(clean_message(&format!("  {longest}y  ")), Some(format!("{longest}…")));
    }

    #[derive(Debug, PartialEq, Deserialize)]
    struct Thing {
        id: String,
        size: u32,
    }

    #[test]
    fn vendor_bodies_must_be_json_objects_of_the_dtos_shape() {
        let thing = |body: &str| vendor_json::<Thing>("acme", &response(200, body), "a thing");
        assert_eq!(
            thing(r#"{"id":"t_1","size":2,"extra":true}"#),
            Ok(Thing {
                id: "t_1".into(),
                size: 2
            })
        );
        let failure = |body: &str| match thing(body) {
            Err(OutboundError::VendorFailed(message)) => message,
            other => panic!("{body}: expected a vendor failure, got {other:?}"),
        };
        for (body, start) in [
            ("", "acme answered a thing that is not valid JSON: "),
            ("<html>", "acme answered a thing that is not valid JSON: "),
            (r#"["t_1",2]"#, "acme answered a thing that is not a JSON object"),
            ("null", "acme answered a thing that is not a JSON object"),
            (
                r#"{"id":"t_1","size":"2"}"#,
                "acme answered a thing of the wrong shape: field `size`: invalid type",
            ),
            (
                r#"{"id":"t_1"}"#,
                "acme answered a thing of the wrong shape: missing field `size`",
            ),
        ] {
            let message = failure(body);
            assert!(message.starts_with(start), "{body}: {message}");
        }
    }

    /// A thing in our domain: its size must be even.
    #[derive(Debug, PartialEq)]
    struct EvenThing(u32);

    impl TryFrom<Thing> for EvenThing {
        type Error = &'static str;

        fn try_from(thing: Thing) -> Result<Self, Self::Error> {
            if thing.size.is_multiple_of(2) {
                Ok(Self(thing.size))
            } else {
                Err("field `size` is odd")
            }
        }
    }

    #[test]
    fn vendor_bodies_are_translated_into_the_domain() {
        let even = |body: &str| vendor_domain::<Thing, EvenThing>("acme", &response(200, body), "a thing");
        assert_eq!(even(r#"{"id":"t_1","size":2}"#), Ok(EvenThing(2)));
        assert_eq!(
            even(r#"{"id":"t_1","size":3}"#),
            Err(OutboundError::VendorFailed(
                "acme answered a thing that is not valid: field `size` is odd".into()
            ))
        );
        assert_eq!(
            even("[]"),
            Err(OutboundError::VendorFailed(
                "acme answered a thing that is not a JSON object".into()
            ))
        );
    }

    #[test]
    fn domain_answers_become_json() {
        let thing = BTreeMap::from([("id", "t_1")]);
        assert_eq!(to_json("acme", &thing), Ok(json!({"id": "t_1"})));
        let unencodable = BTreeMap::from([((1, 2), "map keys must be strings")]);
        match to_json("acme", &unencodable) {
            Err(OutboundError::VendorFailed(message)) => {
                assert!(message.starts_with("cannot encode acme's answer: "), "{message}")
            }
            other => panic!("expected a vendor failure, got {other:?}"),
        }
    }
}
