//! The configurable HMAC-SHA256 scheme (`scheme = "hmac"`) for vendors without an adapter.
//!
//! The user names:
//! - `header`: the header carrying exactly one signature, `<prefix><encoded MAC>` (e.g. `sha256=` + hex);
//! - `encoding`: `hex` (either case accepted, lower case produced) or `base64` (standard alphabet, padded);
//! - `signed_content`: a template of the signed bytes, literal text around the placeholders `{body}` (the raw
//!   body, exactly once) and `{timestamp}` (the timestamp header's value as sent, any number of times);
//! - `timestamp_header`: the header holding unix seconds, required exactly when the template uses `{timestamp}`;
//!   the timestamp is then checked against the tolerance.
//!
//! The key is the secret's bytes as written. Everything is validated, and the template parsed, at construction.

use http::{HeaderMap, HeaderName};

use super::mac;
use super::{SignRequest, SignatureError, SigningKey, VerifyContext};

/// How the MAC is written in the signature header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Hex,
    Base64,
}

impl Encoding {
    /// The encoding named `hex` or `base64` in config.
    pub fn from_name(name: &str) -> Option<Encoding> {
        match name {
            "hex" => Some(Encoding::Hex),
            "base64" => Some(Encoding::Base64),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Encoding::Hex => "hex",
            Encoding::Base64 => "base64",
        }
    }

    fn encode(self, mac: &[u8]) -> String {
        match self {
            Encoding::Hex => hex::encode(mac),
            Encoding::Base64 => mac::base64_encode(mac),
        }
    }

    fn decode(self, text: &str) -> Option<Vec<u8>> {
        match self {
            Encoding::Hex => hex::decode(text).ok(),
            Encoding::Base64 => mac::base64_decode(text),
        }
    }
}

/// One piece of the signed-content template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Body,
    Timestamp,
}

/// A user-configured HMAC-SHA256 scheme; see the module documentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HmacScheme {
    header: HeaderName,
    prefix: String,
    encoding: Encoding,
    parts: Vec<Part>,
    timestamp_header: Option<HeaderName>,
}

impl HmacScheme {
    /// Validates a configuration. The error is a message naming the problem, for config diagnostics.
    pub fn new(
        header: &str,
        prefix: String,
        encoding: Encoding,
        signed_content: &str,
        timestamp_header: Option<String>,
    ) -> Result<HmacScheme, String> {
        let header = header_name("signature header", header)?;
        if !prefix.bytes().all(|b| b == b' ' || b.is_ascii_graphic()) || prefix.starts_with(' ') {
            return Err("the signature prefix must be visible ASCII and must not start with a space".into());
        }
        let parts = parse_template(signed_content)?;
        let uses_timestamp = parts.contains(&Part::Timestamp);
        let timestamp_header = match (timestamp_header, uses_timestamp) {
            (Some(name), true) => Some(header_name("timestamp header", &name)?),
            (None, false) => None,
            (None, true) => {
                return Err("the signed content uses {timestamp} but no timestamp header is set".into());
            }
            (Some(_), false) => {
                return Err("a timestamp header is set but the signed content does not use {timestamp}".into());
            }
        };
        if timestamp_header.as_ref() == Some(&header) {
            return Err("the timestamp header and the signature header must differ".into());
        }
        Ok(HmacScheme {
            header,
            prefix,
            encoding,
            parts,
            timestamp_header,
        })
    }

    /// Whether the scheme signs a timestamp (and so whether the tolerance applies).
    pub fn signs_timestamp(&self) -> bool {
        self.timestamp_header.is_some()
    }

    pub(crate) fn verify(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        ctx: VerifyContext<'_>,
    ) -> Result<(), SignatureError> {
        let name = self.header.as_str();
        let value = mac::header(headers, name)?;
        let timestamp_text = match &self.timestamp_header {
            Some(timestamp_header) => {
                let text = mac::header(headers, timestamp_header.as_str())?;
                mac::check_tolerance(mac::parse_timestamp(timestamp_header.as_str(), text)?, &ctx)?;
                text
            }
            None => "",
        };
        let encoded = value
            .strip_prefix(self.prefix.as_str())
            .ok_or_else(|| mac::malformed(name, "it does not start with the configured prefix"))?;
        let candidate = self
            .encoding
            .decode(encoded)
            .ok_or_else(|| mac::malformed(name, format!("the signature is not {}", self.encoding.name())))?;
        mac::match_any(ctx.keys, &self.content(body, timestamp_text), &[candidate])
    }

    pub(crate) fn sign(&self, key: &SigningKey, req: SignRequest<'_>) -> Vec<(String, String)> {
        let Some(secret) = key.secret() else {
            return Vec::new();
        };
        let timestamp = req.timestamp.to_string();
        let signature = self
            .encoding
            .encode(&mac::hmac_sha256(secret, &self.content(req.body, &timestamp)));
        let mut headers = Vec::with_capacity(2);
        if let Some(timestamp_header) = &self.timestamp_header {
            headers.push((timestamp_header.as_str().to_owned(), timestamp));
        }
        headers.push((self.header.as_str().to_owned(), format!("{}{signature}", self.prefix)));
        headers
    }

    /// The signed content as slices, in order.
    fn content<'a>(&'a self, body: &'a [u8], timestamp: &'a str) -> Vec<&'a [u8]> {
        self.parts
            .iter()
            .map(|part| match part {
                Part::Literal(text) => text.as_bytes(),
                Part::Body => body,
                Part::Timestamp => timestamp.as_bytes(),
            })
            .collect()
    }
}

fn header_name(what: &str, name: &str) -> Result<HeaderName, String> {
    HeaderName::from_bytes(name.as_bytes()).map_err(|_| format!("the {what} {name:?} is not a valid header name"))
}

/// Splits a template into literals and placeholders; `{body}` must appear exactly once.
fn parse_template(template: &str) -> Result<Vec<Part>, String> {
    let mut parts = Vec::new();
    let mut rest = template;
    while let Some((literal, after)) = rest.split_once('{') {
        push_literal(&mut parts, literal)?;
        let (name, tail) = after
            .split_once('}')
            .ok_or("the signed content has a '{' that is never closed")?;
        parts.push(match name {
            "body" => Part::Body,
            "timestamp" => Part::Timestamp,
            other => {
                return Err(format!(
                    "the signed content uses {{{other}}}; the only placeholders are {{body}} and {{timestamp}}"
                ));
            }
        });
        rest = tail;
    }
    push_literal(&mut parts, rest)?;
    match parts.iter().filter(|part| **part == Part::Body).count() {
        1 => Ok(parts),
        0 => Err("the signed content must include {body}".into()),
        _ => Err("the signed content must include {body} exactly once".into()),
    }
}

fn push_literal(parts: &mut Vec<Part>, literal: &str) -> Result<(), String> {
    if literal.contains('}') {
        return Err("the signed content has a '}' without a matching '{'".into());
    }
    if !literal.is_empty() {
        parts.push(Part::Literal(literal.to_owned()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::mac::test_support::{NOW, ctx, duplicate, headers, key, remove, replace, request};
    use super::*;

    fn scheme(header: &str, prefix: &str, encoding: Encoding, template: &str, ts: Option<&str>) -> HmacScheme {
        HmacScheme::new(header, prefix.into(), encoding, template, ts.map(str::to_owned)).unwrap()
    }

    fn error(template: &str, ts: Option<&str>) -> String {
        HmacScheme::new("x-sig", String::new(), Encoding::Hex, template, ts.map(str::to_owned)).unwrap_err()
    }

    fn malformed(result: Result<(), SignatureError>) -> bool {
        matches!(result, Err(SignatureError::Malformed { .. }))
    }

    #[test]
    fn encodings_by_name() {
        assert_eq!(Encoding::from_name("hex"), Some(Encoding::Hex));
        assert_eq!(Encoding::from_name("base64"), Some(Encoding::Base64));
        assert_eq!(Encoding::from_name("HEX"), None);
        assert_eq!(Encoding::Base64.name(), "base64");
    }

    #[test]
    fn validates_the_configuration() {
        assert!(error("{timestamp}", Some("x-ts")).contains("must include {body}"));
        assert!(error("{body}{body}", None).contains("exactly once"));
        assert!(error("{body}.{id}", None).contains("{id}"));
        assert!(error("{body", None).contains("never closed"));
        assert!(error("body}", None).contains("without a matching"));
        assert!(error("{{body}}", None).contains("{{body}"));
        assert!(error("{timestamp}.{body}", None).contains("no timestamp header"));
        assert!(error("{body}", Some("x-ts")).contains("does not use {timestamp}"));
        assert!(error("{timestamp}.{body}", Some("bad header")).contains("not a valid header name"));
        assert!(error("{timestamp}.{body}", Some("X-Sig")).contains("must differ"));
        let new = |header: &str, prefix: &str| HmacScheme::new(header, prefix.into(), Encoding::Hex, "{body}", None);
        assert!(new("", "").unwrap_err().contains("signature header"));
        assert!(new("x sig", "").unwrap_err().contains("not a valid header name"));
        assert!(new("x-sig", "é=").unwrap_err().contains("prefix"));
        assert!(new("x-sig", " v1=").unwrap_err().contains("prefix"));
        assert!(new("X-Sig", "HMAC ").is_ok());
        assert!(!scheme("x-sig", "", Encoding::Hex, "{body}", None).signs_timestamp());
    }

    #[test]
    fn round_trips_a_timestamped_base64_scheme() {
        let scheme = scheme(
            "X-Signature",
            "v1=",
            Encoding::Base64,
            "{timestamp}.{body}",
            Some("X-Timestamp"),
        );
        assert!(scheme.signs_timestamp());
        let out = scheme.sign(&key("secret"), request(b"{\"a\":1}"));
        assert_eq!(out[0], ("x-timestamp".to_owned(), NOW.to_string()));
        let expected = mac::base64_encode(&mac::hmac_sha256(b"secret", &[format!("{NOW}.{{\"a\":1}}").as_bytes()]));
        assert_eq!(out[1], ("x-signature".to_owned(), format!("v1={expected}")));
        let check = |map: &HeaderMap, body: &[u8]| scheme.verify(map, body, ctx(&[key("old"), key("secret")]));
        assert_eq!(check(&headers(&out), b"{\"a\":1}"), Ok(()));
        assert_eq!(check(&headers(&out), b"{\"a\":2}"), Err(SignatureError::NoMatch));
        let empty = scheme.sign(&key("secret"), request(b""));
        assert_eq!(check(&headers(&empty), b""), Ok(()), "empty body");

        let bad = |name: &str, value: &[u8]| check(&replace(&out, name, value), b"{\"a\":1}");
        for name in ["x-signature", "x-timestamp"] {
            assert_eq!(
                check(&remove(&out, name), b"x"),
                Err(SignatureError::MissingHeader(name.into()))
            );
            assert!(malformed(check(&duplicate(&out, name), b"x")), "{name} twice");
            assert!(malformed(bad(name, b"")), "{name} empty");
            assert!(malformed(bad(name, b"\xe9")), "{name} not ASCII");
        }
        assert!(malformed(bad("x-signature", b"garbage")), "no prefix");
        assert!(
            malformed(bad("x-signature", format!("v2={expected}").as_bytes())),
            "other version"
        );
        assert!(malformed(bad("x-signature", b"v1=not*base64")));
        assert!(malformed(bad("x-timestamp", b"99999999999999999999999")));
        assert!(malformed(bad("x-timestamp", b"-1700000000")));
        let stale = (NOW + 301).to_string();
        assert_eq!(
            bad("x-timestamp", stale.as_bytes()),
            Err(SignatureError::TimestampOutOfTolerance)
        );
    }

    #[test]
    fn reproduces_vendor_schemes() {
        let github = scheme("X-Hub-Signature-256", "sha256=", Encoding::Hex, "{body}", None);
        let signed = headers(&[(
            "X-Hub-Signature-256",
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
        )]);
        let keys = [key("It's a Secret to Everybody")];
        assert_eq!(github.verify(&signed, b"Hello, World!", ctx(&keys)), Ok(()));
        assert_eq!(
            github.verify(&signed, b"Hello, World!", ctx(&[])),
            Err(SignatureError::NoMatch),
            "no keys"
        );
        assert!(malformed(github.verify(
            &replace(&[], "x-hub-signature-256", "sha256=zz"),
            b"",
            ctx(&keys)
        )));

        let slack = scheme(
            "X-Slack-Signature",
            "v0=",
            Encoding::Hex,
            "v0:{timestamp}:{body}",
            Some("X-Slack-Request-Timestamp"),
        );
        let out = slack.sign(&key("s"), request(b"a=b"));
        let native = super::super::slack::sign(&key("s"), request(b"a=b"));
        assert_eq!(headers(&out), headers(&native));
    }
}
