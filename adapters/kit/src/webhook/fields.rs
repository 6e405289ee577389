//! What every adapter does with the values it reads from a vendor: the checks an event id, subject or event type
//! passes before the gateway stores it (the limits `testing::assert_conformance` holds every adapter to),
//! the same check for DTO translations ([`InvalidField`]), and DTO deserialization with errors naming the field at
//! fault.

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::WebhookError;

/// The longest event id, subject or event type an adapter hands the gateway, in characters (not bytes).
pub const MAX_ID_CHARS: usize = 255;

const EMPTY: &str = "is empty";
/// Spelled out for the messages; a unit test keeps it in step with [`MAX_ID_CHARS`].
const TOO_LONG: &str = "is longer than 255 characters";
const CONTROL: &str = "contains control characters";
const SPACES: &str = "contains spaces or control characters";

/// Why `value` cannot be an event id or subject: `"is empty"` (nothing but whitespace), `"is longer than 255
/// characters"` or `"contains control characters"`, checked in that order; `None` when it can.
pub fn text_problem(value: &str) -> Option<&'static str> {
    if value.trim().is_empty() {
        Some(EMPTY)
    } else if value.chars().count() > MAX_ID_CHARS {
        Some(TOO_LONG)
    } else if value.chars().any(char::is_control) {
        Some(CONTROL)
    } else {
        None
    }
}

/// Why `value` cannot be an event type: a [`text_problem`], or else whitespace anywhere (`"contains spaces or
/// control characters"`); `None` when it can.
pub fn event_type_problem(value: &str) -> Option<&'static str> {
    text_problem(value).or_else(|| value.chars().any(char::is_whitespace).then_some(SPACES))
}

/// `value` as an event id or subject, or an error `"{what} {problem}"` with the [`text_problem`]. `what` is the
/// caller's noun for the value, such as ``field `event_id` `` or `header X-Shopify-Topic`.
pub fn checked_text(what: &str, value: &str) -> Result<String, WebhookError> {
    checked(what, value, text_problem(value))
}

/// `value` as an event type: [`checked_text`], and no whitespace (`"{what} contains spaces or control
/// characters"`).
pub fn checked_event_type(what: &str, value: &str) -> Result<String, WebhookError> {
    checked(what, value, event_type_problem(value))
}

fn checked(what: &str, value: &str, problem: Option<&str>) -> Result<String, WebhookError> {
    match problem {
        Some(problem) => Err(WebhookError::new(format!("{what} {problem}"))),
        None => Ok(value.to_owned()),
    }
}

/// `value`, found at `path` in the body (`""` for the body itself), deserialized into a vendor DTO. The error names
/// the field at fault by its path from the body: ``{what}: field `data.object.amount`: {serde's reason}``, or
/// `{what}: {serde's reason}` when the body itself has the wrong type.
pub fn deserialize_at<T: DeserializeOwned>(value: &Value, path: &str, what: &str) -> Result<T, WebhookError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let inner = e.path().to_string();
        let field = match (path, inner.as_str()) {
            ("", ".") => return WebhookError::new(format!("{what}: {}", without_values(&e.inner().to_string()))),
            (path, ".") => path.to_owned(),
            ("", inner) => inner.to_owned(),
            (path, inner) => format!("{path}.{inner}"),
        };
        WebhookError::new(format!(
            "{what}: field `{field}`: {}",
            without_values(&e.inner().to_string())
        ))
    })
}

/// A serde error message without the value it quotes (`invalid type: string "ada@example.com", expected f64` →
/// `invalid type: string, expected f64`): webhook errors are logged and kept, and must not carry body content.
pub fn without_values(message: &str) -> String {
    let mut out = message.to_owned();
    for lead in ["invalid type: ", "invalid value: ", "unknown variant "] {
        let Some(start) = out.find(lead).map(|at| at + lead.len()) else {
            continue;
        };
        // The last `, expected`: the quoted value may hold one itself.
        let Some(length) = out[start..].rfind(", expected") else {
            continue;
        };
        // Keep the kind of value (`string`, `integer`, `floating point`), drop the value itself.
        let quoted = out[start..start + length].find(['"', '`']).unwrap_or(length);
        let kind = out[start..start + quoted].trim_end().to_owned();
        out.replace_range(start..start + length, &kind);
        if lead == "unknown variant " && kind.is_empty() {
            out.replace_range(start - 1..start, "");
        }
    }
    out
}

/// A vendor field whose value cannot be translated to our domain: the error of the DTOs' `TryFrom` translations.
/// Names the field (``field `amount` is negative``), never echoes the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field `{field}` {reason}")]
pub struct InvalidField {
    pub field: &'static str,
    pub reason: &'static str,
}

impl InvalidField {
    /// `value` when it can be an id (it may become an event's subject), else the [`text_problem`] naming `field`.
    pub fn check_text(field: &'static str, value: String) -> Result<String, InvalidField> {
        match text_problem(&value) {
            Some(reason) => Err(InvalidField { field, reason }),
            None => Ok(value),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[test]
    fn serde_messages_lose_the_values_they_quote() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Shape {
            amount: f64,
            kind: Kind,
            count: u8,
        }
        #[derive(Debug, Deserialize)]
        #[serde(rename_all = "lowercase")]
        enum Kind {
            Card,
        }
        let err = |body: Value| deserialize_at::<Shape>(&body, "", "body").unwrap_err().to_string();
        let shown = err(json!({"amount": "ada@example.com", "kind": "card", "count": 1}));
        assert_eq!(shown, "body: field `amount`: invalid type: string, expected f64");
        let shown = err(json!({"amount": 1.0, "kind": "secret-kind", "count": 1}));
        assert!(
            !shown.contains("secret-kind") && shown.contains("unknown variant"),
            "{shown}"
        );
        let shown = err(json!({"amount": 1.0, "kind": "card", "count": 912345}));
        assert!(
            !shown.contains("912345") && shown.contains("invalid value: integer"),
            "{shown}"
        );
        assert_eq!(without_values("missing field `email`"), "missing field `email`");
        // A body that is a string, and a value that holds `, expected` itself.
        let top = deserialize_at::<Shape>(&json!("ada@example.com"), "", "body")
            .unwrap_err()
            .to_string();
        assert!(
            !top.contains("ada@example.com") && top.contains("invalid type: string"),
            "{top}"
        );
        let tricky = err(json!({"amount": "x, expected f64 secret-tail", "kind": "card", "count": 1}));
        assert!(!tricky.contains("secret-tail"), "{tricky}");
    }

    #[test]
    fn the_message_states_the_limit() {
        assert!(TOO_LONG.contains(&format!(" {MAX_ID_CHARS} ")));
    }

    #[test]
    fn text_may_be_up_to_255_characters_without_control_characters() {
        let longest = "é".repeat(MAX_ID_CHARS);
        for ok in [
            "a",
            "evt_1",
            "a b",
            " padded ",
            "octo-org/hello-world",
            "gid://shopify/Shop/1",
            &longest,
        ] {
            assert_eq!(text_problem(ok), None, "{ok:?}");
            assert_eq!(checked_text("id", ok).as_deref(), Ok(ok));
        }
        let too_long = "x".repeat(MAX_ID_CHARS + 1);
        for (bad, problem) in [
            ("", EMPTY),
            ("   ", EMPTY),
            ("\n\t", EMPTY),
            (too_long.as_str(), TOO_LONG),
            ("a\u{0}b", CONTROL),
            ("a\tb", CONTROL),
            ("a\u{85}", CONTROL),
        ] {
            assert_eq!(text_problem(bad), Some(problem), "{bad:?}");
        }
    }

    #[test]
    fn event_types_also_refuse_whitespace() {
        for ok in ["push", "customer.updated", "orders.create", "app_mention", "3"] {
            assert_eq!(event_type_problem(ok), None, "{ok:?}");
        }
        for (bad, problem) in [
            ("", EMPTY),
            (" ", EMPTY),
            ("a b", SPACES),
            (" a", SPACES),
            ("a\u{a0}b", SPACES),
            ("a\u{0}", CONTROL),
        ] {
            assert_eq!(event_type_problem(bad), Some(problem), "{bad:?}");
        }
    }

    #[test]
    fn messages_put_the_callers_noun_first() {
        let err = |result: Result<String, WebhookError>| result.unwrap_err().to_string();
        assert_eq!(err(checked_text("field `event_id`", " ")), "field `event_id` is empty");
        assert_eq!(
            err(checked_text("header X-Shopify-Topic", &"t".repeat(256))),
            "header X-Shopify-Topic is longer than 255 characters"
        );
        assert_eq!(
            err(checked_text("the subject at /a", "a\nb")),
            "the subject at /a contains control characters"
        );
        assert_eq!(
            err(checked_event_type("field `type`", "a b")),
            "field `type` contains spaces or control characters"
        );
        assert_eq!(err(checked_event_type("field `type`", "")), "field `type` is empty");
    }

    #[derive(Debug, Deserialize)]
    struct Outer {
        inner: Inner,
    }

    #[derive(Debug, Deserialize)]
    struct Inner {
        amount: i64,
    }

    #[test]
    fn deserialization_errors_name_the_field_by_its_path_from_the_body() {
        let err = |value: Value, path: &str| deserialize_at::<Outer>(&value, path, "not an outer").unwrap_err();
        let message = err(json!({"inner": {"amount": "2"}}), "").to_string();
        assert!(
            message.starts_with("not an outer: field `inner.amount`: invalid type"),
            "{message}"
        );
        let message = err(json!({"inner": {"amount": "2"}}), "data.object").to_string();
        assert!(
            message.starts_with("not an outer: field `data.object.inner.amount`: "),
            "{message}"
        );
        let message = err(json!({}), "").to_string();
        assert!(message.starts_with("not an outer: missing field `inner`"), "{message}");
        let message = err(json!({}), "data").to_string();
        assert!(
            message.starts_with("not an outer: field `data`: missing field `inner`"),
            "{message}"
        );
        let message = err(json!("outer"), "").to_string();
        assert!(message.starts_with("not an outer: invalid type"), "{message}");
        let outer: Outer = deserialize_at(&json!({"inner": {"amount": 2}}), "", "x").unwrap();
        assert_eq!(outer.inner.amount, 2);
    }

    #[test]
    fn invalid_fields_name_the_field_and_not_the_value() {
        assert_eq!(InvalidField::check_text("cust_id", "c_42".into()), Ok("c_42".into()));
        let err = InvalidField::check_text("cust_id", "secret\n".into()).unwrap_err();
        assert_eq!(err.to_string(), "field `cust_id` contains control characters");
        let err = InvalidField::check_text("id", " ".into()).unwrap_err();
        assert_eq!((err.field, err.reason), ("id", "is empty"));
    }
}
