//! The console's Sagas page in a real browser (headless Chromium over WebDriver, see `browser.rs`) against a real
//! gateway: two checkout sagas fail (the payment is declined and the customer's deletion answers 500 until the
//! attempts run out); the page lists them with their failed step, filters by name and status, shows one's input and
//! steps, and Retry (confirmed in the page) sends it compensating again until it is compensated once the vendor
//! recovers. Retrying a saga that is no longer failed shows the gateway's 409 problem. No CSP violation on the way.

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::browser::Browser;
use crate::console_browser::{admin, login, wait_for};
use crate::helpers::*;
use crate::sagas::{customer_created, finished, input, sagas_toml, started};

struct World {
    app: TestApp,
    vendor: MockServer,
    /// Two failed checkouts, the older first.
    failed: [String; 2],
}

/// The gateway with the checkout saga; its vendor creates the customer, declines the payment (402) and cannot
/// delete the customer (500, two attempts): each saga started ends `failed` on step `customer`.
async fn world() -> World {
    let vendor = MockServer::start().await;
    let mock = |verb: &str, route: &str, template: ResponseTemplate| {
        Mock::given(method(verb)).and(path(route)).respond_with(template)
    };
    let declined = ResponseTemplate::new(402).set_body_json(json!({"error": {"type": "card_error",
        "code": "card_declined", "message": "Your card was declined."}}));
    mock("POST", "/customers", customer_created()).mount(&vendor).await;
    mock("POST", "/v1/payment_intents", declined).mount(&vendor).await;
    mock("DELETE", "/customers/cus_1", ResponseTemplate::new(500))
        .mount(&vendor)
        .await;
    let app = spawn_app_with(&sagas_toml(&vendor.uri(), 2)).await;
    let mut failed = Vec::new();
    for _ in 0..2 {
        let id = started(&app, &input()).await;
        let saga = finished(&app, &id).await;
        assert_eq!(saga["status"], "failed", "{saga}");
        assert_eq!(saga["failed_step"], "customer", "{saga}");
        failed.push(id);
    }
    World {
        app,
        vendor,
        failed: failed.try_into().unwrap(),
    }
}

/// The vendor recovers: the customer's deletion goes through.
async fn recover(vendor: &MockServer) {
    vendor.reset().await;
    Mock::given(method("DELETE"))
        .and(path("/customers/cus_1"))
        .respond_with(ResponseTemplate::new(204))
        .mount(vendor)
        .await;
}

#[tokio::test]
async fn an_operator_finds_a_failed_saga_in_the_console_and_retries_it() {
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
    list(b, w).await;
    retry(b, w).await;
    retry_refused(b, w).await;
    let violations = b.js("return window.__csp;").await;
    assert_eq!(
        violations,
        json!([]),
        "no Content-Security-Policy violation on any page"
    );
}

fn row(id: &str) -> String {
    format!("#sagas-table tr[data-id=\"{id}\"]")
}

async fn list(b: &Browser, w: &World) {
    let [older, newer] = &w.failed;
    b.click("a[data-page=\"sagas\"]").await;
    b.find("a.active[data-page=\"sagas\"]").await;
    b.until("both failed sagas listed", || async move {
        b.count("#sagas-table tr[data-id]").await == 2
    })
    .await;
    // Newest first; each row: the id, the saga's name, its status, the caller and the failed step.
    let ids = b
        .js("return [...document.querySelectorAll('#sagas-table tr[data-id]')].map((r) => r.dataset.id);")
        .await;
    assert_eq!(ids, json!([newer, older]));
    let text = b.wait_text(&row(older), "failed").await;
    for expected in [older.as_str(), "checkout", "svc"] {
        assert!(text.contains(expected), "{expected} in {text:?}");
    }
    b.wait_text(&format!("{} .failed-step", row(older)), "customer").await;
    b.shot("sagas").await;

    // Filters: another name matches nothing; the name and `failed` match both, and stay in the URL.
    b.type_into("#f-name", "refund").await;
    b.click("#sagas-apply").await;
    b.wait_text("#sagas-table", "No saga matches these filters.").await;
    b.type_into("#f-name", "checkout").await;
    b.choose("#f-status", "failed").await;
    b.click("#sagas-apply").await;
    b.until("both failed checkouts listed again", || async move {
        b.count("#sagas-table tr[data-status=\"failed\"]").await == 2
    })
    .await;
    let url = b.js("return location.hash;").await;
    assert_eq!(url, "#/sagas?name=checkout&status=failed");
    b.choose("#f-status", "compensated").await;
    b.click("#sagas-apply").await;
    b.wait_text("#sagas-table", "No saga matches these filters.").await;
}

async fn retry(b: &Browser, w: &World) {
    let id = &w.failed[0];
    b.click("a[data-page=\"sagas\"]").await;
    b.click(&format!("{} a.saga-link", row(id))).await;
    b.wait_text("#saga-status", "failed").await;
    b.wait_text("#saga-failed-step", "customer").await;
    let customer = "section.step[data-step=\"customer\"]";
    let text = b
        .wait_text(
            &format!("{customer}[data-status=\"compensation_failed\"]"),
            "compensation-failed",
        )
        .await;
    assert!(text.contains("cus_1"), "the step's result: {text:?}");
    b.wait_text(&format!("{customer} .step-compensation-error"), "500")
        .await;
    let payment = b
        .wait_text(
            "section.step[data-step=\"payment\"][data-status=\"failed\"] .step-error",
            "card was declined",
        )
        .await;
    assert!(!payment.is_empty());
    b.wait_text("#saga-input", "ada@example.com").await;
    b.shot("saga").await;

    recover(&w.vendor).await;
    b.click("#saga-retry").await;
    b.find(".confirm").await;
    b.click("#confirm-yes").await;
    b.wait_text("#notice", "The saga is retried").await;
    let status = b.text("#saga-status").await;
    assert!(
        status == "compensating" || status == "compensated",
        "right after Retry: {status:?}"
    );
    // The page follows the saga until it is final.
    b.wait_text("#saga-status", "compensated").await;
    b.wait_text(&format!("{customer}[data-status=\"compensated\"]"), "compensated")
        .await;
    assert_eq!(b.count("#saga-retry").await, 0, "no Retry for a compensated saga");
    b.shot("saga-retried").await;
    let saga = admin(&w.app, &format!("/admin/sagas/{id}")).await;
    assert_eq!(saga["status"], "compensated", "{saga}");
    assert_eq!(saga["retries"], 1);
}

/// The page offers Retry, but someone else retried the saga meanwhile: the gateway's 409 is shown, then the saga.
async fn retry_refused(b: &Browser, w: &World) {
    let id = &w.failed[1];
    b.click("a[data-page=\"sagas\"]").await;
    b.click(&format!("{} a.saga-link", row(id))).await;
    b.wait_text("#saga-status", "failed").await;
    b.find("#saga-retry").await;
    let retried = w
        .app
        .client
        .post(format!("{}/admin/sagas/{id}/retry", w.app.addr))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(retried.status(), 200);
    let app = &w.app;
    wait_for("the other retry compensated the saga", || async move {
        admin(app, &format!("/admin/sagas/{id}")).await["status"] == "compensated"
    })
    .await;
    b.click("#saga-retry").await;
    b.click("#confirm-yes").await;
    let notice = b.wait_text("#notice", "Cannot retry").await;
    assert!(
        notice.contains("only a failed saga can be retried") && notice.contains("409"),
        "{notice}"
    );
    b.wait_text("#saga-status", "compensated").await;
    assert_eq!(b.count("#saga-retry").await, 0);
    let saga: Value = admin(&w.app, &format!("/admin/sagas/{id}")).await;
    assert_eq!(saga["retries"], 1, "the console's retry changed nothing");
}
