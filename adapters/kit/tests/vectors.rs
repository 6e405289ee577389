//! The vendors' published webhook-signature vectors (`tests/data/webhook-signatures.json`) and the asymmetric ones
//! made with python's `cryptography` (`tests/data/asymmetric-signatures.json`, Standard Webhooks `v1a` and
//! SendGrid, by `make_asymmetric_vectors.py`), run through every scheme Gatehouse supports, plus key rotation and
//! sign/verify round trips through the public [`Scheme`] API.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use gatehouse_kit::Scheme;
use gatehouse_kit::signature::{SignRequest, SigningKey, TwilioScheme, VerifyContext};
use http::{HeaderMap, HeaderName, HeaderValue};
use secrecy::SecretString;
use serde::Deserialize;

/// A secret valid for every scheme and the clock the round trips sign at (this test runs without the kit's
/// `testing` feature, so it does not borrow those constants).
const TEST_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const TEST_NOW: u64 = 1_700_000_000;

/// Every scheme the vector files name: each must run (an unknown name fails the test).
const VECTOR_SCHEMES: [&str; 9] = [
    "standard_webhooks",
    "svix",
    "stripe",
    "github",
    "shopify",
    "slack",
    "paddle",
    "twilio",
    "sendgrid_event_webhook_ecdsa",
];
/// A secret no vector was signed with, valid for every scheme (base64 for Standard Webhooks).
const WRONG_SECRET: &str = "whsec_YSB3cm9uZyBrZXksIHJvdGF0ZWQgb3V0";
const SENDGRID_TIMESTAMP: &str = "X-Twilio-Email-Event-Webhook-Timestamp";

#[derive(Deserialize)]
struct VectorFile {
    count: usize,
    vectors: Vec<Vector>,
    keys: Option<TestKeys>,
}

/// The asymmetric file's test keys.
#[derive(Deserialize)]
struct TestKeys {
    ed25519_private: String,
    ed25519_public: String,
    ed25519_other_public: String,
    p256_private_pkcs8: String,
    p256_public_spki: String,
    p256_other_public_spki: String,
}

#[derive(Deserialize)]
struct Vector {
    name: String,
    scheme: String,
    secret: String,
    /// Twilio: the URL Twilio called.
    url: Option<String>,
    headers: BTreeMap<String, String>,
    body: String,
    now: Option<u64>,
    tolerance_s: Option<u64>,
    expected_valid: bool,
}

fn load_file(name: &str) -> VectorFile {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path} is readable: {e}"));
    let file: VectorFile = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path} parses: {e}"));
    assert_eq!(file.count, file.vectors.len(), "{name}'s count matches its vectors");
    file
}

/// The vendors' vectors, then the asymmetric ones.
fn load() -> Vec<Vector> {
    let mut vectors = load_file("webhook-signatures.json").vectors;
    vectors.extend(load_file("asymmetric-signatures.json").vectors);
    vectors
}

fn test_keys() -> TestKeys {
    load_file("asymmetric-signatures.json")
        .keys
        .expect("the asymmetric file lists its keys")
}

/// The scheme a vector names and the query string of its request. A Twilio vector's URL is split at `?`: the part
/// before is the configured public URL, the rest the request's query, so the signed URL is the vector's.
fn scheme(vector: &Vector) -> (Scheme, Option<String>) {
    let scheme = match vector.scheme.as_str() {
        "standard_webhooks" => Scheme::StandardWebhooks,
        "svix" => Scheme::Svix,
        "stripe" => Scheme::Stripe,
        "github" => Scheme::Github,
        "shopify" => Scheme::Shopify,
        "slack" => Scheme::Slack,
        "paddle" => Scheme::Paddle,
        "sendgrid_event_webhook_ecdsa" => Scheme::Sendgrid,
        "twilio" => {
            let url = vector.url.as_deref().expect("a Twilio vector has its URL");
            let (public_url, query) = url.split_once('?').map_or((url, None), |(u, q)| (u, Some(q)));
            let twilio = TwilioScheme::new(public_url).unwrap_or_else(|e| panic!("{}: {e}", vector.name));
            return (Scheme::Twilio(twilio), query.map(str::to_owned));
        }
        other => panic!("{}: unknown vector scheme {other}", vector.name),
    };
    (scheme, None)
}

fn key(scheme: &Scheme, secret: &str) -> SigningKey {
    scheme
        .signing_key(&SecretString::from(secret))
        .unwrap_or_else(|e| panic!("secret for {}: {e}", scheme.name()))
}

fn public_key(scheme: &Scheme, text: &str) -> SigningKey {
    scheme
        .public_key(text)
        .unwrap_or_else(|e| panic!("public key for {}: {e}", scheme.name()))
}

/// Whether a vector's `secret` is a public key: always for SendGrid, `whpk_` ones for Standard Webhooks.
fn is_public(scheme: &Scheme, secret: &str) -> bool {
    !scheme.key_kinds().takes_secrets() || secret.starts_with("whpk_")
}

/// The key a vector's `secret` configures.
fn vector_key(scheme: &Scheme, secret: &str) -> SigningKey {
    if is_public(scheme, secret) {
        public_key(scheme, secret)
    } else {
        key(scheme, secret)
    }
}

/// A key of the vector's kind that signed nothing.
fn wrong_key(scheme: &Scheme, vector: &Vector, keys: &TestKeys) -> SigningKey {
    match (is_public(scheme, &vector.secret), scheme) {
        (true, Scheme::Sendgrid) => public_key(scheme, &keys.p256_other_public_spki),
        (true, _) => public_key(scheme, &keys.ed25519_other_public),
        (false, _) => key(scheme, WRONG_SECRET),
    }
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

/// The vector's clock: its `now`, or for SendGrid's published vectors (which have none) the signed timestamp; 0
/// for schemes that sign no timestamp.
fn now(scheme: &Scheme, vector: &Vector) -> u64 {
    let signed = || vector.headers.get(SENDGRID_TIMESTAMP)?.parse().ok();
    let clock = vector
        .now
        .or_else(|| matches!(scheme, Scheme::Sendgrid).then(signed).flatten());
    assert!(
        clock.is_some() || !scheme.signs_timestamp(),
        "{}: a timestamped scheme needs the vector's clock",
        vector.name
    );
    clock.unwrap_or(0)
}

/// Verifies a vector with `keys` at the vector's clock, with its request's query.
fn verify(
    scheme: &(Scheme, Option<String>),
    vector: &Vector,
    keys: &[SigningKey],
) -> Result<(), gatehouse_kit::SignatureError> {
    let (scheme, query) = scheme;
    let headers = header_map(vector.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())));
    let ctx = VerifyContext {
        keys,
        now: now(scheme, vector),
        tolerance: Duration::from_secs(vector.tolerance_s.unwrap_or(300)),
        query: query.as_deref(),
    };
    scheme.verify(headers, vector.body.clone().into(), ctx).map(|_| ())
}

#[test]
fn every_vector_verifies_as_expected() {
    let vectors = load();
    let mut schemes = BTreeSet::new();
    let mut ran = 0;
    for vector in &vectors {
        let scheme = scheme(vector);
        let result = verify(&scheme, vector, &[vector_key(&scheme.0, &vector.secret)]);
        assert_eq!(result.is_ok(), vector.expected_valid, "{}: {result:?}", vector.name);
        if let Err(error) = result {
            assert!(
                !error.to_string().contains(&vector.secret),
                "{}: the error shows the secret",
                vector.name
            );
        }
        schemes.insert(vector.scheme.as_str());
        ran += 1;
    }
    assert_eq!(
        schemes,
        BTreeSet::from(VECTOR_SCHEMES),
        "every scheme runs; none is skipped"
    );
    assert_eq!(ran, vectors.len(), "every vector runs");
    assert!(ran >= 61, "only {ran} vectors ran");
}

#[test]
fn every_configured_key_is_tried() {
    let keys = test_keys();
    let mut rotated = BTreeSet::new();
    for vector in load().into_iter().filter(|v| v.expected_valid) {
        let scheme = scheme(&vector);
        let pair = || {
            (
                wrong_key(&scheme.0, &vector, &keys),
                vector_key(&scheme.0, &vector.secret),
            )
        };
        let (wrong, right) = pair();
        assert!(
            verify(&scheme, &vector, &[wrong, right]).is_ok(),
            "{}: wrong then right",
            vector.name
        );
        let (wrong, right) = pair();
        assert!(
            verify(&scheme, &vector, &[right, wrong]).is_ok(),
            "{}: right then wrong",
            vector.name
        );
        assert!(
            verify(&scheme, &vector, &[pair().0]).is_err(),
            "{}: wrong only",
            vector.name
        );
        assert!(verify(&scheme, &vector, &[]).is_err(), "{}: no keys", vector.name);
        rotated.insert(scheme.0.name());
    }
    assert_eq!(
        rotated.len(),
        9,
        "every supported scheme has a valid vector: {rotated:?}"
    );
}

/// The kit's signers reproduce, byte for byte, the signatures python's `cryptography` made (Ed25519 and RFC 6979
/// ECDSA are deterministic): an independent check of the signing side too.
#[test]
fn signers_reproduce_the_independent_signatures() {
    let keys = test_keys();
    let vectors = load();
    let find = |name: &str| vectors.iter().find(|v| v.name == name).expect("the vector exists");
    for (name, scheme, private) in [
        ("v1a_valid", Scheme::StandardWebhooks, &keys.ed25519_private),
        ("v1a_empty_body", Scheme::StandardWebhooks, &keys.ed25519_private),
        ("sendgrid_generated_valid", Scheme::Sendgrid, &keys.p256_private_pkcs8),
        (
            "sendgrid_generated_empty_body",
            Scheme::Sendgrid,
            &keys.p256_private_pkcs8,
        ),
    ] {
        let vector = find(name);
        let signed = scheme.sign(
            &key(&scheme, private),
            SignRequest {
                body: vector.body.as_bytes(),
                timestamp: vector.now.expect("the generated vectors have a clock"),
                message_id: vector.headers.get("webhook-id").map_or("", String::as_str),
            },
        );
        let signed: BTreeMap<String, String> = signed.into_iter().map(|(n, v)| (n.to_ascii_lowercase(), v)).collect();
        let expected: BTreeMap<String, String> = vector
            .headers
            .iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
            .collect();
        assert_eq!(signed, expected, "{name}");
    }
    // The public keys match the private ones.
    assert!(
        public_key(&Scheme::StandardWebhooks, &keys.ed25519_public).kind()
            == gatehouse_kit::signature::KeyKind::PublicKey
    );
    assert!(
        public_key(&Scheme::Sendgrid, &keys.p256_public_spki).kind() == gatehouse_kit::signature::KeyKind::PublicKey
    );
}

/// Verifying 300 s after signing: the edge of the tolerance.
fn late_ctx(keys: &[SigningKey]) -> VerifyContext<'_> {
    VerifyContext {
        keys,
        now: TEST_NOW + 300,
        tolerance: Duration::from_secs(300),
        query: None,
    }
}

/// Each scheme with the key it signs with and the texts of a wrong and the right verifying key (`public` says
/// whether they are public keys). Standard Webhooks runs twice: `v1` with secrets and `v1a` with Ed25519 keys.
fn round_trip_cases(keys: &TestKeys) -> Vec<(Scheme, String, [String; 2], bool)> {
    let generic = gatehouse_kit::signature::HmacScheme::new(
        "X-Signature",
        "t1=".into(),
        gatehouse_kit::signature::Encoding::Hex,
        "{timestamp}:{body}",
        Some("X-Timestamp".into()),
    )
    .expect("a valid generic scheme");
    let twilio = TwilioScheme::new("https://gatehouse.test:8443/twilio?tenant=a+b").expect("a valid URL");
    let named = Scheme::NAMES.iter().filter_map(|name| Scheme::from_name(name));
    let mut cases: Vec<_> = named
        .chain([Scheme::Twilio(twilio), Scheme::Hmac(generic)])
        .map(|scheme| match scheme {
            Scheme::Sendgrid => {
                let verifying = [keys.p256_other_public_spki.clone(), keys.p256_public_spki.clone()];
                (scheme, keys.p256_private_pkcs8.clone(), verifying, true)
            }
            _ => (
                scheme,
                TEST_SECRET.to_owned(),
                [WRONG_SECRET.to_owned(), TEST_SECRET.to_owned()],
                false,
            ),
        })
        .collect();
    let verifying = [keys.ed25519_other_public.clone(), keys.ed25519_public.clone()];
    cases.push((Scheme::StandardWebhooks, keys.ed25519_private.clone(), verifying, true));
    cases
}

#[test]
fn every_scheme_round_trips_through_the_public_api() {
    let keys = test_keys();
    let cases = round_trip_cases(&keys);
    assert_eq!(cases.len(), Scheme::NAMES.len() + 1, "every named scheme, and v1a");
    for (scheme, signing, [wrong, right], public) in cases {
        for body in [&br#"{"id":"evt_1","amount":4200}"#[..], b"Body=hi+there&From=%2B1555"] {
            let signed = scheme.sign(
                &key(&scheme, &signing),
                SignRequest {
                    body,
                    timestamp: TEST_NOW,
                    message_id: "msg_1",
                },
            );
            assert!(!signed.is_empty(), "{}", scheme.name());
            let headers = || header_map(signed.iter().map(|(n, v)| (n.as_str(), v.as_str())));
            let prepare = |text: &str| {
                if public {
                    public_key(&scheme, text)
                } else {
                    key(&scheme, text)
                }
            };
            let keys = [prepare(&wrong), prepare(&right)];
            let query = scheme.signed_query(body);
            let run = |body: &[u8], keys: &[SigningKey]| {
                let mut ctx = late_ctx(keys);
                ctx.query = query.as_deref();
                scheme.verify(headers(), body.to_vec().into(), ctx)
            };
            let verified = run(body, &keys).unwrap_or_else(|e| panic!("{}: {e}", scheme.name()));
            assert_eq!(verified.body().as_ref(), body, "{}", scheme.name());
            assert!(run(b"{}", &keys).is_err(), "{}: tampered body", scheme.name());
            assert!(run(body, &keys[..1]).is_err(), "{}: wrong key only", scheme.name());
            let signer_only = [key(&scheme, &signing)];
            assert_eq!(
                run(body, &signer_only).is_ok(),
                !public,
                "{}: a private key never verifies",
                scheme.name()
            );
        }
    }
}
