//! Acme CRM's outbound routes against a scripted vendor ([`FakeUpstream`]): the exact vendor requests our routes
//! make, the domain answers they give, cursor pagination, and every way a caller or the vendor can get it wrong.

use std::time::Duration;

use bytes::Bytes;
use gatehouse_acme_crm::AcmeCrm;
use gatehouse_kit::Adapter;
use gatehouse_kit::outbound::{DomainRequest, DomainResponse, OutboundError, UpstreamError};
use gatehouse_kit::testing::{
    FakeUpstream, RouteCase, assert_route_conformance, domain_request, invalid_request, vendor_failed,
};
use http::{Method, StatusCode};
use serde_json::{Value, json};

const CUSTOMER: &str = "/customers/{id}";
const CUSTOMERS: &str = "/customers";

fn get(id: &str) -> DomainRequest {
    domain_request(Method::GET, CUSTOMER, &[("id", id)], &[], "")
}

fn list(query: &[(&str, &str)]) -> DomainRequest {
    domain_request(Method::GET, CUSTOMERS, &[], query, "")
}

fn create(body: &str) -> DomainRequest {
    domain_request(Method::POST, CUSTOMERS, &[], &[], body)
}

fn patch(id: &str, body: &str) -> DomainRequest {
    domain_request(Method::PATCH, CUSTOMER, &[("id", id)], &[], body)
}

async fn call(request: DomainRequest, upstream: &FakeUpstream) -> Result<DomainResponse, OutboundError> {
    AcmeCrm::new().call(request, upstream).await
}

fn vendor_customer(id: &str) -> Value {
    json!({
        "cust_id": id,
        "full_name": "Ada Lovelace",
        "email_address": "ada@example.com",
        "lifetime_value": "1234.50",
        "created": "2026-01-02 10:00:00",
        "tier": "gold"
    })
}

fn our_customer(id: &str) -> Value {
    json!({
        "id": id,
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "lifetime_value": 1234.5,
        "created_at": "2026-01-02T10:00:00Z"
    })
}

fn vendor_page(ids: &[&str], page: u32, total_pages: u32) -> Value {
    let results: Vec<Value> = ids.iter().map(|id| vendor_customer(id)).collect();
    json!({"results": results, "page": page, "total_pages": total_pages})
}

#[test]
fn declares_its_five_routes() {
    let routes: Vec<_> = AcmeCrm::new()
        .routes()
        .iter()
        .map(|r| (r.method.clone(), r.path))
        .collect();
    assert_eq!(
        routes,
        [
            (Method::GET, CUSTOMER),
            (Method::GET, CUSTOMERS),
            (Method::POST, CUSTOMERS),
            (Method::PATCH, CUSTOMER),
            (Method::DELETE, CUSTOMER),
        ]
    );
}

/// The kit's route conformance: policy errors passed through, vendor statuses mapped, garbage answers and vendor
/// text kept from callers, bad requests refused before any vendor request, undeclared routes refused.
#[tokio::test]
async fn conforms() {
    let new = r#"{"name":"Ada","email":"ada@example.com"}"#;
    let cases = [
        RouteCase::new(get("c_1")).refuses(get(".."), "`id`"),
        RouteCase::new(list(&[])).refuses(list(&[("limit", "0")]), "limit"),
        RouteCase::new(create(new))
            .success(StatusCode::CREATED)
            .refuses(create(r#"{"name":"Ada"}"#), "email"),
        RouteCase::new(patch("c_1", r#"{"name":"Ada"}"#)).refuses(patch("c_1", "{}"), "`name`, `email`"),
        RouteCase::new(delete("c_1", ""))
            .success(StatusCode::NO_CONTENT)
            .ignores_answer_body()
            .refuses(delete("c_1", "{}"), "takes no body"),
    ];
    assert_route_conformance(&AcmeCrm::new(), &cases).await;
}

fn delete(id: &str, body: &str) -> DomainRequest {
    domain_request(Method::DELETE, CUSTOMER, &[("id", id)], &[], body)
}

#[tokio::test]
async fn deletes_a_customer() {
    for (status, body) in [
        (StatusCode::NO_CONTENT, json!(null)),
        (StatusCode::OK, json!({"deleted": true})),
    ] {
        let upstream = FakeUpstream::new().reply(status, body);
        let response = call(delete("c/1", ""), &upstream).await.unwrap();
        assert_eq!(response, DomainResponse::no_content());
        let sent = upstream.only_request();
        assert_eq!(sent.method, Method::DELETE);
        assert_eq!(sent.path_and_query, "/customers/c%2F1");
        assert!(sent.body.is_empty());
    }
    let upstream = FakeUpstream::new().reply(StatusCode::NOT_FOUND, json!({"message": "no such customer"}));
    assert_eq!(
        call(delete("c_9", ""), &upstream).await,
        Err(OutboundError::NotFound("no customer c_9".into()))
    );
    let upstream = FakeUpstream::new();
    let message = invalid_request(call(delete("c_1", "{}"), &upstream).await);
    assert_eq!(message, "DELETE /customers/{id} takes no body");
    assert!(upstream.requests().is_empty());
}

#[tokio::test]
async fn gets_a_customer() {
    let upstream = FakeUpstream::new().reply(StatusCode::OK, vendor_customer("c_42"));
    let response = call(get("c_42"), &upstream).await.unwrap();
    assert_eq!(response, DomainResponse::ok(our_customer("c_42")));

    let sent = upstream.only_request();
    assert_eq!(sent.method, Method::GET);
    assert_eq!(sent.path_and_query, "/customers/c_42");
    assert!(sent.headers.is_empty(), "{:?}", sent.headers);
    assert!(sent.body.is_empty());
}

#[tokio::test]
async fn path_parameters_stay_one_segment() {
    for (id, path) in [
        ("a/../b", "/customers/a%2F..%2Fb"),
        ("a/b", "/customers/a%2Fb"),
        ("x?page=2#f", "/customers/x%3Fpage%3D2%23f"),
        ("%2F", "/customers/%252F"),
        ("ü s", "/customers/%C3%BC%20s"),
        ("a.b-c_d~e", "/customers/a.b-c_d~e"),
        ("...", "/customers/..."),
    ] {
        let upstream = FakeUpstream::new().reply(StatusCode::OK, vendor_customer("c_1"));
        call(get(id), &upstream).await.unwrap();
        assert_eq!(upstream.only_request().path_and_query, path, "{id:?}");

        let upstream = FakeUpstream::new().reply(StatusCode::OK, vendor_customer("c_1"));
        call(patch(id, r#"{"name":"Ada"}"#), &upstream).await.unwrap();
        assert_eq!(upstream.only_request().path_and_query, path, "{id:?}");
    }
}

#[tokio::test]
async fn refuses_ids_that_cannot_be_a_segment() {
    for (id, problem) in [
        (".", "cannot be `.` or `..`"),
        ("..", "cannot be `.` or `..`"),
        ("", "is empty"),
        (" ", "is empty"),
        ("a\nb", "contains control characters"),
    ] {
        let upstream = FakeUpstream::new();
        let message = invalid_request(call(get(id), &upstream).await);
        assert_eq!(message, format!("path parameter `id` {problem}"), "{id:?}");
        let message = invalid_request(call(patch(id, r#"{"name":"Ada"}"#), &upstream).await);
        assert_eq!(message, format!("path parameter `id` {problem}"), "{id:?}");
        assert!(upstream.requests().is_empty());
    }
    let upstream = FakeUpstream::new();
    let message = invalid_request(call(domain_request(Method::GET, CUSTOMER, &[], &[], ""), &upstream).await);
    assert_eq!(message, "path parameter `id` is missing");
}

#[tokio::test]
async fn pages_through_three_vendor_pages_with_cursors() {
    let upstream = FakeUpstream::new()
        .reply(StatusCode::OK, vendor_page(&["c_1", "c_2"], 1, 3))
        .reply(StatusCode::OK, vendor_page(&["c_3", "c_4"], 2, 3))
        .reply(StatusCode::OK, vendor_page(&["c_5"], 3, 3));

    let first = call(list(&[("limit", "2")]), &upstream).await.unwrap();
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.body["data"], json!([our_customer("c_1"), our_customer("c_2")]));
    let cursor = first.body["next_cursor"].as_str().unwrap().to_owned();
    assert!(!cursor.contains("page"), "the cursor is opaque: {cursor}");

    // A cursor carries its page size: `limit` is ignored, even when it is out of bounds.
    let second = call(list(&[("cursor", &cursor), ("limit", "500")]), &upstream)
        .await
        .unwrap();
    assert_eq!(second.body["data"], json!([our_customer("c_3"), our_customer("c_4")]));
    let cursor = second.body["next_cursor"].as_str().unwrap().to_owned();

    let last = call(list(&[("cursor", &cursor)]), &upstream).await.unwrap();
    assert_eq!(
        last,
        DomainResponse::ok(json!({"data": [our_customer("c_5")], "next_cursor": null}))
    );

    let sent: Vec<_> = upstream
        .requests()
        .into_iter()
        .map(|r| (r.method, r.path_and_query))
        .collect();
    assert_eq!(
        sent,
        [
            (Method::GET, "/customers?page=1&per_page=2".to_owned()),
            (Method::GET, "/customers?page=2&per_page=2".to_owned()),
            (Method::GET, "/customers?page=3&per_page=2".to_owned()),
        ]
    );
    for request in upstream.requests() {
        assert!(request.headers.is_empty() && request.body.is_empty());
    }
}

#[tokio::test]
async fn an_empty_list_has_no_next_cursor() {
    let upstream = FakeUpstream::new().reply(StatusCode::OK, vendor_page(&[], 1, 0));
    let response = call(list(&[]), &upstream).await.unwrap();
    assert_eq!(response, DomainResponse::ok(json!({"data": [], "next_cursor": null})));
    assert_eq!(upstream.only_request().path_and_query, "/customers?page=1&per_page=20");
}

#[tokio::test]
async fn limit_is_from_1_to_100() {
    for (limit, per_page) in [("1", 1), ("100", 100), ("37", 37)] {
        let upstream = FakeUpstream::new().reply(StatusCode::OK, vendor_page(&[], 1, 1));
        call(list(&[("limit", limit)]), &upstream).await.unwrap();
        assert_eq!(
            upstream.only_request().path_and_query,
            format!("/customers?page=1&per_page={per_page}")
        );
    }
    for limit in ["0", "101", "-1", "abc", "2.5", "1e2", "18446744073709551616"] {
        let upstream = FakeUpstream::new();
        let message = invalid_request(call(list(&[("limit", limit)]), &upstream).await);
        assert_eq!(
            message, "query parameter `limit` must be an integer from 1 to 100",
            "{limit:?}"
        );
        assert!(upstream.requests().is_empty());
    }
}

#[tokio::test]
async fn refuses_cursors_it_did_not_issue() {
    for cursor in [
        "garbage!",
        "djE6MjoyMA==",
        "djI6MjoyMA",
        "djE6MDoyMA",
        "djE6MjoxMDE",
        "cGFnZT0y",
    ] {
        let upstream = FakeUpstream::new();
        let message = invalid_request(call(list(&[("cursor", cursor)]), &upstream).await);
        assert_eq!(
            message, "query parameter `cursor` is not a cursor this API issued",
            "{cursor:?}"
        );
        assert!(upstream.requests().is_empty());
    }
}

#[tokio::test]
async fn empty_limit_and_cursor_are_absent_ones() {
    let upstream = FakeUpstream::new().reply(StatusCode::OK, vendor_page(&[], 1, 1));
    call(list(&[("limit", ""), ("cursor", "")]), &upstream).await.unwrap();
    assert_eq!(upstream.only_request().path_and_query, "/customers?page=1&per_page=20");
}

#[tokio::test]
async fn a_page_other_than_the_one_asked_for_is_a_vendor_failure() {
    let upstream = FakeUpstream::new().reply(StatusCode::OK, vendor_page(&["c_1"], 2, 3));
    let message = vendor_failed(call(list(&[]), &upstream).await);
    assert_eq!(message, "acme-crm answered page 2 when asked for page 1");
}

#[tokio::test]
async fn creates_a_customer() {
    let upstream = FakeUpstream::new().reply(StatusCode::CREATED, vendor_customer("c_new"));
    let response = call(
        create(r#"{"name":"Ada Lovelace","email":"ada@example.com"}"#),
        &upstream,
    )
    .await
    .unwrap();
    assert_eq!(response, DomainResponse::created(our_customer("c_new")));

    let sent = upstream.only_request();
    assert_eq!(sent.method, Method::POST);
    assert_eq!(sent.path_and_query, "/customers");
    assert_eq!(sent.headers.len(), 1);
    assert_eq!(sent.headers["content-type"], "application/json");
    assert_eq!(
        sent.body,
        Bytes::from_static(br#"{"full_name":"Ada Lovelace","email_address":"ada@example.com"}"#)
    );
}

#[tokio::test]
async fn a_200_to_a_create_is_still_201() {
    let upstream = FakeUpstream::new().reply(StatusCode::OK, vendor_customer("c_new"));
    let response = call(create(r#"{"email":"ada@example.com","name":"Ada"}"#), &upstream)
        .await
        .unwrap();
    assert_eq!(response.status, StatusCode::CREATED);
}

#[tokio::test]
async fn updates_only_the_fields_given() {
    for (body, vendor_body) in [
        (r#"{"name":"Grace Hopper"}"#, r#"{"full_name":"Grace Hopper"}"#),
        (
            r#"{"email":"grace@example.com"}"#,
            r#"{"email_address":"grace@example.com"}"#,
        ),
        (
            r#"{"email":"grace@example.com","name":"Grace Hopper"}"#,
            r#"{"full_name":"Grace Hopper","email_address":"grace@example.com"}"#,
        ),
    ] {
        let upstream = FakeUpstream::new().reply(StatusCode::OK, vendor_customer("c_42"));
        let response = call(patch("c_42", body), &upstream).await.unwrap();
        assert_eq!(response, DomainResponse::ok(our_customer("c_42")));

        let sent = upstream.only_request();
        assert_eq!(sent.method, Method::PATCH);
        assert_eq!(sent.path_and_query, "/customers/c_42");
        assert_eq!(sent.headers["content-type"], "application/json");
        assert_eq!(sent.body, Bytes::copy_from_slice(vendor_body.as_bytes()), "{body}");
    }
}

#[tokio::test]
async fn malformed_create_bodies_name_the_field() {
    for (body, expected) in [
        ("", "body is empty; expected a JSON object with `name` and `email`"),
        ("not json", "body is not valid JSON: "),
        (r#"{"name":"Ada","#, "body is not valid JSON: "),
        ("[]", "body is not a JSON object"),
        ("\"Ada\"", "body is not a JSON object"),
        ("null", "body is not a JSON object"),
        (r#"{"name":"Ada"}"#, "body: missing field `email`"),
        (r#"{"email":"ada@example.com"}"#, "body: missing field `name`"),
        (
            r#"{"name":"Ada","email":"ada@example.com","tier":"gold"}"#,
            "body: field `tier`: unknown field `tier`",
        ),
        (
            r#"{"name":"Ada","email":"ada@example.com","full_name":"A"}"#,
            "body: field `full_name`: unknown field `full_name`",
        ),
        (
            r#"{"name":42,"email":"ada@example.com"}"#,
            "body: field `name`: invalid type",
        ),
        (
            r#"{"name":"Ada","email":null}"#,
            "body: field `email`: invalid type: null",
        ),
        (r#"{"name":"","email":"ada@example.com"}"#, "field `name` is empty"),
        (r#"{"name":"Ada","email":"  "}"#, "field `email` is empty"),
    ] {
        let upstream = FakeUpstream::new();
        let message = invalid_request(call(create(body), &upstream).await);
        assert!(message.starts_with(expected), "{body:?}: {message}");
        assert!(upstream.requests().is_empty());
    }
}

#[tokio::test]
async fn malformed_patch_bodies_name_the_field() {
    for (body, expected) in [
        (
            "",
            "body is empty; expected a JSON object with at least one of `name`, `email`",
        ),
        ("{", "body is not valid JSON: "),
        ("[1]", "body is not a JSON object"),
        ("{}", "body must set at least one of `name`, `email`"),
        (r#"{"name":null}"#, "field `name` is null"),
        (r#"{"name":"Ada","email":null}"#, "field `email` is null"),
        (
            r#"{"nickname":"Ada"}"#,
            "body: field `nickname`: unknown field `nickname`",
        ),
        (
            r#"{"email_address":"a@b.c"}"#,
            "body: field `email_address`: unknown field `email_address`",
        ),
        (r#"{"email":["a@b.c"]}"#, "body: field `email`: invalid type"),
        (r#"{"name":""}"#, "field `name` is empty"),
        (r#"{"name":"Ada","email":""}"#, "field `email` is empty"),
    ] {
        let upstream = FakeUpstream::new();
        let message = invalid_request(call(patch("c_1", body), &upstream).await);
        assert!(message.starts_with(expected), "{body:?}: {message}");
        assert!(upstream.requests().is_empty());
    }
}

#[tokio::test]
async fn a_missing_customer_is_not_found() {
    let upstream = FakeUpstream::new()
        .reply(StatusCode::NOT_FOUND, json!({"error": "not_found"}))
        .reply(StatusCode::NOT_FOUND, json!({"error": "not_found"}));
    assert_eq!(
        call(get("c_1"), &upstream).await,
        Err(OutboundError::NotFound("no customer c_1".into()))
    );
    assert_eq!(
        call(patch("c_1", r#"{"name":"Ada"}"#), &upstream).await,
        Err(OutboundError::NotFound("no customer c_1".into()))
    );
}

#[tokio::test]
async fn rate_limits_carry_the_vendors_retry_after() {
    for (headers, seconds) in [
        (&[("retry-after", "7")][..], 7),
        (&[("retry-after", "0")][..], 0),
        (&[][..], 1),
        (&[("retry-after", "soon")][..], 1),
        // An HTTP date already past: retry now.
        (&[("retry-after", "Wed, 21 Oct 2026 07:28:00 GMT")][..], 0),
    ] {
        let upstream = FakeUpstream::new().reply_with_headers(StatusCode::TOO_MANY_REQUESTS, headers, "slow down");
        assert_eq!(
            call(get("c_1"), &upstream).await,
            Err(OutboundError::Upstream(UpstreamError::RateLimited {
                retry_after: Duration::from_secs(seconds)
            })),
            "{headers:?}"
        );
    }
}

#[tokio::test]
async fn other_client_errors_are_rejections_with_the_vendors_message() {
    for (status, body, expected) in [
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"error": "email_address is already taken"}),
            "acme-crm rejected the request: email_address is already taken",
        ),
        (
            StatusCode::BAD_REQUEST,
            json!({"message": "full_name is too long", "token": "sk_live_secret"}),
            "acme-crm rejected the request: full_name is too long",
        ),
        (
            StatusCode::CONFLICT,
            json!({"error": "conflict", "message": "customer was changed meanwhile"}),
            "acme-crm rejected the request: customer was changed meanwhile",
        ),
        (
            StatusCode::BAD_REQUEST,
            json!({"error": {"code": 7}}),
            "acme-crm rejected the request (status 400)",
        ),
        (
            StatusCode::GONE,
            json!("gone"),
            "acme-crm rejected the request (status 410)",
        ),
    ] {
        let upstream = FakeUpstream::new().reply(status, body.clone());
        let result = call(create(r#"{"name":"Ada","email":"ada@example.com"}"#), &upstream).await;
        assert_eq!(result, Err(OutboundError::VendorRejected(expected.into())), "{body}");
    }
    let upstream = FakeUpstream::new().reply(StatusCode::BAD_REQUEST, "<html>bad request</html>");
    assert_eq!(
        call(get("c_1"), &upstream).await,
        Err(OutboundError::VendorRejected(
            "acme-crm rejected the request (status 400)".into()
        ))
    );
}

/// 2xx bodies that are not a vendor customer, and what the error must say.
fn garbage_customers() -> Vec<(Bytes, &'static str)> {
    let with = |field: &str, value: Value| {
        let mut customer = vendor_customer("c_1");
        customer[field] = value;
        Bytes::from(customer.to_string())
    };
    let without = |field: &str| {
        let mut customer = vendor_customer("c_1");
        customer.as_object_mut().unwrap().remove(field);
        Bytes::from(customer.to_string())
    };
    let full = vendor_customer("c_1").to_string();
    vec![
        (Bytes::new(), "that is not valid JSON"),
        (Bytes::from_static(b"<html>ok</html>"), "that is not valid JSON"),
        (Bytes::from(full[..full.len() / 2].to_owned()), "that is not valid JSON"),
        (Bytes::from_static(b"[]"), "that is not a JSON object"),
        (
            Bytes::from(json!(["c_1", "Ada", "a@b.c", "1.0", "2026-01-02 10:00:00"]).to_string()),
            "that is not a JSON object",
        ),
        (Bytes::from_static(b"null"), "that is not a JSON object"),
        (
            without("email_address"),
            "of the wrong shape: missing field `email_address`",
        ),
        (
            with("cust_id", json!(42)),
            "of the wrong shape: field `cust_id`: invalid type",
        ),
        (
            with("lifetime_value", json!(1234.5)),
            "field `lifetime_value`: invalid type",
        ),
        (
            with("lifetime_value", json!("abc")),
            "not valid: field `lifetime_value` is not a finite decimal",
        ),
        (
            with("created", json!("yesterday")),
            "not valid: field `created` is not a valid",
        ),
        (with("cust_id", json!("")), "not valid: field `cust_id` is empty"),
    ]
}

#[tokio::test]
async fn garbage_customers_are_vendor_failures_naming_the_fault() {
    for (body, expected) in garbage_customers() {
        for (request, status) in [
            (get("c_1"), StatusCode::OK),
            (
                create(r#"{"name":"Ada","email":"ada@example.com"}"#),
                StatusCode::CREATED,
            ),
            (patch("c_1", r#"{"name":"Ada"}"#), StatusCode::OK),
        ] {
            let upstream = FakeUpstream::new().reply(status, body.clone());
            let message = vendor_failed(call(request, &upstream).await);
            assert!(message.starts_with("acme-crm answered a customer "), "{message}");
            assert!(message.contains(expected), "{body:?}: {message}");
            assert!(
                !message.contains("Ada Lovelace") && !message.contains("abc"),
                "{message}"
            );
        }
    }
}

#[tokio::test]
async fn garbage_pages_are_vendor_failures_naming_the_fault() {
    let mut bad_item = vendor_page(&["c_1", "c_2"], 1, 1);
    bad_item["results"][1]["lifetime_value"] = json!("abc");
    let mut wrong_type = vendor_page(&["c_1", "c_2"], 1, 1);
    wrong_type["results"][1]["full_name"] = json!(false);
    for (body, expected) in [
        (
            Bytes::from_static(b"{\"results\":[{\"cust_id\""),
            "a customer page that is not valid JSON",
        ),
        (
            Bytes::from_static(b"not json"),
            "a customer page that is not valid JSON",
        ),
        (
            Bytes::from(json!({"results": [], "page": 1}).to_string()),
            "a customer page of the wrong shape: missing field `total_pages`",
        ),
        (
            Bytes::from(json!({"results": {}, "page": 1, "total_pages": 1}).to_string()),
            "a customer page of the wrong shape: field `results`: invalid type",
        ),
        (
            Bytes::from(json!({"results": [], "page": "1", "total_pages": 1}).to_string()),
            "a customer page of the wrong shape: field `page`: invalid type",
        ),
        (
            Bytes::from(json!({"results": [], "page": 1, "total_pages": -1}).to_string()),
            "a customer page of the wrong shape: field `total_pages`: invalid value",
        ),
        (
            Bytes::from(wrong_type.to_string()),
            "a customer page of the wrong shape: field `results[1].full_name`: invalid type",
        ),
        (
            Bytes::from(bad_item.to_string()),
            "a customer page whose `results.1` is not a valid customer: field `lifetime_value`",
        ),
    ] {
        let upstream = FakeUpstream::new().reply(StatusCode::OK, body.clone());
        let message = vendor_failed(call(list(&[]), &upstream).await);
        assert!(message.contains(expected), "{body:?}: {message}");
    }
}
