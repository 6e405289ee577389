//! Checks the document against what it describes: the kit's domain types, the problem bodies `problem.rs` writes,
//! the slugs and statuses it knows, and the routes the adapters declare.

use std::collections::BTreeSet;
use std::sync::Arc;

use gatehouse_kit::Adapter;
use gatehouse_kit::descriptor::Settings;
use gatehouse_kit::domain::{Customer, Money, Page, Payment, PaymentStatus};
use serde_json::{Value, json};

use super::build;
use crate::http::problem::{ApiError, Problem};

fn document() -> Value {
    serde_json::to_value(build()).unwrap()
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

fn keys(value: impl serde::Serialize) -> BTreeSet<String> {
    serde_json::to_value(value)
        .unwrap()
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect()
}

#[test]
fn the_domain_mirrors_match_the_kit() {
    let doc = document();
    let customer = Customer {
        id: "c_1".into(),
        name: "Ada".into(),
        email: "ada@example.com".into(),
        lifetime_value: 1.5,
        created_at: "2026-01-02T10:00:00Z".into(),
    };
    let money = Money {
        value: 100,
        currency: "usd".into(),
    };
    let payment = Payment {
        id: "pi_1".into(),
        amount: money.clone(),
        status: PaymentStatus::Pending,
        customer_id: Some("c_1".into()),
    };
    let page = Page {
        data: vec![customer.clone()],
        next_cursor: None,
    };
    assert_eq!(properties(&doc, "Customer"), keys(&customer));
    assert_eq!(properties(&doc, "Money"), keys(&money));
    assert_eq!(properties(&doc, "Payment"), keys(&payment));
    assert_eq!(properties(&doc, "CustomerPage"), keys(&page));
    let statuses = [
        PaymentStatus::Pending,
        PaymentStatus::Succeeded,
        PaymentStatus::Failed,
        PaymentStatus::Canceled,
    ]
    .map(|s| serde_json::to_value(s).unwrap());
    assert_eq!(schema(&doc, "PaymentStatus")["enum"], json!(statuses));
    assert_eq!(schema(&doc, "CustomerChanges")["minProperties"], 1);
    assert!(schema(&doc, "CustomerChanges").get("maxProperties").is_none());
}

#[tokio::test]
async fn the_problem_schema_matches_problem_bodies() {
    let response = axum::response::IntoResponse::into_response(ApiError::new(Problem::Forbidden, "no"));
    assert_eq!(response.headers()["content-type"], super::PROBLEM_JSON);
    let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(properties(&document(), "Problem"), keys(&body));
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
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
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
fn the_domain_routes_are_exactly_the_adapters_routes() {
    let adapters: Vec<Arc<dyn Adapter>> = crate::adapters::REGISTRY
        .iter()
        .filter(|descriptor| descriptor.settings.is_empty())
        .map(|descriptor| (descriptor.build)(&Settings::new(true)).unwrap())
        .collect();
    let declared: BTreeSet<String> = adapters
        .iter()
        .flat_map(|adapter| {
            let name = adapter.name();
            adapter
                .routes()
                .iter()
                .map(move |route| format!("{} /v1/{name}{}", route.method.as_str().to_lowercase(), route.path))
        })
        .collect();
    let doc = document();
    let documented: BTreeSet<String> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(path, _)| {
            path.starts_with("/v1/") && !path.starts_with("/v1/commands/") && !path.starts_with("/v1/sagas/")
        })
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |method| format!("{method} {path}"))
        })
        .collect();
    assert_eq!(documented, declared);
}

#[test]
fn every_operation_documents_its_success() {
    let doc = document();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let responses = operation["responses"].as_object().unwrap();
            let success = responses.keys().any(|s| s.starts_with('2') || s == "default");
            assert!(success, "{method} {path}: {:?}", responses.keys().collect::<Vec<_>>());
        }
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
