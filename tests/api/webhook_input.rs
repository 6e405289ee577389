//! Bad input on `POST /webhooks/{provider}`: every case answers problem+json 4xx (or 503 for the store), stores
//! nothing, and never takes the process down.

use gatehouse_kit::Scheme;
use serde_json::Value;

use crate::helpers::*;

fn acme_body() -> Vec<u8> {
    br#"{"type":"customer.created","data":{"cust_id":"c_7","full_name":"Grace Hopper","email_address":"grace@example.com","lifetime_value":"0.00","created":"2026-03-04 05:06:07"}}"#.to_vec()
}

fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
}

#[tokio::test]
async fn unknown_providers_and_providers_without_webhooks_are_404() {
    let app = spawn_app().await;
    for provider in ["nope", "outbound-only", "%FF%FE"] {
        let response = app.post_webhook(provider, &[], b"{}").await;
        problem(response, 404, "unknown-provider").await;
    }
    app.stop().await;
}

#[tokio::test]
async fn oversized_bodies_are_413_with_or_without_content_length() {
    let app = spawn_app().await;
    let big = vec![b'x'; 65537];
    let response = app.post_webhook("acme-crm", &[], &big).await;
    problem(response, 413, "payload-too-large").await;
    // Streamed (chunked, no Content-Length): the limit holds while reading.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = (0..80).map(|_| Ok(vec![b'y'; 1024])).collect();
    let response = app
        .client
        .post(format!("{}/webhooks/acme-crm", app.addr))
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    problem(response, 413, "payload-too-large").await;
    assert_eq!(app.outbox_count(), 0);
    app.stop().await;
}

#[tokio::test]
async fn a_failing_store_answers_503_and_keeps_nothing_partial() {
    let app = spawn_app().await;
    app.execute("CREATE TRIGGER fail_outbox BEFORE INSERT ON outbox BEGIN SELECT RAISE(ABORT, 'disk on fire'); END;");
    let body = acme_body();
    let signed = sign(&Scheme::StandardWebhooks, SW_SECRET, &body, now(), "msg_store");
    let response = app.post_webhook("acme-crm", &signed, &body).await;
    assert!(response.headers().contains_key("retry-after"));
    let problem = problem(response, 503, "store-unavailable").await;
    assert!(
        !problem["detail"].as_str().unwrap().contains("fire"),
        "internal errors stay internal"
    );
    assert_eq!(app.inbox_count(), 0, "the inbox row rolled back with the outbox row");
    // The provider retries once the store recovers: accepted as new, not as a duplicate of a lost event.
    app.execute("DROP TRIGGER fail_outbox;");
    let response = app.post_webhook("acme-crm", &signed, &body).await;
    assert_eq!(response.status(), 200);
    let reply: Value = response.json().await.unwrap();
    assert_eq!(reply["duplicate"], false);
    assert_eq!(app.outbox_count(), 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_bad_event_in_a_group_commit_fails_alone() {
    let app = spawn_app().await;
    app.execute(
        "CREATE TRIGGER fail_one BEFORE INSERT ON outbox WHEN NEW.provider_event_id = 'evt_g_13' \
         BEGIN SELECT RAISE(ABORT, 'poison'); END;",
    );
    let requests: Vec<_> = (0..40)
        .map(|i| {
            let body =
                format!(r#"{{"id":"evt_g_{i}","type":"charge.captured","data":{{"object":{{"id":"ch_{i}"}}}}}}"#);
            (sign(&Scheme::Stripe, PLAIN_SECRET, body.as_bytes(), now(), ""), body)
        })
        .collect();
    let responses = futures::future::join_all(
        requests
            .iter()
            .map(|(h, b)| app.post_webhook("stripe", h, b.as_bytes())),
    )
    .await;
    for (i, response) in responses.iter().enumerate() {
        let expected = if i == 13 { 503 } else { 200 };
        assert_eq!(response.status().as_u16(), expected, "event {i}");
    }
    assert_eq!(app.outbox_count(), 39);
    assert_eq!(app.inbox_count(), 39);
    app.stop().await;
}

#[tokio::test]
async fn malformed_signature_headers_are_401() {
    let app = spawn_app().await;
    let body = acme_body();
    let good = sign(&Scheme::StandardWebhooks, SW_SECRET, &body, now(), "msg_h");
    let get = |name: &str| good.iter().find(|(n, _)| n == name).unwrap().1.clone();
    let (id, ts, sig) = (get("webhook-id"), get("webhook-timestamp"), get("webhook-signature"));
    let cases: Vec<(&str, Vec<(&str, &str)>)> = vec![
        (
            "duplicated signature header",
            vec![
                ("webhook-id", &id),
                ("webhook-timestamp", &ts),
                ("webhook-signature", &sig),
                ("webhook-signature", &sig),
            ],
        ),
        (
            "duplicated timestamp",
            vec![
                ("webhook-id", &id),
                ("webhook-timestamp", &ts),
                ("webhook-timestamp", &ts),
                ("webhook-signature", &sig),
            ],
        ),
        (
            "huge timestamp",
            vec![
                ("webhook-id", &id),
                ("webhook-timestamp", "99999999999999999999999999"),
                ("webhook-signature", &sig),
            ],
        ),
        (
            "negative timestamp",
            vec![
                ("webhook-id", &id),
                ("webhook-timestamp", "-5"),
                ("webhook-signature", &sig),
            ],
        ),
        (
            "timestamp not a number",
            vec![
                ("webhook-id", &id),
                ("webhook-timestamp", "soon"),
                ("webhook-signature", &sig),
            ],
        ),
        (
            "invalid base64",
            vec![
                ("webhook-id", &id),
                ("webhook-timestamp", &ts),
                ("webhook-signature", "v1,!!!not-base64!!!"),
            ],
        ),
        (
            "unknown version only",
            vec![
                ("webhook-id", &id),
                ("webhook-timestamp", &ts),
                ("webhook-signature", "v9,AAAA"),
            ],
        ),
        (
            "empty signature",
            vec![
                ("webhook-id", &id),
                ("webhook-timestamp", &ts),
                ("webhook-signature", ""),
            ],
        ),
        (
            "missing id",
            vec![("webhook-timestamp", &ts), ("webhook-signature", &sig)],
        ),
    ];
    for (what, headers) in cases {
        let response = app.post_webhook("acme-crm", &owned(&headers), &body).await;
        assert_eq!(response.status(), 401, "{what}");
        problem(response, 401, "invalid-signature").await;
    }
    // Stripe: a v0-only header is a downgrade attempt; a header with junk never panics.
    for header in [
        "t=1,v0=abcd",
        "garbage",
        "t=,v1=",
        ",,,,",
        "t=99999999999999999999999,v1=00",
    ] {
        let response = app
            .post_webhook("stripe", &owned(&[("Stripe-Signature", header)]), b"{}")
            .await;
        problem(response, 401, "invalid-signature").await;
    }
    // Non-ASCII header bytes.
    let response = app
        .client
        .post(format!("{}/webhooks/github", app.addr))
        .header(
            "X-Hub-Signature-256",
            reqwest::header::HeaderValue::from_bytes(b"sha256=\xff\xfe").unwrap(),
        )
        .body("{}")
        .send()
        .await
        .unwrap();
    problem(response, 401, "invalid-signature").await;
    assert_eq!(app.outbox_count(), 0);
    app.stop().await;
}
