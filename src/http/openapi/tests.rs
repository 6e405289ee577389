//! Checks the document against what it describes: the problem bodies `problem.rs` writes, the slugs and statuses it
//! knows, and the routes of the providers it is built for (see `tests/api/openapi.rs` for the router itself).

mod adapters;

use std::collections::BTreeSet;
use std::sync::Arc;

use gatehouse_kit::Adapter;
use gatehouse_kit::descriptor::Settings;
use serde_json::Value;

use super::{Served, build};
use crate::http::problem::{ApiError, Problem};

/// Every registered adapter, built (those with settings given a JSON pointer for each).
fn registered() -> Vec<Arc<dyn Adapter>> {
    crate::adapters::REGISTRY
        .iter()
        .map(|descriptor| {
            let settings = descriptor
                .settings
                .iter()
                .fold(Settings::new(true), |settings, key| settings.with(key, "/id"));
            (descriptor.build)(&settings).unwrap_or_else(|e| panic!("{}: {e}", descriptor.name))
        })
        .collect()
}

/// The document for `providers`: `(provider name, adapter)`.
fn document_for(providers: &[(&str, &Arc<dyn Adapter>)]) -> Value {
    let served: Vec<Served<'_>> = providers
        .iter()
        .map(|(name, adapter)| Served {
            name,
            adapter: adapter.as_ref(),
        })
        .collect();
    serde_json::to_value(build(&served)).unwrap()
}

/// The document with every registered adapter serving a provider of its own name.
fn document() -> Value {
    let adapters = registered();
    let providers: Vec<_> = adapters.iter().map(|adapter| (adapter.name(), adapter)).collect();
    document_for(&providers)
}

fn schema<'a>(doc: &'a Value, name: &str) -> &'a Value {
    &doc["components"]["schemas"][name]
}

/// The property names of the component `name`.
fn properties(doc: &Value, name: &str) -> BTreeSet<String> {
    let properties = schema(doc, name)["properties"].as_object();
    properties
        .unwrap_or_else(|| panic!("{name} has properties"))
        .keys()
        .cloned()
        .collect()
}

/// Every operation: `(path, method, operation)`.
fn operations(doc: &Value) -> Vec<(&str, &str, &Value)> {
    let paths = doc["paths"].as_object().unwrap();
    paths
        .iter()
        .flat_map(|(path, item)| {
            let item = item.as_object().unwrap();
            item.iter()
                .map(move |(method, operation)| (path.as_str(), method.as_str(), operation))
        })
        .collect()
}

#[tokio::test]
async fn the_problem_schema_matches_problem_bodies() {
    let response = axum::response::IntoResponse::into_response(ApiError::new(Problem::Forbidden, "no"));
    assert_eq!(response.headers()["content-type"], super::PROBLEM_JSON);
    let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    let body: Value = serde_json::from_slice(&body).unwrap();
    let keys: BTreeSet<String> = body.as_object().unwrap().keys().cloned().collect();
    assert_eq!(properties(&document(), "Problem"), keys);
}

const PROBLEMS: [Problem; 25] = [
    Problem::InvalidRequest,
    Problem::Unauthorized,
    Problem::InvalidSignature,
    Problem::Forbidden,
    Problem::UnknownProvider,
    Problem::UnknownRoute,
    Problem::NotFound,
    Problem::MethodNotAllowed,
    Problem::RequestTimeout,
    Problem::PayloadTooLarge,
    Problem::RateLimited,
    Problem::UpstreamError,
    Problem::CircuitOpen,
    Problem::BulkheadFull,
    Problem::StoreUnavailable,
    Problem::UpstreamTimeout,
    Problem::NotCached,
    Problem::IdempotencyKeyInUse,
    Problem::IdempotencyKeyMismatch,
    Problem::EventQuarantined,
    Problem::CommandNotPending,
    Problem::SagaNotFailed,
    Problem::CommandRunning,
    Problem::HeaderFieldsTooLarge,
    Problem::UriTooLong,
];

/// The slugs a response description names: each "`slug`:".
fn slugs(description: &str) -> Vec<&str> {
    description
        .split('`')
        .collect::<Vec<_>>()
        .windows(2)
        .filter(|pair| pair[1].starts_with(':'))
        .map(|pair| pair[0])
        .collect()
}

#[test]
fn problem_responses_name_real_slugs_under_their_status() {
    let doc = document();
    let mut seen = 0;
    for (path, method, operation) in operations(&doc) {
        for (status, response) in operation["responses"].as_object().unwrap() {
            let Some(content) = response["content"].get(super::PROBLEM_JSON) else {
                continue;
            };
            assert_eq!(content["schema"]["$ref"], "#/components/schemas/Problem");
            let description = response["description"].as_str().unwrap();
            let named = slugs(description);
            assert!(!named.is_empty(), "{method} {path} {status}: {description}");
            for slug in named {
                let problem = PROBLEMS.iter().find(|p| p.slug() == slug);
                let problem = problem.unwrap_or_else(|| panic!("{method} {path} {status}: no problem {slug}"));
                assert_eq!(problem.status().as_str(), status, "{method} {path}: {slug}");
                seen += 1;
            }
            let retry_after = response["headers"].get("Retry-After").is_some();
            assert_eq!(
                retry_after,
                status == "429" || status == "503",
                "{method} {path} {status}"
            );
        }
    }
    assert!(seen > 50, "{seen}");
}

/// Every `$ref` in `value`.
fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get("$ref") {
                out.push(target);
            }
            map.values().for_each(|v| refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[test]
fn every_reference_resolves() {
    let doc = document();
    let mut found = Vec::new();
    refs(&doc, &mut found);
    assert!(found.len() > 20);
    for target in found {
        let name = target
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("{target}"));
        assert!(schema(&doc, name).is_object(), "{target}");
    }
}

#[test]
fn every_operation_documents_its_success_under_a_known_tag() {
    let doc = document();
    let tags: BTreeSet<&str> = doc["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tag| tag["name"].as_str().unwrap())
        .collect();
    for (path, method, operation) in operations(&doc) {
        let responses = operation["responses"].as_object().unwrap();
        let success = responses.keys().any(|s| s.starts_with('2') || s == "default");
        assert!(success, "{method} {path}: {:?}", responses.keys().collect::<Vec<_>>());
        let tag = operation["tags"][0].as_str().unwrap();
        assert!(tags.contains(tag), "{method} {path}: {tag}");
    }
}

#[test]
fn it_is_openapi_3_1() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    let schemes = &doc["components"]["securitySchemes"];
    for name in [super::CALLER_KEY, super::ADMIN_TOKEN] {
        assert_eq!(schemes[name]["type"], "http");
        assert_eq!(schemes[name]["scheme"], "bearer");
    }
}
