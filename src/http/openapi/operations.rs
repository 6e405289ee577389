//! The gateway's own operations (webhooks, health, metrics, this document, the providers' report, `/proxy`), one
//! function per route: what each takes, what it answers, and the problems it can give, each named by slug under
//! its status; and the problems every outbound call shares (the domain routes' are built in `super::domain`).

use utoipa::openapi::path::OperationBuilder;
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::AnyOfBuilder;
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::{Content, ObjectBuilder, Ref, RefOr, Required, Schema, Type};

use super::parts::{Problems, json_response, limited, operation, path_param, response, schema_ref, traceparent};
use super::{ADMIN_TOKEN, CALLER_KEY};

/// Problems every outbound call (`/v1`, `/proxy`) can meet once its provider and route are known.
pub(super) const OUTBOUND_PROBLEMS: [(u16, &str); 8] = [
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
pub(super) const UNKNOWN_PROVIDER: &str = "`unknown-provider`: no provider of that name takes outbound calls";

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
        json_response(
            "The OpenAPI 3.1 description of every route, with the domain routes of the configured providers that \
             take outbound calls",
            object,
        ),
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
