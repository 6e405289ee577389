//! Fuzz targets of the HTTP layer's input checks: the `/proxy` path check ([`crate::http::proxy::check_path`]), the
//! `Idempotency-Key` reader and the vendor key made of it ([`crate::calls::idempotency`]), the `Prefer:
//! respond-async` reader ([`crate::http::commands::prefers_async`]) and the `Retry-After` parser every retry shares
//! ([`gatehouse_kit::outbound::parse_retry_after`]).

use std::time::{Duration, SystemTime};

use gatehouse_kit::outbound::{DEFAULT_RETRY_AFTER, parse_retry_after, retry_after as retry_after_or_default};
use http::uri::PathAndQuery;
use http::{HeaderMap, HeaderName, HeaderValue, Method, header};

use super::first_line;
use crate::calls::idempotency::{self, MAX_KEY_CHARS};
use crate::http::commands::prefers_async;
use crate::http::proxy::{DOT_LOOKALIKES, check_path};

const PREFER: HeaderName = HeaderName::from_static("prefer");
/// Where the joined URL must stay: a vendor's base URL with a path.
const BASE: &str = "https://vendor.example/base";

/// Input: a path, as UTF-8 text. Whatever text the check accepts must hold no `.` or `..` segment, plain or
/// percent-decoded (also before a `;`, trimmed of whitespace, or with Unicode dot look-alikes folded as NFKC
/// would), no `//` and no backslash. Where the text is a request target `http`
/// accepts, the check runs on its path as `/proxy` does, and the target joined to a base URL and normalised as a
/// WHATWG URL parser would (dot segments, `%2e`, `\`) must stay under the base path, on the same host.
pub fn proxy_path(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if check_path(text).is_ok() {
        assert_contained(text);
    }
    let Ok(target) = PathAndQuery::try_from(text) else {
        return;
    };
    if check_path(target.path()).is_err() {
        return;
    }
    assert_contained(target.path());
    if let Ok(joined) = url::Url::parse(&format!("{BASE}{target}")) {
        assert!(
            joined.path().starts_with("/base/") && joined.host_str() == Some("vendor.example"),
            "{target:?} leaves the base URL: {joined}"
        );
    }
}

fn assert_contained(raw: &str) {
    assert!(
        raw.starts_with('/') && !raw.contains("//") && !raw.contains('\\'),
        "{raw:?}"
    );
    let decoded = percent_encoding::percent_decode_str(raw).decode_utf8_lossy();
    assert!(
        !decoded.contains("//") && !decoded.contains('\\'),
        "{raw:?} decodes to {decoded:?}"
    );
    for segment in decoded.split('/') {
        let name = segment.split(';').next().unwrap_or_default();
        // Also as a server that trims whitespace or folds Unicode dot look-alikes (NFKC) would read it.
        let folded = name.trim().replace(DOT_LOOKALIKES, ".");
        assert!(
            !matches!(folded.as_str(), "." | ".."),
            "{raw:?} has the segment {segment:?} once decoded"
        );
    }
}

/// Input: a first line with the method, a second with the caller's name (`caller` unless it is a name config
/// accepts), then one `Idempotency-Key` value per line. A key is read on `POST` and `PATCH` only, from the first
/// value, exactly as sent, when that is 1 to 255 visible ASCII characters or spaces, and refused otherwise; the
/// vendor key made of it is at most 255 characters, the same every time, and starts with `<caller>:`, so no two
/// callers' keys meet at the vendor; and no other key of the same caller (the other lines) maps to it.
pub fn idempotency_key(data: &[u8]) {
    let (method, rest) = first_line(data);
    let (caller, values) = first_line(rest);
    let Ok(method) = Method::from_bytes(method) else {
        return;
    };
    let caller = std::str::from_utf8(caller)
        .ok()
        .filter(|name| is_caller_name(name))
        .unwrap_or("caller");
    let mut headers = HeaderMap::new();
    for value in values.split(|&b| b == b'\n') {
        if let Ok(value) = HeaderValue::from_bytes(value) {
            headers.append(idempotency::HEADER, value);
        }
    }
    let takes_key = method == Method::POST || method == Method::PATCH;
    let sent = headers.get(idempotency::HEADER).map(HeaderValue::as_bytes);
    match idempotency::key(&method, &headers) {
        Ok(None) => assert!(!takes_key || sent.is_none()),
        Ok(Some(key)) => {
            assert!(takes_key && sent == Some(key.as_bytes()));
            assert!((1..=MAX_KEY_CHARS).contains(&key.len()));
            assert!(key.bytes().all(|b| b.is_ascii_graphic() || b == b' '));
            let vendor_key = idempotency::vendor_key(caller, &key);
            assert!(vendor_key.len() <= MAX_KEY_CHARS, "{vendor_key:?}");
            assert_eq!(vendor_key.split_once(':').map(|(c, _)| c), Some(caller));
            assert_eq!(vendor_key, idempotency::vendor_key(caller, &key));
            // Injective: another key of the same caller never maps to the same vendor key.
            for other in values
                .split(|&b| b == b'\n')
                .filter_map(|v| std::str::from_utf8(v).ok())
            {
                let storable = (1..=MAX_KEY_CHARS).contains(&other.len())
                    && other.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
                if storable && other != key {
                    assert_ne!(
                        idempotency::vendor_key(caller, other),
                        vendor_key,
                        "{key:?} and {other:?}"
                    );
                }
            }
        }
        Err(_) => {
            let Some(sent) = sent else {
                panic!("a request without a key was refused");
            };
            let sane = !sent.is_empty() && sent.len() <= MAX_KEY_CHARS;
            assert!(takes_key && !(sane && sent.iter().all(|b| b.is_ascii_graphic() || *b == b' ')));
        }
    }
}

/// A caller name as config accepts one: 1-64 characters of A-Z, a-z, 0-9, '.', '_' and '-'.
fn is_caller_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Input: one `Prefer` value per line. Several `Prefer` headers must read as any of them alone would (so adding one
/// never takes `respond-async` back) and, when no value quotes anything, as their values joined by commas in one
/// header (RFC 9110 §5.3); an answer of yes needs `respond-async` somewhere.
pub fn prefer(data: &[u8]) {
    let values: Vec<HeaderValue> = data
        .split(|&b| b == b'\n')
        .filter_map(|value| HeaderValue::from_bytes(value).ok())
        .collect();
    let mut headers = HeaderMap::new();
    for value in &values {
        headers.append(PREFER, value.clone());
    }
    let all = prefers_async(&headers);
    let alone = |value: &HeaderValue| prefers_async(&HeaderMap::from_iter([(PREFER, value.clone())]));
    assert_eq!(all, values.iter().any(alone), "{values:?}");
    if all {
        let mentioned = values.iter().any(|v| {
            v.as_bytes()
                .to_ascii_lowercase()
                .windows(13)
                .any(|w| w == b"respond-async")
        });
        assert!(mentioned, "{values:?}");
    }
    // Joining is equivalent for well-formed values only: an unterminated quoted string would swallow what follows.
    let texts: Option<Vec<&str>> = values
        .iter()
        .map(|value| value.to_str().ok().filter(|text| !text.contains('"')))
        .collect();
    if let Some(joined) = texts.and_then(|texts| HeaderValue::from_str(&texts.join(", ")).ok()) {
        let one = HeaderMap::from_iter([(PREFER, joined)]);
        assert_eq!(prefers_async(&one), all, "{values:?} joined");
    }
}

/// Input: one `Retry-After` value per line. Only the first counts: delay-seconds are taken exactly, an HTTP date as
/// the time until then (zero when past), anything else as nothing; the defaulting reader gives the same (or
/// less, for a date, being later) or 1 s.
pub fn retry_after(data: &[u8]) {
    let mut headers = HeaderMap::new();
    for value in data.split(|&b| b == b'\n') {
        if let Ok(value) = HeaderValue::from_bytes(value) {
            headers.append(header::RETRY_AFTER, value);
        }
    }
    let before = SystemTime::now();
    let parsed = parse_retry_after(&headers);
    let text = headers
        .get(header::RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .map(str::trim);
    match (text, parsed) {
        (None, parsed) => assert_eq!(parsed, None),
        (Some(text), parsed) => match (text.parse::<u64>(), httpdate::parse_http_date(text)) {
            (Ok(seconds), _) => assert_eq!(parsed, Some(Duration::from_secs(seconds))),
            (Err(_), Ok(when)) => {
                let most = when.duration_since(before).unwrap_or_default();
                assert!(parsed.is_some_and(|wait| wait <= most), "{text:?}: {parsed:?}");
            }
            (Err(_), Err(_)) => assert_eq!(parsed, None, "{text:?}"),
        },
    }
    // Read again later: a date is no further off.
    let defaulted = retry_after_or_default(&headers);
    match parsed {
        Some(wait) => assert!(defaulted <= wait),
        None => assert_eq!(defaulted, DEFAULT_RETRY_AFTER),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(expected = "once decoded")]
    fn the_property_sees_encoded_dot_segments() {
        assert_contained("/a/%2E%2e;x/b");
    }

    #[test]
    fn the_parsers_hold_on_a_few_inputs() {
        for path in ["/", "/a/b", "/a/%2e%2e", "/..;/x", "/a?x=/../..", "/a#/../.."] {
            proxy_path(path.as_bytes());
        }
        idempotency_key(b"POST\nbilling\norder-1\nsecond");
        idempotency_key(b"PATCH\n\n");
        idempotency_key(b"GET\nc\n\xff");
        prefer(b"return=minimal\nRespond-Async; wait=5");
        retry_after(b"120\nThu, 01 Jan 1970 00:00:00 GMT");
        retry_after(b"Sun, 06 Nov 2994 08:49:37 GMT");
    }
}
