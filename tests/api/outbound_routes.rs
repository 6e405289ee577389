//! `/v1/{provider}/…` against fake vendors (wiremock): our domain requests translated into vendor calls and the
//! answers back, vendor errors in our terms, correlation and trace headers passed on, and caller authentication.

use reqwest::Method;
use serde_json::{Value, json};
use wiremock::matchers::{body_json, body_string, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// `crm` (acme-crm) and `pay` (stripe) against `vendor`, without retries; `svc` may call both.
async fn app(vendor: &MockServer) -> TestApp {
    let no_retries = "retry = { max_attempts = 1 }";
    let extra = provider_toml("crm", "acme-crm", &vendor.uri(), no_retries)
        + &provider_toml("pay", "stripe", &vendor.uri(), no_retries)
        + &callers_toml(&["crm", "pay"], None);
    spawn_app_with(&extra).await
}

fn acme_customer(id: &str, name: &str, email: &str) -> Value {
    json!({"cust_id": id, "full_name": name, "email_address": email, "lifetime_value": "1234.50",
           "created": "2026-01-02 10:00:00"})
}

fn customer(id: &str, name: &str, email: &str) -> Value {
    json!({"id": id, "name": name, "email": email, "lifetime_value": 1234.5, "created_at": "2026-01-02T10:00:00Z"})
}

fn vendor_ok(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

#[tokio::test]
async fn acme_customers_are_translated_both_ways() {
    let vendor = MockServer::start().await;
    let app = app(&vendor).await;
    let ada = acme_customer("c_42", "Ada Lovelace", "ada@example.com");
    Mock::given(method("GET"))
        .and(path("/customers/c_42"))
        .respond_with(vendor_ok(ada.clone()))
        .mount(&vendor)
        .await;
    let response = app.get_as(CALLER_KEY, "/v1/crm/customers/c_42").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        customer("c_42", "Ada Lovelace", "ada@example.com")
    );

    // The list hides Acme's page numbers behind a cursor.
    let page = |n: u32, results: Vec<Value>| json!({"results": results, "page": n, "total_pages": 2});
    let grace = acme_customer("c_43", "Grace Hopper", "grace@example.com");
    let alan = acme_customer("c_44", "Alan Turing", "alan@example.com");
    for (n, results) in [(1, vec![ada.clone(), grace]), (2, vec![alan])] {
        Mock::given(method("GET"))
            .and(path("/customers"))
            .and(query_param("page", n.to_string()))
            .and(query_param("per_page", "2"))
            .respond_with(vendor_ok(page(n, results)))
            .mount(&vendor)
            .await;
    }
    let first: Value = app
        .get_as(CALLER_KEY, "/v1/crm/customers?limit=2")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first["data"].as_array().unwrap().len(), 2, "{first}");
    assert_eq!(first["data"][1], customer("c_43", "Grace Hopper", "grace@example.com"));
    let cursor = first["next_cursor"].as_str().expect("a next page");
    let second: Value = app
        .get_as(CALLER_KEY, &format!("/v1/crm/customers?cursor={cursor}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        second["data"],
        json!([customer("c_44", "Alan Turing", "alan@example.com")])
    );
    assert_eq!(second["next_cursor"], Value::Null);

    // Our field names in, Acme's out.
    Mock::given(method("POST"))
        .and(path("/customers"))
        .and(header("content-type", "application/json"))
        .and(body_json(
            json!({"full_name": "Ada Lovelace", "email_address": "ada@example.com"}),
        ))
        .respond_with(ResponseTemplate::new(201).set_body_json(&ada))
        .mount(&vendor)
        .await;
    let new = json!({"name": "Ada Lovelace", "email": "ada@example.com"});
    let response = app.send_json(Method::POST, "/v1/crm/customers", &new).await;
    assert_eq!(response.status(), 201);
    assert_eq!(response.json::<Value>().await.unwrap()["id"], "c_42");

    Mock::given(method("PATCH"))
        .and(path("/customers/c_42"))
        .and(body_json(json!({"email_address": "ada@lovelace.org"})))
        .respond_with(vendor_ok(acme_customer("c_42", "Ada Lovelace", "ada@lovelace.org")))
        .mount(&vendor)
        .await;
    let changes = json!({"email": "ada@lovelace.org"});
    let response = app.send_json(Method::PATCH, "/v1/crm/customers/c_42", &changes).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        customer("c_42", "Ada Lovelace", "ada@lovelace.org")
    );
    app.stop().await;
}

#[tokio::test]
async fn stripe_payments_are_translated_and_the_idempotency_key_forwarded() {
    let vendor = MockServer::start().await;
    let app = app(&vendor).await;
    Mock::given(method("POST"))
        .and(path("/v1/payment_intents"))
        .and(header("idempotency-key", "svc:order-7"))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(body_string("amount=1999&currency=usd&customer=cus_1"))
        .respond_with(vendor_ok(
            json!({"id": "pi_1", "object": "payment_intent", "amount": 1999,
            "currency": "usd", "status": "requires_payment_method", "customer": "cus_1",
            "last_payment_error": null}),
        ))
        .expect(1)
        .mount(&vendor)
        .await;
    let response = app
        .client
        .post(format!("{}/v1/pay/payments", app.addr))
        .bearer_auth(CALLER_KEY)
        .header("Idempotency-Key", "order-7")
        .json(&json!({"amount": {"value": 1999, "currency": "USD"}, "customer_id": "cus_1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"id": "pi_1", "amount": {"value": 1999, "currency": "usd"}, "status": "pending",
               "customer_id": "cus_1"})
    );

    Mock::given(method("GET"))
        .and(path("/v1/payment_intents/pi_2"))
        .respond_with(vendor_ok(json!({"id": "pi_2", "amount": 500, "currency": "eur",
            "status": "succeeded", "customer": {"id": "cus_2", "object": "customer"}})))
        .mount(&vendor)
        .await;
    let body: Value = app
        .get_as(CALLER_KEY, "/v1/pay/payments/pi_2")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        body,
        json!({"id": "pi_2", "amount": {"value": 500, "currency": "eur"}, "status": "succeeded",
               "customer_id": "cus_2"})
    );
    app.stop().await;
}

#[tokio::test]
async fn vendor_errors_are_translated_and_never_leak_the_vendor_body() {
    let vendor = MockServer::start().await;
    let app = app(&vendor).await;
    let answer = |route: &str, template: ResponseTemplate| Mock::given(path(route.to_owned())).respond_with(template);
    answer(
        "/customers/gone",
        ResponseTemplate::new(404).set_body_json(json!({"error": "not_found"})),
    )
    .mount(&vendor)
    .await;
    answer(
        "/customers/boom",
        ResponseTemplate::new(500).set_body_string("internal stack trace"),
    )
    .mount(&vendor)
    .await;
    answer("/customers/unavailable", ResponseTemplate::new(503))
        .mount(&vendor)
        .await;
    answer("/customers/locked", ResponseTemplate::new(401))
        .mount(&vendor)
        .await;
    answer(
        "/customers",
        ResponseTemplate::new(422).set_body_json(json!({"message": "email already taken"})),
    )
    .mount(&vendor)
    .await;
    answer(
        "/v1/payment_intents",
        ResponseTemplate::new(402).set_body_json(json!({"error":
        {"type": "card_error", "code": "card_declined", "message": "Your card was declined."}})),
    )
    .mount(&vendor)
    .await;
    answer(
        "/v1/payment_intents/pi_x",
        ResponseTemplate::new(404).set_body_json(json!({"error":
        {"type": "invalid_request_error", "message": "No such payment_intent: 'pi_x'"}})),
    )
    .mount(&vendor)
    .await;

    let body = problem(app.get_as(CALLER_KEY, "/v1/crm/customers/gone").await, 404, "not-found").await;
    assert!(body["detail"].as_str().unwrap().contains("gone"), "{body}");
    for id in ["boom", "unavailable", "locked"] {
        let response = app.get_as(CALLER_KEY, &format!("/v1/crm/customers/{id}")).await;
        let body = problem(response, 502, "upstream-error").await;
        assert!(!body.to_string().contains("stack trace"), "{body}");
    }
    let new = json!({"name": "Ada", "email": "ada@example.com"});
    let body = problem(
        app.send_json(Method::POST, "/v1/crm/customers", &new).await,
        400,
        "invalid-request",
    )
    .await;
    assert!(
        body["detail"].as_str().unwrap().contains("email already taken"),
        "{body}"
    );
    let payment = json!({"amount": {"value": 100, "currency": "usd"}});
    let body = problem(
        app.send_json(Method::POST, "/v1/pay/payments", &payment).await,
        400,
        "invalid-request",
    )
    .await;
    assert!(
        body["detail"].as_str().unwrap().contains("Your card was declined."),
        "{body}"
    );
    problem(app.get_as(CALLER_KEY, "/v1/pay/payments/pi_x").await, 404, "not-found").await;
    app.stop().await;
}

#[tokio::test]
async fn a_vendor_429_is_answered_429_with_its_retry_after() {
    let vendor = MockServer::start().await;
    let app = app(&vendor).await;
    Mock::given(path("/customers"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "7"))
        .mount(&vendor)
        .await;
    let new = json!({"name": "Ada", "email": "ada@example.com"});
    let response = app.send_json(Method::POST, "/v1/crm/customers", &new).await;
    assert_eq!(response.headers()["retry-after"], "7");
    problem(response, 429, "rate-limited").await;
    app.stop().await;
}

#[tokio::test]
async fn correlation_id_and_traceparent_reach_the_vendor_but_not_the_callers_key() {
    let vendor = MockServer::start().await;
    let app = app(&vendor).await;
    Mock::given(method("GET"))
        .and(path("/customers/c_1"))
        .respond_with(vendor_ok(acme_customer("c_1", "Ada", "ada@example.com")))
        .mount(&vendor)
        .await;
    let send = |traceparent: &'static str| {
        app.client
            .get(format!("{}/v1/crm/customers/c_1", app.addr))
            .bearer_auth(CALLER_KEY)
            .header("X-Correlation-Id", "corr-outbound-1")
            .header("traceparent", traceparent)
            .send()
    };
    let response = send(TRACEPARENT).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-correlation-id"], "corr-outbound-1");
    send("not-a-traceparent").await.unwrap();

    let requests = vendor.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2);
    for request in &requests {
        assert_eq!(request.headers["x-correlation-id"], "corr-outbound-1");
        assert_eq!(
            request.headers["authorization"],
            format!("Bearer {VENDOR_TOKEN}").as_str()
        );
    }
    assert_eq!(requests[0].headers["traceparent"], TRACEPARENT);
    assert!(
        !requests[1].headers.contains_key("traceparent"),
        "an invalid traceparent is dropped"
    );

    // Without a caller id, the gateway's own id is the one the vendor sees.
    let response = app.get_as(CALLER_KEY, "/v1/crm/customers/c_1").await;
    let ours = response.headers()["x-correlation-id"].to_str().unwrap().to_owned();
    let requests = vendor.received_requests().await.unwrap();
    assert_eq!(requests[2].headers["x-correlation-id"], ours.as_str());
    app.stop().await;
}

#[tokio::test]
async fn callers_need_a_valid_key_and_permission_for_the_provider() {
    let vendor = MockServer::start().await;
    let app = app(&vendor).await;
    Mock::given(method("GET"))
        .respond_with(vendor_ok(acme_customer("c_1", "Ada", "ada@example.com")))
        .mount(&vendor)
        .await;
    for route in ["/v1/crm/customers/c_1", "/proxy/crm/customers/c_1"] {
        let url = format!("{}{route}", app.addr);
        let response = app.client.get(&url).send().await.unwrap();
        problem(response, 401, "unauthorized").await;
        for auth in ["Bearer wrong-key", &format!("Basic {CALLER_KEY}"), "Bearer"] {
            let response = app.client.get(&url).header("Authorization", auth).send().await.unwrap();
            let body = problem(response, 401, "unauthorized").await;
            assert!(!body.to_string().contains("wrong-key"), "keys are never echoed: {body}");
        }
        let body = problem(app.get_as(OTHER_KEY, route).await, 403, "forbidden").await;
        assert!(body["detail"].as_str().unwrap().contains("outsider"), "{body}");
    }
    assert_eq!(hits(&vendor).await, 0, "refused calls never reach the vendor");

    // Unknown providers, and providers without a base_url (webhook-only), take no outbound calls.
    for route in [
        "/v1/nope/customers/c_1",
        "/v1/stripe/payments/pi_1",
        "/proxy/stripe/v1/charges",
    ] {
        problem(app.get_as(CALLER_KEY, route).await, 404, "unknown-provider").await;
    }
    assert_eq!(app.get_as(CALLER_KEY, "/v1/crm/customers/c_1").await.status(), 200);
    app.stop().await;
}
