//! The `/v1/{provider}/…` domain routes in the document: for each configured provider that takes outbound calls,
//! its adapter's [`RouteDocs`] (what only the adapter knows: ids, summaries, parameters, schemas) wrapped in what
//! every domain route shares (the caller key, `traceparent`, the outbound problems, `Idempotency-Key` and
//! `Prefer: respond-async` by method, the read model's parts on the read of an entity the adapter declares), and
//! the schemas the adapters contribute. No adapter is named here.

use std::collections::BTreeMap;

use gatehouse_kit::Adapter;
use gatehouse_kit::openapi::{RouteDoc, RouteDocs, path_params};
use http::Method;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, PathItem};
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::{RefOr, Schema};

use super::CALLER_KEY;
use super::operations::{OUTBOUND_PROBLEMS, UNKNOWN_PROVIDER};
use super::parts::{
    Problems, id_param, json_body, limited, operation, outbound_json, query_param, response, schema_ref, traceparent,
};
use super::{mutations, read_model};

/// A provider the document lists under `/v1/{name}`: its name and its adapter.
#[derive(Clone, Copy)]
pub struct Served<'a> {
    pub name: &'a str,
    pub adapter: &'a dyn Adapter,
}

/// What the domain routes add to the document: paths, the providers' tags, and the adapters' schemas.
#[derive(Default)]
pub(super) struct DomainDocs {
    /// `(path, operation)`, provider by provider.
    pub paths: Vec<(String, PathItem)>,
    /// `(provider, what its routes are about)`, for providers with routes.
    pub tags: Vec<(String, String)>,
    /// Every contributed schema, by name (the first adapter's when two contribute one name: the tests hold
    /// registered adapters to describing a shared name the same).
    pub schemas: BTreeMap<String, RefOr<Schema>>,
}

/// The domain routes of `served`, in that order.
pub(super) fn docs(served: &[Served<'_>]) -> DomainDocs {
    let mut out = DomainDocs::default();
    for provider in served {
        let RouteDocs { about, routes, schemas } = provider.adapter.openapi();
        if routes.is_empty() {
            continue;
        }
        out.tags.push((provider.name.to_owned(), about.to_owned()));
        for doc in &routes {
            let Some(method) = http_method(&doc.method) else {
                continue;
            };
            let operation = route(*provider, doc).build();
            let path = format!("/v1/{}{}", provider.name, doc.path);
            out.paths.push((path, PathItem::new(method, operation)));
        }
        for (name, schema) in schemas {
            out.schemas.entry(name).or_insert(schema);
        }
    }
    out
}

/// The operation id of `id` for `provider`: as the adapter wrote it for a provider named after its adapter, else
/// qualified by the provider's name (`<provider>.<id>`) so that two providers of one adapter never share one.
pub fn operation_id(provider: Served<'_>, id: &str) -> String {
    if provider.name == provider.adapter.name() {
        id.to_owned()
    } else {
        format!("{}.{id}", provider.name)
    }
}

/// One route: the adapter's doc wrapped in the gateway's parts.
fn route(provider: Served<'_>, doc: &RouteDoc) -> OperationBuilder {
    let bad_request = format!(
        "`invalid-request`: {}; or the vendor refused the request (its message)",
        doc.invalid
    );
    let not_found = match doc.not_found {
        Some(resource) => format!("{UNKNOWN_PROVIDER}; `not-found`: the vendor has no such {resource}"),
        None => UNKNOWN_PROVIDER.to_owned(),
    };
    let mut problems = vec![(400, bad_request.as_str()), (404, not_found.as_str())];
    problems.extend(OUTBOUND_PROBLEMS);
    let mut operation = operation(&operation_id(provider, doc.operation_id), provider.name, doc.summary)
        .security(SecurityRequirement::new(CALLER_KEY, Vec::<String>::new()))
        .parameter(traceparent())
        .problems(&problems, true);
    for name in path_params(doc.path) {
        let described = doc.path_params.iter().find(|(param, _)| *param == name);
        operation = operation.parameter(id_param(name, described.map_or("A path segment", |(_, d)| *d)));
    }
    for param in &doc.query {
        operation = operation.parameter(query_param(param.name, param.description, param.schema.clone()));
    }
    if let Some(body) = &doc.body {
        operation = operation.request_body(Some(json_body(body)));
    }
    let answer = &doc.answer;
    let entity_read =
        doc.method == Method::GET && provider.adapter.entities().iter().any(|entity| entity.read == doc.path);
    operation = match &answer.schema {
        Some(schema) if entity_read => {
            read_model::single_entity_read(operation, doc.description, answer.description, schema)
        }
        Some(schema) => operation.description(doc.description).response(
            answer.status.as_str(),
            outbound_json(answer.description, schema_ref(schema)),
        ),
        None => operation
            .description(doc.description)
            .response(answer.status.as_str(), limited(response(answer.description)).build()),
    };
    match doc.method {
        Method::POST | Method::PATCH => mutations::domain_mutation(operation, doc.forwarded_key),
        Method::PUT | Method::DELETE => mutations::deferrable(operation),
        _ => operation,
    }
}

/// The OpenAPI method of `method`; `None` for one OpenAPI cannot describe (the kit's check refuses those).
fn http_method(method: &Method) -> Option<HttpMethod> {
    Some(match *method {
        Method::GET => HttpMethod::Get,
        Method::PUT => HttpMethod::Put,
        Method::POST => HttpMethod::Post,
        Method::DELETE => HttpMethod::Delete,
        Method::OPTIONS => HttpMethod::Options,
        Method::HEAD => HttpMethod::Head,
        Method::PATCH => HttpMethod::Patch,
        _ => return None,
    })
}
