//! Fuzz targets of the webhook signature schemes (`gatehouse_kit::signature`): every scheme, the two generic HMAC
//! configurations below included, verifies arbitrary headers and bodies without panicking and without accepting
//! (`signature_verify`), and verifies what it signed, whatever the body and secret, refusing it tampered or stale
//! (`signature_roundtrip`).

use std::sync::LazyLock;
use std::time::Duration;

use bytes::Bytes;
use gatehouse_kit::signature::{Encoding, HmacScheme, SignRequest, SigningKey, VerifyContext};
use gatehouse_kit::{Scheme, SignatureError};
use http::{HeaderMap, HeaderName, HeaderValue};
use secrecy::SecretString;

use super::{first_line, request};

/// The clock when the input does not set one (and the round trips' signing time).
const DEFAULT_NOW: u64 = 1_700_000_000;
const TOLERANCE: Duration = Duration::from_secs(300);
/// Secrets that sign nothing anywhere (no seed, no other target): an input verifying under them is a forgery.
/// Valid for every scheme (base64 after `whsec_` for Standard Webhooks and Svix); two, as in a rotation.
const NEVER_SIGNS: [&str; 2] = [
    "whsec_Z2F0ZWhvdXNlLWZ1eno6IHRoaXMga2V5IG5ldmVyIHNpZ25z",
    "whsec_Z2F0ZWhvdXNlLWZ1eno6IG5vciBkb2VzIHRoaXMgb25l",
];
/// The round trips' secret when the input does not give one.
const ROUND_TRIP_SECRET: &str = "whsec_Z2F0ZWhvdXNlLWZ1enogcm91bmQtdHJpcCBrZXk=";
const MESSAGE_ID: &str = "msg_fuzz_0001";

/// Every scheme: the vendors' seven and two generic HMAC configurations (one hex over the body with a prefix, one
/// base64 over a template using the timestamp twice).
pub(super) fn schemes() -> Vec<Scheme> {
    let hmac = [
        HmacScheme::new("X-Signature", "sha256=".into(), Encoding::Hex, "{body}", None),
        HmacScheme::new(
            "X-Sig",
            "v1=".into(),
            Encoding::Base64,
            "{timestamp}.{body}.{timestamp}",
            Some("X-Timestamp".into()),
        ),
    ];
    Scheme::NAMES
        .iter()
        .filter_map(|name| Scheme::from_name(name))
        .chain(hmac.into_iter().filter_map(Result::ok).map(Scheme::Hmac))
        .collect()
}

/// Each scheme with its keys for [`NEVER_SIGNS`] (a scheme refusing one of them is left without it).
static NEVER_SIGNING: LazyLock<Vec<(Scheme, Vec<SigningKey>)>> = LazyLock::new(|| {
    schemes()
        .into_iter()
        .map(|scheme| {
            let keys = NEVER_SIGNS
                .iter()
                .filter_map(|secret| scheme.signing_key(&SecretString::from(*secret)).ok())
                .collect();
            (scheme, keys)
        })
        .collect()
});

/// Input: a first line with the verifier's clock in unix seconds (anything else means 1700000000), then a request
/// (header lines, an empty line, the body). Every scheme verifies it against keys nobody signs with: it must
/// refuse it, without panicking, with an error that quotes no secret.
pub fn signature_verify(data: &[u8]) {
    let (clock, rest) = first_line(data);
    let now = std::str::from_utf8(clock)
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(DEFAULT_NOW);
    let (headers, body) = request(rest);
    let body = Bytes::copy_from_slice(body);
    for (scheme, keys) in NEVER_SIGNING.iter() {
        let ctx = VerifyContext {
            keys,
            now,
            tolerance: TOLERANCE,
        };
        let error = match scheme.verify(headers.clone(), body.clone(), ctx) {
            Ok(_) => panic!("{} accepted a webhook signed with none of its keys", scheme.name()),
            Err(error) => error.to_string(),
        };
        for secret in NEVER_SIGNS {
            let encoded = secret.trim_start_matches("whsec_");
            assert!(!error.contains(encoded), "{} quoted a secret: {error}", scheme.name());
        }
    }
}

/// Input: a first line with the secret (the default one when it is empty or not UTF-8), then the body. Every
/// scheme that takes the secret signs the body; its headers must be valid, must verify with the body unchanged, and
/// must be refused with a body one byte longer or shorter (`NoMatch`) and, for schemes that sign a timestamp, one
/// second past the tolerance (`TimestampOutOfTolerance`). Only Standard Webhooks and Svix may refuse a non-empty
/// secret (theirs are base64).
pub fn signature_roundtrip(data: &[u8]) {
    let (line, body) = first_line(data);
    let secret = std::str::from_utf8(line)
        .ok()
        .filter(|text| !text.is_empty())
        .unwrap_or(ROUND_TRIP_SECRET);
    for scheme in schemes() {
        let key = match scheme.signing_key(&SecretString::from(secret)) {
            Ok(key) => key,
            Err(SignatureError::InvalidSecret(_)) if matches!(scheme, Scheme::StandardWebhooks | Scheme::Svix) => {
                continue;
            }
            Err(error) => panic!("{} refused the secret: {error}", scheme.name()),
        };
        round_trip(&scheme, &[key], body);
    }
}

fn round_trip(scheme: &Scheme, keys: &[SigningKey], body: &[u8]) {
    let Some(key) = keys.first() else { return };
    let request = SignRequest {
        body,
        timestamp: DEFAULT_NOW,
        message_id: MESSAGE_ID,
    };
    let headers = signed_headers(scheme, &scheme.sign(key, request));
    let verify = |body: &[u8], now: u64| {
        let ctx = VerifyContext {
            keys,
            now,
            tolerance: TOLERANCE,
        };
        scheme.verify(headers.clone(), Bytes::copy_from_slice(body), ctx)
    };
    match verify(body, DEFAULT_NOW) {
        Ok(webhook) => assert!(webhook.body() == body && webhook.headers() == &headers),
        Err(error) => panic!("{} refused what it signed: {error}", scheme.name()),
    }
    let longer = [body, b"x"].concat();
    assert_eq!(
        verify(&longer, DEFAULT_NOW).err(),
        Some(SignatureError::NoMatch),
        "{}",
        scheme.name()
    );
    if let Some((_, shorter)) = body.split_last() {
        assert_eq!(
            verify(shorter, DEFAULT_NOW).err(),
            Some(SignatureError::NoMatch),
            "{}",
            scheme.name()
        );
    }
    let late = verify(body, DEFAULT_NOW + TOLERANCE.as_secs() + 1).err();
    if scheme.signs_timestamp() {
        assert_eq!(late, Some(SignatureError::TimestampOutOfTolerance), "{}", scheme.name());
    } else {
        assert_eq!(late, None, "{} has no timestamp to be late", scheme.name());
    }
}

/// A signer's `(name, value)` pairs as headers; each must be a valid header.
pub(super) fn signed_headers(scheme: &Scheme, pairs: &[(String, String)]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in pairs {
        match (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) {
            (Ok(name), Ok(value)) => {
                headers.append(name, value);
            }
            _ => panic!("{} signed with a header that is not valid: {name:?}", scheme.name()),
        }
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scheme_is_fuzzed_with_both_keys() {
        assert_eq!(schemes().len(), Scheme::NAMES.len() + 1, "seven vendors' and two hmac");
        for (scheme, keys) in NEVER_SIGNING.iter() {
            assert_eq!(keys.len(), 2, "{}", scheme.name());
        }
    }

    #[test]
    fn round_trips_hold_for_a_few_bodies() {
        for input in [
            &b""[..],
            b"\n",
            b"secret\n{\"a\":1}",
            b"\xff\n\x00\x01",
            b"not base64!\nbody",
        ] {
            signature_roundtrip(input);
        }
    }

    #[test]
    #[should_panic(expected = "accepted a webhook signed with none of its keys")]
    fn a_forgery_fails_the_verify_target() {
        let scheme = Scheme::Github;
        let key = scheme.signing_key(&SecretString::from(NEVER_SIGNS[0])).unwrap();
        let signed = scheme.sign(
            &key,
            SignRequest {
                body: b"{}",
                timestamp: DEFAULT_NOW,
                message_id: MESSAGE_ID,
            },
        );
        let head: String = signed.iter().map(|(n, v)| format!("{n}: {v}\n")).collect();
        signature_verify(format!("{DEFAULT_NOW}\n{head}\n{{}}").as_bytes());
    }
}
