//! `GET /openapi.json`: an OpenAPI 3.1 document naming every route with its methods (the domain routes of the
//! configured providers that take outbound calls, under their names, and no others), and a document the router
//! agrees with: each operation, sent as documented, reaches a handler and answers a status it documents.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

/// Every route the router serves with [`outbound`]'s providers, by path template, with its methods.
const ROUTES: [(&str, &[&str]); 29] = [
    ("/webhooks/{provider}", &["post"]),
    ("/healthz", &["get"]),
    ("/readyz", &["get"]),
    ("/metrics", &["get"]),
    ("/openapi.json", &["get"]),
    ("/admin/providers", &["get"]),
    ("/admin/events", &["get"]),
    ("/admin/events/{id}", &["get"]),
    ("/admin/events/{id}/replay", &["post"]),
    ("/admin/events/{id}/retranslate", &["post"]),
    ("/admin/replays", &["post"]),
    ("/admin/subscriptions", &["get"]),
    ("/admin/commands", &["get"]),
    ("/admin/commands/{id}", &["get"]),
    ("/admin/commands/{id}/cancel", &["post"]),
    ("/admin/sagas", &["get"]),
    ("/admin/sagas/{id}", &["get"]),
    ("/admin/sagas/{id}/retry", &["post"]),
    ("/v1/sagas/{saga}", &["get", "post"]),
    ("/admin/read-model/{provider}/{kind}/{id}", &["get"]),
    ("/v1/acme-crm/customers", &["get", "post"]),
    ("/v1/acme-crm/customers/{id}", &["get", "patch", "delete"]),
    ("/v1/stripe/payments", &["post"]),
    ("/v1/stripe/payments/{id}", &["get"]),
    ("/v1/stripe/payments/{id}/cancel", &["post"]),
    ("/v1/crm-eu/customers", &["get", "post"]),
    ("/v1/crm-eu/customers/{id}", &["get", "patch", "delete"]),
    ("/v1/commands/{id}", &["get"]),
    (
        "/proxy/{provider}/{path}",
        &["get", "put", "post", "delete", "options", "head", "patch"],
    ),
];

/// Three providers taking outbound calls to `base_url` (acme-crm and stripe, and `crm-eu` served by acme-crm), and
/// a caller allowed them all. The test config's other providers (`outbound-only` too: it has no `base_url`) take
/// no outbound calls.
fn outbound(base_url: &str) -> String {
    let providers = format!(
        "\n[providers.acme-crm]\nbase_url = \"{base_url}\"\nretry = {{ max_attempts = 1 }}\n\
         \n[providers.stripe]\nbase_url = \"{base_url}\"\nretry = {{ max_attempts = 1 }}\n\
         \n[providers.crm-eu]\nadapter = \"acme-crm\"\nbase_url = \"{base_url}\"\nretry = {{ max_attempts = 1 }}\n"
    );
    providers + &callers_toml(&["acme-crm", "stripe", "crm-eu"], None)
}

async fn fetch(app: &TestApp) -> Value {
    let response = app
        .client
        .get(format!("{}/openapi.json", app.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert!(response.headers().contains_key("x-correlation-id"));
    response.json().await.unwrap()
}

#[tokio::test]
async fn describes_every_route_in_openapi_3_1() {
    let app = spawn_app_with(&outbound("http://127.0.0.1:9")).await;
    let doc = fetch(&app).await;
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().unwrap();
    for (path, methods) in ROUTES {
        let item = paths.get(path).unwrap_or_else(|| panic!("{path} is not documented"));
        let mut documented: Vec<&str> = item.as_object().unwrap().keys().map(String::as_str).collect();
        let mut methods = methods.to_vec();
        documented.sort_unstable();
        methods.sort_unstable();
        assert_eq!(documented, methods, "{path}");
    }
    assert_eq!(paths.len(), ROUTES.len(), "{:?}", paths.keys().collect::<Vec<_>>());

    let schemas = &doc["components"]["schemas"];
    let problem = schemas["Problem"]["properties"].as_object().unwrap();
    for field in ["type", "title", "status", "detail", "correlation_id"] {
        assert!(problem.contains_key(field), "Problem.{field}");
    }
    for name in ["Customer", "CustomerPage", "Payment", "Money"] {
        assert!(schemas[name].is_object(), "{name}");
    }
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["caller_key"]["scheme"], "bearer");
    assert_eq!(schemes["admin_token"]["scheme"], "bearer");

    let create = &doc["paths"]["/v1/stripe/payments"]["post"];
    let parameters = create["parameters"].as_array().unwrap();
    assert!(
        parameters
            .iter()
            .any(|p| p["name"] == "Idempotency-Key" && p["in"] == "header")
    );
    assert_eq!(create["security"], json!([{"caller_key": []}]));
    assert_eq!(create["operationId"], "createPayment");
    let renamed = &doc["paths"]["/v1/crm-eu/customers"]["get"];
    assert_eq!(renamed["operationId"], "crm-eu.listCustomers");
    assert_eq!(renamed["tags"], json!(["crm-eu"]));
    let rate_limited = &create["responses"]["429"];
    assert!(rate_limited["headers"]["Retry-After"].is_object());
    assert!(rate_limited["content"]["application/problem+json"].is_object());
    let webhook = &doc["paths"]["/webhooks/{provider}"]["post"]["responses"];
    for status in ["200", "401", "404", "408", "413", "503"] {
        assert!(webhook[status]["headers"]["X-Correlation-Id"].is_object(), "{status}");
    }

    // Served as built, once.
    assert_eq!(fetch(&app).await, doc);
    app.stop().await;
}

/// `template` with its parameters filled in.
fn concrete(template: &str) -> String {
    template
        .replace("{provider}", "stripe")
        .replace("{kind}", "payment")
        .replace("{id}", "x1")
        .replace("{path}", "anything")
        .replace("{saga}", "checkout")
}

#[tokio::test]
async fn every_documented_operation_reaches_the_router_and_answers_a_documented_status() {
    // The providers take outbound calls to a vendor that knows nothing (wiremock answers 404).
    let vendor = wiremock::MockServer::start().await;
    let app = spawn_app_with(&outbound(&vendor.uri())).await;
    let doc = fetch(&app).await;
    let mut sent = 0;
    for (template, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let token = if template.starts_with("/admin/") {
                ADMIN_TOKEN
            } else {
                CALLER_KEY
            };
            let response = app
                .client
                .request(
                    Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(),
                    format!("{}{}", app.addr, concrete(template)),
                )
                .bearer_auth(token)
                .json(&json!({}))
                .send()
                .await
                .unwrap();
            let status = response.status();
            let what = format!("{method} {template} → {status}");
            let headers = response.headers().clone();
            let body = response.bytes().await.unwrap();
            if headers
                .get("content-type")
                .is_some_and(|v| v == "application/problem+json")
            {
                let problem: Value = serde_json::from_slice(&body).unwrap();
                // Unrouted, or not reaching the handler's work: the providers and credentials are all configured.
                for missed in [
                    "unknown-route",
                    "method-not-allowed",
                    "unknown-provider",
                    "unauthorized",
                ] {
                    assert_ne!(problem["type"], format!("urn:gatehouse:problem:{missed}"), "{what}");
                }
            }
            let responses = &operation["responses"];
            assert!(
                responses.get(status.as_str()).is_some() || responses.get("default").is_some(),
                "{what} is not documented"
            );
            assert!(headers.contains_key("x-correlation-id"), "{what}");
            sent += 1;
        }
    }
    assert_eq!(sent, ROUTES.iter().map(|(_, methods)| methods.len()).sum::<usize>());
    app.stop().await;
}

#[tokio::test]
async fn lists_no_domain_routes_for_providers_without_outbound_calls() {
    // The test config's providers only receive webhooks (`outbound-only` names an adapter with routes, but has no
    // `base_url`): `/v1/{them}/...` answers 404 unknown-provider, so the document lists none of it.
    let app = spawn_app().await;
    let doc = fetch(&app).await;
    let paths = doc["paths"].as_object().unwrap();
    let domain: Vec<&String> = paths
        .keys()
        .filter(|path| {
            path.starts_with("/v1/") && !path.starts_with("/v1/commands/") && !path.starts_with("/v1/sagas/")
        })
        .collect();
    assert!(domain.is_empty(), "{domain:?}");
    assert_eq!(paths.len(), ROUTES.len() - 7);
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for name in ["Customer", "Payment", "NewPayment"] {
        assert!(!schemas.contains_key(name), "{name}");
    }
    let tags: Vec<&str> = doc["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(!tags.contains(&"acme-crm") && !tags.contains(&"stripe"), "{tags:?}");
    app.stop().await;
}
