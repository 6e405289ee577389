//! The operator console at `/console`: static files embedded in the binary (`console/` in the repository: one HTML
//! page, ES modules, one stylesheet), served without a token (they hold no data; every datum comes from `/admin/*`
//! with the token the operator types) and with the console's security headers: a strict Content-Security-Policy
//! (no inline script or style, no framing), `nosniff`, `no-referrer`, and an ETag revalidated on every load.

use std::sync::LazyLock;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::Digest as _;

use super::extract::PathParam;
use super::problem::{ApiError, Problem};

/// Only these origins may be reached: the console's own files and the admin API beside them.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const SVG: &str = "image/svg+xml";

/// One embedded file: its name under `/console/assets/` (the page itself is `index.html`), type and bytes.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $content_type:expr) => {
        Asset {
            name: $name,
            content_type: $content_type,
            body: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/console/", $name)),
        }
    };
}

const ASSETS: &[Asset] = &[
    asset!("index.html", HTML),
    asset!("app.js", JS),
    asset!("api.js", JS),
    asset!("dom.js", JS),
    asset!("overview.js", JS),
    asset!("events.js", JS),
    asset!("event.js", JS),
    asset!("dead.js", JS),
    asset!("commands.js", JS),
    asset!("sagas.js", JS),
    asset!("console.css", CSS),
    asset!("favicon.svg", SVG),
];

/// Each asset's strong ETag (a hash of its bytes), computed once.
static ETAGS: LazyLock<Vec<HeaderValue>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|asset| {
            let digest = sha2::Sha256::digest(asset.body);
            let tag = format!("\"{}\"", hex::encode(&digest[..12]));
            HeaderValue::from_str(&tag).unwrap_or(HeaderValue::from_static("\"0\""))
        })
        .collect()
});

/// `GET /console` and `/console/`: the page.
pub async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers).unwrap_or_else(not_found)
}

/// `GET /console/assets/{name}`: a script, the stylesheet or the icon.
pub async fn asset(PathParam(name): PathParam, headers: HeaderMap) -> Response {
    if name == "index.html" {
        return not_found();
    }
    serve(&name, &headers).unwrap_or_else(not_found)
}

fn serve(name: &str, request: &HeaderMap) -> Option<Response> {
    let position = ASSETS.iter().position(|asset| asset.name == name)?;
    let asset = &ASSETS[position];
    let etag = ETAGS.get(position)?.clone();
    let fresh = request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|tag| {
            let tag = tag.trim();
            tag == "*" || tag.trim_start_matches("W/").as_bytes() == etag.as_bytes()
        });
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut response = asset.body.into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
        response
    };
    let headers = response.headers_mut();
    headers.insert(header::ETAG, etag);
    // Revalidated on every load: a new binary's console is picked up at once, an unchanged one costs a 304.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    secure(headers);
    Some(response)
}

fn not_found() -> Response {
    let mut response = ApiError::new(Problem::NotFound, "no such console file").into_response();
    secure(response.headers_mut());
    response
}

/// The headers every console response carries.
fn secure(headers: &mut HeaderMap) {
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    headers.insert("cross-origin-resource-policy", HeaderValue::from_static("same-origin"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_script_the_page_and_the_modules_import_is_embedded() {
        let names: Vec<&str> = ASSETS.iter().map(|a| a.name).collect();
        for asset in ASSETS {
            let text = std::str::from_utf8(asset.body).unwrap_or_default();
            for reference in text
                .split(['"', '\''])
                .filter_map(|part| part.strip_prefix("/console/assets/").or(part.strip_prefix("./")))
                .filter(|part| part.ends_with(".js") || part.ends_with(".css") || part.ends_with(".svg"))
            {
                assert!(
                    names.contains(&reference),
                    "{} refers to {reference}, not embedded",
                    asset.name
                );
            }
        }
    }

    #[test]
    fn no_asset_holds_inline_script_style_or_html_injection() {
        for asset in ASSETS {
            let text = std::str::from_utf8(asset.body).unwrap_or_default();
            for forbidden in [
                "innerHTML",
                "outerHTML",
                "insertAdjacentHTML",
                "document.write",
                "eval(",
                " style=",
            ] {
                assert!(!text.contains(forbidden), "{} contains {forbidden}", asset.name);
            }
            if asset.name == "index.html" {
                assert!(!text.contains("<script>"), "inline script in the page");
                assert!(!text.contains("<style"), "inline style in the page");
            }
        }
    }

    #[test]
    fn etags_differ_per_file_and_match_a_revalidation() {
        let mut request = HeaderMap::new();
        let first = serve("app.js", &request).unwrap();
        assert_eq!(first.status(), StatusCode::OK);
        let etag = first.headers()[header::ETAG].clone();
        assert_ne!(etag, serve("api.js", &request).unwrap().headers()[header::ETAG]);
        request.insert(header::IF_NONE_MATCH, etag);
        let again = serve("app.js", &request).unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        assert!(again.headers().contains_key(header::CONTENT_SECURITY_POLICY));
        assert!(serve("missing.js", &request).is_none());
    }
}
