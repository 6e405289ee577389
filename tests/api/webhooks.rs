//! Per shipped adapter, through HTTP: valid → stored once with our envelope; redelivery → duplicate, nothing new;
//! tampered, wrong-secret, unsigned, stale and future → 401 with nothing stored. (Signed but unreadable bodies are
//! quarantined: `quarantine.rs`.)

use gatehouse_kit::Scheme;
use serde_json::{Value, json};

use crate::helpers::*;

struct Case {
    provider: &'static str,
    scheme: Scheme,
    secret: &'static str,
    body: Value,
    extra_headers: Vec<(&'static str, &'static str)>,
    /// `None`: the id is the signed message id.
    provider_event_id: Option<&'static str>,
    event_type: &'static str,
    subject: Option<&'static str>,
    /// A path in the envelope's data and the value expected there (the adapter's translation).
    data_check: (&'static str, Value),
}

fn headers(case: &Case, body: &[u8], timestamp: u64, secret: &str, id: &str) -> Vec<(String, String)> {
    let mut headers = sign(&case.scheme, secret, body, timestamp, id);
    headers.extend(case.extra_headers.iter().map(|(n, v)| (n.to_string(), v.to_string())));
    headers
}

async fn exercise(case: Case) {
    let app = spawn_app().await;
    let body = serde_json::to_vec(&case.body).unwrap();
    let signed = headers(&case, &body, now(), case.secret, "msg_first");

    // Valid: stored once, with our envelope.
    let response = app.post_webhook(case.provider, &signed, &body).await;
    assert_eq!(response.status(), 200, "{}", case.provider);
    assert!(response.headers().contains_key("x-correlation-id"));
    let first: Value = response.json().await.unwrap();
    assert_eq!(first["duplicate"], false);
    let id = first["id"].as_str().unwrap().to_owned();
    assert_eq!(app.outbox_count(), 1);
    let envelope = app.envelope(&id);
    assert_eq!(envelope["specversion"], "1.0");
    assert_eq!(envelope["id"], id.as_str());
    assert_eq!(envelope["source"], format!("gatehouse/{}", case.provider));
    assert_eq!(envelope["type"], case.event_type);
    assert_eq!(envelope["subject"].as_str(), case.subject);
    assert_eq!(
        envelope["providereventid"],
        case.provider_event_id.unwrap_or("msg_first")
    );
    assert_eq!(envelope["datacontenttype"], "application/json");
    assert!(envelope["correlationid"].is_string());
    assert!(envelope["time"].as_str().unwrap().ends_with('Z'));
    let (pointer, expected) = &case.data_check;
    assert_eq!(envelope["data"].pointer(pointer), Some(expected), "{envelope}");
    assert_eq!(app.raw_body(&id), body, "the raw body is kept byte for byte");

    // Redelivery (a new signature, the same vendor event): the first id, nothing new.
    let again = headers(&case, &body, now(), case.secret, "msg_first");
    let response = app.post_webhook(case.provider, &again, &body).await;
    assert_eq!(response.status(), 200);
    let second: Value = response.json().await.unwrap();
    assert_eq!(second, json!({"id": id, "duplicate": true, "quarantined": false}));
    assert_eq!(app.outbox_count(), 1);

    // Rejections: nothing stored.
    let mut tampered = body.clone();
    tampered.push(b' ');
    type Attempt<'a> = (&'a str, Vec<(String, String)>, Vec<u8>);
    let rejected: Vec<Attempt> = vec![
        ("tampered body", signed.clone(), tampered),
        (
            "wrong secret",
            headers(&case, &body, now(), "whsec_dGhlLXdyb25nLXNlY3JldA==", "msg_x"),
            body.clone(),
        ),
        (
            "no signature",
            case.extra_headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body.clone(),
        ),
    ];
    for (what, headers, body) in rejected {
        let response = app.post_webhook(case.provider, &headers, &body).await;
        let problem = problem(response, 401, "invalid-signature").await;
        assert!(problem["detail"].is_string(), "{what}");
    }
    if case.scheme.signs_timestamp() {
        for (what, timestamp) in [("stale", now() - 3600), ("future", now() + 3600)] {
            let signed = headers(&case, &body, timestamp, case.secret, "msg_time");
            let response = app.post_webhook(case.provider, &signed, &body).await;
            let problem = problem(response, 401, "invalid-signature").await;
            assert!(
                problem["detail"].as_str().unwrap().contains("tolerance"),
                "{what}: {problem}"
            );
        }
    }

    assert_eq!(app.outbox_count(), 1, "{}: rejections stored nothing", case.provider);
    assert_eq!(app.inbox_count(), 1);
    app.stop().await;
}

#[tokio::test]
async fn acme_crm() {
    exercise(Case {
        provider: "acme-crm",
        scheme: Scheme::StandardWebhooks,
        secret: SW_SECRET, // the second configured secret: rotation works
        body: json!({"type": "customer.updated", "data": {"cust_id": "c_1001", "full_name": "Ada Lovelace",
            "email_address": "ada@example.com", "lifetime_value": "1234.50", "created": "2026-01-02 10:00:00"}}),
        extra_headers: vec![],
        provider_event_id: None,
        event_type: "acme-crm.customer.updated",
        subject: Some("c_1001"),
        data_check: (
            "",
            json!({"id": "c_1001", "name": "Ada Lovelace", "email": "ada@example.com",
                "lifetime_value": 1234.5, "created_at": "2026-01-02T10:00:00Z"}),
        ),
    })
    .await;
}

#[tokio::test]
async fn stripe() {
    exercise(Case {
        provider: "stripe",
        scheme: Scheme::Stripe,
        secret: PLAIN_SECRET,
        body: json!({"id": "evt_1", "object": "event", "type": "payment_intent.succeeded", "data": {"object": {
            "id": "pi_1", "object": "payment_intent", "amount": 2000, "currency": "USD", "status": "succeeded",
            "customer": "cus_9", "last_payment_error": null}}}),
        extra_headers: vec![],
        provider_event_id: Some("evt_1"),
        event_type: "stripe.payment_intent.succeeded",
        subject: Some("pi_1"),
        data_check: (
            "",
            json!({"id": "pi_1", "amount": {"value": 2000, "currency": "usd"}, "status": "succeeded",
                "customer_id": "cus_9"}),
        ),
    })
    .await;
}

#[tokio::test]
async fn github() {
    exercise(Case {
        provider: "github",
        scheme: Scheme::Github,
        secret: PLAIN_SECRET,
        body: json!({"action": "opened", "number": 7, "repository": {"full_name": "octo/gatehouse"}}),
        extra_headers: vec![
            ("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
            ("X-GitHub-Event", "pull_request"),
        ],
        provider_event_id: Some("72d3162e-cc78-11e3-81ab-4c9367dc0958"),
        event_type: "github.pull_request.opened",
        subject: Some("octo/gatehouse"),
        data_check: ("/number", json!(7)),
    })
    .await;
}

#[tokio::test]
async fn shopify() {
    exercise(Case {
        provider: "shopify",
        scheme: Scheme::Shopify,
        secret: PLAIN_SECRET,
        body: json!({"id": 820982911946154508_u64, "email": "jon@example.com"}),
        extra_headers: vec![
            ("X-Shopify-Webhook-Id", "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"),
            ("X-Shopify-Topic", "orders/create"),
        ],
        provider_event_id: Some("b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"),
        event_type: "shopify.orders.create",
        subject: Some("820982911946154508"),
        data_check: ("/email", json!("jon@example.com")),
    })
    .await;
}

#[tokio::test]
async fn slack() {
    exercise(Case {
        provider: "slack",
        scheme: Scheme::Slack,
        secret: PLAIN_SECRET,
        body: json!({"type": "event_callback", "event_id": "Ev08MFMKH6", "team_id": "T123ABC456",
            "event": {"type": "app_mention", "text": "hi"}}),
        extra_headers: vec![],
        provider_event_id: Some("Ev08MFMKH6"),
        event_type: "slack.app_mention",
        subject: Some("T123ABC456"),
        data_check: ("/event/text", json!("hi")),
    })
    .await;
}

#[tokio::test]
async fn generic_hmac() {
    exercise(Case {
        provider: "billing",
        scheme: billing_scheme(),
        secret: GENERIC_SECRET,
        body: json!({"id": "inv_evt_1", "event": "invoice.paid", "amount": 10}),
        extra_headers: vec![("X-Billing-Account", "acct_9")],
        provider_event_id: Some("inv_evt_1"),
        event_type: "billing.invoice.paid",
        subject: Some("acct_9"),
        data_check: ("/amount", json!(10)),
    })
    .await;
}

#[tokio::test]
async fn slack_url_verification_is_answered_and_stores_nothing() {
    let app = spawn_app().await;
    let body = br#"{"token":"x","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
    let signed = sign(&Scheme::Slack, PLAIN_SECRET, body, now(), "");
    let response = app.post_webhook("slack", &signed, body).await;
    assert_eq!(response.status(), 200);
    let reply: Value = response.json().await.unwrap();
    assert_eq!(
        reply["challenge"],
        "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    );
    // Unsigned, the handshake is refused like any webhook.
    let response = app.post_webhook("slack", &[], body).await;
    problem(response, 401, "invalid-signature").await;
    assert_eq!(app.inbox_count(), 0);
    assert_eq!(app.outbox_count(), 0);
    app.stop().await;
}

#[tokio::test]
async fn concurrent_deliveries_of_one_event_store_it_once() {
    let app = spawn_app().await;
    let body = br#"{"id":"evt_race","type":"charge.refunded","data":{"object":{"id":"ch_1"}}}"#;
    let signed = sign(&Scheme::Stripe, PLAIN_SECRET, body, now(), "");
    let responses = futures::future::join_all((0..20).map(|_| app.post_webhook("stripe", &signed, body))).await;
    let mut ids = std::collections::HashSet::new();
    let mut firsts = 0;
    for response in responses {
        assert_eq!(response.status(), 200);
        let reply: Value = response.json().await.unwrap();
        ids.insert(reply["id"].as_str().unwrap().to_owned());
        firsts += usize::from(reply["duplicate"] == false);
    }
    assert_eq!(ids.len(), 1, "every delivery answers with the same event id");
    assert_eq!(firsts, 1);
    assert_eq!(app.outbox_count(), 1);
    app.stop().await;
}
