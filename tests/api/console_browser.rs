//! The operator console in a real browser (headless Chromium over WebDriver) against a real gateway: log in, see a
//! provider's breaker open, find a dead event by filter and replay it for its one subscription (the other one gets
//! nothing twice), bulk-replay ten dead letters, cancel a pending command, and see a webhook full of `<script>` and
//! `<img onerror>` shown as inert text. Screenshots of each page go to `docs/console/` with
//! `GATEHOUSE_SCREENSHOTS=1` (else a temp directory).

use std::time::Duration;

use serde_json::{Value, json};
use wiremock::matchers::{any, method};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::browser::Browser;
use crate::helpers::*;
use crate::relay::{subscription, webhook};

/// The events the test sends to `acme-crm`; the first `DEAD` are refused by `alpha`'s consumer (dead letters).
const DEAD: usize = 11;

/// The HTML a webhook smuggles in: run as markup, it would set `window.__pwned`.
const TYPE_PAYLOAD: &str = "invoice.<script>window.__pwned='type'</script>";
/// (No `"` in them: the raw body is JSON, where a quote would show escaped.)
const SUBJECT_PAYLOAD: &str = "<img src=x onerror=window.__pwned='subject'>";
const NOTE_PAYLOAD: &str = "<script>window.__pwned='body'</script><img src=x onerror=window.__pwned='img'>";

struct World {
    app: TestApp,
    alpha: MockServer,
    beta: MockServer,
    /// The acme-crm events, in the order sent (`msg_1` first).
    events: Vec<String>,
    command: String,
    xss: String,
}

/// The gateway with two HTTP subscriptions (`alpha` refuses its first `DEAD` deliveries, `beta` takes all), a
/// provider `br` whose vendor answers 500 (its breaker opens), and `pay`, whose vendor is down (a deferred command
/// stays pending: its next attempt is a random delay of up to a day away, so it is not running when cancelled).
async fn world() -> World {
    let alpha = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_string("no such customer"))
        .up_to_n_times(DEAD as u64)
        .with_priority(1)
        .mount(&alpha)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&alpha)
        .await;
    let beta = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&beta)
        .await;
    let vendor = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(500))
        .mount(&vendor)
        .await;
    let down = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(503))
        .mount(&down)
        .await;

    let breaker = r#"{ window = 4, min_calls = 4, failure_rate = 0.5, open_for = "60s", half_open_calls = 1 }"#;
    let extra = subscription("alpha", r#""acme-crm.*""#, false, &alpha, 3)
        + &subscription("beta", r#""acme-crm.*""#, false, &beta, 3)
        + &provider_toml(
            "br",
            "acme-crm",
            &vendor.uri(),
            &format!("retry = {{ max_attempts = 1 }}\ncircuit_breaker = {breaker}"),
        )
        + &provider_toml("pay", "stripe", &down.uri(), "retry = { max_attempts = 1 }")
        + &callers_toml(&["br", "pay"], None)
        + "\n[relay]\nlease = \"2s\"\npoll_every = \"50ms\"\n"
        + "\n[commands]\nbase_delay = \"24h\"\nmax_delay = \"24h\"\npoll_every = \"50ms\"\n";
    let app = spawn_app_with(&extra).await;

    let mut events = Vec::new();
    for n in 1..=DEAD {
        events.push(webhook(&app, n as u32, "updated", &format!("c_{n}")).await);
    }
    // The breaker: four 500s in a row.
    for _ in 0..4 {
        problem(
            app.get_as(CALLER_KEY, "/v1/br/customers/c_1").await,
            502,
            "upstream-error",
        )
        .await;
    }
    let command = deferred_command(&app).await;
    let xss = hostile_webhook(&app).await;
    // Every acme-crm event dead for alpha, delivered to beta.
    let gateway = &app;
    for id in &events {
        wait_for(&format!("{id} dead for alpha"), || async move {
            let event = admin(gateway, &format!("/admin/events/{id}")).await;
            delivery_state(&event, "alpha") == "dead" && delivery_state(&event, "beta") == "delivered"
        })
        .await;
    }
    World {
        app,
        alpha,
        beta,
        events,
        command,
        xss,
    }
}

/// `POST /v1/pay/payments` with `Prefer: respond-async` while the vendor is down: its id, once it failed once.
async fn deferred_command(app: &TestApp) -> String {
    let response = app
        .client
        .post(format!("{}/v1/pay/payments", app.addr))
        .bearer_auth(CALLER_KEY)
        .header("Prefer", "respond-async")
        .json(&json!({"amount": {"value": 4200, "currency": "eur"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let id = response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/v1/commands/{id}");
    let path = &path;
    wait_for("the command's first attempt", || async move {
        let command: Value = app.get_as(CALLER_KEY, path).await.json().await.unwrap();
        command["attempts"].as_u64().unwrap_or(0) >= 1 && command["status"] == "pending"
    })
    .await;
    id
}

/// A `billing` webhook whose type, subject and body carry markup; its event id.
async fn hostile_webhook(app: &TestApp) -> String {
    let body = json!({"id": "evt_hostile_1", "event": TYPE_PAYLOAD, "note": NOTE_PAYLOAD}).to_string();
    let mut headers = sign(&billing_scheme(), GENERIC_SECRET, body.as_bytes(), now(), "unused");
    headers.push(("X-Billing-Account".into(), SUBJECT_PAYLOAD.into()));
    let response = app.post_webhook("billing", &headers, body.as_bytes()).await;
    assert_eq!(response.status(), 200);
    response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

pub async fn admin(app: &TestApp, path: &str) -> Value {
    let response = app.get_as(ADMIN_TOKEN, path).await;
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.unwrap()
}

fn delivery_state(event: &Value, subscription: &str) -> String {
    event["deliveries"]
        .as_array()
        .and_then(|all| all.iter().find(|d| d["subscription"] == subscription))
        .and_then(|d| d["state"].as_str())
        .unwrap_or_default()
        .to_owned()
}

pub async fn wait_for<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..300 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("after 15 s, still not: {what}");
}

/// The requests `consumer` received carrying event `id`.
async fn receipts(consumer: &MockServer, id: &str) -> usize {
    let requests: Vec<Request> = consumer.received_requests().await.unwrap_or_default();
    requests
        .iter()
        .filter(|r| r.headers["webhook-id"].to_str().ok() == Some(id))
        .count()
}

#[tokio::test]
async fn an_operator_recovers_from_failures_in_the_console() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let world = world().await;
    let outcome = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(scenario(&browser, &world))).await;
    browser.close().await;
    world.app.stop().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

async fn scenario(b: &Browser, w: &World) {
    login(b, &w.app).await;
    overview(b).await;
    replay_one(b, w).await;
    bulk_replay(b, w).await;
    cancel_command(b, w).await;
    hostile_text(b, w).await;
    let violations = b.js("return window.__csp;").await;
    assert_eq!(
        violations,
        json!([]),
        "no Content-Security-Policy violation on any page"
    );
}

/// Opens the console, is refused a wrong token, logs in with the admin token (kept in sessionStorage only), and
/// records every CSP violation from then on in `window.__csp`.
pub async fn login(b: &Browser, app: &TestApp) {
    b.client.goto(&format!("{}/console", app.addr)).await.unwrap();
    b.find("#login-token").await;
    // The page is one document from here on (hash routing): this listener sees every page's CSP violations.
    b.js(
        "window.__csp = []; document.addEventListener('securitypolicyviolation', \
          (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI)); return null;",
    )
    .await;
    b.shot("login").await;
    b.type_into("#login-token", "not-the-token").await;
    b.click("#login-submit").await;
    b.wait_text("#login-message", "refused the admin token").await;
    b.type_into("#login-token", ADMIN_TOKEN).await;
    b.click("#login-submit").await;
    b.find("#providers-table").await;
    let stored = b
        .js("return [sessionStorage.length, document.cookie, location.href];")
        .await;
    assert_eq!(stored[0], 1, "the token is in sessionStorage");
    assert_eq!(stored[1], "", "never a cookie");
    assert!(!stored[2].as_str().unwrap().contains(ADMIN_TOKEN), "never in the URL");
}

async fn overview(b: &Browser) {
    let br = "#providers-table tr[data-name=\"br\"]";
    b.wait_text(&format!("{br} .breaker"), "open").await;
    b.wait_text(br, "100 % failed").await;
    // The vendor's recent errors, newest first.
    b.wait_text(&format!("{br} ul.errors"), "500").await;
    b.wait_text(
        "#subscriptions-table tr[data-name=\"alpha\"] .dead-count",
        &DEAD.to_string(),
    )
    .await;
    b.shot("overview").await;
}

async fn replay_one(b: &Browser, w: &World) {
    let first = &w.events[0];
    b.click("a[data-page=\"events\"]").await;
    b.choose("#f-status", "dead").await;
    b.choose("#f-subscription", "alpha").await;
    b.click("#events-apply").await;
    b.until("every dead event of alpha listed", || async move {
        b.count("#events-table tr[data-id]").await == DEAD
    })
    .await;
    b.shot("events").await;
    b.type_into("#f-providereventid", "msg_1").await;
    b.click("#events-apply").await;
    b.until("one event listed: msg_1's", || async move {
        b.count("#events-table tr[data-id]").await == 1
            && b.count(&format!("#events-table tr[data-id=\"{first}\"]")).await == 1
    })
    .await;
    b.click(&format!("#events-table tr[data-id=\"{first}\"] a.event-link"))
        .await;
    let alpha = "section.delivery[data-subscription=\"alpha\"]";
    b.find(&format!("{alpha}[data-state=\"dead\"]")).await;
    b.find("section.delivery[data-subscription=\"beta\"][data-state=\"delivered\"]")
        .await;
    b.click(&format!("{alpha} button.replay-one")).await;
    b.wait_text("#notice", "Replay queued for alpha.").await;
    // The page refreshes itself while the delivery is pending.
    b.find(&format!("{alpha}[data-state=\"delivered\"]")).await;
    let attempts = b.text(&format!("{alpha} table")).await;
    assert!(
        attempts.contains("dead") && attempts.contains("delivered"),
        "{attempts}"
    );
    b.shot("event").await;
    assert_eq!(receipts(&w.alpha, first).await, 2, "refused once, then delivered once");
    assert_eq!(
        receipts(&w.beta, first).await,
        1,
        "beta got it once: the replay was alpha's only"
    );
}

async fn bulk_replay(b: &Browser, w: &World) {
    b.click("a[data-page=\"dead-letters\"]").await;
    b.choose("#f-subscription", "alpha").await;
    b.click("#dead-count").await;
    b.wait_text("#dead-matched", &format!("{} dead deliveries match", DEAD - 1))
        .await;
    b.wait_text("#dead-preview", "Newest matching events").await;
    b.shot("dead-letters").await;
    b.click("#dead-replay").await;
    b.click("#confirm-yes").await;
    b.wait_text("#dead-queued", &format!("Queued {0} of {0}", DEAD - 1))
        .await;
    for id in &w.events {
        b.until("every dead letter delivered to alpha", || async move {
            receipts(&w.alpha, id).await == 2
        })
        .await;
        assert_eq!(receipts(&w.beta, id).await, 1, "beta got {id} exactly once");
    }
    let subscriptions = admin(&w.app, "/admin/subscriptions").await;
    let alpha = subscriptions["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "alpha")
        .unwrap();
    assert_eq!(alpha["dead"], 0, "{alpha}");
}

async fn cancel_command(b: &Browser, w: &World) {
    let row = format!("#commands-table tr[data-id=\"{}\"]", w.command);
    b.click("a[data-page=\"commands\"]").await;
    b.wait_text(&row, "pending").await;
    b.shot("commands").await;
    b.click(&format!("{row} a.command-link")).await;
    b.wait_text("#command-status", "pending").await;
    b.find("#command-cancel").await;
    b.shot("command").await;
    b.click("#command-cancel").await;
    b.click("#confirm-yes").await;
    b.wait_text("#command-status", "cancelled").await;
    let command = admin(&w.app, &format!("/admin/commands/{}", w.command)).await;
    assert_eq!(command["status"], "cancelled");
}

async fn hostile_text(b: &Browser, w: &World) {
    b.click("a[data-page=\"events\"]").await;
    b.choose("#f-provider", "billing").await;
    b.click("#events-apply").await;
    let row = format!("#events-table tr[data-id=\"{}\"]", w.xss);
    b.wait_text(&row, "<script>").await;
    b.click(&format!("{row} a.event-link")).await;
    let raw = b.wait_text("#raw-body", NOTE_PAYLOAD).await;
    assert!(raw.contains(TYPE_PAYLOAD), "{raw}");
    b.wait_text("#event-type", TYPE_PAYLOAD).await;
    b.wait_text("#event", SUBJECT_PAYLOAD).await;
    b.wait_text("#envelope", SUBJECT_PAYLOAD).await;
    b.js("document.getElementById('raw-body').scrollIntoView({block: 'center'}); return null;")
        .await;
    b.shot("event-raw-body").await;
    let page = b
        .js("return [typeof window.__pwned, document.querySelectorAll('main img, main script').length];")
        .await;
    assert_eq!(page, json!(["undefined", 0]), "the payloads stayed text");
    assert!(b.client.get_alert_text().await.is_err(), "no dialog opened");
}
