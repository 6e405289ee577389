//! `GET /openapi.json`: the OpenAPI 3.1 description of every route the router serves, built once with utoipa's
//! builder API and served as it was serialized. Domain routes are described concretely for the shipped adapters
//! that have them (`acme-crm`, `stripe`). The operations are in [`operations`], made of the pieces in [`parts`]
//! (correlation and rate-limit headers, problem responses, parameters); the schemas are in [`schemas`].

mod admin_events;
mod admin_operate;
mod admin_schemas;
mod mutations;
mod operations;
mod parts;
mod read_model;
mod sagas;
mod schemas;
#[cfg(test)]
mod tests;

use std::sync::LazyLock;

use axum::http::header;
use axum::response::IntoResponse;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, PathItem, PathItemBuilder};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{
    Components, ComponentsBuilder, InfoBuilder, LicenseBuilder, OpenApi, OpenApiBuilder, Paths, PathsBuilder, RefOr,
    Schema,
};

use operations as op;

/// The serialized document, built on first use.
static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    build()
        .to_json()
        .expect("an OpenAPI document always serializes to JSON")
});

pub async fn document() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT.as_str())
}

const CALLER_KEY: &str = "caller_key";
const ADMIN_TOKEN: &str = "admin_token";
const PROBLEM_JSON: &str = "application/problem+json";

/// The whole document.
pub fn build() -> OpenApi {
    let info = InfoBuilder::new()
        .title("Gatehouse")
        .version(env!("CARGO_PKG_VERSION"))
        .license(Some(
            LicenseBuilder::new()
                .name("Apache-2.0")
                .identifier(Some("Apache-2.0"))
                .build(),
        ))
        .description(Some(
            "An integration gateway: signed webhooks in, translated domain calls and passthrough out.\n\n\
             Every response carries `X-Correlation-Id`: the caller's when it is at most 128 characters of \
             `[A-Za-z0-9._:-]`, else a new UUIDv7. Errors are RFC 9457 `application/problem+json` with \
             `type = urn:gatehouse:problem:<slug>`; 429 and 503 carry `Retry-After` (seconds).\n\n\
             Domain routes are listed under `/v1/acme-crm` and `/v1/stripe`, providers named after their adapter; \
             a provider of another name served by the same adapter answers the same routes under \
             `/v1/<its name>`.",
        ))
        .build();
    let tags = [
        ("operations", "Health, readiness, metrics and this document"),
        (
            "webhooks",
            "Signed webhooks from vendors, stored durably before they are acknowledged",
        ),
        ("acme-crm", "Customers, through the Acme CRM adapter"),
        ("stripe", "Payments, through the Stripe adapter"),
        ("commands", "Deferred commands (`Prefer: respond-async`)"),
        ("sagas", "Operations across providers, finished or undone (`[[sagas]]`)"),
        ("proxy", "Passthrough to a provider's `base_url`"),
        ("admin", "The gateway's own state (admin token)"),
    ]
    .map(|(name, description)| TagBuilder::new().name(name).description(Some(description)).build());
    OpenApiBuilder::new()
        .info(info)
        .paths(paths())
        .components(Some(components()))
        .tags(Some(tags))
        .build()
}

fn paths() -> Paths {
    use HttpMethod::{Delete, Get, Head, Options, Patch, Post, Put};
    let operation = |method, operation: OperationBuilder| PathItem::new(method, operation.build());
    let customer = PathItemBuilder::new()
        .operation(Get, op::get_customer().build())
        .operation(Patch, mutations::domain_mutation(op::update_customer(), false).build())
        .operation(Delete, mutations::deferrable(op::delete_customer()).build())
        .build();
    let customers = PathItemBuilder::new()
        .operation(Get, op::list_customers().build())
        .operation(Post, mutations::domain_mutation(op::create_customer(), false).build())
        .build();
    let methods = [
        (Get, "Get"),
        (Put, "Put"),
        (Post, "Post"),
        (Delete, "Delete"),
        (Options, "Options"),
        (Head, "Head"),
        (Patch, "Patch"),
    ];
    let proxy = methods
        .into_iter()
        .fold(PathItemBuilder::new(), |item, (method, name)| {
            let proxy = op::proxy(&format!("proxy{name}"));
            let proxy = match method {
                Post | Patch => mutations::proxy_mutation(proxy),
                _ => proxy,
            };
            item.operation(method, proxy.build())
        })
        .build();
    PathsBuilder::new()
        .path("/webhooks/{provider}", operation(Post, op::webhook()))
        .path("/healthz", operation(Get, op::healthz()))
        .path("/readyz", operation(Get, op::readyz()))
        .path("/metrics", operation(Get, op::metrics()))
        .path("/openapi.json", operation(Get, op::openapi()))
        .path("/admin/providers", operation(Get, op::admin_providers()))
        .path("/admin/events", operation(Get, admin_events::list_events()))
        .path("/admin/events/{id}", operation(Get, admin_events::get_event()))
        .path(
            "/admin/events/{id}/replay",
            operation(Post, admin_events::replay_event()),
        )
        .path(
            "/admin/events/{id}/retranslate",
            operation(Post, admin_events::retranslate_event()),
        )
        .path("/admin/replays", operation(Post, admin_operate::replay_matching()))
        .path("/admin/subscriptions", operation(Get, admin_operate::subscriptions()))
        .path("/admin/commands", operation(Get, admin_operate::list_commands()))
        .path("/admin/commands/{id}", operation(Get, admin_operate::get_command()))
        .path(
            "/admin/commands/{id}/cancel",
            operation(Post, admin_operate::cancel_command()),
        )
        .path("/admin/sagas", operation(Get, sagas::list_sagas()))
        .path("/admin/sagas/{id}", operation(Get, sagas::get_admin_saga()))
        .path("/admin/sagas/{id}/retry", operation(Post, sagas::retry_saga()))
        .path(
            "/admin/read-model/{provider}/{kind}/{id}",
            operation(Get, read_model::admin_entity()),
        )
        .path("/v1/acme-crm/customers", customers)
        .path("/v1/acme-crm/customers/{id}", customer)
        .path(
            "/v1/stripe/payments",
            operation(Post, mutations::domain_mutation(op::create_payment(), true)),
        )
        .path("/v1/commands/{id}", operation(Get, mutations::get_command()))
        .path(
            "/v1/sagas/{saga}",
            PathItemBuilder::new()
                .operation(Post, sagas::start_saga().build())
                .operation(Get, sagas::get_saga().build())
                .build(),
        )
        .path("/v1/stripe/payments/{id}", operation(Get, op::get_payment()))
        .path(
            "/v1/stripe/payments/{id}/cancel",
            operation(Post, mutations::domain_mutation(op::cancel_payment(), true)),
        )
        .path("/proxy/{provider}/{path}", proxy)
        .build()
}

fn components() -> Components {
    use schemas::*;
    use utoipa::{PartialSchema, ToSchema};
    let bearer = |description: &str| {
        let mut http = Http::new(HttpAuthScheme::Bearer);
        http.description = Some(description.to_owned());
        SecurityScheme::Http(http)
    };
    let mut changes = CustomerChanges::schema();
    if let RefOr::T(Schema::Object(object)) = &mut changes {
        object.min_properties = Some(1);
    }
    ComponentsBuilder::new()
        .security_scheme(
            CALLER_KEY,
            bearer("A caller key from `[[callers]]`; the caller must be allowed the provider."),
        )
        .security_scheme(
            ADMIN_TOKEN,
            bearer("The admin token whose SHA-256 is `[admin] token_sha256`."),
        )
        .schema_from::<Problem>()
        .schema_from::<WebhookAccepted>()
        .schema_from::<Status>()
        .schema_from::<ProviderList>()
        .schema_from::<ProviderReport>()
        .schema_from::<OutboundReport>()
        .schema_from::<BreakerReport>()
        .schema_from::<BreakerState>()
        .schema_from::<RateLimit>()
        .schema_from::<RateLimitScope>()
        .schema_from::<FallbackLimit>()
        .schema_from::<RecentError>()
        .schema_from::<Customer>()
        .schema_from::<CustomerPage>()
        .schema_from::<NewCustomer>()
        .schema(CustomerChanges::name(), changes)
        .schema_from::<Money>()
        .schema_from::<PaymentStatus>()
        .schema_from::<Payment>()
        .schema_from::<NewPayment>()
        .schema_from::<Amount>()
        .schema_from::<CommandAccepted>()
        .schema_from::<CommandStatus>()
        .schema_from::<Command>()
        .schema_from::<CommandResponse>()
        .schema_from::<EventSummary>()
        .schema_from::<EventPage>()
        .schema_from::<EventDetail>()
        .schema_from::<DeliveryState>()
        .schema_from::<DeliveryAttempt>()
        .schema_from::<Replayed>()
        .schema_from::<QuarantineState>()
        .schema_from::<Retranslated>()
        .schema_from::<admin_schemas::ReplayRequest>()
        .schema_from::<admin_schemas::BulkReplay>()
        .schema_from::<admin_schemas::SubscriptionReport>()
        .schema_from::<admin_schemas::SubscriptionList>()
        .schema_from::<admin_schemas::AdminCommand>()
        .schema_from::<admin_schemas::AdminCommandPage>()
        .schema_from::<admin_schemas::AdminCommandDetail>()
        .schema_from::<admin_schemas::ReadModelEntity>()
        .schema_from::<sagas::SagaAccepted>()
        .schema_from::<sagas::SagaStatus>()
        .schema_from::<sagas::SagaStepStatus>()
        .schema_from::<sagas::SagaStep>()
        .schema_from::<sagas::Saga>()
        .schema_from::<sagas::AdminSagaPage>()
        .schema_from::<sagas::AdminSagaDetail>()
        .build()
}
