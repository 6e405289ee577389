//! Tests of the [`Scheme`] API across schemes: names, key kinds, keys of the wrong kind, round trips.

use super::mac::test_support::{ctx, headers, request};
use super::*;

const SENDGRID_PRIVATE: &str = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgvsOWNdkMkRBlPXrwVQw0ZzBMKr/E2VaU96wnbrE53j+h\
                                RANCAAQACFPYNQxAO000mmmJYATi61WD65G7pCoL33yeUzDUfHhVIhg5INJZePXnsnHD+jirdPtoCQ2MwMQsqiky2sFB";
const SENDGRID_PUBLIC: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEAAhT2DUMQDtNNJppiWAE4utVg+uRu6QqC998nlMw1Hx4VSIYOSDSWXj157Jxw\
                               /o4q3T7aAkNjMDELKopMtrBQQ==";
const V1A_PRIVATE: &str = "whsk_5laf+QTEnvWCdKC8XkmrUfVwYaw4iLBDuQeZZZS/EYs=";
const V1A_PUBLIC: &str = "whpk_GzjGJPChJhsL4KcK1n/uz6CGLt6x/3UUYWtmrbpEp6M=";
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn twilio() -> Scheme {
    Scheme::Twilio(TwilioScheme::new("https://gatehouse.test/twilio").unwrap())
}

fn every_scheme() -> Vec<Scheme> {
    let generic = HmacScheme::new("X-Sig", String::new(), Encoding::Hex, "{body}", None).unwrap();
    let named = Scheme::NAMES.iter().filter_map(|name| Scheme::from_name(name));
    named.chain([twilio(), Scheme::Hmac(generic)]).collect()
}

fn secret(scheme: &Scheme, text: &str) -> Result<SigningKey, SignatureError> {
    scheme.signing_key(&SecretString::from(text))
}

#[test]
fn names_and_properties() {
    assert_eq!(Scheme::from_name("sendgrid"), Some(Scheme::Sendgrid));
    assert_eq!(Scheme::from_name("twilio"), None, "twilio needs its URL");
    assert!(Scheme::NAMES.contains(&"twilio") && Scheme::NAMES.contains(&"sendgrid"));
    let names: Vec<&str> = every_scheme().iter().map(Scheme::name).collect();
    assert_eq!(names, Scheme::NAMES, "every name has a scheme, in order");
    assert!(Scheme::Sendgrid.signs_timestamp());
    assert!(!twilio().signs_timestamp());
    assert!(Scheme::Sendgrid.signed_id_headers().is_empty() && twilio().signed_id_headers().is_empty());
}

#[test]
fn key_kinds_per_scheme() {
    for scheme in every_scheme() {
        let kinds = scheme.key_kinds();
        match scheme {
            Scheme::Sendgrid => assert_eq!(kinds, KeyKinds::PublicKeys),
            Scheme::StandardWebhooks => assert_eq!(kinds, KeyKinds::SecretsAndPublicKeys),
            _ => assert_eq!(kinds, KeyKinds::Secrets, "{}", scheme.name()),
        }
        // public_key works exactly where the scheme takes public keys.
        let public = match scheme {
            Scheme::Sendgrid => SENDGRID_PUBLIC,
            _ => V1A_PUBLIC,
        };
        let result = scheme.public_key(public);
        assert_eq!(result.is_ok(), kinds.takes_public_keys(), "{}", scheme.name());
        if let Err(error) = result {
            assert!(error.to_string().contains("verifies with secrets"), "{error}");
            assert!(!error.to_string().contains(&public[5..]));
        }
    }
}

#[test]
fn secrets_by_scheme() {
    assert_eq!(secret(&twilio(), "token").unwrap().kind(), KeyKind::Secret);
    assert_eq!(
        secret(&Scheme::Sendgrid, SENDGRID_PRIVATE).unwrap().kind(),
        KeyKind::PrivateKey
    );
    assert!(matches!(
        secret(&Scheme::Sendgrid, SECRET),
        Err(SignatureError::InvalidSecret(_))
    ));
    assert_eq!(
        secret(&Scheme::StandardWebhooks, V1A_PRIVATE).unwrap().kind(),
        KeyKind::PrivateKey
    );
    assert_eq!(
        secret(&Scheme::StandardWebhooks, SECRET).unwrap().kind(),
        KeyKind::Secret
    );
    assert!(
        secret(&Scheme::Svix, V1A_PRIVATE).is_err(),
        "Svix keeps v1 secrets only"
    );
    assert!(
        secret(&Scheme::StandardWebhooks, V1A_PUBLIC).is_err(),
        "a public key is no secret"
    );
    for scheme in every_scheme() {
        assert!(secret(&scheme, "").is_err(), "{}", scheme.name());
    }
}

#[test]
fn signing_with_the_wrong_kind_of_key_gives_no_headers() {
    let ed25519 = ed25519_dalek::SigningKey::from_bytes(&[3; 32]);
    let wrong = [
        SigningKey::ed25519_public(ed25519.verifying_key()),
        Scheme::Sendgrid.public_key(SENDGRID_PUBLIC).unwrap(),
    ];
    for scheme in every_scheme() {
        for key in &wrong {
            assert!(scheme.sign(key, request(b"{}")).is_empty(), "{}", scheme.name());
        }
    }
    let hmac_secret = SigningKey::from_bytes(b"secret".to_vec());
    assert!(Scheme::Sendgrid.sign(&hmac_secret, request(b"{}")).is_empty());
    let v1a = secret(&Scheme::StandardWebhooks, V1A_PRIVATE).unwrap();
    assert!(Scheme::Github.sign(&v1a, request(b"{}")).is_empty());
    assert!(Scheme::Svix.sign(&v1a, request(b"{}")).is_empty());
}

#[test]
fn public_keys_never_key_a_mac() {
    // An empty-keyed HMAC is a signature anyone can make: a public key must not stand in for a secret.
    let forged = mac::hmac_sha256(b"", &[b"{}"]);
    let map = headers(&[("X-Hub-Signature-256", format!("sha256={}", hex::encode(forged)))]);
    let keys = [Scheme::StandardWebhooks.public_key(V1A_PUBLIC).unwrap()];
    let result = Scheme::Github.verify(map, Bytes::from_static(b"{}"), ctx(&keys));
    assert_eq!(result.err(), Some(SignatureError::NoMatch));
}

#[test]
fn every_scheme_round_trips_with_its_own_kind_of_keys() {
    for scheme in every_scheme() {
        let (signer, verifier) = match scheme {
            Scheme::Sendgrid => (
                secret(&scheme, SENDGRID_PRIVATE).unwrap(),
                scheme.public_key(SENDGRID_PUBLIC).unwrap(),
            ),
            _ => (secret(&scheme, SECRET).unwrap(), secret(&scheme, SECRET).unwrap()),
        };
        let body = b"{\"id\":1}";
        let signed = scheme.sign(&signer, request(body));
        let query = scheme.signed_query(body);
        let keys = [verifier];
        let mut context = ctx(&keys);
        context.query = query.as_deref();
        let verified = scheme.verify(headers(&signed), Bytes::from_static(body), context);
        assert!(verified.is_ok(), "{}: {verified:?}", scheme.name());
        // The signing key itself verifies only when it is a secret.
        let keys = [signer];
        let mut context = ctx(&keys);
        context.query = query.as_deref();
        let by_signer = scheme.verify(headers(&signed), Bytes::from_static(body), context);
        assert_eq!(
            by_signer.is_ok(),
            keys[0].kind() == KeyKind::Secret,
            "{}",
            scheme.name()
        );
    }
}

/// Junk header values and bodies, for every scheme with keys of every kind: never a panic, never a success.
#[test]
fn junk_never_panics_nor_verifies() {
    let long = "A".repeat(70_000);
    let values: Vec<Vec<u8>> = [
        &b""[..],
        b" ",
        b"\xff\xfe\x80",
        b"v1,",
        b"v1a,",
        b"v1a,==== v1,====",
        b"t=,v1=,v0=",
        b"ts=1700000000;h1=zz",
        b"sha256=",
        b"v0=00",
        b"1700000000",
        b"99999999999999999999",
        b"MEUCIQ==",
        b"application/json",
        b"%ff%00",
    ]
    .iter()
    .map(|v| v.to_vec())
    .chain([long.clone().into_bytes(), format!("v1a,{long}").into_bytes()])
    .collect();
    let names = [
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "svix-id",
        "svix-timestamp",
        "svix-signature",
        "Stripe-Signature",
        "X-Hub-Signature-256",
        "X-Shopify-Hmac-Sha256",
        "X-Slack-Signature",
        "X-Slack-Request-Timestamp",
        "Paddle-Signature",
        "X-Twilio-Signature",
        "Content-Type",
        "X-Twilio-Email-Event-Webhook-Signature",
        "X-Twilio-Email-Event-Webhook-Timestamp",
        "X-Sig",
    ];
    let bodies: [&[u8]; 4] = [b"", b"{}", b"\xff\x00=&&==", b"a=1&a=2&bodySHA256=x"];
    for scheme in every_scheme() {
        let mut keys = vec![SigningKey::from_bytes(b"k".to_vec())];
        keys.extend(scheme.public_key(V1A_PUBLIC).ok());
        keys.extend(scheme.public_key(SENDGRID_PUBLIC).ok());
        keys.extend(secret(&scheme, V1A_PRIVATE).ok());
        keys.extend(secret(&scheme, SENDGRID_PRIVATE).ok());
        for (index, value) in values.iter().enumerate() {
            // Every header at once with this value, and with the next value for the timestamps.
            let pairs: Vec<(&str, &[u8])> = names
                .iter()
                .map(|name| {
                    let pick = if name.contains("imestamp") {
                        &values[(index + 1) % values.len()]
                    } else {
                        value
                    };
                    (*name, pick.as_slice())
                })
                .collect();
            for body in bodies {
                for query in [None, Some("bodySHA256=x&bodySHA256=y"), Some("%zz")] {
                    let mut context = ctx(&keys);
                    context.query = query;
                    let result = scheme.verify(headers(&pairs), Bytes::from_static(body), context);
                    assert!(result.is_err(), "{}: {value:?} {body:?}", scheme.name());
                }
            }
        }
    }
}
