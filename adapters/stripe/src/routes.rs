//! The outbound routes under `/v1/stripe`: our payment requests translated into Stripe's PaymentIntent API, and
//! its answers back into [`Payment`]s or [`OutboundError`]s.
//!
//! | Route                  | Vendor call                                  | Answer        |
//! |------------------------|----------------------------------------------|---------------|
//! | `POST /payments`       | `POST /v1/payment_intents` (form-encoded)    | 201 `Payment` |
//! | `GET /payments/{id}`   | `GET /v1/payment_intents/{id}`               | 200 `Payment` |
//!
//! The caller's `Idempotency-Key` is forwarded to Stripe, which deduplicates creations with it. Stripe's answers map
//! as: 404 on a payment → `NotFound` with Stripe's message; 429 → `UpstreamError::RateLimited` with the vendor's
//! `Retry-After`; 401/403 → `VendorFailed` (gatehouse's credentials, not the caller's fault); other 4xx (400, 402
//! card errors, 409 idempotency conflicts, ...) → `VendorRejected` with Stripe's `error.message`; anything else that
//! is not 2xx, or a 2xx body that is not a PaymentIntent → `VendorFailed`. Error messages never carry Stripe's body,
//! only its `error.message` (or `error.code`), cleaned and shortened.

use std::time::Duration;

use bytes::Bytes;
use gatehouse_kit::domain::Payment;
use gatehouse_kit::outbound::{
    DomainRequest, DomainResponse, OutboundError, RouteSpec, Upstream, UpstreamError, VendorRequest, VendorResponse,
};
use gatehouse_kit::webhook::{deserialize_at, text_problem};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::dto::{ErrorBody, NewPaymentIntent, PaymentIntent};

/// Our name for the vendor in error messages.
const VENDOR: &str = "stripe";
const PAYMENTS: &str = "/payments";
const PAYMENT: &str = "/payments/{id}";
const PAYMENT_INTENTS: &str = "/v1/payment_intents";

/// The routes [`crate::Stripe`] serves.
pub(crate) static ROUTES: [RouteSpec; 2] = [
    RouteSpec::new(Method::POST, PAYMENTS),
    RouteSpec::new(Method::GET, PAYMENT),
];

/// Stripe's header for deduplicating creations.
const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
/// How long to wait when Stripe answers 429 without a readable `Retry-After`.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);
/// The most characters of a vendor's error message we pass on.
const MAX_MESSAGE_CHARS: usize = 200;

/// Everything but RFC 3986's unreserved characters is encoded, `/` above all, so a path parameter stays one
/// segment. `.` stays as it is: the only dangerous values, `.` and `..` as a whole, are refused by [`path_param`].
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// Serves one of [`ROUTES`].
pub(crate) async fn call(request: DomainRequest, upstream: &dyn Upstream) -> Result<DomainResponse, OutboundError> {
    match (request.method.as_str(), request.route) {
        ("POST", PAYMENTS) => create_payment(&request, upstream).await,
        ("GET", PAYMENT) => get_payment(&request, upstream).await,
        (method, route) => Err(invalid(format!("{VENDOR} has no route {method} {route}"))),
    }
}

/// `POST /payments` `{"amount":{"value","currency"},"customer_id"}` → `POST /v1/payment_intents`
/// `amount=…&currency=…&customer=…` with the caller's `Idempotency-Key` → 201 `Payment`.
async fn create_payment(request: &DomainRequest, upstream: &dyn Upstream) -> Result<DomainResponse, OutboundError> {
    let new: NewPayment = caller_body(request, "`amount` and optionally `customer_id`")?;
    if new.amount.value <= 0 {
        return Err(invalid("field `amount.value` must be a positive integer (minor units)"));
    }
    let currency = currency(&new.amount.currency)?;
    let customer = match new.customer_id.as_deref() {
        Some(id) => Some(non_empty("customer_id", id)?),
        None => None,
    };
    let form = NewPaymentIntent {
        amount: new.amount.value,
        currency: &currency,
        customer,
    };
    let body = serde_urlencoded::to_string(&form)
        .map_err(|e| OutboundError::VendorFailed(format!("cannot encode the request to {VENDOR}: {e}")))?;

    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    if let Some(key) = &request.idempotency_key {
        let value = HeaderValue::from_str(key).map_err(|_| invalid("header Idempotency-Key is not visible ASCII"))?;
        headers.insert(IDEMPOTENCY_KEY, value);
    }
    let response = upstream
        .send(VendorRequest {
            method: Method::POST,
            path_and_query: PAYMENT_INTENTS.to_owned(),
            headers,
            body: Bytes::from(body),
        })
        .await?;
    check_status(&response, None)?;
    Ok(DomainResponse::created(to_json(&payment(&response)?)?))
}

/// `GET /payments/{id}` → `GET /v1/payment_intents/{id}` → 200 `Payment`.
async fn get_payment(request: &DomainRequest, upstream: &dyn Upstream) -> Result<DomainResponse, OutboundError> {
    let id = path_param(request, "id")?;
    let response = upstream
        .send(VendorRequest {
            method: Method::GET,
            path_and_query: format!("{PAYMENT_INTENTS}/{}", utf8_percent_encode(id, SEGMENT)),
            headers: HeaderMap::new(),
            body: Bytes::new(),
        })
        .await?;
    check_status(&response, Some(id))?;
    Ok(DomainResponse::ok(to_json(&payment(&response)?)?))
}

/// The body of `POST /payments`, in our words.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewPayment {
    amount: Amount,
    /// Absent or null: a payment without a customer.
    #[serde(default)]
    customer_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Amount {
    value: i64,
    currency: String,
}

/// Three ASCII letters, lowercased for Stripe.
fn currency(code: &str) -> Result<String, OutboundError> {
    if code.len() == 3 && code.bytes().all(|b| b.is_ascii_alphabetic()) {
        Ok(code.to_ascii_lowercase())
    } else {
        Err(invalid(
            "field `amount.currency` must be a three-letter ISO 4217 code such as \"usd\"",
        ))
    }
}

/// The path parameter `name`, fit to become one vendor path segment.
fn path_param<'a>(request: &'a DomainRequest, name: &str) -> Result<&'a str, OutboundError> {
    let value = request
        .param(name)
        .ok_or_else(|| invalid(format!("path parameter `{name}` is missing")))?;
    if let Some(problem) = text_problem(value) {
        return Err(invalid(format!("path parameter `{name}` {problem}")));
    }
    if value == "." || value == ".." {
        return Err(invalid(format!("path parameter `{name}` cannot be `.` or `..`")));
    }
    Ok(value)
}

/// The caller's JSON object body as `T`; errors name the field at fault. `expected` says what the object holds.
fn caller_body<T: DeserializeOwned>(request: &DomainRequest, expected: &str) -> Result<T, OutboundError> {
    if request.body.is_empty() {
        return Err(invalid(format!(
            "body is empty; expected a JSON object with {expected}"
        )));
    }
    let value: Value =
        serde_json::from_slice(&request.body).map_err(|e| invalid(format!("body is not valid JSON: {e}")))?;
    if !value.is_object() {
        return Err(invalid(format!(
            "body is not a JSON object; expected one with {expected}"
        )));
    }
    deserialize_at(&value, "", "body").map_err(|e| invalid(e.to_string()))
}

fn non_empty<'a>(field: &str, value: &'a str) -> Result<&'a str, OutboundError> {
    if value.trim().is_empty() {
        Err(invalid(format!("field `{field}` is empty")))
    } else {
        Ok(value)
    }
}

/// `Ok` for a 2xx; otherwise the error the status means. `payment_id` is the payment a 404 is about; without one
/// (the collection endpoint) a 404 means a misconfigured `base_url`.
fn check_status(response: &VendorResponse, payment_id: Option<&str>) -> Result<(), OutboundError> {
    let status = response.status;
    if status.is_success() {
        return Ok(());
    }
    Err(match status {
        StatusCode::NOT_FOUND => match payment_id {
            Some(id) => OutboundError::NotFound(
                vendor_error(&response.body)
                    .and_then(|error| error.message)
                    .unwrap_or_else(|| format!("no payment {id}")),
            ),
            None => OutboundError::VendorFailed(format!("{VENDOR} answered 404")),
        },
        StatusCode::TOO_MANY_REQUESTS => OutboundError::Upstream(UpstreamError::RateLimited {
            retry_after: retry_after(&response.headers),
        }),
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
            OutboundError::VendorFailed(format!("{VENDOR} refused gatehouse's credentials"))
        }
        status if status.is_client_error() && status != StatusCode::REQUEST_TIMEOUT => {
            let error = vendor_error(&response.body);
            OutboundError::VendorRejected(match error {
                Some(VendorError {
                    message: Some(message), ..
                }) => format!("{VENDOR} rejected the request: {message}"),
                Some(VendorError { code: Some(code), .. }) => {
                    format!(
                        "{VENDOR} rejected the request (status {}, code {code})",
                        status.as_u16()
                    )
                }
                _ => format!("{VENDOR} rejected the request (status {})", status.as_u16()),
            })
        }
        status => OutboundError::VendorFailed(format!("{VENDOR} answered {}", status.as_u16())),
    })
}

/// `Retry-After` in seconds; an HTTP date, garbage or nothing counts as one second.
fn retry_after(headers: &HeaderMap) -> Duration {
    headers
        .get(header::RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.trim().parse().ok())
        .map_or(DEFAULT_RETRY_AFTER, Duration::from_secs)
}

/// Stripe's `error.code` and `error.message`, cleaned and shortened; `None` when the body is not Stripe's error.
#[derive(Debug, Default, PartialEq, Eq)]
struct VendorError {
    code: Option<String>,
    message: Option<String>,
}

fn vendor_error(body: &[u8]) -> Option<VendorError> {
    let body: ErrorBody = serde_json::from_slice(body).ok()?;
    Some(VendorError {
        code: body.error.code.as_deref().and_then(clean),
        message: body.error.message.as_deref().and_then(clean),
    })
}

/// `text` without control characters and shortened; `None` when nothing is left.
fn clean(text: &str) -> Option<String> {
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

/// A 2xx body as our `Payment`.
fn payment(response: &VendorResponse) -> Result<Payment, OutboundError> {
    let value: Value = serde_json::from_slice(&response.body).map_err(|e| {
        OutboundError::VendorFailed(format!("{VENDOR} answered a PaymentIntent that is not valid JSON: {e}"))
    })?;
    // serde would also read a struct from an array of its fields.
    if !value.is_object() {
        return Err(OutboundError::VendorFailed(format!(
            "{VENDOR} answered a PaymentIntent that is not a JSON object"
        )));
    }
    let intent: PaymentIntent = deserialize_at(
        &value,
        "",
        &format!("{VENDOR} answered a PaymentIntent of the wrong shape"),
    )
    .map_err(|e| OutboundError::VendorFailed(e.to_string()))?;
    Payment::try_from(intent)
        .map_err(|e| OutboundError::VendorFailed(format!("{VENDOR} answered a PaymentIntent that is not valid: {e}")))
}

fn to_json<T: Serialize>(value: &T) -> Result<Value, OutboundError> {
    serde_json::to_value(value)
        .map_err(|e| OutboundError::VendorFailed(format!("cannot encode {VENDOR}'s answer: {e}")))
}

fn invalid(message: impl Into<String>) -> OutboundError {
    OutboundError::InvalidRequest(message.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_defaults_to_one_second() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::RETRY_AFTER, HeaderValue::from_str(value).unwrap());
            retry_after(&headers)
        };
        assert_eq!(with("7"), Duration::from_secs(7));
        assert_eq!(with("Wed, 21 Oct 2026 07:28:00 GMT"), DEFAULT_RETRY_AFTER);
        assert_eq!(with("1.5"), DEFAULT_RETRY_AFTER);
        assert_eq!(retry_after(&HeaderMap::new()), DEFAULT_RETRY_AFTER);
    }

    #[test]
    fn reads_stripes_error_body() {
        let error = |body: &str| vendor_error(body.as_bytes());
        assert_eq!(
            error(r#"{"error":{"type":"card_error","code":"card_declined","message":"Your card was declined."}}"#),
            Some(VendorError {
                code: Some("card_declined".into()),
                message: Some("Your card was declined.".into()),
            })
        );
        assert_eq!(
            error(r#"{"error":{"type":"api_error","message":" line\none "}}"#),
            Some(VendorError {
                code: None,
                message: Some("line one".into()),
            })
        );
        assert_eq!(error(r#"{"error":{"message":""}}"#), Some(VendorError::default()));
        for none in ["", "oops", "{}", r#"{"error":"x"}"#, r#"{"error":{"message":5}}"#] {
            assert_eq!(error(none), None, "{none:?}");
        }
        let long = "x".repeat(500);
        assert_eq!(clean(&long).unwrap().chars().count(), MAX_MESSAGE_CHARS + 1);
    }

    #[test]
    fn currencies_are_three_ascii_letters() {
        assert_eq!(currency("USD").as_deref(), Ok("usd"));
        assert_eq!(currency("eUr").as_deref(), Ok("eur"));
        for bad in ["", "us", "usdx", "u$d", "12a", "üsd"] {
            assert!(
                currency(bad).unwrap_err().to_string().contains("`amount.currency`"),
                "{bad}"
            );
        }
    }
}
