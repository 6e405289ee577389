//! Reading the caller's side of a domain route, the same way in every adapter: path parameters fit to become one
//! vendor path segment ([`path_param`], [`path_segment`]), JSON object bodies with errors naming the field at fault
//! ([`caller_json`], [`caller_body`], [`deserialize_caller`]), non-blank text fields ([`non_empty`]), and the
//! [`OutboundError::InvalidRequest`] each of them answers with ([`invalid`]).

use std::fmt::Write as _;

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{DomainRequest, OutboundError};
use crate::webhook::{deserialize_at, text_problem};

/// An [`OutboundError::InvalidRequest`]: the caller's request is at fault, and `message` says how.
pub fn invalid(message: impl Into<String>) -> OutboundError {
    OutboundError::InvalidRequest(message.into())
}

/// The path parameter `name`, fit to become one vendor path segment with [`path_segment`].
///
/// Refuses (as [`OutboundError::InvalidRequest`] naming the parameter) a missing parameter, a value with a
/// [`text_problem`] (blank, longer than 255 characters, control characters), and `.` or `..`, which a vendor or a
/// proxy on the way could read as a step through its paths.
pub fn path_param<'a>(request: &'a DomainRequest, name: &str) -> Result<&'a str, OutboundError> {
    let value = request
        .param(name)
        .ok_or_else(|| invalid(format!("path parameter `{name}` is missing")))?;
    if let Some(problem) = text_problem(value) {
        return Err(invalid(format!("path parameter `{name}` {problem}")));
    }
    if value == "." || value == ".." {
        return Err(invalid(format!("path parameter `{name}` cannot be `.` or `..`")));
    }
    Ok(value)
}

/// `value` percent-encoded as one path segment of a vendor URL: every byte of its UTF-8 but RFC 3986's unreserved
/// characters (ASCII letters and digits, `-`, `.`, `_`, `~`) becomes `%XX` (uppercase hex), `/` above all, so it
/// stays one segment (`a/b` → `a%2Fb`, `ü s` → `%C3%BC%20s`, `%2F` → `%252F`). `.` stays as it is: the only
/// dangerous values, `.` and `..` as a whole, are refused by [`path_param`].
pub fn path_segment(value: &str) -> String {
    let mut encoded = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            encoded.push(char::from(byte));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(encoded, "%{byte:02X}");
        }
    }
    encoded
}

/// The caller's body as a JSON object (the [`Value`] is always a [`Value::Object`]). `expected` says what the object
/// holds (``"`name` and `email`"``) in the errors: ``body is empty; expected a JSON object with {expected}``,
/// `body is not valid JSON: {serde's reason}` and ``body is not a JSON object; expected one with {expected}``.
pub fn caller_json(request: &DomainRequest, expected: &str) -> Result<Value, OutboundError> {
    if request.body.is_empty() {
        return Err(invalid(format!(
            "body is empty; expected a JSON object with {expected}"
        )));
    }
    let mut value: Value =
        serde_json::from_slice(&request.body).map_err(|e| invalid(format!("body is not valid JSON: {e}")))?;
    integral_floats_as_integers(&mut value);
    if !value.is_object() {
        return Err(invalid(format!(
            "body is not a JSON object; expected one with {expected}"
        )));
    }
    Ok(value)
}

/// Rewrites every number with no fractional part (`1.0`, `2e3`) as an integer, as JSON Schema (and so OpenAPI)
/// counts it: a caller's `"value": 1.0` is the integer it documents.
fn integral_floats_as_integers(value: &mut Value) {
    match value {
        Value::Number(number) if number.is_f64() => {
            let float = number.as_f64().unwrap_or(f64::NAN);
            if float.fract() == 0.0 && float.abs() < 9.0e15 {
                // Exact below 2^53; the cast cannot overflow there.
                *value = Value::from(float as i64);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_floats_as_integers),
        Value::Object(fields) => fields.values_mut().for_each(integral_floats_as_integers),
        _ => {}
    }
}

/// A body read by [`caller_json`] as the route's own request type `T` (typically `#[serde(deny_unknown_fields)]`);
/// the error names the field at fault: ``body: field `amount.value`: {serde's reason}``.
pub fn deserialize_caller<T: DeserializeOwned>(body: &Value) -> Result<T, OutboundError> {
    deserialize_at(body, "", "body").map_err(|e| invalid(e.to_string()))
}

/// The caller's JSON object body as `T`: [`caller_json`], then [`deserialize_caller`].
pub fn caller_body<T: DeserializeOwned>(request: &DomainRequest, expected: &str) -> Result<T, OutboundError> {
    deserialize_caller(&caller_json(request, expected)?)
}

/// `value` unless it is blank, which is refused as ``field `{field}` is empty``.
pub fn non_empty<'a>(field: &str, value: &'a str) -> Result<&'a str, OutboundError> {
    if value.trim().is_empty() {
        Err(invalid(format!("field `{field}` is empty")))
    } else {
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use http::Method;
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    fn request(params: &[(&str, &str)], body: &str) -> DomainRequest {
        DomainRequest {
            route: "/things/{id}",
            method: Method::POST,
            params: params.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect(),
            query: Vec::new(),
            body: Bytes::copy_from_slice(body.as_bytes()),
            idempotency_key: None,
        }
    }

    fn refusal<T: std::fmt::Debug>(result: Result<T, OutboundError>) -> String {
        match result {
            Err(OutboundError::InvalidRequest(message)) => message,
            other => panic!("expected an invalid request, got {other:?}"),
        }
    }

    #[test]
    fn path_params_must_be_usable_text_other_than_dots() {
        for ok in ["c_1", "a/b", "%2F", "ü s", "...", ".a", " padded "] {
            assert_eq!(path_param(&request(&[("id", ok)], ""), "id"), Ok(ok));
        }
        let too_long = "x".repeat(256);
        for (bad, message) in [
            ("", "path parameter `id` is empty"),
            ("  ", "path parameter `id` is empty"),
            (too_long.as_str(), "path parameter `id` is longer than 255 characters"),
            ("a\nb", "path parameter `id` contains control characters"),
            (".", "path parameter `id` cannot be `.` or `..`"),
            ("..", "path parameter `id` cannot be `.` or `..`"),
        ] {
            assert_eq!(
                refusal(path_param(&request(&[("id", bad)], ""), "id")),
                message,
                "{bad:?}"
            );
        }
        assert_eq!(
            refusal(path_param(&request(&[("id", "c_1")], ""), "other")),
            "path parameter `other` is missing"
        );
    }

    #[test]
    fn path_segments_encode_all_but_unreserved_characters() {
        for (value, segment) in [
            ("c_1", "c_1"),
            ("AZaz09-._~", "AZaz09-._~"),
            ("a/b", "a%2Fb"),
            ("a/../b", "a%2F..%2Fb"),
            ("%2F", "%252F"),
            ("ü s", "%C3%BC%20s"),
            ("pi 1#x", "pi%201%23x"),
            (
                "?&=+;,:@!$'()*[]\\\"<>{}|^`",
                "%3F%26%3D%2B%3B%2C%3A%40%21%24%27%28%29%2A%5B%5D%5C%22%3C%3E%7B%7D%7C%5E%60",
            ),
            ("\u{0}\u{7f}", "%00%7F"),
            ("😀", "%F0%9F%98%80"),
        ] {
            assert_eq!(path_segment(value), segment, "{value:?}");
        }
    }

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Thing {
        name: String,
        size: Option<u32>,
    }

    #[test]
    fn caller_bodies_must_be_json_objects() {
        let expected = "`name`";
        assert_eq!(
            refusal(caller_json(&request(&[], ""), expected)),
            "body is empty; expected a JSON object with `name`"
        );
        for not_json in ["not json", "{", r#"{"name":"a","#] {
            let message = refusal(caller_json(&request(&[], not_json), expected));
            assert!(
                message.starts_with("body is not valid JSON: "),
                "{not_json:?}: {message}"
            );
        }
        for not_object in ["[]", "[1]", "\"a\"", "2000", "null", "true"] {
            assert_eq!(
                refusal(caller_json(&request(&[], not_object), expected)),
                "body is not a JSON object; expected one with `name`",
                "{not_object:?}"
            );
        }
        assert_eq!(
            caller_json(&request(&[], r#" {"name":null} "#), expected),
            Ok(json!({"name": null}))
        );
    }

    #[test]
    fn integral_numbers_are_integers_as_json_schema_counts_them() {
        let body = r#"{"size":2.0,"list":[1e3,2.5,-0.0],"deep":{"n":12345678901234.0,"huge":1e300}}"#;
        let value = caller_json(&request(&[], body), "`size`").unwrap();
        assert_eq!(value["size"], json!(2));
        assert!(value["size"].is_i64());
        assert_eq!(value["list"], json!([1000, 2.5, 0]));
        assert!(value["deep"]["n"].is_i64());
        assert!(value["deep"]["huge"].is_f64(), "too large to be exact: left as it is");
        let thing = caller_body::<Thing>(&request(&[], r#"{"name":"a","size":7.0}"#), "`name`");
        assert_eq!(thing.map(|t| t.size), Ok(Some(7)));
    }

    #[test]
    fn typed_caller_bodies_name_the_field_at_fault() {
        let thing = |body: &str| caller_body::<Thing>(&request(&[], body), "`name`");
        assert_eq!(
            thing(r#"{"name":"a","size":2}"#),
            Ok(Thing {
                name: "a".into(),
                size: Some(2)
            })
        );
        assert_eq!(thing(r#"{"name":"a"}"#).map(|t| t.size), Ok(None));
        assert_eq!(
            refusal(thing("[]")),
            "body is not a JSON object; expected one with `name`"
        );
        for (body, start) in [
            (r#"{"name":"a","size":"2"}"#, "body: field `size`: invalid type"),
            (r#"{"name":null}"#, "body: field `name`: invalid type: null"),
            (r#"{"size":2}"#, "body: missing field `name`"),
            (
                r#"{"name":"a","colour":"red"}"#,
                "body: field `colour`: unknown field `colour`",
            ),
        ] {
            let message = refusal(thing(body));
            assert!(message.starts_with(start), "{body}: {message}");
        }
        let value = json!({"name": "b"});
        assert_eq!(deserialize_caller::<Thing>(&value).map(|t| t.name), Ok("b".into()));
    }

    #[test]
    fn blank_fields_are_empty() {
        assert_eq!(non_empty("name", "Ada"), Ok("Ada"));
        assert_eq!(non_empty("name", " Ada "), Ok(" Ada "));
        for blank in ["", " ", "\n\t"] {
            assert_eq!(refusal(non_empty("name", blank)), "field `name` is empty", "{blank:?}");
        }
        assert_eq!(invalid("nope"), OutboundError::InvalidRequest("nope".into()));
    }
}
