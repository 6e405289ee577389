//! The domain routes in the document: exactly the routes of the providers it is built for, under their names, as
//! their adapters describe them; and every registered adapter's docs complete and consistent with the others'.
//! No adapter is named: they come from the registry.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use gatehouse_kit::Adapter;
use serde_json::Value;

use super::{document, document_for, operations, registered};

/// The registered adapters that serve domain routes.
fn with_routes() -> Vec<Arc<dyn Adapter>> {
    registered()
        .into_iter()
        .filter(|adapter| !adapter.routes().is_empty())
        .collect()
}

/// `method /v1/{provider}{path}` of every route of `providers`.
fn declared(providers: &[(&str, &Arc<dyn Adapter>)]) -> BTreeSet<String> {
    providers
        .iter()
        .flat_map(|(name, adapter)| {
            adapter
                .routes()
                .iter()
                .map(move |route| format!("{} /v1/{name}{}", route.method.as_str().to_lowercase(), route.path))
        })
        .collect()
}

/// `method path` of every documented domain route (`/v1/` less the gateway's commands and sagas).
fn documented(doc: &Value) -> BTreeSet<String> {
    operations(doc)
        .into_iter()
        .filter(|(path, _, _)| {
            path.starts_with("/v1/") && !path.starts_with("/v1/commands/") && !path.starts_with("/v1/sagas/")
        })
        .map(|(path, method, _)| format!("{method} {path}"))
        .collect()
}

/// The names of the document's schemas that the gateway itself does not define.
fn domain_schemas(doc: &Value) -> BTreeSet<String> {
    let gateway = document_for(&[]);
    let names = |doc: &Value| -> BTreeSet<String> {
        doc["components"]["schemas"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect()
    };
    names(doc).difference(&names(&gateway)).cloned().collect()
}

fn tags(doc: &Value) -> BTreeSet<String> {
    let tags = doc["tags"].as_array().unwrap().iter();
    tags.map(|tag| tag["name"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn the_domain_routes_are_exactly_the_served_providers_routes() {
    let adapters = with_routes();
    assert!(!adapters.is_empty());
    let others: Vec<String> = adapters.iter().map(|a| format!("{}-eu", a.name())).collect();
    let mut providers: Vec<(&str, &Arc<dyn Adapter>)> = adapters.iter().map(|a| (a.name(), a)).collect();
    providers.extend(others.iter().map(String::as_str).zip(&adapters));
    let doc = document_for(&providers);
    assert_eq!(documented(&doc), declared(&providers));
    for (name, _) in &providers {
        assert!(tags(&doc).contains(*name), "{name}");
    }
}

#[test]
fn a_provider_not_served_has_no_paths_tag_or_schemas() {
    let adapters = with_routes();
    let served = &adapters[0];
    let doc = document_for(&[(served.name(), served)]);
    assert_eq!(documented(&doc), declared(&[(served.name(), served)]));
    let contributed: BTreeSet<String> = served.openapi().schemas.into_iter().map(|(name, _)| name).collect();
    assert_eq!(domain_schemas(&doc), contributed);
    for other in &adapters[1..] {
        let prefix = format!("/v1/{}/", other.name());
        assert!(
            !documented(&doc).iter().any(|route| route.contains(&prefix)),
            "{prefix}"
        );
        assert!(!tags(&doc).contains(other.name()));
    }

    let none = document_for(&[]);
    assert!(documented(&none).is_empty());
    assert!(domain_schemas(&none).is_empty());
    assert!(none["paths"]["/v1/commands/{id}"].is_object());
    assert!(none["paths"]["/proxy/{provider}/{path}"].is_object());
}

#[test]
fn a_provider_named_otherwise_gets_its_adapters_operations_with_qualified_ids() {
    for adapter in with_routes() {
        let doc = document_for(&[("renamed", &adapter), (adapter.name(), &adapter)]);
        let docs = adapter.openapi();
        for route in &docs.routes {
            let path = |provider: &str| format!("/v1/{provider}{}", route.path);
            let method = route.method.as_str().to_lowercase();
            let renamed = &doc["paths"][path("renamed")][&method];
            assert_eq!(renamed["operationId"], format!("renamed.{}", route.operation_id));
            assert_eq!(renamed["tags"], serde_json::json!(["renamed"]));
            let own = &doc["paths"][path(adapter.name())][&method];
            assert_eq!(own["operationId"], route.operation_id);
            let without_id = |operation: &Value| {
                let mut operation = operation.clone();
                operation["operationId"] = Value::Null;
                operation["tags"] = Value::Null;
                operation
            };
            assert_eq!(without_id(renamed), without_id(own));
        }
    }
}

#[test]
fn every_registered_adapter_documents_every_route_and_contributes_what_it_names() {
    for adapter in registered() {
        let docs = adapter.openapi();
        assert_eq!(
            docs.problems(adapter.routes()),
            Vec::<String>::new(),
            "{}",
            adapter.name()
        );
        let contributed: BTreeSet<String> = docs.schemas.iter().map(|(name, _)| name.clone()).collect();
        let missing: Vec<_> = docs.references().difference(&contributed).cloned().collect();
        assert!(missing.is_empty(), "{}: {missing:?}", adapter.name());
        assert_eq!(
            docs.routes.is_empty(),
            adapter.routes().is_empty(),
            "{}",
            adapter.name()
        );
    }
}

#[test]
fn adapters_share_one_namespace_of_schemas_and_operation_ids() {
    let gateway = document_for(&[]);
    let mut seen: BTreeMap<String, (&str, Value)> = BTreeMap::new();
    let adapters = registered();
    for adapter in &adapters {
        for (name, schema) in adapter.openapi().schemas {
            let schema = serde_json::to_value(schema).unwrap();
            assert!(
                gateway["components"]["schemas"][&name].is_null(),
                "{}: {name}",
                adapter.name()
            );
            if let Some((first, known)) = seen.get(&name) {
                assert_eq!(&schema, known, "{name}: {first} and {} differ", adapter.name());
            }
            seen.insert(name, (adapter.name(), schema));
        }
    }
    let doc = document();
    let ids: Vec<&str> = operations(&doc)
        .into_iter()
        .map(|(_, _, operation)| operation["operationId"].as_str().unwrap())
        .collect();
    let unique: BTreeSet<&str> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "{ids:?}");
}

#[test]
fn entity_reads_get_the_read_model_parts_and_mutations_their_headers() {
    let doc = document();
    let mut reads = 0;
    for adapter in with_routes() {
        for route in adapter.routes() {
            let method = route.method.as_str().to_lowercase();
            let operation = &doc["paths"][format!("/v1/{}{}", adapter.name(), route.path)][&method];
            let parameters: BTreeSet<&str> = operation["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .map(|parameter| parameter["name"].as_str().unwrap())
                .collect();
            let entity_read = method == "get" && adapter.entities().iter().any(|e| e.read == route.path);
            reads += usize::from(entity_read);
            assert_eq!(
                parameters.contains("Cache-Control"),
                entity_read,
                "{method} {}",
                route.path
            );
            assert_eq!(
                operation["responses"]["200"]["headers"]["Cache-Status"].is_object(),
                entity_read
            );
            let keyed = matches!(method.as_str(), "post" | "patch");
            assert_eq!(parameters.contains("Idempotency-Key"), keyed, "{method} {}", route.path);
            assert_eq!(operation["responses"]["409"].is_object(), keyed);
            let deferrable = keyed || matches!(method.as_str(), "put" | "delete");
            assert_eq!(parameters.contains("Prefer"), deferrable, "{method} {}", route.path);
            assert_eq!(operation["responses"]["202"].is_object(), deferrable);
            assert_eq!(operation["security"], serde_json::json!([{"caller_key": []}]));
        }
    }
    assert!(reads > 0);
}
