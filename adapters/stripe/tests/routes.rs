//! Stripe's outbound routes against a scripted vendor ([`FakeUpstream`]): the exact form-encoded requests our
//! routes make (with the forwarded `Idempotency-Key`), the payments they answer, and every way a caller or Stripe
//! can get it wrong.

use std::time::Duration;

use bytes::Bytes;
use gatehouse_kit::Adapter;
use gatehouse_kit::outbound::{DomainRequest, DomainResponse, OutboundError, UpstreamError};
use gatehouse_kit::testing::{
    FakeUpstream, RouteCase, assert_route_conformance, domain_request, invalid_request, vendor_failed,
};
use gatehouse_stripe::Stripe;
use http::{Method, StatusCode};
use serde_json::{Value, json};

const PAYMENTS: &str = "/payments";
const PAYMENT: &str = "/payments/{id}";
const PAYMENT_CANCEL: &str = "/payments/{id}/cancel";
const NEW_PAYMENT: &str = r#"{"amount":{"value":2000,"currency":"usd"},"customer_id":"cus_1"}"#;

fn request(
    method: Method,
    route: &'static str,
    params: &[(&str, &str)],
    body: &str,
    idempotency_key: Option<&str>,
) -> DomainRequest {
    DomainRequest {
        idempotency_key: idempotency_key.map(str::to_owned),
        ..domain_request(method, route, params, &[], body)
    }
}

fn create(body: &str) -> DomainRequest {
    request(Method::POST, PAYMENTS, &[], body, None)
}

fn get(id: &str) -> DomainRequest {
    request(Method::GET, PAYMENT, &[("id", id)], "", None)
}

async fn call(request: DomainRequest, upstream: &FakeUpstream) -> Result<DomainResponse, OutboundError> {
    Stripe::new().call(request, upstream).await
}

fn intent(status: &str) -> Value {
    json!({
        "id": "pi_3Q1x",
        "object": "payment_intent",
        "amount": 2000,
        "amount_received": 0,
        "currency": "usd",
        "customer": "cus_1",
        "last_payment_error": null,
        "status": status,
        "client_secret": "pi_3Q1x_secret_abc",
        "metadata": {}
    })
}

/// [`intent`] in our words.
fn our_payment(status: &str) -> Value {
    json!({"id": "pi_3Q1x", "amount": {"value": 2000, "currency": "usd"}, "status": status, "customer_id": "cus_1"})
}

fn stripe_error(kind: &str, code: &str, message: &str) -> Value {
    json!({"error": {"type": kind, "code": code, "message": message, "request_log_url": "https://dashboard.stripe.com/x"}})
}

#[test]
fn declares_its_three_routes() {
    let routes: Vec<_> = Stripe::new()
        .routes()
        .iter()
        .map(|r| (r.method.clone(), r.path))
        .collect();
    assert_eq!(
        routes,
        [
            (Method::POST, PAYMENTS),
            (Method::GET, PAYMENT),
            (Method::POST, PAYMENT_CANCEL),
        ]
    );
}

/// The kit's route conformance: policy errors passed through, vendor statuses mapped, garbage answers and vendor
/// text kept from callers, bad requests refused before any vendor request, undeclared routes refused.
#[tokio::test]
async fn conforms() {
    let cases = [
        RouteCase::new(create(NEW_PAYMENT)).refuses(create("{}"), "`amount`"),
        RouteCase::new(get("pi_1")).refuses(get(".."), "`id`"),
        RouteCase::new(cancel("pi_1", "", None)).refuses(cancel("pi_1", "[]", None), "takes no body"),
    ];
    assert_route_conformance(&Stripe::new(), &cases).await;
}

fn cancel(id: &str, body: &str, key: Option<&str>) -> DomainRequest {
    request(Method::POST, PAYMENT_CANCEL, &[("id", id)], body, key)
}

#[tokio::test]
async fn cancels_a_payment_with_the_idempotency_key() {
    for body in ["", " ", "{}"] {
        let upstream = FakeUpstream::new().reply(StatusCode::OK, intent("canceled"));
        let response = call(cancel("pi_3Q1x", body, Some("saga-7-payment-undo")), &upstream)
            .await
            .unwrap();
        assert_eq!(response, DomainResponse::ok(our_payment("canceled")));
        let sent = upstream.only_request();
        assert_eq!(sent.method, Method::POST);
        assert_eq!(sent.path_and_query, "/v1/payment_intents/pi_3Q1x/cancel");
        assert_eq!(sent.headers["idempotency-key"], "saga-7-payment-undo");
        assert!(sent.body.is_empty());
    }
    // The id stays one path segment.
    let upstream = FakeUpstream::new().reply(StatusCode::OK, intent("canceled"));
    call(cancel("pi/../x", "", None), &upstream).await.unwrap();
    assert_eq!(
        upstream.only_request().path_and_query,
        "/v1/payment_intents/pi%2F..%2Fx/cancel"
    );
}

#[tokio::test]
async fn a_cancellation_stripe_refuses_is_a_rejection_and_a_body_is_refused_before_any_request() {
    let upstream = FakeUpstream::new().reply(
        StatusCode::BAD_REQUEST,
        stripe_error(
            "invalid_request_error",
            "payment_intent_unexpected_state",
            "You cannot cancel this PaymentIntent because it has a status of succeeded.",
        ),
    );
    assert_eq!(
        call(cancel("pi_1", "", None), &upstream).await,
        Err(OutboundError::VendorRejected(
            "stripe rejected the request: You cannot cancel this PaymentIntent because it has a status of succeeded."
                .into()
        ))
    );
    let upstream = FakeUpstream::new().reply(
        StatusCode::NOT_FOUND,
        stripe_error(
            "invalid_request_error",
            "resource_missing",
            "No such payment_intent: 'pi_9'",
        ),
    );
    assert_eq!(
        call(cancel("pi_9", "", None), &upstream).await,
        Err(OutboundError::NotFound("No such payment_intent: 'pi_9'".into()))
    );
    let upstream = FakeUpstream::new();
    for body in [r#"{"reason":"duplicate"}"#, "[]", "cancel"] {
        let message = invalid_request(call(cancel("pi_1", body, None), &upstream).await);
        assert!(message.contains("takes no body"), "{message}");
    }
    assert!(upstream.requests().is_empty());
}

#[tokio::test]
async fn creates_a_payment_with_a_form_and_the_idempotency_key() {
    let upstream = FakeUpstream::new().reply(StatusCode::OK, intent("requires_payment_method"));
    let response = call(
        request(Method::POST, PAYMENTS, &[], NEW_PAYMENT, Some("order-42-attempt-1")),
        &upstream,
    )
    .await
    .unwrap();
    assert_eq!(response, DomainResponse::created(our_payment("pending")));

    let sent = upstream.only_request();
    assert_eq!(sent.method, Method::POST);
    assert_eq!(sent.path_and_query, "/v1/payment_intents");
    assert_eq!(sent.headers.len(), 2, "{:?}", sent.headers);
    assert_eq!(sent.headers["content-type"], "application/x-www-form-urlencoded");
    assert_eq!(sent.headers["idempotency-key"], "order-42-attempt-1");
    assert_eq!(
        sent.body,
        Bytes::from_static(b"amount=2000&currency=usd&customer=cus_1")
    );
}

#[tokio::test]
async fn sends_only_what_the_caller_gave() {
    for (body, form) in [
        (r#"{"amount":{"value":1,"currency":"EUR"}}"#, "amount=1&currency=eur"),
        (
            r#"{"amount":{"currency":"Jpy","value":500},"customer_id":null}"#,
            "amount=500&currency=jpy",
        ),
        (
            r#"{"customer_id":"cus a&b=c","amount":{"value":9007199254740993,"currency":"usd"}}"#,
            "amount=9007199254740993&currency=usd&customer=cus+a%26b%3Dc",
        ),
    ] {
        let upstream = FakeUpstream::new().reply(StatusCode::OK, intent("succeeded"));
        let response = call(create(body), &upstream).await.unwrap();
        assert_eq!(response.status, StatusCode::CREATED);
        let sent = upstream.only_request();
        assert_eq!(sent.body, Bytes::copy_from_slice(form.as_bytes()), "{body}");
        assert_eq!(sent.headers.get("idempotency-key"), None);
    }
}

#[tokio::test]
async fn gets_a_payment() {
    let upstream = FakeUpstream::new().reply(StatusCode::OK, intent("succeeded"));
    let response = call(get("pi_3Q1x"), &upstream).await.unwrap();
    assert_eq!(response, DomainResponse::ok(our_payment("succeeded")));

    let sent = upstream.only_request();
    assert_eq!(sent.method, Method::GET);
    assert_eq!(sent.path_and_query, "/v1/payment_intents/pi_3Q1x");
    assert!(sent.headers.is_empty(), "{:?}", sent.headers);
    assert!(sent.body.is_empty());
}

#[tokio::test]
async fn translates_statuses_and_optional_customers() {
    let mut failed = intent("requires_payment_method");
    failed["last_payment_error"] = json!({"code": "card_declined"});
    let mut anonymous = intent("canceled");
    anonymous["customer"] = Value::Null;
    let mut expanded = intent("processing");
    expanded["customer"] = json!({"id": "cus_9", "object": "customer"});
    for (vendor, status, customer) in [
        (failed, "failed", Some("cus_1")),
        (anonymous, "canceled", None),
        (expanded, "pending", Some("cus_9")),
    ] {
        let upstream = FakeUpstream::new().reply(StatusCode::OK, vendor);
        let body = call(get("pi_3Q1x"), &upstream).await.unwrap().body;
        assert_eq!(body["status"], status);
        assert_eq!(body.get("customer_id").and_then(Value::as_str), customer);
    }
}

#[tokio::test]
async fn path_parameters_stay_one_segment() {
    for (id, path) in [
        ("a/../b", "/v1/payment_intents/a%2F..%2Fb"),
        (
            "pi_1?expand[]=customer",
            "/v1/payment_intents/pi_1%3Fexpand%5B%5D%3Dcustomer",
        ),
        ("%2e%2e", "/v1/payment_intents/%252e%252e"),
        ("pi 1#x", "/v1/payment_intents/pi%201%23x"),
    ] {
        let upstream = FakeUpstream::new().reply(StatusCode::OK, intent("succeeded"));
        call(get(id), &upstream).await.unwrap();
        assert_eq!(upstream.only_request().path_and_query, path, "{id:?}");
    }
    for (id, problem) in [
        ("..", "cannot be `.` or `..`"),
        (".", "cannot be `.` or `..`"),
        ("", "is empty"),
        ("pi\r\n1", "contains control characters"),
    ] {
        let upstream = FakeUpstream::new();
        let message = invalid_request(call(get(id), &upstream).await);
        assert_eq!(message, format!("path parameter `id` {problem}"), "{id:?}");
        assert!(upstream.requests().is_empty());
    }
}

#[tokio::test]
async fn malformed_payment_bodies_name_the_field() {
    for (body, expected) in [
        ("", "body is empty; expected a JSON object with `amount`"),
        ("amount=2000", "body is not valid JSON: "),
        (r#"{"amount":{"value":20"#, "body is not valid JSON: "),
        ("[]", "body is not a JSON object"),
        ("2000", "body is not a JSON object"),
        ("{}", "body: missing field `amount`"),
        (r#"{"amount":2000}"#, "body: field `amount`: invalid type"),
        (
            r#"{"amount":{"value":2000}}"#,
            "body: field `amount`: missing field `currency`",
        ),
        (
            r#"{"amount":{"currency":"usd"}}"#,
            "body: field `amount`: missing field `value`",
        ),
        (
            r#"{"amount":{"value":"2000","currency":"usd"}}"#,
            "body: field `amount.value`: invalid type",
        ),
        (
            r#"{"amount":{"value":20.5,"currency":"usd"}}"#,
            "body: field `amount.value`: invalid type",
        ),
        (
            r#"{"amount":{"value":99999999999999999999,"currency":"usd"}}"#,
            "body: field `amount.value`: invalid",
        ),
        (
            r#"{"amount":{"value":0,"currency":"usd"}}"#,
            "field `amount.value` must be a positive integer",
        ),
        (
            r#"{"amount":{"value":-5,"currency":"usd"}}"#,
            "field `amount.value` must be a positive integer",
        ),
        (
            r#"{"amount":{"value":5,"currency":"usdt"}}"#,
            "field `amount.currency` must be a three-letter",
        ),
        (
            r#"{"amount":{"value":5,"currency":"u$d"}}"#,
            "field `amount.currency` must be a three-letter",
        ),
        (
            r#"{"amount":{"value":5,"currency":7}}"#,
            "body: field `amount.currency`: invalid type",
        ),
        (
            r#"{"amount":{"value":5,"currency":"usd","unit":"cents"}}"#,
            "body: field `amount.unit`: unknown field `unit`",
        ),
        (
            r#"{"amount":{"value":5,"currency":"usd"},"customer":"cus_1"}"#,
            "body: field `customer`: unknown field `customer`",
        ),
        (
            r#"{"amount":{"value":5,"currency":"usd"},"customer_id":""}"#,
            "field `customer_id` is empty",
        ),
        (
            r#"{"amount":{"value":5,"currency":"usd"},"customer_id":5}"#,
            "body: field `customer_id`: invalid type",
        ),
    ] {
        let upstream = FakeUpstream::new();
        let message = invalid_request(call(create(body), &upstream).await);
        assert!(message.starts_with(expected), "{body:?}: {message}");
        assert!(upstream.requests().is_empty());
    }
}

#[tokio::test]
async fn refuses_an_idempotency_key_that_cannot_be_a_header() {
    let upstream = FakeUpstream::new();
    let message = invalid_request(
        call(
            request(Method::POST, PAYMENTS, &[], NEW_PAYMENT, Some("a\nb")),
            &upstream,
        )
        .await,
    );
    assert_eq!(message, "header Idempotency-Key is not visible ASCII");
    assert!(upstream.requests().is_empty());
}

#[tokio::test]
async fn a_missing_payment_is_not_found_with_stripes_message() {
    let upstream = FakeUpstream::new()
        .reply(
            StatusCode::NOT_FOUND,
            stripe_error(
                "invalid_request_error",
                "resource_missing",
                "No such payment_intent: 'pi_9'",
            ),
        )
        .reply(StatusCode::NOT_FOUND, "Not Found");
    assert_eq!(
        call(get("pi_9"), &upstream).await,
        Err(OutboundError::NotFound("No such payment_intent: 'pi_9'".into()))
    );
    assert_eq!(
        call(get("pi_9"), &upstream).await,
        Err(OutboundError::NotFound("no payment pi_9".into()))
    );
    let upstream = FakeUpstream::new().reply(StatusCode::NOT_FOUND, "");
    assert_eq!(
        vendor_failed(call(create(NEW_PAYMENT), &upstream).await),
        "stripe answered 404"
    );
}

#[tokio::test]
async fn rate_limits_carry_the_vendors_retry_after() {
    for (headers, seconds) in [
        (&[("retry-after", "12")][..], 12),
        (&[][..], 1),
        (&[("retry-after", "later")][..], 1),
    ] {
        let upstream = FakeUpstream::new().reply_with_headers(
            StatusCode::TOO_MANY_REQUESTS,
            headers,
            stripe_error("invalid_request_error", "rate_limit", "Too many requests"),
        );
        assert_eq!(
            call(create(NEW_PAYMENT), &upstream).await,
            Err(OutboundError::Upstream(UpstreamError::RateLimited {
                retry_after: Duration::from_secs(seconds)
            })),
            "{headers:?}"
        );
    }
}

#[tokio::test]
async fn client_errors_are_rejections_with_stripes_message() {
    for (status, body, expected) in [
        (
            StatusCode::PAYMENT_REQUIRED,
            stripe_error("card_error", "card_declined", "Your card was declined."),
            "stripe rejected the request: Your card was declined.",
        ),
        (
            StatusCode::BAD_REQUEST,
            stripe_error(
                "invalid_request_error",
                "parameter_invalid_integer",
                "Invalid integer: abc",
            ),
            "stripe rejected the request: Invalid integer: abc",
        ),
        (
            StatusCode::CONFLICT,
            stripe_error(
                "idempotency_error",
                "idempotency_key_in_use",
                "Keys for idempotent requests can only be used with the same parameters they were first used with.",
            ),
            "stripe rejected the request: Keys for idempotent requests can only be used with the same parameters \
             they were first used with.",
        ),
        (
            StatusCode::BAD_REQUEST,
            json!({"error": {"type": "invalid_request_error", "code": "amount_too_small"}}),
            "stripe rejected the request (status 400, code amount_too_small)",
        ),
        (
            StatusCode::BAD_REQUEST,
            json!({"message": "not stripe's shape"}),
            "stripe rejected the request (status 400)",
        ),
        (
            StatusCode::BAD_REQUEST,
            json!("bad"),
            "stripe rejected the request (status 400)",
        ),
    ] {
        let upstream = FakeUpstream::new().reply(status, body.clone());
        let result = call(create(NEW_PAYMENT), &upstream).await;
        assert_eq!(result, Err(OutboundError::VendorRejected(expected.into())), "{body}");
    }
}

#[tokio::test]
async fn garbage_payment_intents_are_vendor_failures_naming_the_fault() {
    let with = |field: &str, value: Value| {
        let mut intent = intent("succeeded");
        intent[field] = value;
        Bytes::from(intent.to_string())
    };
    let without = |field: &str| {
        let mut intent = intent("succeeded");
        intent.as_object_mut().unwrap().remove(field);
        Bytes::from(intent.to_string())
    };
    let full = intent("succeeded").to_string();
    for (body, expected) in [
        (Bytes::new(), "a PaymentIntent that is not valid JSON"),
        (
            Bytes::from_static(b"<html>ok</html>"),
            "a PaymentIntent that is not valid JSON",
        ),
        (
            Bytes::from(full[..full.len() - 10].to_owned()),
            "a PaymentIntent that is not valid JSON",
        ),
        (
            Bytes::from_static(b"[\"pi_1\",2000,\"usd\",\"succeeded\"]"),
            "a PaymentIntent that is not a JSON object",
        ),
        (Bytes::from_static(b"null"), "a PaymentIntent that is not a JSON object"),
        (
            without("status"),
            "a PaymentIntent of the wrong shape: missing field `status`",
        ),
        (
            with("amount", json!("2000")),
            "a PaymentIntent of the wrong shape: field `amount`: invalid type",
        ),
        (
            with("amount", json!(20.5)),
            "a PaymentIntent of the wrong shape: field `amount`: invalid type",
        ),
        (
            with("customer", json!(7)),
            "a PaymentIntent of the wrong shape: field `customer`",
        ),
        (
            with("amount", json!(-1)),
            "a PaymentIntent that is not valid: field `amount` is negative",
        ),
        (
            with("currency", json!("dollars")),
            "a PaymentIntent that is not valid: field `currency`",
        ),
        (
            with("status", json!("exploded")),
            "a PaymentIntent that is not valid: field `status`",
        ),
        (
            with("id", json!(" ")),
            "a PaymentIntent that is not valid: field `id` is empty",
        ),
    ] {
        for request in [get("pi_1"), create(NEW_PAYMENT)] {
            let upstream = FakeUpstream::new().reply(StatusCode::OK, body.clone());
            let message = vendor_failed(call(request, &upstream).await);
            assert!(message.starts_with("stripe answered a PaymentIntent "), "{message}");
            assert!(message.contains(expected), "{body:?}: {message}");
            assert!(!message.contains("secret"), "{message}");
        }
    }
}
