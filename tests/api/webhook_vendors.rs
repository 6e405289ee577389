//! The vendors added by following docs/ADDING_A_VENDOR.md (twilio, sendgrid, standard-webhooks with `v1a`), through
//! HTTP against the real router: valid → stored once; redelivery → duplicate; tampered, wrong key and (where a
//! timestamp is signed) stale → 401 with nothing stored; signed but unreadable → quarantined. SendGrid's batches
//! are stored one event each.

use gatehouse_kit::Scheme;
use gatehouse_kit::signature::TwilioScheme;
use gatehouse_kit::testing::{
    TEST_SENDGRID_PRIVATE_KEY, TEST_SENDGRID_PUBLIC_KEY, TEST_V1A_PRIVATE_KEY, TEST_V1A_PUBLIC_KEY,
};
use serde_json::{Value, json};

use crate::helpers::*;

const TWILIO_URL: &str = "https://gatehouse.example.com/webhooks/twilio";
const TWILIO_TOKEN: &str = "twilio-auth-token-for-tests";
/// Another P-256 key than the configured one's: its signatures must not verify.
const OTHER_SENDGRID_KEY: &str = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgqT2jfW50B7CzFOJNX8V1Rk/XhxMoe9GcQD/q1bW\
     Ql9+hRANCAASncM+3lCdQc4FDdm/NOd7jxw5clSZ7Acm0MiU5gPuijzD4cF0WQHP+P5fYe0io3vjWW8U5OsRl9SF94QON1Feg";
const OTHER_V1A_KEY: &str = "whsk_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// Makes a vendor's headers for `(body, key, timestamp, event id)`.
type Signer = dyn Fn(&[u8], &str, u64, &str) -> Vec<(String, String)>;

fn vendors_toml() -> String {
    format!(
        r#"
[providers.twilio.webhook]
public_url = "{TWILIO_URL}"
secrets = ["{TWILIO_TOKEN}"]

[providers.sendgrid.webhook]
public_keys = ["{TEST_SENDGRID_PUBLIC_KEY}"]

[providers.standard-webhooks.webhook]
public_keys = ["{TEST_V1A_PUBLIC_KEY}"]
"#
    )
}

fn twilio() -> Scheme {
    Scheme::Twilio(TwilioScheme::new(TWILIO_URL).unwrap())
}

/// Posts `body` and returns the status and JSON answer.
async fn post(app: &TestApp, provider: &str, headers: &[(String, String)], body: &[u8]) -> (u16, Value) {
    let response = app.post_webhook(provider, headers, body).await;
    (response.status().as_u16(), response.json().await.unwrap())
}

/// Valid → stored, again → duplicate, then each rejection → 401 invalid-signature, and an unreadable body →
/// quarantined; `sign(body, key, timestamp)` makes the vendor's headers.
async fn exercise(
    provider: &str,
    sign_with: &Signer,
    (key, other_key): (&str, &str),
    (body, unreadable): (&[u8], &[u8]),
    signs_time: bool,
) {
    let app = spawn_app_with(&vendors_toml()).await;
    let (status, first) = post(&app, provider, &sign_with(body, key, now(), "id-1"), body).await;
    assert_eq!(
        (status, &first["duplicate"]),
        (200, &json!(false)),
        "{provider}: {first}"
    );
    let (status, again) = post(&app, provider, &sign_with(body, key, now(), "id-1"), body).await;
    assert_eq!(status, 200);
    assert_eq!(
        again,
        json!({"id": first["id"], "duplicate": true, "quarantined": false}),
        "{provider}"
    );

    let mut tampered = body.to_vec();
    tampered.extend_from_slice(b" ");
    let mut attempts = vec![
        ("tampered", sign_with(body, key, now(), "id-1"), tampered),
        ("wrong key", sign_with(body, other_key, now(), "id-1"), body.to_vec()),
        ("unsigned", vec![], body.to_vec()),
    ];
    if signs_time {
        attempts.push(("stale", sign_with(body, key, now() - 3600, "id-1"), body.to_vec()));
    }
    for (what, headers, body) in attempts {
        let response = app.post_webhook(provider, &headers, &body).await;
        let problem = problem(response, 401, "invalid-signature").await;
        assert!(problem["detail"].is_string(), "{provider}: {what}");
    }
    assert_eq!(app.outbox_count(), 1, "{provider}: rejections stored nothing");

    let (status, quarantined) = post(&app, provider, &sign_with(unreadable, key, now(), "id-2"), unreadable).await;
    assert_eq!(
        (status, &quarantined["quarantined"]),
        (200, &json!(true)),
        "{provider}: {quarantined}"
    );
    assert_eq!(app.outbox_count(), 2);
    app.stop().await;
}

#[tokio::test]
async fn twilio_callbacks() {
    let sign_with = |body: &[u8], key: &str, at: u64, id: &str| {
        let mut headers = sign(&twilio(), key, body, at, "");
        headers.push(("I-Twilio-Idempotency-Token".to_owned(), id.to_owned()));
        headers
    };
    let body = b"MessageSid=SM1f0e8ae6&MessageStatus=delivered&To=%2B15558675310";
    exercise(
        "twilio",
        &sign_with,
        (TWILIO_TOKEN, "another-token"),
        (body, b"Foo=bar"),
        false,
    )
    .await;
}

#[tokio::test]
async fn twilio_json_bodies_carry_their_hash_in_the_signed_query() {
    let app = spawn_app_with(&vendors_toml()).await;
    let body = json!({"MessageSid": "SM9", "MessageStatus": "sent"}).to_string();
    let query = twilio().signed_query(body.as_bytes()).unwrap();
    assert!(query.starts_with("bodySHA256="), "{query}");
    let headers = sign(&twilio(), TWILIO_TOKEN, body.as_bytes(), 0, "");
    let send = |query: String, body: String| {
        let mut request = app
            .client
            .post(format!("{}/webhooks/twilio?{query}", app.addr))
            .body(body);
        for (name, value) in &headers {
            request = request.header(name, value);
        }
        request.send()
    };
    let response = send(query.clone(), body.clone()).await.unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    let response = send(query, body.replace("sent", "failed")).await.unwrap();
    assert_eq!(response.status(), 401, "a body that no longer matches bodySHA256");
    app.stop().await;
}

#[tokio::test]
async fn sendgrid_batches() {
    let sign_with = |body: &[u8], key: &str, at: u64, _: &str| sign(&Scheme::Sendgrid, key, body, at, "");
    let body = json!([{"email": "ada@example.com", "event": "delivered", "sg_event_id": "ev-1",
                       "sg_message_id": "m-1", "timestamp": 1_700_000_000}])
    .to_string();
    let unreadable = json!([{"email": "ada@example.com", "event": "open"}]).to_string();
    let keys = (TEST_SENDGRID_PRIVATE_KEY, OTHER_SENDGRID_KEY);
    exercise_batch("sendgrid", &sign_with, keys, (body.as_bytes(), unreadable.as_bytes())).await;
}

/// [`exercise`] for a vendor whose every request is a batch: answers list one result per event.
async fn exercise_batch(
    provider: &str,
    sign_with: &Signer,
    (key, other_key): (&str, &str),
    (body, unreadable): (&[u8], &[u8]),
) {
    let app = spawn_app_with(&vendors_toml()).await;
    let (status, first) = post(&app, provider, &sign_with(body, key, now(), "id-1"), body).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["events"][0]["duplicate"], false, "{first}");
    let (_, again) = post(&app, provider, &sign_with(body, key, now(), "id-1"), body).await;
    assert_eq!(
        again,
        json!({"events": [{"id": first["events"][0]["id"], "duplicate": true, "quarantined": false}]})
    );
    for (what, headers, body) in [
        ("wrong key", sign_with(body, other_key, now(), "id-1"), body.to_vec()),
        ("stale", sign_with(body, key, now() - 3600, "id-1"), body.to_vec()),
        ("tampered", sign_with(body, key, now(), "id-1"), [body, b" "].concat()),
    ] {
        let response = app.post_webhook(provider, &headers, &body).await;
        assert_eq!(response.status(), 401, "{what}");
    }
    let (_, quarantined) = post(&app, provider, &sign_with(unreadable, key, now(), "id-2"), unreadable).await;
    assert_eq!(quarantined["events"][0]["quarantined"], true, "{quarantined}");

    // Three new events and one seen before, in one request: each stored (or recognised) on its own, in order.
    let batch = json!([
        {"event": "processed", "sg_event_id": "ev-2", "sg_message_id": "m-2"},
        {"event": "delivered", "sg_event_id": "ev-1", "sg_message_id": "m-1"},
        {"event": "open", "sg_event_id": "ev-3", "sg_message_id": "m-2"},
        {"event": "click", "sg_event_id": "ev-4", "sg_message_id": "m-2"},
    ])
    .to_string();
    let (status, answer) = post(
        &app,
        provider,
        &sign_with(batch.as_bytes(), key, now(), "id-3"),
        batch.as_bytes(),
    )
    .await;
    assert_eq!(status, 200);
    let duplicates: Vec<&Value> = answer["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["duplicate"])
        .collect();
    assert_eq!(duplicates, [false, true, false, false], "{answer}");
    assert_eq!(app.outbox_count(), 5);
    let envelope = app.envelope(answer["events"][2]["id"].as_str().unwrap());
    assert_eq!(
        (&envelope["type"], &envelope["subject"]),
        (&json!("sendgrid.email.open"), &json!("m-2"))
    );
    app.stop().await;
}

#[tokio::test]
async fn standard_webhooks_v1a() {
    let sign_with = |body: &[u8], key: &str, at: u64, id: &str| sign(&Scheme::StandardWebhooks, key, body, at, id);
    let body =
        json!({"type": "invoice.paid", "timestamp": "2026-12-01T00:00:00Z", "data": {"id": "inv_1"}}).to_string();
    let unreadable = json!({"type": "invoice.paid"}).to_string();
    let keys = (TEST_V1A_PRIVATE_KEY, OTHER_V1A_KEY);
    exercise(
        "standard-webhooks",
        &sign_with,
        keys,
        (body.as_bytes(), unreadable.as_bytes()),
        true,
    )
    .await;
}

#[test]
fn key_config_errors_name_the_key() {
    let refused = |toml: &str, key: &str, words: &str| {
        let config = gatehouse::config::Config::from_toml_str(toml).unwrap();
        let error = gatehouse::providers::Providers::build(&config)
            .err()
            .expect("refused")
            .to_string();
        assert!(error.contains(key) && error.contains(words), "{toml}: {error}");
        let material = ["MFkwEwYH", "s3cret", &TEST_V1A_PRIVATE_KEY[5..]];
        assert!(material.iter().all(|m| !error.contains(m)), "no key material: {error}");
    };
    let sendgrid = "[providers.sendgrid.webhook]\n";
    refused(
        &format!("{sendgrid}secrets = [\"s3cret\"]\n"),
        "providers.sendgrid.webhook.secrets",
        "public_keys",
    );
    refused(
        sendgrid,
        "providers.sendgrid.webhook.public_keys",
        "at least one public key",
    );
    refused(
        &format!("{sendgrid}public_keys = [\"MFkwEwYHnot-base64!\"]\n"),
        "providers.sendgrid.webhook.public_keys[0]",
        "base64",
    );
    let github = "[providers.github.webhook]\nsecrets = [\"s3cret\"]\n";
    refused(
        &format!("{github}public_keys = [\"{TEST_SENDGRID_PUBLIC_KEY}\"]\n"),
        "github.webhook.public_keys",
        "secrets",
    );
    refused(
        &format!("{github}public_url = \"{TWILIO_URL}\"\n"),
        "github.webhook.public_url",
        "twilio",
    );
    let twilio = "[providers.twilio.webhook]\nsecrets = [\"s3cret\"]\n";
    refused(
        twilio,
        "providers.twilio.webhook.public_url",
        "Twilio is configured to call",
    );
    refused(
        &format!("{twilio}public_url = \"ftp://x\"\n"),
        "providers.twilio.webhook.public_url",
        "http",
    );
    refused(
        "[providers.standard-webhooks.webhook]\n",
        "standard-webhooks.webhook.secrets",
        "public key",
    );
    refused(
        &format!("[providers.standard-webhooks.webhook]\nsecrets = [\"{TEST_V1A_PRIVATE_KEY}\"]\n"),
        "standard-webhooks.webhook.secrets[0]",
        "private key",
    );
    refused(
        "[providers.x]\nadapter = \"twilio\"\n[providers.x.webhook]\nevent_id = \"/id\"\n",
        "providers.x.webhook.event_id",
        "generic",
    );
    // Both kinds at once for Standard Webhooks: v1 and v1a senders during a migration.
    let both = format!(
        "[providers.standard-webhooks.webhook]\nsecrets = [\"{SW_SECRET}\"]\npublic_keys = [\"{TEST_V1A_PUBLIC_KEY}\"]\n"
    );
    let config = gatehouse::config::Config::from_toml_str(&both).unwrap();
    assert!(gatehouse::providers::Providers::build(&config).is_ok());
}
