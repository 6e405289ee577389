//! SendGrid's signed Event Webhook: `X-Twilio-Email-Event-Webhook-Signature: <base64 DER ECDSA signature>` over
//! `{timestamp}{body}` (ECDSA P-256 with SHA-256), with `X-Twilio-Email-Event-Webhook-Timestamp: <unix seconds>`.
//! Verified with the public key SendGrid's console shows (base64 DER SubjectPublicKeyInfo); signed, for tests and
//! `gatehouse sign`, with a base64 PKCS#8 DER private key. A private key never verifies.
//!
//! Keys are parsed and checked with `p256` (which also signs, deterministically, for tests); verification, on
//! every webhook, is AWS-LC's (`aws-lc-rs`, our TLS provider already): its assembly verifies in ~1/4.5 of the time
//! of `p256`'s portable arithmetic, which would otherwise bound SendGrid's ingest rate (docs/BENCHMARKS.md).

use aws_lc_rs::digest::{Context, SHA256};
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1, ParsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::HeaderMap;
use p256::ecdsa::signature::DigestSigner;
use p256::ecdsa::{Signature, SigningKey as P256SigningKey, VerifyingKey};
use p256::pkcs8::{DecodePrivateKey, DecodePublicKey};
use sha2::{Digest, Sha256};

use super::keys::{der_from_text, invalid};
use super::mac;
use super::{SignRequest, SignatureError, SigningKey, VerifyContext};

const SIGNATURE: &str = "X-Twilio-Email-Event-Webhook-Signature";
const TIMESTAMP: &str = "X-Twilio-Email-Event-Webhook-Timestamp";
/// A DER ECDSA P-256 signature is at most 72 bytes, 96 in base64: anything much longer is refused unread.
const MAX_SIGNATURE_CHARS: usize = 200;

/// The verification key: base64 (or PEM) DER SubjectPublicKeyInfo of a P-256 key, decoded and checked once.
pub(crate) fn public_key(text: &str) -> Result<SigningKey, SignatureError> {
    let what = "the base64 DER (SubjectPublicKeyInfo) P-256 public key SendGrid shows";
    let der = der_from_text(text, what)?;
    if P256SigningKey::from_pkcs8_der(&der).is_ok() {
        return Err(invalid(
            "it is a private key; a verifier is configured with the public key",
        ));
    }
    let key = VerifyingKey::from_public_key_der(&der).map_err(|_| invalid(format!("it is not {what}")))?;
    let point = key.to_encoded_point(false);
    let parsed = ParsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, point.as_bytes())
        .map_err(|_| invalid(format!("it is not {what}")))?;
    Ok(SigningKey::p256_public(parsed))
}

/// A signing key: base64 (or PEM) PKCS#8 DER of a P-256 private key. It signs only; it never verifies.
pub(crate) fn private_key(text: &str) -> Result<SigningKey, SignatureError> {
    let what = "a base64 PKCS#8 DER P-256 private key (SendGrid verifies with public keys: list those under public \
                keys)";
    let der = der_from_text(text, what)?;
    let key = P256SigningKey::from_pkcs8_der(&der).map_err(|_| invalid(format!("it is not {what}")))?;
    Ok(SigningKey::p256_private(key))
}

fn digest(timestamp: &str, body: &[u8]) -> Sha256 {
    Sha256::new().chain_update(timestamp.as_bytes()).chain_update(body)
}

pub(crate) fn verify(headers: &HeaderMap, body: &[u8], ctx: VerifyContext<'_>) -> Result<(), SignatureError> {
    let encoded = mac::header(headers, SIGNATURE)?;
    let timestamp_text = mac::header(headers, TIMESTAMP)?;
    let timestamp = mac::parse_timestamp(TIMESTAMP, timestamp_text)?;
    mac::check_tolerance(timestamp, &ctx)?;
    if encoded.len() > MAX_SIGNATURE_CHARS {
        return Err(mac::malformed(SIGNATURE, "the signature is far too long"));
    }
    let der = STANDARD
        .decode(encoded)
        .map_err(|_| mac::malformed(SIGNATURE, "the signature is not base64"))?;
    // Parsed only to tell a malformed signature from one that does not match; AWS-LC verifies the DER itself.
    Signature::from_der(&der).map_err(|_| mac::malformed(SIGNATURE, "the signature is not a DER ECDSA signature"))?;
    let mut context = Context::new(&SHA256);
    context.update(timestamp_text.as_bytes());
    context.update(body);
    let digest = context.finish();
    // Public data only: no need for constant time, and the first matching key ends the search.
    let matched = ctx
        .keys
        .iter()
        .filter_map(SigningKey::as_p256_public)
        .any(|key| key.verify_digest_sig(&digest, &der).is_ok());
    if matched { Ok(()) } else { Err(SignatureError::NoMatch) }
}

/// The headers SendGrid would send, or none when `key` is not a P-256 private key.
pub(crate) fn sign(key: &SigningKey, req: SignRequest<'_>) -> Vec<(String, String)> {
    let Some(private) = key.as_p256_private() else {
        return Vec::new();
    };
    let timestamp = req.timestamp.to_string();
    // RFC 6979 deterministic nonces: the same body and timestamp always give the same signature.
    let signature: Signature = private.sign_digest(digest(&timestamp, req.body));
    vec![
        (SIGNATURE.to_owned(), STANDARD.encode(signature.to_der().as_bytes())),
        (TIMESTAMP.to_owned(), timestamp),
    ]
}

#[cfg(test)]
mod tests {
    use super::super::mac::test_support::{NOW, ctx, duplicate, headers, key, remove, replace, request};
    use super::*;

    /// Test keys from tests/data/asymmetric-signatures.json (generated with python's `cryptography`).
    const PRIVATE: &str = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgvsOWNdkMkRBlPXrwVQw0ZzBMKr/E2VaU96wnbrE53j+hRANCAAQACF\
                           PYNQxAO000mmmJYATi61WD65G7pCoL33yeUzDUfHhVIhg5INJZePXnsnHD+jirdPtoCQ2MwMQsqiky2sFB";
    const PUBLIC: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEAAhT2DUMQDtNNJppiWAE4utVg+uRu6QqC998nlMw1Hx4VSIYOSDSWXj157Jxw/o4q3\
                          T7aAkNjMDELKopMtrBQQ==";
    const OTHER: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE9hlWoE1NaRHQn5ItJde8gR/3CIhJXyeHxbUTYqosS8WVGAp3+7LbyIAnHjcnk4Us6R17\
                         cSr+IxQHjRCBPfCAVw==";

    fn signed(body: &[u8]) -> Vec<(String, String)> {
        sign(&private_key(PRIVATE).unwrap(), request(body))
    }

    fn check(map: &HeaderMap, body: &[u8]) -> Result<(), SignatureError> {
        verify(map, body, ctx(&[public_key(PUBLIC).unwrap()]))
    }

    fn malformed(result: Result<(), SignatureError>) -> bool {
        matches!(result, Err(SignatureError::Malformed { .. }))
    }

    #[test]
    fn round_trips_and_refuses_tampering() {
        let out = signed(b"[{\"event\":\"open\"}]");
        assert_eq!(out[1], (TIMESTAMP.to_owned(), NOW.to_string()));
        assert_eq!(out, signed(b"[{\"event\":\"open\"}]"), "deterministic");
        assert_eq!(check(&headers(&out), b"[{\"event\":\"open\"}]"), Ok(()));
        assert_eq!(
            check(&headers(&out), b"[{\"event\":\"click\"}]"),
            Err(SignatureError::NoMatch)
        );
        assert_eq!(check(&headers(&signed(b"")), b""), Ok(()), "empty body");
        let keys = [public_key(OTHER).unwrap(), public_key(PUBLIC).unwrap()];
        assert_eq!(
            verify(&headers(&out), b"[{\"event\":\"open\"}]", ctx(&keys)),
            Ok(()),
            "rotation"
        );
        let wrong = [public_key(OTHER).unwrap()];
        let result = verify(&headers(&out), b"[{\"event\":\"open\"}]", ctx(&wrong));
        assert_eq!(result, Err(SignatureError::NoMatch));
    }

    #[test]
    fn only_public_keys_verify() {
        let out = signed(b"x");
        let not_public = [private_key(PRIVATE).unwrap(), key(PUBLIC), key(PRIVATE)];
        assert_eq!(
            verify(&headers(&out), b"x", ctx(&not_public)),
            Err(SignatureError::NoMatch)
        );
        assert_eq!(verify(&headers(&out), b"x", ctx(&[])), Err(SignatureError::NoMatch));
        assert!(sign(&public_key(PUBLIC).unwrap(), request(b"x")).is_empty());
        assert!(sign(&key(PRIVATE), request(b"x")).is_empty());
    }

    #[test]
    fn checks_the_clock() {
        let out = signed(b"x");
        for (at, expected) in [
            (NOW - 301, Err(SignatureError::TimestampOutOfTolerance)),
            (NOW + 301, Err(SignatureError::TimestampOutOfTolerance)),
            (NOW + 300, Ok(())),
        ] {
            let keys = [public_key(PUBLIC).unwrap()];
            let mut context = ctx(&keys);
            context.now = at;
            assert_eq!(verify(&headers(&out), b"x", context), expected, "now = {at}");
        }
        // The timestamp is signed: moving it breaks the signature.
        let moved = replace(&out, TIMESTAMP, (NOW + 1).to_string());
        assert_eq!(check(&moved, b"x"), Err(SignatureError::NoMatch));
    }

    #[test]
    fn rejects_bad_headers_without_panicking() {
        let out = signed(b"x");
        for name in [SIGNATURE, TIMESTAMP] {
            assert_eq!(
                check(&remove(&out, name), b"x"),
                Err(SignatureError::MissingHeader(name.into()))
            );
            assert!(malformed(check(&duplicate(&out, name), b"x")), "{name} twice");
            assert!(malformed(check(&replace(&out, name, b""), b"x")), "{name} empty");
            assert!(
                malformed(check(&replace(&out, name, b"\xe9\xff"), b"x")),
                "{name} not ASCII"
            );
        }
        let bad = |value: &[u8]| check(&replace(&out, SIGNATURE, value), b"x");
        assert!(malformed(bad(b"not*base64")));
        assert!(malformed(bad(b"AAAA")), "base64 but not DER");
        assert!(malformed(bad("A".repeat(100_000).as_bytes())), "huge");
        let zero_r_s = STANDARD.encode([0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00]);
        assert!(malformed(bad(zero_r_s.as_bytes())), "r = s = 0");
        let ts = |value: &[u8]| check(&replace(&out, TIMESTAMP, value), b"x");
        assert!(malformed(ts(b"99999999999999999999999")));
        assert!(malformed(ts(b"-1700000000")));
        assert!(malformed(ts(b"1700000000.5")));
    }

    #[test]
    fn parses_keys_once_and_refuses_bad_ones_without_echoing_them() {
        let pem = format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n{}\n-----END PUBLIC KEY-----\n",
            &PUBLIC[..64],
            &PUBLIC[64..]
        );
        assert!(public_key(&pem).is_ok(), "PEM");
        let truncated = &PUBLIC[..PUBLIC.len() - 8];
        for bad in ["", "not base64!", "AAAA", truncated, PRIVATE] {
            let err = public_key(bad).unwrap_err();
            assert!(matches!(err, SignatureError::InvalidSecret(_)), "{bad:?}");
            assert!(bad.is_empty() || !err.to_string().contains(bad), "echoed {bad:?}");
        }
        assert!(public_key(PRIVATE).unwrap_err().to_string().contains("private key"));
        for bad in ["", "AAAA", PUBLIC] {
            let err = private_key(bad).unwrap_err();
            assert!(matches!(err, SignatureError::InvalidSecret(_)), "{bad:?}");
            assert!(bad.is_empty() || !err.to_string().contains(bad), "echoed {bad:?}");
        }
    }
}
