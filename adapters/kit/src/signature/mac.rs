//! Shared primitives of the HMAC-SHA256 schemes: the MAC over a sequence of byte slices, the constant-time match
//! against candidate signatures for every configured key, reading exactly one header value, strict unix-timestamp
//! parsing and the tolerance check. Nothing here panics on input or puts a secret or an expected MAC in an error.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use http::HeaderMap;
use sha2::Sha256;
use subtle::{Choice, ConstantTimeEq};

use super::{SignatureError, SigningKey, VerifyContext};

/// Longest timestamp accepted, in digits: ample for unix seconds (12 digits reach the year 33658) and far from
/// overflowing a `u64`.
const MAX_TIMESTAMP_DIGITS: usize = 12;

/// HMAC-SHA256 of the concatenation of `parts`, keyed with `key`.
pub(super) fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC takes keys of any length (longer ones are hashed, RFC 2104), so hmac 0.12 never returns `Err` here.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        unreachable!("HMAC-SHA256 accepts keys of any length")
    };
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// `Ok` when the MAC of `parts` under any secret among `keys` equals any candidate. Each key's MAC is computed once and compared
/// with every candidate in constant time, without stopping at the first match.
pub(super) fn match_any(keys: &[SigningKey], parts: &[&[u8]], candidates: &[Vec<u8>]) -> Result<(), SignatureError> {
    let mut found = Choice::from(0);
    // Only secrets key a MAC: a public or private key never matches (an empty key would be a forgery anyone makes).
    for secret in keys.iter().filter_map(SigningKey::secret) {
        let mac = hmac_sha256(secret, parts);
        for candidate in candidates {
            found |= mac.as_slice().ct_eq(candidate.as_slice());
        }
    }
    if bool::from(found) {
        Ok(())
    } else {
        Err(SignatureError::NoMatch)
    }
}

pub(super) fn malformed(header: &str, reason: impl Into<String>) -> SignatureError {
    SignatureError::Malformed {
        header: header.to_owned(),
        reason: reason.into(),
    }
}

/// The single value of header `name`, trimmed. Absent → `MissingHeader`; repeated, not visible ASCII or empty →
/// `Malformed`.
pub(super) fn header<'h>(headers: &'h HeaderMap, name: &str) -> Result<&'h str, SignatureError> {
    let mut values = headers.get_all(name).iter();
    let Some(first) = values.next() else {
        return Err(SignatureError::MissingHeader(name.to_owned()));
    };
    if values.next().is_some() {
        return Err(malformed(name, "the header is repeated"));
    }
    let text = first
        .to_str()
        .map_err(|_| malformed(name, "the value is not visible ASCII"))?
        .trim();
    if text.is_empty() {
        return Err(malformed(name, "the value is empty"));
    }
    Ok(text)
}

/// A unix timestamp in seconds: ASCII digits only (no sign, no whitespace), at most 12 of them.
pub(super) fn parse_timestamp(header: &str, text: &str) -> Result<u64, SignatureError> {
    if text.is_empty() || text.len() > MAX_TIMESTAMP_DIGITS || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed(header, "the timestamp is not unix seconds"));
    }
    text.parse()
        .map_err(|_| malformed(header, "the timestamp is not unix seconds"))
}

/// `TimestampOutOfTolerance` when `timestamp` is further than the tolerance from `ctx.now`, either way; a
/// distance exactly equal to the tolerance is accepted.
pub(super) fn check_tolerance(timestamp: u64, ctx: &VerifyContext<'_>) -> Result<(), SignatureError> {
    // Distances are whole seconds, so comparing with the whole seconds of the tolerance is exact.
    if timestamp.abs_diff(ctx.now) > ctx.tolerance.as_secs() {
        Err(SignatureError::TimestampOutOfTolerance)
    } else {
        Ok(())
    }
}

/// Standard-alphabet base64, padded.
pub(super) fn base64_encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Standard-alphabet base64, padded; `None` when `text` is not.
pub(super) fn base64_decode(text: &str) -> Option<Vec<u8>> {
    STANDARD.decode(text).ok()
}

/// Hex `text` (either case) as bytes, or `Malformed` naming `header`.
pub(super) fn hex_signature(header: &str, text: &str) -> Result<Vec<u8>, SignatureError> {
    hex::decode(text).map_err(|_| malformed(header, "the signature is not hex"))
}

/// A header carrying a timestamp and hex signatures as `key=value` items, such as Stripe's `t=..,v1=..,v1=..` or
/// Paddle's `ts=..;h1=..`.
pub(super) struct TimestampedSignatures<'h> {
    /// The timestamp exactly as sent, for the signed content.
    pub(super) timestamp_text: &'h str,
    pub(super) timestamp: u64,
    /// The decoded signatures; entries that are not hex are left out (they could never match).
    pub(super) candidates: Vec<Vec<u8>>,
}

/// Parses `value` of header `name`: items split on `separator`, the timestamp under `timestamp_key` (exactly one,
/// strict), signatures under `signature_key`; items without `=` and other keys (older versions) are ignored.
/// No `signature_key` item is `NoMatch`; such items but none of them hex is `Malformed`.
pub(super) fn parse_timestamped<'h>(
    name: &str,
    value: &'h str,
    separator: char,
    timestamp_key: &str,
    signature_key: &str,
) -> Result<TimestampedSignatures<'h>, SignatureError> {
    let mut timestamp_text = None;
    let mut signatures = 0usize;
    let mut candidates = Vec::new();
    for (key, item) in value.split(separator).filter_map(|item| item.split_once('=')) {
        let (key, item) = (key.trim(), item.trim());
        if key == timestamp_key {
            if timestamp_text.replace(item).is_some() {
                return Err(malformed(name, format!("{timestamp_key}= appears more than once")));
            }
        } else if key == signature_key {
            signatures += 1;
            candidates.extend(hex::decode(item).ok());
        }
    }
    let timestamp_text = timestamp_text.ok_or_else(|| malformed(name, format!("it has no {timestamp_key}= item")))?;
    let timestamp = parse_timestamp(name, timestamp_text)?;
    if signatures == 0 {
        return Err(SignatureError::NoMatch);
    }
    if candidates.is_empty() {
        return Err(malformed(name, format!("no {signature_key}= signature is hex")));
    }
    Ok(TimestampedSignatures {
        timestamp_text,
        timestamp,
        candidates,
    })
}

/// Helpers for the schemes' unit tests.
#[cfg(test)]
pub(super) mod test_support {
    use std::time::Duration;

    use http::{HeaderMap, HeaderName, HeaderValue};

    use super::super::{SignRequest, SigningKey, VerifyContext};

    /// The clock the unit tests sign and verify at.
    pub(crate) const NOW: u64 = 1_700_000_000;

    pub(crate) fn key(secret: &str) -> SigningKey {
        SigningKey::from_bytes(secret.as_bytes().to_vec())
    }

    pub(crate) fn ctx(keys: &[SigningKey]) -> VerifyContext<'_> {
        VerifyContext {
            keys,
            now: NOW,
            tolerance: Duration::from_secs(300),
            query: None,
        }
    }

    pub(crate) fn request(body: &[u8]) -> SignRequest<'_> {
        SignRequest {
            body,
            timestamp: NOW,
            message_id: "msg_unit_0001",
        }
    }

    /// A header map holding `pairs` in order (a repeated name is appended, not replaced).
    pub(crate) fn headers<N: AsRef<str>, V: AsRef<[u8]>>(pairs: &[(N, V)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_ref().as_bytes()).unwrap(),
                HeaderValue::from_bytes(value.as_ref()).unwrap(),
            );
        }
        map
    }

    /// `signed` with the value of header `name` replaced by `value`.
    pub(crate) fn replace(signed: &[(String, String)], name: &str, value: impl AsRef<[u8]>) -> HeaderMap {
        let mut map = remove(signed, name);
        map.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_bytes(value.as_ref()).unwrap(),
        );
        map
    }

    /// `signed` without header `name`.
    pub(crate) fn remove(signed: &[(String, String)], name: &str) -> HeaderMap {
        let mut map = headers(signed);
        map.remove(name);
        map
    }

    /// `signed` with header `name` sent twice (the same value repeated).
    pub(crate) fn duplicate(signed: &[(String, String)], name: &str) -> HeaderMap {
        let mut map = headers(signed);
        let value = map.get(name).unwrap().clone();
        map.append(HeaderName::from_bytes(name.as_bytes()).unwrap(), value);
        map
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::test_support::{headers, key};
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        let mac = hmac_sha256(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn match_any_tries_every_key_and_candidate() {
        let keys = [key("wrong"), key("right")];
        let good = hmac_sha256(b"right", &[b"body"]).to_vec();
        assert_eq!(match_any(&keys, &[b"body"], &[vec![0; 32], good]), Ok(()));
        assert_eq!(
            match_any(&keys, &[b"body"], &[vec![0; 32], vec![]]),
            Err(SignatureError::NoMatch)
        );
        assert_eq!(match_any(&[], &[b"body"], &[vec![0; 32]]), Err(SignatureError::NoMatch));
    }

    #[test]
    fn header_reads_exactly_one_visible_value() {
        let map = headers(&[
            ("x-sig", " abc "),
            ("x-two", "a"),
            ("x-two", "b"),
            ("x-empty", ""),
            ("x-bin", "\u{e9}"),
        ]);
        assert_eq!(header(&map, "X-Sig"), Ok("abc"));
        assert_eq!(
            header(&map, "x-none"),
            Err(SignatureError::MissingHeader("x-none".into()))
        );
        for name in ["x-two", "x-empty", "x-bin"] {
            assert!(
                matches!(header(&map, name), Err(SignatureError::Malformed { .. })),
                "{name}"
            );
        }
    }

    #[test]
    fn timestamps_are_strict() {
        assert_eq!(parse_timestamp("t", "1700000000"), Ok(1_700_000_000));
        assert_eq!(parse_timestamp("t", "999999999999"), Ok(999_999_999_999));
        for bad in [
            "",
            "-1",
            "+1",
            " 1",
            "1 ",
            "1.5",
            "0x10",
            "99999999999999999999999",
            "1234567890123",
            "١٢",
        ] {
            assert!(parse_timestamp("t", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn tolerance_is_inclusive_and_never_overflows() {
        let ctx = |now, secs| VerifyContext {
            keys: &[],
            now,
            tolerance: Duration::from_secs(secs),
            query: None,
        };
        assert_eq!(check_tolerance(1000, &ctx(1300, 300)), Ok(()));
        assert_eq!(check_tolerance(1600, &ctx(1300, 300)), Ok(()));
        assert_eq!(
            check_tolerance(999, &ctx(1300, 300)),
            Err(SignatureError::TimestampOutOfTolerance)
        );
        assert_eq!(
            check_tolerance(1601, &ctx(1300, 300)),
            Err(SignatureError::TimestampOutOfTolerance)
        );
        assert_eq!(check_tolerance(u64::MAX, &ctx(0, u64::MAX)), Ok(()));
        assert_eq!(
            check_tolerance(u64::MAX, &ctx(0, 5)),
            Err(SignatureError::TimestampOutOfTolerance)
        );
        assert_eq!(
            check_tolerance(0, &ctx(u64::MAX, 5)),
            Err(SignatureError::TimestampOutOfTolerance)
        );
    }
}
