//! The outbound routes under `/v1/stripe`: our payment requests translated into Stripe's PaymentIntent API, and
//! its answers back into [`Payment`]s or [`OutboundError`]s.
//!
//! | Route                  | Vendor call                                  | Answer        |
//! |------------------------|----------------------------------------------|---------------|
//! | `POST /payments`       | `POST /v1/payment_intents` (form-encoded)    | 201 `Payment` |
//! | `GET /payments/{id}`   | `GET /v1/payment_intents/{id}`               | 200 `Payment` |
//! | `POST /payments/{id}/cancel` | `POST /v1/payment_intents/{id}/cancel` | 200 `Payment` (status `canceled`) |
//!
//! The caller's `Idempotency-Key` is forwarded to Stripe, which deduplicates creations and cancellations with it.
//! Cancelling undoes a payment that has not succeeded (a saga's compensation); Stripe refuses one that has (400:
//! `VendorRejected` with its message). Stripe's answers map
//! as: 404 on a payment → `NotFound` with Stripe's message; 429 → `UpstreamError::RateLimited` with the vendor's
//! `Retry-After`; 401/403 → `VendorFailed` (gatehouse's credentials, not the caller's fault); other 4xx (400, 402
//! card errors, 409 idempotency conflicts, ...) → `VendorRejected` with Stripe's `error.message`; anything else that
//! is not 2xx, or a 2xx body that is not a PaymentIntent → `VendorFailed`. Error messages never carry Stripe's body,
//! only its `error.message` (or `error.code`), cleaned and shortened.

use bytes::Bytes;
use gatehouse_kit::domain::Payment;
use gatehouse_kit::entity::{Answers, EntitySpec, Versioning};
use gatehouse_kit::outbound::{
    self, DomainRequest, DomainResponse, OutboundError, RouteSpec, Upstream, VendorError, VendorRequest,
    VendorResponse, caller_body, clean_message, invalid, non_empty, path_param, path_segment, to_json, vendor_domain,
};
use gatehouse_kit::route_handler;
use http::{HeaderMap, HeaderName, HeaderValue, Method, header};
use serde::Deserialize;

use crate::dto::{ErrorBody, NewPaymentIntent, PaymentIntent};

/// Our name for the vendor in error messages.
const VENDOR: &str = "stripe";
pub(crate) const PAYMENTS: &str = "/payments";
pub(crate) const PAYMENT: &str = "/payments/{id}";
pub(crate) const PAYMENT_CANCEL: &str = "/payments/{id}/cancel";
const PAYMENT_INTENTS: &str = "/v1/payment_intents";

/// The routes [`crate::Stripe`] serves.
pub(crate) static ROUTES: [RouteSpec; 3] = [
    RouteSpec::new(Method::POST, PAYMENTS, route_handler!(create_payment)),
    RouteSpec::new(Method::GET, PAYMENT, route_handler!(get_payment)),
    RouteSpec::new(Method::POST, PAYMENT_CANCEL, route_handler!(cancel_payment)),
];

/// The payments the gateway's read model keeps: from `payment_intent.*` webhooks (ordered by the Event's `created`)
/// and from the answers to `GET /payments/{id}`, `POST /payments` and `POST /payments/{id}/cancel`.
pub(crate) static ENTITIES: [EntitySpec; 1] = [EntitySpec {
    kind: "payment",
    fields: Payment::FIELDS,
    read: PAYMENT,
    answers: &[
        Answers::one(Method::POST, PAYMENTS),
        Answers::one(Method::POST, PAYMENT_CANCEL),
    ],
    upserted_by: &["payment_intent.*"],
    deleted_by: &[],
    versioning: Versioning::EventTime,
}];

/// Stripe's header for deduplicating creations.
const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

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

    let response = upstream
        .send(VendorRequest {
            method: Method::POST,
            path_and_query: PAYMENT_INTENTS.to_owned(),
            headers: form_headers(request)?,
            body: Bytes::from(body),
        })
        .await?;
    check_status(&response, None)?;
    Ok(DomainResponse::created(to_json(VENDOR, &payment(&response)?)?))
}

/// `POST /payments/{id}/cancel` (no body) → `POST /v1/payment_intents/{id}/cancel` with the caller's
/// `Idempotency-Key` → 200 `Payment`.
async fn cancel_payment(request: &DomainRequest, upstream: &dyn Upstream) -> Result<DomainResponse, OutboundError> {
    let id = path_param(request, "id")?;
    let empty = request.body.iter().all(u8::is_ascii_whitespace)
        || serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&request.body)
            .is_ok_and(|fields| fields.is_empty());
    if !empty {
        return Err(invalid(
            "POST /payments/{id}/cancel takes no body (or an empty JSON object)",
        ));
    }
    let response = upstream
        .send(VendorRequest {
            method: Method::POST,
            path_and_query: format!("{PAYMENT_INTENTS}/{}/cancel", path_segment(id)),
            headers: form_headers(request)?,
            body: Bytes::new(),
        })
        .await?;
    check_status(&response, Some(id))?;
    Ok(DomainResponse::ok(to_json(VENDOR, &payment(&response)?)?))
}

/// The headers of a form `POST` to Stripe: its content type and the caller's `Idempotency-Key`.
fn form_headers(request: &DomainRequest) -> Result<HeaderMap, OutboundError> {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    if let Some(key) = &request.idempotency_key {
        let value = HeaderValue::from_str(key).map_err(|_| invalid("header Idempotency-Key is not visible ASCII"))?;
        headers.insert(IDEMPOTENCY_KEY, value);
    }
    Ok(headers)
}

/// `GET /payments/{id}` → `GET /v1/payment_intents/{id}` → 200 `Payment`.
async fn get_payment(request: &DomainRequest, upstream: &dyn Upstream) -> Result<DomainResponse, OutboundError> {
    let id = path_param(request, "id")?;
    let response = upstream
        .send(VendorRequest {
            method: Method::GET,
            path_and_query: format!("{PAYMENT_INTENTS}/{}", path_segment(id)),
            headers: HeaderMap::new(),
            body: Bytes::new(),
        })
        .await?;
    check_status(&response, Some(id))?;
    Ok(DomainResponse::ok(to_json(VENDOR, &payment(&response)?)?))
}

/// The body of `POST /v1/{provider}/payments`: the amount to charge, and the customer if any.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewPayment {
    amount: Amount,
    /// Absent or `null`: a payment without a customer.
    #[serde(default)]
    #[schema(min_length = 1)]
    customer_id: Option<String>,
}

/// An amount to charge: a positive number of minor units and a three-letter ISO 4217 code (any case).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Amount {
    #[schema(minimum = 1)]
    value: i64,
    #[schema(pattern = "^[A-Za-z]{3}$", example = "usd")]
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

/// `Ok` for a 2xx; otherwise the error the status means ([`outbound::check_status`]). `payment_id` is the payment
/// a 404 is about, answered with Stripe's message when it has one; without one (the collection endpoint) a 404 means
/// a misconfigured `base_url`.
fn check_status(response: &VendorResponse, payment_id: Option<&str>) -> Result<(), OutboundError> {
    outbound::check_status(VENDOR, response, vendor_error, |error| {
        let id = payment_id?;
        Some(
            error
                .and_then(|error| error.message)
                .unwrap_or_else(|| format!("no payment {id}")),
        )
    })
}

/// Stripe's `error.code` and `error.message`, cleaned and shortened; `None` when the body is not Stripe's error.
fn vendor_error(body: &[u8]) -> Option<VendorError> {
    let body: ErrorBody = serde_json::from_slice(body).ok()?;
    Some(VendorError {
        code: body.error.code.as_deref().and_then(clean_message),
        message: body.error.message.as_deref().and_then(clean_message),
    })
}

/// A 2xx body as our `Payment`.
fn payment(response: &VendorResponse) -> Result<Payment, OutboundError> {
    vendor_domain::<PaymentIntent, _>(VENDOR, response, "a PaymentIntent")
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let long = format!(r#"{{"error":{{"code":"{0}","message":"{0}"}}}}"#, "x".repeat(500));
        let error = error(&long).unwrap();
        assert_eq!(error.code.unwrap().chars().count(), outbound::MAX_MESSAGE_CHARS + 1);
        assert_eq!(error.message.unwrap().chars().count(), outbound::MAX_MESSAGE_CHARS + 1);
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
