//! `/console` over HTTP: the page and its assets (the Sagas page's module among them) are served without a token,
//! each with its content type, the console's security headers (strict CSP, nosniff, no-referrer, no framing) and an
//! ETag that revalidates to 304; an unknown asset is a 404 problem; the data behind the console still needs the admin
//! token.

use crate::helpers::*;

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

fn assert_secure(response: &reqwest::Response) {
    let headers = response.headers();
    assert_eq!(headers["content-security-policy"], CSP);
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert!(headers.contains_key("x-correlation-id"));
}

#[tokio::test]
async fn the_console_and_its_assets_are_served_with_security_headers_and_no_token() {
    let app = spawn_app().await;
    for path in ["/console", "/console/"] {
        let response = app.client.get(format!("{}{path}", app.addr)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert_secure(&response);
        assert_eq!(response.headers()["content-type"], "text/html; charset=utf-8");
        assert_eq!(response.headers()["cache-control"], "no-cache");
        let page = response.text().await.unwrap();
        assert!(page.contains(r#"<script type="module" src="/console/assets/app.js"></script>"#));
        assert!(!page.contains("<style"), "no inline style");
        assert!(
            page.contains(r##"<a href="#/sagas" data-page="sagas">Sagas</a>"##),
            "the Sagas page is in the navigation"
        );
    }
    for (asset, content_type) in [
        ("app.js", "text/javascript; charset=utf-8"),
        ("events.js", "text/javascript; charset=utf-8"),
        ("sagas.js", "text/javascript; charset=utf-8"),
        ("console.css", "text/css; charset=utf-8"),
        ("favicon.svg", "image/svg+xml"),
    ] {
        let response = app
            .client
            .get(format!("{}/console/assets/{asset}", app.addr))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{asset}");
        assert_secure(&response);
        assert_eq!(response.headers()["content-type"], content_type, "{asset}");
        assert!(!response.bytes().await.unwrap().is_empty());
    }
    let app_js = app
        .client
        .get(format!("{}/console/assets/app.js", app.addr))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        app_js.contains("from './sagas.js'"),
        "the shell routes #/sagas to its module"
    );
    app.stop().await;
}

#[tokio::test]
async fn an_unchanged_asset_revalidates_to_304_and_an_unknown_one_is_a_404_problem() {
    let app = spawn_app().await;
    let url = format!("{}/console/assets/app.js", app.addr);
    let first = app.client.get(&url).send().await.unwrap();
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    let again = app
        .client
        .get(&url)
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    assert_secure(&again);
    assert_eq!(again.headers()["etag"], etag.as_str());
    let changed = app
        .client
        .get(&url)
        .header("If-None-Match", "\"other\"")
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 200);

    for path in [
        "/console/assets/nope.js",
        "/console/assets/index.html",
        "/console/assets/..%2fCargo.toml",
    ] {
        let response = app.client.get(format!("{}{path}", app.addr)).send().await.unwrap();
        assert_secure(&response);
        problem(response, 404, "not-found").await;
    }
    app.stop().await;
}

#[tokio::test]
async fn the_console_carries_no_data_the_admin_api_still_needs_the_token() {
    let app = spawn_app_with(&callers_toml(&[], None)).await;
    let anonymous = app
        .client
        .get(format!("{}/admin/providers", app.addr))
        .send()
        .await
        .unwrap();
    problem(anonymous, 401, "unauthorized").await;
    let response = app.get_as(ADMIN_TOKEN, "/admin/providers").await;
    assert_eq!(response.status(), 200);
    // The console's files are the same for everyone: no token, no cookie, nothing set.
    let page = app.client.get(format!("{}/console", app.addr)).send().await.unwrap();
    assert!(!page.headers().contains_key("set-cookie"));
    app.stop().await;
}
