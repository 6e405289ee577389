//! [`Locator`]: where the generic adapter finds a value, parsed from config: `header:NAME` or a JSON pointer.

use std::fmt;
use std::str::FromStr;

use http::HeaderName;

const HEADER_PREFIX: &str = "header:";

/// Where a value is in a webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Locator {
    /// The single value of this header (`header:X-Event-Id` in config); the name is kept as written and matched
    /// case-insensitively.
    Header(String),
    /// An RFC 6901 JSON pointer into the body, such as `/data/id`.
    Pointer(String),
}

impl Locator {
    /// Parses `header:<Header-Name>` or a JSON pointer starting with `/`. The error explains what was expected.
    pub fn parse(text: &str) -> Result<Locator, String> {
        if let Some(name) = text.strip_prefix(HEADER_PREFIX) {
            let name = name.trim();
            if name.is_empty() {
                return Err(format!(
                    "`{text}` names no header: write `header:<Header-Name>`, e.g. `header:X-Event-Id`"
                ));
            }
            if HeaderName::from_bytes(name.as_bytes()).is_err() {
                return Err(format!("`{name}` is not a valid HTTP header name"));
            }
            return Ok(Locator::Header(name.to_owned()));
        }
        if text.starts_with('/') {
            if has_bad_escape(text) {
                return Err(format!(
                    "`{text}` is not a valid JSON pointer: `~` must be followed by 0 (for `~`) or 1 (for `/`)"
                ));
            }
            return Ok(Locator::Pointer(text.to_owned()));
        }
        Err(format!(
            "`{text}` is not a locator: write `header:<Header-Name>` (e.g. `header:X-Event-Id`) or a JSON pointer \
             into the body starting with `/` (e.g. `/data/id`)"
        ))
    }
}

/// Whether a `~` is not followed by `0` or `1` (RFC 6901 allows no other escape).
fn has_bad_escape(pointer: &str) -> bool {
    let bytes = pointer.as_bytes();
    bytes
        .iter()
        .enumerate()
        .any(|(i, &b)| b == b'~' && !matches!(bytes.get(i + 1), Some(b'0' | b'1')))
}

impl FromStr for Locator {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Locator::parse(text)
    }
}

/// The config form: `header:NAME` or the pointer.
impl fmt::Display for Locator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Locator::Header(name) => write!(f, "{HEADER_PREFIX}{name}"),
            Locator::Pointer(pointer) => f.write_str(pointer),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_headers() {
        assert_eq!(
            Locator::parse("header:X-Event-Id"),
            Ok(Locator::Header("X-Event-Id".into()))
        );
        assert_eq!(
            Locator::parse("header: x-event-type "),
            Ok(Locator::Header("x-event-type".into()))
        );
        assert_eq!("header:Webhook-Id".parse(), Ok(Locator::Header("Webhook-Id".into())));
    }

    #[test]
    fn parses_pointers() {
        for pointer in ["/id", "/data/id", "/", "/a~1b/c~0d", "/items/0/id"] {
            assert_eq!(Locator::parse(pointer), Ok(Locator::Pointer(pointer.into())));
        }
    }

    #[test]
    fn explains_what_it_expected() {
        for text in ["", "id", "data.id", "Header:X-Id", " /id", "#/id", "body:/id"] {
            let err = Locator::parse(text).unwrap_err();
            assert!(err.contains("header:") && err.contains("/data/id"), "{text:?}: {err}");
        }
        for text in ["header:", "header:  "] {
            assert!(
                Locator::parse(text).unwrap_err().contains("header:<Header-Name>"),
                "{text:?}"
            );
        }
        for text in ["header:X Id", "header:X-Id:", "header:é", "header:a\"b"] {
            assert!(Locator::parse(text).unwrap_err().contains("header name"), "{text:?}");
        }
        for text in ["/a~", "/a~2", "/~x/b"] {
            assert!(Locator::parse(text).unwrap_err().contains("JSON pointer"), "{text:?}");
        }
    }

    #[test]
    fn displays_in_config_form() {
        for text in ["header:X-Event-Id", "/data/id"] {
            assert_eq!(Locator::parse(text).unwrap().to_string(), text);
        }
    }
}
