//! Operating the relay: `GET /admin/events` (cursor pagination), `GET /admin/events/{id}` (deliveries and attempts
//! with their errors), replay of a dead letter over HTTP and from the CLI, and two relays on one store delivering
//! every event exactly once between them.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::cli::gatehouse;
use crate::helpers::*;
use crate::relay::{app, received, subscription, wait_status, webhook};

async fn admin_get(app: &TestApp, target: &str) -> reqwest::Response {
    app.get_as(ADMIN_TOKEN, target).await
}

async fn admin_replay(app: &TestApp, id: &str) -> reqwest::Response {
    app.client
        .post(format!("{}/admin/events/{id}/replay", app.addr))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_dead_letter_is_inspected_then_replayed_over_http_and_from_the_cli() {
    let consumer = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&consumer)
        .await;
    Mock::given(method("POST"))
        .and(path("/events/crm"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&consumer)
        .await;
    let app = app(&(subscription("crm", r#""acme-crm.*""#, false, &consumer, 3) + &callers_toml(&[], None))).await;
    let id = webhook(&app, 1, "updated", "c_1").await;
    wait_status(&app, &id, "dead").await;

    let detail: Value = admin_get(&app, &format!("/admin/events/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(detail["id"], id);
    assert_eq!(detail["status"], "dead");
    assert_eq!(detail["envelope"]["id"], id);
    let delivery = &detail["deliveries"][0];
    assert_eq!(delivery["subscription"], "crm");
    assert_eq!(delivery["state"], "dead");
    assert_eq!(delivery["attempts"], 1);
    assert_eq!(delivery["history"][0]["outcome"], "dead");
    assert!(
        delivery["history"][0]["error"].as_str().unwrap().contains("400"),
        "{delivery}"
    );

    let replayed = admin_replay(&app, &id).await;
    assert_eq!(replayed.status(), 202);
    assert_eq!(replayed.json::<Value>().await.unwrap()["queued"], 1);
    wait_status(&app, &id, "delivered").await;
    let detail: Value = admin_get(&app, &format!("/admin/events/{id}"))
        .await
        .json()
        .await
        .unwrap();
    let history = detail["deliveries"][0]["history"].as_array().unwrap().clone();
    assert_eq!(history.len(), 2, "{history:?}");
    assert_eq!(history[1]["outcome"], "delivered");

    // The CLI queues it once more; the running relay delivers it again with the same id.
    let output = gatehouse(&app.config_path, &["events", "replay", &id])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stdout).contains("1 subscription"));
    let requests = received(&consumer, "/events/crm", 3).await;
    assert!(requests.iter().all(|r| r.headers["webhook-id"].to_str().unwrap() == id));

    let unknown = "0190a5c4-0000-7000-8000-000000000000";
    problem(admin_replay(&app, unknown).await, 404, "not-found").await;
    problem(
        admin_get(&app, &format!("/admin/events/{unknown}")).await,
        404,
        "not-found",
    )
    .await;
    problem(app.get_as("wrong-token", "/admin/events").await, 401, "unauthorized").await;
    app.stop().await;
}

#[tokio::test]
async fn events_are_listed_a_page_at_a_time() {
    let consumer = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&consumer)
        .await;
    let app = app(&(subscription("crm", r#""acme-crm.*""#, false, &consumer, 3) + &callers_toml(&[], None))).await;
    let mut ids = Vec::new();
    for n in 1..=3 {
        ids.push(webhook(&app, n, "updated", &format!("c_{n}")).await);
    }
    let first: Value = admin_get(&app, "/admin/events?limit=2&provider=acme-crm")
        .await
        .json()
        .await
        .unwrap();
    let page: Vec<&Value> = first["data"].as_array().unwrap().iter().map(|e| &e["id"]).collect();
    assert_eq!(page, [&ids[0], &ids[1]]);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second: Value = admin_get(&app, &format!("/admin/events?limit=2&cursor={cursor}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(second["data"].as_array().unwrap().len(), 1);
    assert_eq!(second["data"][0]["id"], ids[2]);
    assert!(second["next_cursor"].is_null());
    for bad in ["limit=0", "limit=501", "cursor=nonsense", "status=lost", "colour=red"] {
        problem(
            admin_get(&app, &format!("/admin/events?{bad}")).await,
            400,
            "invalid-request",
        )
        .await;
    }
    app.stop().await;
}

#[tokio::test]
async fn two_relays_on_one_store_deliver_each_event_once() {
    // Relays apart from the gateway share a PostgreSQL store (the embedded one has a single owner).
    let Some(db) = crate::postgres::Database::create().await else {
        return;
    };
    let consumer = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_millis(20)))
        .mount(&consumer)
        .await;
    let app = spawn_app_on(
        &db.url,
        &(subscription("crm", r#""acme-crm.*""#, false, &consumer, 3)
            + "\n[relay]\nlease = \"2s\"\npoll_every = \"50ms\"\n"),
    )
    .await;
    // A second relay, as `gatehouse relay` would run it, on the same database.
    let config = gatehouse::config::Config::load(&app.config_path).unwrap();
    let store = gatehouse::store::open(&config.store).await.unwrap();
    let relay =
        gatehouse::relay::Relay::build(&config, Arc::clone(&store), Arc::new(tokio::sync::Notify::new())).unwrap();
    let stop = tokio_util::sync::CancellationToken::new();
    let second = tokio::spawn(relay.run(stop.clone(), Duration::from_secs(2)));
    let mut ids = Vec::new();
    for n in 1..=40 {
        ids.push(webhook(&app, n, "updated", &format!("c_{n}")).await);
    }
    for id in &ids {
        wait_status(&app, id, "delivered").await;
    }
    let requests = received(&consumer, "/events/crm", ids.len()).await;
    let mut delivered: Vec<String> = requests
        .iter()
        .map(|r| r.headers["webhook-id"].to_str().unwrap().to_owned())
        .collect();
    delivered.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(delivered, expected, "each event exactly once between the two relays");
    stop.cancel();
    second.await.unwrap();
    store.shutdown().await;
    app.stop().await;
}
