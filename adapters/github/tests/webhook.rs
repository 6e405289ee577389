//! GitHub webhooks through the kit's conformance helpers: signed with `X-Hub-Signature-256`, verified, interpreted.

use gatehouse_github::Github;
use gatehouse_kit::testing::{assert_conformance, deliver, expect_event};
use gatehouse_kit::{Adapter, WebhookError, WebhookOutcome};
use serde_json::{Value, json};

const DELIVERY: &str = "72d3162e-cc78-11e3-81ab-4c9367dc0958";

fn pull_request_opened() -> Value {
    json!({
        "action": "opened",
        "number": 2,
        "pull_request": {"id": 279147437, "number": 2, "state": "open", "title": "Update the README"},
        "repository": {"id": 186853002, "name": "hello-world", "full_name": "octo-org/hello-world", "private": false},
        "sender": {"login": "octocat", "id": 21031067}
    })
}

fn deliver_as(event: &str, body: &Value) -> Result<WebhookOutcome, WebhookError> {
    let headers = [
        ("X-GitHub-Delivery", DELIVERY),
        ("X-GitHub-Event", event),
        ("X-GitHub-Hook-ID", "292430182"),
    ];
    deliver(&Github::new(), body.to_string().as_bytes(), &headers)
}

fn error_of(event: &str, body: &Value) -> String {
    match deliver_as(event, body) {
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
    assert_eq!(Github::new().name(), "github");
    assert_eq!(Github.default_scheme(), Some("github"));
    assert_default_is(Github::new());
}

#[test]
fn reads_an_event_with_an_action() {
    let body = pull_request_opened();
    let event = expect_event(deliver_as("pull_request", &body));
    assert_eq!(event.provider_event_id, DELIVERY);
    assert_eq!(event.event_type, "pull_request.opened");
    assert_eq!(event.subject.as_deref(), Some("octo-org/hello-world"));
    assert_eq!(event.data, body);
}

#[test]
fn reads_an_event_without_an_action() {
    let body = json!({
        "ref": "refs/heads/main",
        "before": "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
        "after": "0000000000000000000000000000000000000000",
        "repository": {"full_name": "octo-org/hello-world"},
        "pusher": {"name": "octocat"}
    });
    let event = expect_event(deliver_as("push", &body));
    assert_eq!(event.event_type, "push");
    assert_eq!(event.subject.as_deref(), Some("octo-org/hello-world"));
    assert_eq!(event.data, body);
}

#[test]
fn ignores_an_action_that_is_not_a_string() {
    let mut body = pull_request_opened();
    body["action"] = json!(null);
    assert_eq!(
        expect_event(deliver_as("pull_request", &body)).event_type,
        "pull_request"
    );
}

#[test]
fn an_organization_ping_has_no_subject() {
    let body = json!({
        "zen": "Keep it logically awesome.",
        "hook_id": 292430182,
        "hook": {"type": "Organization", "events": ["*"]},
        "organization": {"login": "octo-org"}
    });
    let event = expect_event(deliver_as("ping", &body));
    assert_eq!(event.event_type, "ping");
    assert_eq!(event.subject, None);
    let body = json!({"zen": "Design for failure.", "repository": null});
    assert_eq!(expect_event(deliver_as("ping", &body)).subject, None);
}

#[test]
fn requires_the_delivery_and_event_headers() {
    let body = pull_request_opened().to_string();
    let adapter = Github::new();
    let err = deliver(&adapter, body.as_bytes(), &[("X-GitHub-Event", "pull_request")]).unwrap_err();
    assert!(err.to_string().contains("X-GitHub-Delivery"), "{err}");
    let err = deliver(&adapter, body.as_bytes(), &[("X-GitHub-Delivery", DELIVERY)]).unwrap_err();
    assert!(err.to_string().contains("X-GitHub-Event"), "{err}");
    let too_long = "d".repeat(256);
    let headers = [
        ("X-GitHub-Delivery", too_long.as_str()),
        ("X-GitHub-Event", "pull_request"),
    ];
    let err = deliver(&adapter, body.as_bytes(), &headers).unwrap_err();
    assert!(err.to_string().contains("X-GitHub-Delivery"), "{err}");
    let headers = [
        ("X-GitHub-Delivery", DELIVERY),
        ("X-GitHub-Delivery", "other"),
        ("X-GitHub-Event", "push"),
    ];
    assert!(deliver(&adapter, body.as_bytes(), &headers).is_err());
}

#[test]
fn rejects_unusable_event_types() {
    assert!(error_of("pull request", &pull_request_opened()).contains("event type"));
    let mut body = pull_request_opened();
    body["action"] = json!("");
    assert!(error_of("pull_request", &body).contains("event type"));
    body["action"] = json!("re opened");
    assert!(error_of("pull_request", &body).contains("event type"));
}

#[test]
fn rejects_an_unusable_repository_name() {
    for name in [json!(""), json!(42), json!({"owner": "octo-org"})] {
        let mut body = pull_request_opened();
        body["repository"]["full_name"] = name.clone();
        assert!(
            error_of("pull_request", &body).contains("repository.full_name"),
            "{name}"
        );
    }
}

#[test]
fn asks_for_json_when_the_body_is_form_encoded() {
    let form = format!("payload={}", "%7B%22zen%22%3A%22Keep+it+simple%22%7D");
    let headers = [("X-GitHub-Delivery", DELIVERY), ("X-GitHub-Event", "ping")];
    let err = deliver(&Github::new(), form.as_bytes(), &headers).unwrap_err();
    assert!(err.to_string().contains("application/json"), "{err}");
}

#[test]
fn rejects_bodies_that_are_not_json_objects() {
    let headers = [("X-GitHub-Delivery", DELIVERY), ("X-GitHub-Event", "ping")];
    for body in [&b""[..], b" ", b"{\"zen\":", b"null", b"[]", b"\"ping\"", b"\xff"] {
        let err = deliver(&Github::new(), body, &headers).unwrap_err();
        assert!(err.to_string().contains("application/json"), "{err}");
    }
}

#[test]
fn passes_the_kit_conformance_check() {
    let headers = [("X-GitHub-Delivery", DELIVERY), ("X-GitHub-Event", "pull_request")];
    assert_conformance(&Github, &[pull_request_opened()], &headers);
}
