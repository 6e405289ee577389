//! Twilio callbacks through the kit's helpers: signed with `X-Twilio-Signature` over the public URL and the sorted
//! parameters, verified, interpreted; and the kit's conformance.

use gatehouse_kit::signature::{Scheme, TwilioScheme};
use gatehouse_kit::testing::{assert_conformance_with, deliver_with, expect_event};
use gatehouse_kit::{Adapter, WebhookError, WebhookOutcome};
use gatehouse_twilio::Twilio;
use serde_json::json;

const STATUS: &str = "MessageSid=SM1f0e8ae6ade43cb3c0ce4525424e404f&MessageStatus=delivered&AccountSid=AC123\
                      &From=%2B15017122661&To=%2B15558675310&ApiVersion=2010-04-01";

fn scheme() -> Scheme {
    Scheme::Twilio(TwilioScheme::new("https://gatehouse.example.com/webhooks/twilio").unwrap())
}

fn deliver(body: &str, headers: &[(&str, &str)]) -> Result<WebhookOutcome, WebhookError> {
    deliver_with(&Twilio, &scheme(), body.as_bytes(), headers)
}

fn error_of(body: &str) -> String {
    match deliver(body, &[]) {
        Err(e) => e.to_string(),
        Ok(outcome) => panic!("expected an error for {body}, got {outcome:?}"),
    }
}

#[test]
fn names_itself_and_its_scheme() {
    assert_eq!(Twilio.name(), "twilio");
    assert_eq!(Twilio.default_scheme(), Some("twilio"));
}

#[test]
fn reads_a_message_status_callback_keyed_by_the_idempotency_token() {
    let token = "a1b2c3d4-retry-stable";
    let event = expect_event(deliver(STATUS, &[("I-Twilio-Idempotency-Token", token)]));
    assert_eq!(event.provider_event_id, token);
    assert_eq!(event.event_type, "message.delivered");
    assert_eq!(event.subject.as_deref(), Some("SM1f0e8ae6ade43cb3c0ce4525424e404f"));
    assert_eq!(event.data["From"], "+15017122661", "parameters are form-decoded");
    assert_eq!(event.data["AccountSid"], "AC123");
    let id = Twilio.event_id(&gatehouse_kit::testing::verified_with(
        &scheme(),
        STATUS.as_bytes(),
        &[("I-Twilio-Idempotency-Token", token)],
    ));
    assert_eq!(id.as_deref(), Some(token), "event_id() agrees with the translation");
}

#[test]
fn without_a_token_each_status_of_a_message_is_its_own_event() {
    let delivered = expect_event(deliver(STATUS, &[]));
    let sent = expect_event(deliver(&STATUS.replace("delivered", "sent"), &[]));
    assert_eq!(
        delivered.provider_event_id,
        "SM1f0e8ae6ade43cb3c0ce4525424e404f/delivered"
    );
    assert_eq!(sent.provider_event_id, "SM1f0e8ae6ade43cb3c0ce4525424e404f/sent");
    assert_eq!(sent.event_type, "message.sent");
}

#[test]
fn reads_incoming_messages_and_calls() {
    let incoming = "SmsSid=SM99&SmsStatus=received&Body=Hello+there&From=%2B15017122661";
    let event = expect_event(deliver(incoming, &[]));
    assert_eq!(event.event_type, "message.received");
    assert_eq!(event.data["Body"], "Hello there");
    let call = "CallSid=CA42&CallStatus=completed&CallDuration=7";
    let event = expect_event(deliver(call, &[]));
    assert_eq!(
        (event.event_type.as_str(), event.subject.as_deref()),
        ("call.completed", Some("CA42"))
    );
}

#[test]
fn reads_a_json_callback_as_its_object() {
    let body = json!({"MessageSid": "SM7", "MessageStatus": "failed", "ErrorCode": "30003"}).to_string();
    let event = expect_event(deliver(&body, &[]));
    assert_eq!(event.event_type, "message.failed");
    assert_eq!(event.data["ErrorCode"], "30003");
}

#[test]
fn refuses_what_it_cannot_read() {
    assert!(error_of("Foo=bar").contains("MessageSid"));
    assert!(error_of("MessageSid=SM1").contains("MessageStatus"));
    assert!(error_of("MessageSid=SM1&MessageStatus=in+progress").contains("MessageStatus"));
    assert!(error_of("{").contains("JSON"));
    assert!(error_of(r#"{"MessageSid": 1, "MessageStatus": "sent"}"#).contains("MessageSid"));
    assert!(matches!(
        deliver_with(&Twilio, &scheme(), b"MessageSid=\xff", &[]),
        Err(e) if e.to_string().contains("form-encoded")
    ));
}

#[test]
fn conforms() {
    let samples = [
        json!({"MessageSid": "SM1", "MessageStatus": "delivered", "To": "+15558675310"}),
        json!({"CallSid": "CA1", "CallStatus": "ringing"}),
    ];
    assert_conformance_with(&Twilio, &scheme(), &samples, &[("I-Twilio-Idempotency-Token", "tok-1")]);
}
