//! The operations of the document, one function per route (and method): what each takes, what it answers, and the
//! problems it can give, each named by slug under its status.

use serde_json::json;
use utoipa::openapi::path::OperationBuilder;
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::AnyOfBuilder;
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::{Content, ObjectBuilder, Ref, RefOr, Required, Schema, Type};

use super::parts::{
    Problems, id_param, json_body, json_response, limited, operation, outbound_json, path_param, query_param, response,
    schema_ref, traceparent,
};
use super::{ADMIN_TOKEN, CALLER_KEY};

/// Problems every outbound call (`/v1`, `/proxy`) can meet once its provider and route are known.
const OUTBOUND_PROBLEMS: [(u16, &str); 8] = [
    (401, "`unauthorized`: missing or unknown caller key"),
    (403, "`forbidden`: this caller may not call this provider"),
    (
        408,
        "`request-timeout`: the body did not arrive within `server.body_timeout`",
    ),
    (413, "`payload-too-large`: the body is over `server.max_body_bytes`"),
    (
        429,
        "`rate-limited`: the caller's or the provider's rate limit is exhausted",
    ),
    (
        502,
        "`upstream-error`: the vendor failed (5xx, connect error) or answered something unreadable",
    ),
    (
        503,
        "`circuit-open`: the vendor's breaker is open; `bulkhead-full`: too many calls in flight to it",
    ),
    (
        504,
        "`upstream-timeout`: the vendor did not answer within the provider's `timeout`",
    ),
];
const UNKNOWN_PROVIDER: &str = "`unknown-provider`: no provider of that name takes outbound calls";

pub(super) fn webhook() -> OperationBuilder {
    let accepted = AnyOfBuilder::new().item(Ref::from_schema_name("WebhookAccepted")).item(
        ObjectBuilder::new().schema_type(Type::Object).description(Some(
            "An adapter's answer to a handshake, e.g. Slack's `{\"challenge\": \"…\"}`",
        )),
    );
    let body = RequestBodyBuilder::new()
        .required(Some(Required::True))
        .description(Some(
            "The vendor's payload, verified on its raw bytes with the provider's signature scheme",
        ))
        .content("*/*", Content::new(None::<RefOr<Schema>>))
        .build();
    operation("receiveWebhook", "webhooks", "Receive a signed webhook")
        .description(Some(
            "Verify the signature (the provider's scheme and any configured secret), translate the payload, and \
             record it in the inbox and the outbox in one durable transaction before answering. A duplicate \
             delivery answers the first event's id with `duplicate: true` and stores nothing new. A correctly \
             signed body the adapter cannot translate is kept as a quarantined event (`quarantined: true`), never \
             refused for its content.",
        ))
        .parameter(path_param("provider", "A configured provider that receives webhooks"))
        .request_body(Some(body))
        .response(
            "200",
            json_response("Committed (or a duplicate of an event committed before)", accepted),
        )
        .problems(
            &[
                (
                    401,
                    "`invalid-signature`: missing, malformed, wrong or expired signature; nothing stored",
                ),
                (404, "`unknown-provider`: no provider of that name receives webhooks"),
                (
                    408,
                    "`request-timeout`: the body did not arrive within `server.body_timeout`",
                ),
                (413, "`payload-too-large`: the body is over `server.max_body_bytes`"),
                (
                    503,
                    "`store-unavailable`: the store could not commit; the vendor should retry",
                ),
            ],
            false,
        )
}

pub(super) fn healthz() -> OperationBuilder {
    operation("healthz", "operations", "Liveness: 200 while the process runs").response(
        "200",
        json_response("Alive: `{\"status\":\"ok\"}`", schema_ref("Status")),
    )
}

pub(super) fn readyz() -> OperationBuilder {
    operation("readyz", "operations", "Readiness: 200 while the store answers")
        .response(
            "200",
            json_response("Ready: `{\"status\":\"ready\"}`", schema_ref("Status")),
        )
        .problems(&[(503, "`store-unavailable`: the store does not answer")], false)
}

pub(super) fn metrics() -> OperationBuilder {
    let text = ObjectBuilder::new().schema_type(Type::String).build();
    operation("metrics", "operations", "Prometheus metrics").response(
        "200",
        response("The Prometheus text exposition format")
            .content("text/plain; version=0.0.4", Content::new(Some(text)))
            .build(),
    )
}

pub(super) fn openapi() -> OperationBuilder {
    let object = ObjectBuilder::new().schema_type(Type::Object).build();
    operation("openapi", "operations", "This document").response(
        "200",
        json_response("The OpenAPI 3.1 description of every route", object),
    )
}

pub(super) fn admin_providers() -> OperationBuilder {
    operation(
        "adminProviders",
        "admin",
        "Every provider's breaker, rate limit and in-flight calls",
    )
    .security(SecurityRequirement::new(ADMIN_TOKEN, Vec::<String>::new()))
    .response("200", json_response("The providers", schema_ref("ProviderList")))
    .problems(
        &[(
            401,
            "`unauthorized`: missing or wrong admin token, or the admin API is disabled",
        )],
        false,
    )
}

pub(super) fn list_customers() -> OperationBuilder {
    let limit = ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(1))
        .maximum(Some(100))
        .default(Some(json!(20)));
    domain(
        "listCustomers",
        "acme-crm",
        "List customers",
        None,
        "`limit` is not 1 to 100, or `cursor` is not one this API issued",
    )
    .parameter(query_param(
        "limit",
        "Page size; ignored with a `cursor`, which carries its own. Empty is the same as absent",
        limit,
    ))
    .parameter(query_param(
        "cursor",
        "`next_cursor` of the previous page; empty is the same as absent (the first page)",
        ObjectBuilder::new().schema_type(Type::String),
    ))
    .response(
        "200",
        outbound_json("One page of customers", schema_ref("CustomerPage")),
    )
}

pub(super) fn create_customer() -> OperationBuilder {
    domain(
        "createCustomer",
        "acme-crm",
        "Create a customer",
        None,
        "the body is not `{\"name\",\"email\"}` with both non-empty",
    )
    .request_body(Some(json_body("NewCustomer")))
    .response("201", outbound_json("Created", schema_ref("Customer")))
}

pub(super) fn get_customer() -> OperationBuilder {
    let read = domain(
        "getCustomer",
        "acme-crm",
        "Get a customer",
        Some("customer"),
        "the `id` is not UTF-8 once decoded",
    )
    .parameter(id_param("id", "The customer's id"));
    super::read_model::single_entity_read(read, "The customer", "Customer")
}

pub(super) fn update_customer() -> OperationBuilder {
    domain(
        "updateCustomer",
        "acme-crm",
        "Change a customer's name or email",
        Some("customer"),
        "the body sets none of `name`, `email`, sets one to null or empty, or has other fields",
    )
    .parameter(id_param("id", "The customer's id"))
    .request_body(Some(json_body("CustomerChanges")))
    .response("200", outbound_json("The changed customer", schema_ref("Customer")))
}

pub(super) fn delete_customer() -> OperationBuilder {
    domain(
        "deleteCustomer",
        "acme-crm",
        "Delete a customer",
        Some("customer"),
        "a body was sent",
    )
    .parameter(id_param("id", "The customer's id"))
    .response("204", limited(response("Deleted")).build())
}

pub(super) fn create_payment() -> OperationBuilder {
    domain(
        "createPayment",
        "stripe",
        "Create a payment",
        None,
        "`amount.value` is not positive or `amount.currency` is not three letters",
    )
    .request_body(Some(json_body("NewPayment")))
    .response("201", outbound_json("Created", schema_ref("Payment")))
}

pub(super) fn cancel_payment() -> OperationBuilder {
    domain(
        "cancelPayment",
        "stripe",
        "Cancel a payment that has not succeeded",
        Some("payment"),
        "a body other than none or `{}`",
    )
    .parameter(id_param("id", "The payment's id"))
    .response("200", outbound_json("The cancelled payment", schema_ref("Payment")))
}

pub(super) fn get_payment() -> OperationBuilder {
    let read = domain(
        "getPayment",
        "stripe",
        "Get a payment",
        Some("payment"),
        "the `id` is not UTF-8 once decoded",
    )
    .parameter(id_param("id", "The payment's id"));
    super::read_model::single_entity_read(read, "The payment", "Payment")
}

pub(super) fn proxy(id: &str) -> OperationBuilder {
    let mut list = vec![
        (
            400,
            "`invalid-request`: a path that could leave `base_url` (`..`, `//`, encoded or backslashed variants, absolute URLs)",
        ),
        (404, UNKNOWN_PROVIDER),
    ];
    list.extend(OUTBOUND_PROBLEMS);
    operation(id, "proxy", "Pass a request through to the provider's `base_url`")
        .description(Some(
            "Any method. Forwards to `base_url` + `path` with the query string, with the provider's credentials in \
             place of the caller's `Authorization` and without hop-by-hop headers, through the provider's rate \
             limit, breaker, bulkhead, timeout and retries (idempotent methods, or requests with an \
             `Idempotency-Key`). The vendor's status, headers and body come back as they are.",
        ))
        .security(SecurityRequirement::new(CALLER_KEY, Vec::<String>::new()))
        .parameter(path_param("provider", "A configured provider with a `base_url`"))
        .parameter(path_param(
            "path",
            "The rest of the path, `/` included, appended to `base_url`",
        ))
        .parameter(traceparent())
        .response(
            "default",
            limited(response(
                "The vendor's response: its status, headers (less hop-by-hop ones) and body",
            ))
            .build(),
        )
        .problems(&list, true)
}

/// A `/v1` domain route: caller key, its problems (`invalid` says what makes a request invalid; `resource` names
/// what a vendor 404 is about, for routes on one resource).
fn domain(id: &str, tag: &str, summary: &str, resource: Option<&str>, invalid: &str) -> OperationBuilder {
    let bad_request = format!("`invalid-request`: {invalid}; or the vendor refused the request (its message)");
    let not_found = match resource {
        Some(resource) => format!("{UNKNOWN_PROVIDER}; `not-found`: the vendor has no such {resource}"),
        None => UNKNOWN_PROVIDER.to_owned(),
    };
    let mut list = vec![(400, bad_request.as_str()), (404, not_found.as_str())];
    list.extend(OUTBOUND_PROBLEMS);
    operation(id, tag, summary)
        .security(SecurityRequirement::new(CALLER_KEY, Vec::<String>::new()))
        .parameter(traceparent())
        .problems(&list, true)
}
