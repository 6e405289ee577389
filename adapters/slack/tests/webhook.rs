//! Slack requests through the kit's conformance helpers: signed with `X-Slack-Signature`, verified, interpreted.

use gatehouse_kit::testing::{assert_conformance, deliver, expect_event};
use gatehouse_kit::{Adapter, WebhookError, WebhookOutcome};
use gatehouse_slack::Slack;
use serde_json::{Value, json};

fn app_mention() -> Value {
    json!({
        "token": "Jhj5dZrVaK7ZwHHjRyZWjbDl",
        "team_id": "T0001",
        "api_app_id": "A0KRD7HC3",
        "event": {
            "type": "app_mention",
            "user": "U061F7AUR",
            "text": "<@U0LAN0Z89> is it everything a river should be?",
            "ts": "1515449522.000016",
            "channel": "C0LAN2Q65",
            "event_ts": "1515449522000016"
        },
        "type": "event_callback",
        "event_id": "Ev0LAN670R",
        "event_time": 1515449522,
        "authed_users": ["U0LAN0Z89"]
    })
}

fn deliver_json(body: &Value) -> Result<WebhookOutcome, WebhookError> {
    deliver(&Slack::new(), body.to_string().as_bytes(), &[])
}

/// Whether an error message names `field` (as `` `field` `` or at the end of a path, `` `data.field` ``).
fn names(message: &str, field: &str) -> bool {
    message.contains(&format!("`{field}`")) || message.contains(&format!(".{field}`"))
}

fn error_of(body: &Value) -> String {
    match deliver_json(body) {
        Err(e) => e.to_string(),
        Ok(outcome) => panic!("expected an error for {body}, got {outcome:?}"),
    }
}

/// `Default` builds the same adapter as `new()` (a generic call: clippy refuses `Unit::default()`).
fn assert_default_is<T: Default + PartialEq + std::fmt::Debug>(adapter: T) {
    assert_eq!(T::default(), adapter);
}

#[test]
fn names_itself_and_its_scheme() {
    assert_eq!(Slack::new().name(), "slack");
    assert_eq!(Slack.default_scheme(), Some("slack"));
    assert_default_is(Slack::new());
}

#[test]
fn answers_url_verification_with_the_challenge() {
    let body = json!({
        "token": "Jhj5dZrVaK7ZwHHjRyZWjbDl",
        "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
        "type": "url_verification"
    });
    assert_eq!(
        deliver_json(&body),
        Ok(WebhookOutcome::Reply(
            json!({"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"})
        ))
    );
}

#[test]
fn rejects_url_verification_without_a_challenge() {
    for challenge in [None, Some(json!("")), Some(json!(42))] {
        let mut body = json!({"type": "url_verification"});
        if let Some(challenge) = challenge {
            body["challenge"] = challenge;
        }
        assert!(names(&error_of(&body), "challenge"), "{body}");
    }
}

#[test]
fn reads_an_event_callback() {
    let body = app_mention();
    let event = expect_event(deliver_json(&body));
    assert_eq!(event.provider_event_id, "Ev0LAN670R");
    assert_eq!(event.event_type, "app_mention");
    assert_eq!(event.subject.as_deref(), Some("T0001"));
    assert_eq!(event.data, body);
}

#[test]
fn rejects_each_missing_field_by_name() {
    let cases = [
        ("", "event_id", "event_id"),
        ("", "team_id", "team_id"),
        ("", "event", "event.type"),
        ("/event", "type", "event.type"),
    ];
    for (pointer, key, field) in cases {
        let mut body = app_mention();
        body.pointer_mut(pointer).unwrap().as_object_mut().unwrap().remove(key);
        assert!(names(&error_of(&body), field), "{pointer}/{key}");
    }
}

#[test]
fn rejects_unusable_fields_by_name() {
    let too_long = "E".repeat(256);
    let cases = [
        ("/event_id", json!(""), "event_id"),
        ("/event_id", json!(12), "event_id"),
        ("/event_id", json!(too_long), "event_id"),
        ("/team_id", json!(null), "team_id"),
        ("/team_id", json!(" "), "team_id"),
        ("/event/type", json!("app mention"), "event.type"),
        ("/event/type", json!(["app_mention"]), "event.type"),
        ("/event", json!("app_mention"), "event.type"),
    ];
    for (pointer, value, field) in cases {
        let mut body = app_mention();
        *body.pointer_mut(pointer).unwrap() = value.clone();
        assert!(names(&error_of(&body), field), "{pointer} = {value}");
    }
}

#[test]
fn rejects_bodies_that_are_not_json_objects() {
    let adapter = Slack::new();
    let form = b"payload=%7B%22type%22%3A%22block_actions%22%7D";
    for body in [
        &b""[..],
        b" ",
        &form[..],
        b"{\"type\":",
        b"null",
        b"[]",
        b"\"url_verification\"",
        b"\x80",
    ] {
        assert!(
            deliver(&adapter, body, &[]).is_err(),
            "{:?}",
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn passes_the_kit_conformance_check() {
    let samples = [app_mention(), json!({"type": "url_verification", "challenge": "c"})];
    assert_conformance(&Slack, &samples, &[]);
}

#[test]
fn acknowledges_app_rate_limited_without_an_event() {
    let body = json!({"token": "x", "type": "app_rate_limited", "team_id": "T0001",
        "minute_rate_limited": 1518467820, "api_app_id": "A0KRD7HC3"});
    assert_eq!(deliver_json(&body), Ok(WebhookOutcome::Reply(json!({"ok": true}))));
}
