//! Standard Webhooks' asymmetric flavour, `v1a`: `webhook-signature` entries `v1a,<base64 Ed25519 signature>` over
//! the same `{id}.{timestamp}.{body}` as `v1`, verified with public keys written `whpk_<base64 32 bytes>` and signed
//! with private keys written `whsk_<base64 32-byte seed, or 64 bytes seed || public key>`. The header parsing and
//! the clock stay in `standard.rs`; this file owns the keys and the Ed25519 checks.

use ed25519_dalek::{Signature, Signer};

use super::keys::invalid;
use super::mac;
use super::{SignatureError, SigningKey};

pub(crate) const VERSION: &str = "v1a";
const PUBLIC_PREFIX: &str = "whpk_";
const PRIVATE_PREFIX: &str = "whsk_";
const SECRET_PREFIX: &str = "whsec_";
/// Most `v1a` entries one header may carry (a sender adds one per key while rotating). Each entry costs an Ed25519
/// verification per configured public key, so a header stuffed with entries is refused rather than worked through.
pub(crate) const MAX_SIGNATURES: usize = 8;

/// Whether a configured secret is a `whsk_` private key rather than an HMAC secret.
pub(crate) fn is_private_key(text: &str) -> bool {
    text.trim_start().starts_with(PRIVATE_PREFIX)
}

/// A `whpk_<base64>` public key (the prefix may be left out), decoded and checked once.
pub(crate) fn public_key(text: &str) -> Result<SigningKey, SignatureError> {
    let text = text.trim();
    if text.starts_with(PRIVATE_PREFIX) {
        return Err(invalid(
            "it is a whsk_ private key; a verifier is configured with its whpk_ public key",
        ));
    }
    if text.starts_with(SECRET_PREFIX) {
        return Err(invalid("it is a whsec_ secret; list it under secrets, not public keys"));
    }
    let encoded = text.strip_prefix(PUBLIC_PREFIX).unwrap_or(text);
    let bytes: [u8; 32] = mac::base64_decode(encoded)
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| invalid("it is not whpk_ followed by the base64 of a 32-byte Ed25519 public key"))?;
    let key =
        ed25519_dalek::VerifyingKey::from_bytes(&bytes).map_err(|_| invalid("it is not a valid Ed25519 public key"))?;
    if key.is_weak() {
        return Err(invalid("it is a weak (small-order) Ed25519 public key"));
    }
    Ok(SigningKey::ed25519_public(key))
}

/// A `whsk_<base64>` private key: the 32-byte seed, or 64 bytes of seed and public key (which must agree).
pub(crate) fn private_key(text: &str) -> Result<SigningKey, SignatureError> {
    let text = text.trim();
    let encoded = text.strip_prefix(PRIVATE_PREFIX).unwrap_or(text);
    let bytes = secrecy::zeroize::Zeroizing::new(
        mac::base64_decode(encoded).ok_or_else(|| invalid("it is not base64 after the whsk_ prefix"))?,
    );
    let key = match bytes.len() {
        32 => {
            let mut seed = secrecy::zeroize::Zeroizing::new([0u8; 32]);
            seed.copy_from_slice(&bytes);
            ed25519_dalek::SigningKey::from_bytes(&seed)
        }
        64 => {
            let mut pair = secrecy::zeroize::Zeroizing::new([0u8; 64]);
            pair.copy_from_slice(&bytes);
            ed25519_dalek::SigningKey::from_keypair_bytes(&pair)
                .map_err(|_| invalid("its public half does not belong to its seed"))?
        }
        _ => {
            return Err(invalid(
                "it holds neither a 32-byte Ed25519 seed nor 64 bytes of seed and public key",
            ));
        }
    };
    Ok(SigningKey::ed25519_private(key))
}

/// The signature of a `v1a,<base64>` entry; `None` unless it is base64 of exactly 64 bytes.
pub(crate) fn parse_signature(encoded: &str) -> Option<Signature> {
    // 64 bytes are 88 base64 characters: skip decoding anything else.
    if encoded.len() != 88 {
        return None;
    }
    Signature::from_slice(&mac::base64_decode(encoded)?).ok()
}

/// Whether any candidate is a valid signature of `content` under any configured Ed25519 public key (secrets and
/// other keys are skipped). Strict verification: non-canonical signatures and small-order points never pass.
pub(crate) fn matches(keys: &[SigningKey], content: &[&[u8]], candidates: &[Signature]) -> bool {
    if candidates.is_empty() {
        return false;
    }
    let mut public = keys.iter().filter_map(SigningKey::as_ed25519_public).peekable();
    if public.peek().is_none() {
        return false;
    }
    let message = content.concat();
    public.any(|key| {
        candidates
            .iter()
            .any(|signature| key.verify_strict(&message, signature).is_ok())
    })
}

/// The `v1a,<base64>` entry for `content`, or `None` when `key` is not an Ed25519 private key.
pub(crate) fn sign(key: &SigningKey, content: &[&[u8]]) -> Option<String> {
    let private = key.as_ed25519_private()?;
    let signature = private.sign(&content.concat());
    Some(format!("{VERSION},{}", mac::base64_encode(&signature.to_bytes())))
}

#[cfg(test)]
mod tests {
    use super::super::mac::test_support::key;
    use super::*;

    /// The test keys of tests/data/asymmetric-signatures.json (generated with python's `cryptography`).
    const PRIVATE: &str = "whsk_5laf+QTEnvWCdKC8XkmrUfVwYaw4iLBDuQeZZZS/EYs=";
    const PUBLIC: &str = "whpk_GzjGJPChJhsL4KcK1n/uz6CGLt6x/3UUYWtmrbpEp6M=";
    const OTHER: &str = "whpk_/FDCm70wSa8Wnd16DoojktBhYtESwsrTYWzwDZj83XA=";
    const CONTENT: [&[u8]; 3] = [b"msg_1.", b"1700000000.", b"{}"];

    fn signature(entry: &str) -> Signature {
        parse_signature(entry.strip_prefix("v1a,").unwrap()).unwrap()
    }

    #[test]
    fn signs_and_verifies() {
        let entry = sign(&private_key(PRIVATE).unwrap(), &CONTENT).unwrap();
        let candidates = [signature(&entry)];
        assert!(matches(&[public_key(PUBLIC).unwrap()], &CONTENT, &candidates));
        assert!(!matches(
            &[public_key(PUBLIC).unwrap()],
            &[b"msg_1.1700000000.{ }"],
            &candidates
        ));
        assert!(!matches(&[public_key(OTHER).unwrap()], &CONTENT, &candidates));
        let rotated = [public_key(OTHER).unwrap(), public_key(PUBLIC).unwrap()];
        assert!(matches(&rotated, &CONTENT, &candidates));
        assert!(!matches(&[], &CONTENT, &candidates));
        assert!(!matches(&rotated, &CONTENT, &[]));
    }

    #[test]
    fn private_keys_and_secrets_never_verify_nor_sign_v1a() {
        let entry = sign(&private_key(PRIVATE).unwrap(), &CONTENT).unwrap();
        let keys = [private_key(PRIVATE).unwrap(), key(PRIVATE), key(PUBLIC)];
        assert!(!matches(&keys, &CONTENT, &[signature(&entry)]));
        assert_eq!(sign(&public_key(PUBLIC).unwrap(), &CONTENT), None);
        assert_eq!(sign(&key(PRIVATE), &CONTENT), None);
    }

    #[test]
    fn private_keys_come_as_seed_or_pair() {
        let seed = mac::base64_decode(&PRIVATE[5..]).unwrap();
        let public = mac::base64_decode(&PUBLIC[5..]).unwrap();
        let pair = format!("whsk_{}", mac::base64_encode(&[seed.clone(), public].concat()));
        let from_pair = sign(&private_key(&pair).unwrap(), &CONTENT);
        assert_eq!(from_pair, sign(&private_key(PRIVATE).unwrap(), &CONTENT));
        let other = mac::base64_decode(&OTHER[5..]).unwrap();
        let mismatched = format!("whsk_{}", mac::base64_encode(&[seed, other].concat()));
        for bad in [mismatched.as_str(), "whsk_", "whsk_AAAA", "whsk_not*base64"] {
            let err = private_key(bad).unwrap_err();
            assert!(matches!(err, SignatureError::InvalidSecret(_)), "{bad:?}");
            assert!(bad.len() < 6 || !err.to_string().contains(&bad[5..]), "echoed {bad:?}");
        }
        assert!(is_private_key(PRIVATE) && !is_private_key(PUBLIC) && !is_private_key("whsec_x"));
    }

    #[test]
    fn public_keys_are_checked_once() {
        assert!(public_key(&PUBLIC[5..]).is_ok(), "the prefix is optional");
        assert!(public_key(&format!(" {PUBLIC}\n")).is_ok(), "surrounding whitespace");
        // The identity point: a valid encoding, but of a small-order point anyone can sign for.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let weak = format!("whpk_{}", mac::base64_encode(&identity));
        // y = 2 is not on the curve.
        let mut off_curve = [0u8; 32];
        off_curve[0] = 2;
        let off_curve = format!("whpk_{}", mac::base64_encode(&off_curve));
        let short = format!("whpk_{}", mac::base64_encode(&[1; 31]));
        for bad in [
            "",
            "whpk_",
            "whpk_not*base64",
            &short,
            &weak,
            &off_curve,
            PRIVATE,
            "whsec_AAAA",
        ] {
            let err = public_key(bad).unwrap_err();
            assert!(matches!(err, SignatureError::InvalidSecret(_)), "{bad:?}");
            assert!(bad.len() < 6 || !err.to_string().contains(&bad[5..]), "echoed {bad:?}");
        }
        assert!(public_key(PRIVATE).unwrap_err().to_string().contains("private key"));
    }

    #[test]
    fn signatures_must_be_64_bytes_of_base64() {
        assert!(parse_signature("").is_none());
        assert!(parse_signature("AAAA").is_none());
        assert!(parse_signature(&mac::base64_encode(&[0; 64])).is_some());
        assert!(parse_signature(&"A".repeat(88)).is_none(), "66 bytes");
        assert!(parse_signature(&"*".repeat(88)).is_none());
        assert!(parse_signature(&mac::base64_encode(&[0; 65])).is_none());
    }
}
