//! `GET /openapi.json`: the OpenAPI 3.1 description of every route the router serves, built with utoipa's builder
//! API once per router, for the providers it was built with, and served as it was serialized. The domain routes
//! under `/v1/{provider}` are those of each configured provider that takes outbound calls, as its adapter describes
//! them ([`domain`]); the gateway's own operations are in [`operations`] and its sibling files, made of the pieces
//! in [`parts`] (correlation and rate-limit headers, problem responses, parameters); their schemas are in
//! [`schemas`].

mod admin_events;
mod admin_operate;
mod admin_schemas;
mod domain;
mod mutations;
mod operations;
mod parts;
mod read_model;
mod sagas;
mod schemas;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use axum::http::header;
use axum::routing::{MethodRouter, get};
use bytes::Bytes;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, PathItem, PathItemBuilder};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{
    Components, ComponentsBuilder, InfoBuilder, LicenseBuilder, OpenApi, OpenApiBuilder, Paths, PathsBuilder, RefOr,
    Schema,
};

pub use domain::Served;
use operations as op;

use super::AppState;
use crate::providers::Providers;

/// `GET /openapi.json` for `providers`: the document is built and serialized now, and answered as those bytes.
pub fn route(providers: &Providers) -> MethodRouter<AppState> {
    let served: Vec<Served<'_>> = providers
        .iter()
        .filter(|provider| provider.outbound.is_some())
        .map(|provider| Served {
            name: &provider.name,
            adapter: provider.adapter.as_ref(),
        })
        .collect();
    // Serializing a document of strings, maps and numbers cannot fail; this runs once, at router construction.
    let body = Bytes::from(
        build(&served)
            .to_json()
            .expect("an OpenAPI document serializes to JSON"),
    );
    get(move || {
        let body = body.clone();
        async move { ([(header::CONTENT_TYPE, "application/json")], body) }
    })
}

const CALLER_KEY: &str = "caller_key";
const ADMIN_TOKEN: &str = "admin_token";
const PROBLEM_JSON: &str = "application/problem+json";

/// The whole document, with the domain routes of `served` (in that order).
pub fn build(served: &[Served<'_>]) -> OpenApi {
    let domain = domain::docs(served);
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
             The domain routes are those of the providers configured to take outbound calls, under \
             `/v1/<provider>`, tagged with the provider's name; their operation ids are the adapter's, qualified \
             as `<provider>.<id>` for a provider not named after its adapter.",
        ))
        .build();
    let tag = |(name, description): (&str, &str)| TagBuilder::new().name(name).description(Some(description)).build();
    let gateway = |list: &[(&str, &str)]| list.iter().copied().map(tag).collect::<Vec<_>>();
    let mut tags = gateway(&[
        ("operations", "Health, readiness, metrics and this document"),
        (
            "webhooks",
            "Signed webhooks from vendors, stored durably before they are acknowledged",
        ),
    ]);
    tags.extend(domain.tags.iter().map(|(name, about)| tag((name, about))));
    tags.extend(gateway(&[
        ("commands", "Deferred commands (`Prefer: respond-async`)"),
        ("sagas", "Operations across providers, finished or undone (`[[sagas]]`)"),
        ("proxy", "Passthrough to a provider's `base_url`"),
        ("admin", "The gateway's own state (admin token)"),
    ]));
    OpenApiBuilder::new()
        .info(info)
        .paths(paths(domain.paths))
        .components(Some(components(domain.schemas)))
        .tags(Some(tags))
        .build()
}

/// The gateway's paths, with the domain routes' (`(path, operation)`) after the admin ones.
fn paths(domain: Vec<(String, PathItem)>) -> Paths {
    use HttpMethod::{Delete, Get, Head, Options, Patch, Post, Put};
    let operation = |method, operation: OperationBuilder| PathItem::new(method, operation.build());
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
    let gateway = PathsBuilder::new()
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
        );
    let paths = domain
        .into_iter()
        .fold(gateway, |paths, (path, item)| paths.path(path, item));
    paths
        .path("/v1/commands/{id}", operation(Get, mutations::get_command()))
        .path(
            "/v1/sagas/{saga}",
            PathItemBuilder::new()
                .operation(Post, sagas::start_saga().build())
                .operation(Get, sagas::get_saga().build())
                .build(),
        )
        .path("/proxy/{provider}/{path}", proxy)
        .build()
}

/// The security schemes, the gateway's schemas and the domain routes' (`domain`, by name; the gateway's own
/// schema of a name wins, and the tests keep registered adapters off those names).
fn components(domain: BTreeMap<String, RefOr<Schema>>) -> Components {
    use schemas::*;
    let bearer = |description: &str| {
        let mut http = Http::new(HttpAuthScheme::Bearer);
        http.description = Some(description.to_owned());
        SecurityScheme::Http(http)
    };
    let mut components = ComponentsBuilder::new()
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
        .build();
    for (name, schema) in domain {
        components.schemas.entry(name).or_insert(schema);
    }
    components
}
