//! The conformance check: an adapter's samples, malformed bodies derived from them and bodies that are not JSON
//! objects, delivered through a scheme, must never panic and must give an error, a reply or an event the gateway
//! can store.

use std::panic::{AssertUnwindSafe, catch_unwind};

use serde_json::{Value, json};

use super::verified_with;
use crate::adapter::Adapter;
use crate::signature::Scheme;
use crate::webhook::{InboundEvent, MAX_ID_CHARS, WebhookOutcome};

/// Bodies that are not JSON objects (empty, not UTF-8, `null`, an array, cut short), delivered besides the samples.
const NOT_JSON_OBJECTS: [&[u8]; 5] = [b"", b"\xff\xfe", b"null", b"[]", b"{"];

/// Runs [`assert_conformance_with`] with the adapter's default scheme.
///
/// # Panics
/// When the adapter has no default scheme, and as [`assert_conformance_with`] does.
pub fn assert_conformance(adapter: &dyn Adapter, samples: &[Value], extra: &[(&str, &str)]) {
    let scheme = adapter
        .default_scheme()
        .and_then(Scheme::from_name)
        .expect("assert_conformance() needs an adapter with a default scheme: use assert_conformance_with()");
    assert_conformance_with(adapter, &scheme, samples, extra);
}

/// Delivers, signed with `scheme` and with the `extra` headers, each sample, every one of its [`mutations`] and a
/// few bodies that are not JSON objects.
///
/// # Panics
/// When interpreting any of them panics, or when any gives an event that breaks the contract the gateway relies
/// on: `provider_event_id` non-blank, at most [`MAX_ID_CHARS`] characters, without control characters;
/// `event_type` the same and without whitespace; `subject`, when present, like `provider_event_id`. Errors and
/// replies are fine. [`Adapter::event_id`] must never panic either, must locate only storable ids, and must agree
/// with the event's `provider_event_id` whenever both are made (a quarantined copy is deduplicated by it).
pub fn assert_conformance_with(adapter: &dyn Adapter, scheme: &Scheme, samples: &[Value], extra: &[(&str, &str)]) {
    let derived = samples
        .iter()
        .flat_map(|sample| std::iter::once(sample.to_string().into_bytes()).chain(mutations(sample)));
    for body in derived.chain(NOT_JSON_OBJECTS.iter().map(|body| body.to_vec())) {
        let shown = String::from_utf8_lossy(&body);
        let webhook = verified_with(scheme, &body, extra);
        let (outcome, located) = catch_unwind(AssertUnwindSafe(|| {
            (adapter.interpret_webhook(&webhook), adapter.event_id(&webhook))
        }))
        .unwrap_or_else(|_| panic!("{} panicked on the body {shown:?}", adapter.name()));
        if let Some(id) = &located
            && !storable(id)
        {
            panic!(
                "{} located an event id that is blank, too long or has control characters, from the body {shown:?}: {id:?}",
                adapter.name()
            );
        }
        let Ok(WebhookOutcome::Event(event)) = outcome else {
            continue;
        };
        if let Some(broken) = broken_rule(&event) {
            panic!(
                "{} made an event whose {broken}, from the body {shown:?}: {event:?}",
                adapter.name()
            );
        }
        if located.as_ref().is_some_and(|id| *id != event.provider_event_id) {
            panic!(
                "{}'s event_id() located {located:?} but interpret_webhook() read {:?}, from the body {shown:?}: a \
                 quarantined copy would not be deduplicated against the translated one",
                adapter.name(),
                event.provider_event_id
            );
        }
    }
}

/// Non-blank, at most [`MAX_ID_CHARS`] characters, without control characters.
fn storable(text: &str) -> bool {
    !text.trim().is_empty() && text.chars().count() <= MAX_ID_CHARS && !text.chars().any(char::is_control)
}

/// The rule of the event contract `event` breaks, if any.
fn broken_rule(event: &InboundEvent) -> Option<&'static str> {
    if !storable(&event.provider_event_id) {
        Some("provider_event_id is blank, too long or has control characters")
    } else if !storable(&event.event_type) || event.event_type.chars().any(char::is_whitespace) {
        Some("event_type is empty, too long or has whitespace or control characters")
    } else if event.subject.as_deref().is_some_and(|subject| !storable(subject)) {
        Some("subject is blank, too long or has control characters")
    } else {
        None
    }
}

/// Bodies derived from `sample`: every truncation of its JSON text (cut anywhere, even inside a UTF-8 character),
/// and the sample with each value in turn, the root included, replaced by null, `""`, `" "`, -1, 1.5, `u64::MAX`,
/// true, `[]`, `{}`, a 300-character string and a string of control characters.
pub fn mutations(sample: &Value) -> Vec<Vec<u8>> {
    let text = sample.to_string();
    let mut bodies: Vec<Vec<u8>> = (0..text.len()).map(|end| text.as_bytes()[..end].to_vec()).collect();
    let mut all = Vec::new();
    pointers(sample, String::new(), &mut all);
    let replacements = [
        json!(null),
        json!(""),
        json!(" "),
        json!(-1),
        json!(1.5),
        json!(u64::MAX),
        json!(true),
        json!([]),
        json!({}),
        json!("x".repeat(300)),
        json!("\u{0}\n"),
    ];
    for pointer in all {
        for replacement in &replacements {
            let mut body = sample.clone();
            if let Some(value) = body.pointer_mut(&pointer) {
                *value = replacement.clone();
                bodies.push(body.to_string().into_bytes());
            }
        }
    }
    bodies
}

/// Every JSON pointer into `value` (below `at`), the root included.
fn pointers(value: &Value, at: String, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                pointers(
                    child,
                    format!("{at}/{}", key.replace('~', "~0").replace('/', "~1")),
                    out,
                );
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                pointers(child, format!("{at}/{index}"), out);
            }
        }
        _ => {}
    }
    out.push(at);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::{VerifiedWebhook, WebhookError};

    /// An adapter that makes the same event of any body, or panics on bodies that are not JSON.
    struct Fixed {
        event: InboundEvent,
        panics_on_non_json: bool,
        located: Option<String>,
    }

    impl Adapter for Fixed {
        fn name(&self) -> &'static str {
            "fixed"
        }

        fn default_scheme(&self) -> Option<&'static str> {
            Some("github")
        }

        fn interpret_webhook(&self, webhook: &VerifiedWebhook) -> Result<WebhookOutcome, WebhookError> {
            if self.panics_on_non_json && webhook.json().is_err() {
                panic!("not JSON");
            }
            Ok(WebhookOutcome::Event(self.event.clone()))
        }

        fn event_id(&self, _: &VerifiedWebhook) -> Option<String> {
            self.located.clone()
        }
    }

    fn fixed(provider_event_id: &str, event_type: &str, subject: Option<&str>) -> Fixed {
        Fixed {
            event: InboundEvent {
                provider_event_id: provider_event_id.into(),
                event_type: event_type.into(),
                subject: subject.map(str::to_owned),
                data: Value::Null,
                occurred_at_ms: None,
            },
            panics_on_non_json: false,
            located: None,
        }
    }

    #[test]
    fn mutates_every_value_and_truncates_everywhere() {
        let sample = json!({"a/b": [1, {"c~": "d"}], "e": null});
        let text = sample.to_string();
        let bodies = mutations(&sample);
        // Pointers: the root, /a~1b, /a~1b/0, /a~1b/1, /a~1b/1/c~0, /e.
        assert_eq!(bodies.len(), text.len() + 6 * 11);
        assert_eq!(bodies[0], b"");
        assert_eq!(bodies[text.len() - 1], &text.as_bytes()[..text.len() - 1]);
        let replaced: Vec<Value> = bodies[text.len()..]
            .iter()
            .map(|body| serde_json::from_slice(body).unwrap())
            .collect();
        assert!(replaced.contains(&json!({"a/b": [1, {"c~": u64::MAX}], "e": null})));
        assert!(replaced.contains(&json!({"a/b": [1, {"c~": "d"}], "e": "\u{0}\n"})));
        assert!(replaced.contains(&json!({"a/b": " ", "e": null})));
        assert!(replaced.contains(&json!([])));
    }

    #[test]
    fn passes_an_adapter_that_keeps_the_contract() {
        let longest = "é".repeat(MAX_ID_CHARS);
        assert_conformance(
            &fixed("evt_1", "thing.happened", Some("acct 1")),
            &[json!({"id": 1})],
            &[],
        );
        assert_conformance(&fixed(&longest, &longest, None), &[json!([true])], &[("X-Extra", "1")]);
    }

    #[test]
    fn runs_with_every_scheme_asymmetric_and_url_signing_ones_included() {
        let twilio = crate::signature::TwilioScheme::new("https://gatehouse.test/webhooks/twilio?tenant=1").unwrap();
        let named = Scheme::NAMES.iter().filter_map(|name| Scheme::from_name(name));
        for scheme in named.chain([Scheme::Twilio(twilio)]) {
            assert_conformance_with(
                &fixed("evt_1", "thing.happened", None),
                &scheme,
                &[json!({"id": 1, "text": "a b+c&d=e"})],
                &[],
            );
        }
    }

    #[test]
    #[should_panic(expected = "fixed panicked on the body \"\"")]
    fn fails_an_adapter_that_panics() {
        let mut adapter = fixed("evt_1", "thing.happened", None);
        adapter.panics_on_non_json = true;
        assert_conformance(&adapter, &[json!({"id": 1})], &[]);
    }

    #[test]
    fn passes_an_id_locator_that_agrees() {
        let mut adapter = fixed("evt_1", "thing.happened", None);
        adapter.located = Some("evt_1".into());
        assert_conformance(&adapter, &[json!({"id": 1})], &[]);
    }

    #[test]
    #[should_panic(expected = "located Some(\"evt_2\") but interpret_webhook() read \"evt_1\"")]
    fn fails_an_id_locator_that_disagrees_with_the_translation() {
        let mut adapter = fixed("evt_1", "thing.happened", None);
        adapter.located = Some("evt_2".into());
        assert_conformance(&adapter, &[json!({"id": 1})], &[]);
    }

    #[test]
    #[should_panic(expected = "located an event id that is blank")]
    fn fails_an_id_locator_that_locates_blanks() {
        let mut adapter = fixed("evt_1", "thing.happened", None);
        adapter.located = Some(" ".into());
        assert_conformance(&adapter, &[json!({"id": 1})], &[]);
    }

    #[test]
    #[should_panic(expected = "provider_event_id is blank")]
    fn fails_a_blank_event_id() {
        assert_conformance(&fixed(" ", "thing.happened", None), &[json!({})], &[]);
    }

    #[test]
    #[should_panic(expected = "provider_event_id is blank, too long")]
    fn fails_an_overlong_event_id() {
        assert_conformance(&fixed(&"x".repeat(256), "thing.happened", None), &[json!({})], &[]);
    }

    #[test]
    #[should_panic(expected = "event_type is empty, too long or has whitespace")]
    fn fails_an_event_type_with_whitespace() {
        assert_conformance(&fixed("evt_1", "thing happened", None), &[json!({})], &[]);
    }

    #[test]
    #[should_panic(expected = "subject is blank, too long or has control characters")]
    fn fails_a_subject_with_control_characters() {
        assert_conformance_with(
            &fixed("evt_1", "thing.happened", Some("a\tb")),
            &Scheme::Slack,
            &[json!({})],
            &[],
        );
    }
}
