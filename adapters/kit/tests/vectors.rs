//! The vendors' published webhook-signature vectors (`tests/data/webhook-signatures.json`), run through every scheme
//! Gatehouse supports, plus secret rotation and sign/verify round trips through the public [`Scheme`] API.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use gatehouse_kit::Scheme;
use gatehouse_kit::signature::{SignRequest, SigningKey, VerifyContext};
use http::{HeaderMap, HeaderName, HeaderValue};
use secrecy::SecretString;
use serde::Deserialize;

/// A secret valid for every scheme and the clock the round trips sign at (this test runs without the kit's
/// `testing` feature, so it does not borrow those constants).
const TEST_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const TEST_NOW: u64 = 1_700_000_000;

/// Vector schemes Gatehouse has no scheme for; any other unknown name fails the test.
const UNSUPPORTED: [&str; 2] = ["twilio", "sendgrid_event_webhook_ecdsa"];
/// A secret no vector was signed with, valid for every scheme (base64 for Standard Webhooks).
const WRONG_SECRET: &str = "whsec_YSB3cm9uZyBrZXksIHJvdGF0ZWQgb3V0";

#[derive(Deserialize)]
struct VectorFile {
    count: usize,
    vectors: Vec<Vector>,
}

#[derive(Deserialize)]
struct Vector {
    name: String,
    scheme: String,
    secret: String,
    headers: BTreeMap<String, String>,
    body: String,
    now: Option<u64>,
    tolerance_s: Option<u64>,
    expected_valid: bool,
}

fn load() -> Vec<Vector> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/webhook-signatures.json");
    let text = std::fs::read_to_string(path).expect("the vector file is readable");
    let file: VectorFile = serde_json::from_str(&text).expect("the vector file parses");
    assert_eq!(file.count, file.vectors.len(), "the file's count matches its vectors");
    file.vectors
}

fn scheme(name: &str) -> Option<Scheme> {
    Some(match name {
        "standard_webhooks" => Scheme::StandardWebhooks,
        "svix" => Scheme::Svix,
        "stripe" => Scheme::Stripe,
        "github" => Scheme::Github,
        "shopify" => Scheme::Shopify,
        "slack" => Scheme::Slack,
        "paddle" => Scheme::Paddle,
        _ => return None,
    })
}

fn key(scheme: &Scheme, secret: &str) -> SigningKey {
    scheme
        .signing_key(&SecretString::from(secret))
        .unwrap_or_else(|e| panic!("secret for {}: {e}", scheme.name()))
}

fn header_map<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).expect("valid header name"),
            HeaderValue::from_str(value).expect("valid header value"),
        );
    }
    map
}

/// Verifies a vector with `keys` at the vector's clock (`now = 0` for vectors without one).
fn verify(scheme: &Scheme, vector: &Vector, keys: &[SigningKey]) -> Result<(), gatehouse_kit::SignatureError> {
    let headers = header_map(vector.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())));
    let ctx = VerifyContext {
        keys,
        now: vector.now.unwrap_or(0),
        tolerance: Duration::from_secs(vector.tolerance_s.unwrap_or(300)),
    };
    scheme.verify(headers, vector.body.clone().into(), ctx).map(|_| ())
}

#[test]
fn published_vectors_verify_as_expected() {
    let mut skipped = BTreeSet::new();
    let mut ran = 0;
    for vector in load() {
        let Some(scheme) = scheme(&vector.scheme) else {
            skipped.insert(vector.scheme.clone());
            continue;
        };
        assert!(
            vector.now.is_some() || !scheme.signs_timestamp(),
            "{}: a timestamped scheme needs the vector's clock",
            vector.name
        );
        let result = verify(&scheme, &vector, &[key(&scheme, &vector.secret)]);
        assert_eq!(result.is_ok(), vector.expected_valid, "{}: {result:?}", vector.name);
        if let Err(error) = result {
            assert!(
                !error.to_string().contains(&vector.secret),
                "{}: the error shows the secret",
                vector.name
            );
        }
        ran += 1;
    }
    let expected: BTreeSet<String> = UNSUPPORTED.iter().map(|s| s.to_string()).collect();
    assert_eq!(skipped, expected, "only the unsupported schemes are skipped");
    assert!(ran >= 30, "only {ran} vectors ran");
}

#[test]
fn every_configured_secret_is_tried() {
    let mut rotated = BTreeSet::new();
    for vector in load().into_iter().filter(|v| v.expected_valid) {
        let Some(scheme) = scheme(&vector.scheme) else {
            continue;
        };
        let (wrong, right) = (key(&scheme, WRONG_SECRET), key(&scheme, &vector.secret));
        assert!(
            verify(&scheme, &vector, &[wrong, right]).is_ok(),
            "{}: wrong then right",
            vector.name
        );
        let (wrong, right) = (key(&scheme, WRONG_SECRET), key(&scheme, &vector.secret));
        assert!(
            verify(&scheme, &vector, &[right, wrong]).is_ok(),
            "{}: right then wrong",
            vector.name
        );
        let wrong = key(&scheme, WRONG_SECRET);
        assert!(
            verify(&scheme, &vector, &[wrong]).is_err(),
            "{}: wrong only",
            vector.name
        );
        assert!(verify(&scheme, &vector, &[]).is_err(), "{}: no keys", vector.name);
        rotated.insert(scheme.name());
    }
    assert_eq!(
        rotated.len(),
        7,
        "every supported scheme has a valid vector: {rotated:?}"
    );
}

/// Verifying 300 s after signing: the edge of the tolerance.
fn late_ctx(keys: &[SigningKey]) -> VerifyContext<'_> {
    VerifyContext {
        keys,
        now: TEST_NOW + 300,
        tolerance: Duration::from_secs(300),
    }
}

#[test]
fn every_scheme_round_trips_through_the_public_api() {
    let generic = gatehouse_kit::signature::HmacScheme::new(
        "X-Signature",
        "t1=".into(),
        gatehouse_kit::signature::Encoding::Hex,
        "{timestamp}:{body}",
        Some("X-Timestamp".into()),
    )
    .expect("a valid generic scheme");
    let names = Scheme::NAMES.iter().filter_map(|name| Scheme::from_name(name));
    for scheme in names.chain([Scheme::Hmac(generic)]) {
        let body = br#"{"id":"evt_1","amount":4200}"#;
        let right = key(&scheme, TEST_SECRET);
        let signed = scheme.sign(
            &right,
            SignRequest {
                body,
                timestamp: TEST_NOW,
                message_id: "msg_1",
            },
        );
        let headers = || header_map(signed.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        let keys = [key(&scheme, WRONG_SECRET), right];
        let verified = scheme.verify(headers(), body.to_vec().into(), late_ctx(&keys));
        let verified = verified.unwrap_or_else(|e| panic!("{}: {e}", scheme.name()));
        assert_eq!(verified.body().as_ref(), body, "{}", scheme.name());
        let tampered = scheme.verify(headers(), b"{}".to_vec().into(), late_ctx(&keys));
        assert!(tampered.is_err(), "{}: tampered body", scheme.name());
        let wrong_only = scheme.verify(headers(), body.to_vec().into(), late_ctx(&keys[..1]));
        assert!(wrong_only.is_err(), "{}: wrong key only", scheme.name());
    }
}
