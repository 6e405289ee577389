//! Fuzz targets of the webhook signature schemes (`gatehouse_kit::signature`): every scheme, the two generic HMAC
//! configurations below included, verifies arbitrary headers and bodies without panicking and without accepting
//! (`signature_verify`), and verifies what it signed, whatever the body and secret, refusing it tampered or stale
//! (`signature_roundtrip`). The asymmetric schemes (SendGrid, Standard Webhooks `v1a`) sign with the kit's test
//! private keys and verify with their public keys.

use std::sync::LazyLock;
use std::time::Duration;

use bytes::Bytes;
use gatehouse_kit::signature::{Encoding, HmacScheme, SignRequest, SigningKey, TwilioScheme, VerifyContext};
use gatehouse_kit::testing::{TEST_V1A_PRIVATE_KEY, TEST_V1A_PUBLIC_KEY, test_keys};
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
/// Public keys whose private keys were thrown away (two P-256 for SendGrid, two Ed25519 for Standard Webhooks
/// `v1a`): nothing anywhere signs for them.
const NEVER_SIGNS_PUBLIC: [&str; 4] = [
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEPhOpHjhLHH7aceIgPXt/gkAgeoV3ieA/AnI9bZRT3dI8BOSdrIgdL/0Uml+t8544s6eqrH0g9aTz1K6CaAQRBg==",
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEwx/kr3XhSpgA0S4vk/aw0B5DrgUCW9XnPeLmOErMmCbeQf0x/zaVqPlO4A/nXDe/ICw41W/kWf/hC2Q6Kt4HVw==",
    "whpk_6Xm7mY/xv1qfVjwPTAuR+sZrCwTNfWEgi5SZxim+54U=",
    "whpk_EW761I2eP3p5bi+sehWZeI0xkFPJ7RrNFgwrR6HUO3U=",
];
/// The URL the Twilio scheme is configured with (a query of its own, as Twilio URLs often carry).
const TWILIO_URL: &str = "https://gatehouse.example:8443/webhooks/twilio?site=fuzz";
/// The round trips' secret when the input does not give one.
const ROUND_TRIP_SECRET: &str = "whsec_Z2F0ZWhvdXNlLWZ1enogcm91bmQtdHJpcCBrZXk=";
const MESSAGE_ID: &str = "msg_fuzz_0001";

/// Every scheme: the vendors' nine (Twilio with [`TWILIO_URL`]) and two generic HMAC configurations (one hex over
/// the body with a prefix, one base64 over a template using the timestamp twice).
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
        .chain(TwilioScheme::new(TWILIO_URL).ok().map(Scheme::Twilio))
        .chain(hmac.into_iter().filter_map(Result::ok).map(Scheme::Hmac))
        .collect()
}

/// Each scheme with its keys for [`NEVER_SIGNS`] and [`NEVER_SIGNS_PUBLIC`], those of the kinds it verifies with
/// (a scheme refusing one of them is left without it).
static NEVER_SIGNING: LazyLock<Vec<(Scheme, Vec<SigningKey>)>> = LazyLock::new(|| {
    schemes()
        .into_iter()
        .map(|scheme| {
            let kinds = scheme.key_kinds();
            let secrets = NEVER_SIGNS
                .iter()
                .filter(|_| kinds.takes_secrets())
                .filter_map(|secret| scheme.signing_key(&SecretString::from(*secret)).ok());
            let public = NEVER_SIGNS_PUBLIC
                .iter()
                .filter(|_| kinds.takes_public_keys())
                .filter_map(|key| scheme.public_key(key).ok());
            let keys = secrets.chain(public).collect();
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
            query: None,
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
/// scheme that takes the secret signs the body, and the asymmetric ones sign it with their test private keys; the
/// headers must be valid, must verify with the body unchanged, and must be refused with a body one byte longer or
/// shorter (`NoMatch`; for Twilio's form bodies, only when that changes the parameters it signs) and, for schemes
/// that sign a timestamp, one second past the tolerance (`TimestampOutOfTolerance`). Only Standard Webhooks and
/// Svix may refuse a non-empty secret (theirs are base64, or a `whsk_` private key).
pub fn signature_roundtrip(data: &[u8]) {
    let (line, body) = first_line(data);
    let secret = std::str::from_utf8(line)
        .ok()
        .filter(|text| !text.is_empty())
        .unwrap_or(ROUND_TRIP_SECRET);
    for scheme in schemes() {
        if scheme.key_kinds().takes_secrets() {
            match scheme.signing_key(&SecretString::from(secret)) {
                Ok(key) => round_trip(&scheme, &key, std::slice::from_ref(&key), body),
                Err(SignatureError::InvalidSecret(_)) if matches!(scheme, Scheme::StandardWebhooks | Scheme::Svix) => {}
                Err(error) => panic!("{} refused the secret: {error}", scheme.name()),
            }
        } else {
            let (private, public) = test_keys(&scheme);
            round_trip(&scheme, &private, &public, body);
        }
        if scheme == Scheme::StandardWebhooks {
            let private = scheme.signing_key(&SecretString::from(TEST_V1A_PRIVATE_KEY));
            let public = scheme.public_key(TEST_V1A_PUBLIC_KEY);
            if let (Ok(private), Ok(public)) = (private, public) {
                round_trip(&scheme, &private, &[public], body);
            } else {
                panic!("the kit's v1a test keys do not load");
            }
        }
    }
}

/// Signs `body` with `key` and checks that `keys` verify it, and only it.
fn round_trip(scheme: &Scheme, key: &SigningKey, keys: &[SigningKey], body: &[u8]) {
    let request = SignRequest {
        body,
        timestamp: DEFAULT_NOW,
        message_id: MESSAGE_ID,
    };
    let headers = signed_headers(scheme, &scheme.sign(key, request));
    let query = scheme.signed_query(body);
    let verify = |body: &[u8], now: u64| {
        let ctx = VerifyContext {
            keys,
            now,
            tolerance: TOLERANCE,
            query: query.as_deref(),
        };
        scheme.verify(headers.clone(), Bytes::copy_from_slice(body), ctx)
    };
    match verify(body, DEFAULT_NOW) {
        Ok(webhook) => assert!(webhook.body() == body && webhook.headers() == &headers),
        Err(error) => panic!("{} refused what it signed: {error}", scheme.name()),
    }
    let longer = [body, b"x"].concat();
    let shorter = body.split_last().map(|(_, shorter)| shorter);
    for tampered in std::iter::once(&longer[..]).chain(shorter) {
        let expected = if signs_same_content(scheme, &headers, body, tampered) {
            None
        } else {
            Some(SignatureError::NoMatch)
        };
        assert_eq!(verify(tampered, DEFAULT_NOW).err(), expected, "{}", scheme.name());
    }
    let late = verify(body, DEFAULT_NOW + TOLERANCE.as_secs() + 1).err();
    if scheme.signs_timestamp() {
        assert_eq!(late, Some(SignatureError::TimestampOutOfTolerance), "{}", scheme.name());
    } else {
        assert_eq!(late, None, "{} has no timestamp to be late", scheme.name());
    }
}

/// Whether `scheme` signs the same thing for both bodies: only Twilio's form bodies can (it signs the decoded
/// parameters, each key then its value, so `a&`, `a` and `a=` sign alike); a JSON body's hash covers its bytes.
fn signs_same_content(scheme: &Scheme, headers: &HeaderMap, body: &[u8], tampered: &[u8]) -> bool {
    let form = headers
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"application/x-www-form-urlencoded"));
    let signed = |body: &[u8]| {
        let mut params: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
        params.sort();
        params.into_iter().map(|(key, value)| key + &value).collect::<String>()
    };
    matches!(scheme, Scheme::Twilio(_)) && form && signed(body) == signed(tampered)
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
        assert_eq!(schemes().len(), Scheme::NAMES.len() + 1, "nine vendors' and two hmac");
        for (scheme, keys) in NEVER_SIGNING.iter() {
            let kinds = scheme.key_kinds();
            let expected = 2 * (usize::from(kinds.takes_secrets()) + usize::from(kinds.takes_public_keys()));
            assert_eq!(keys.len(), expected, "{}", scheme.name());
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
