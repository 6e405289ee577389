//! Starting a saga: only the callers it names (403 otherwise, 401 without a key, 404 for an unknown saga), once per
//! `Idempotency-Key` (the same input answers the same 202; another input is 422), and bad input refused before
//! anything runs (400 naming the missing field or the step whose request the adapter refuses). A saga is visible
//! to the caller that started it only.

use serde_json::{Value, json};
use wiremock::MockServer;

use crate::helpers::*;
use crate::sagas::{customer_created, finished, input, mount, payment_created, sagas_toml, start};

#[tokio::test]
async fn starting_is_authorised_idempotent_and_refuses_bad_input_before_anything_runs() {
    let vendor = MockServer::start().await;
    mount(&vendor, "POST", "/customers", customer_created()).await;
    mount(&vendor, "POST", "/v1/payment_intents", payment_created()).await;
    let app = spawn_app_with(&sagas_toml(&vendor.uri(), 3)).await;

    // The same key and input: one saga; another input under the key: refused.
    let first = start(&app, "checkout", &input(), Some("order-7")).await;
    assert_eq!(first.status(), 202);
    let first: Value = first.json().await.unwrap();
    let again = start(&app, "checkout", &input(), Some("order-7")).await;
    assert_eq!(again.status(), 202);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<Value>().await.unwrap()["id"], first["id"]);
    let other = json!({"name": "Bob", "email": "bob@example.com", "amount": 5});
    problem(
        start(&app, "checkout", &other, Some("order-7")).await,
        422,
        "idempotency-key-mismatch",
    )
    .await;
    finished(&app, first["id"].as_str().unwrap()).await;
    let hits_after_one = hits(&vendor).await;
    assert_eq!(hits_after_one, 2, "one saga ran");

    // Unknown saga, another caller, no key: refused before anything is stored.
    problem(start(&app, "refund", &input(), None).await, 404, "not-found").await;
    let outsider = app
        .client
        .post(format!("{}/v1/sagas/checkout", app.addr))
        .bearer_auth(OTHER_KEY)
        .json(&input())
        .send()
        .await
        .unwrap();
    problem(outsider, 403, "forbidden").await;
    let anonymous = app
        .client
        .post(format!("{}/v1/sagas/checkout", app.addr))
        .json(&input())
        .send()
        .await
        .unwrap();
    problem(anonymous, 401, "unauthorized").await;

    // Bad input: named, and nothing starts.
    let missing = problem(
        start(&app, "checkout", &json!({"name": "Ada", "amount": 1}), None).await,
        400,
        "invalid-request",
    )
    .await;
    assert!(missing["detail"].as_str().unwrap().contains("`email`"), "{missing}");
    let typed = json!({"name": "Ada", "email": "a@example.com", "amount": "lots"});
    let wrong = problem(start(&app, "checkout", &typed, None).await, 400, "invalid-request").await;
    assert!(
        wrong["detail"].as_str().unwrap().starts_with("step payment:"),
        "{wrong}"
    );
    let empty = problem(
        start(
            &app,
            "checkout",
            &json!({"name": "", "email": "a@x.io", "amount": 1}),
            None,
        )
        .await,
        400,
        "invalid-request",
    )
    .await;
    assert!(
        empty["detail"].as_str().unwrap().starts_with("step customer:"),
        "{empty}"
    );
    let not_object = problem(start(&app, "checkout", &json!([1]), None).await, 400, "invalid-request").await;
    assert!(
        not_object["detail"].as_str().unwrap().contains("JSON object"),
        "{not_object}"
    );
    let listed: Value = app.get_as(ADMIN_TOKEN, "/admin/sagas").await.json().await.unwrap();
    assert_eq!(
        listed["data"].as_array().unwrap().len(),
        1,
        "only the first saga exists"
    );
    assert_eq!(hits(&vendor).await, hits_after_one);

    // Another caller cannot read it; an unknown id is the same 404.
    let id = first["id"].as_str().unwrap();
    problem(
        app.get_as(OTHER_KEY, &format!("/v1/sagas/{id}")).await,
        404,
        "not-found",
    )
    .await;
    problem(app.get_as(CALLER_KEY, "/v1/sagas/nope").await, 404, "not-found").await;
    app.stop().await;
}
