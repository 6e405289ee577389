//! The key material the schemes verify and sign with, prepared once at start-up: HMAC secrets (also Twilio's auth
//! token), P-256 public and private keys (SendGrid) and Ed25519 public and private keys (Standard Webhooks `v1a`).
//! Nothing here shows key bytes: `Debug` is redacted, secrets and private keys are zeroed on drop, and error
//! messages name the problem only.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use secrecy::zeroize::Zeroizing;
use secrecy::{ExposeSecret, SecretBox};

use super::SignatureError;

/// A key prepared for one scheme: a secret (the bytes HMAC schemes key their MAC with), or a public key that
/// verifies, or a private key that only signs (for tests and `gatehouse sign`; it never verifies anything).
/// No `Debug` output shows it; secrets and private keys are zeroed on drop.
pub struct SigningKey(Material);

/// What a key holds. The private keys zero themselves on drop (`p256` and `ed25519-dalek` with `zeroize`). A P-256
/// public key is held parsed by AWS-LC, which verifies it (see `sendgrid.rs`).
enum Material {
    Secret(SecretBox<[u8]>),
    P256Public(Box<aws_lc_rs::signature::ParsedPublicKey>),
    P256Private(Box<p256::ecdsa::SigningKey>),
    Ed25519Public(Box<ed25519_dalek::VerifyingKey>),
    Ed25519Private(Box<ed25519_dalek::SigningKey>),
}

/// The kind of a [`SigningKey`], for config diagnostics (a private key listed where a verifier needs a public one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// An HMAC secret (or Twilio auth token): verifies and signs.
    Secret,
    /// A public key: only verifies.
    PublicKey,
    /// A private key: only signs.
    PrivateKey,
}

/// Which configured keys a scheme verifies with: `secrets = [...]`, `public_keys = [...]` or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKinds {
    /// Secrets only (every HMAC scheme, Twilio).
    Secrets,
    /// Public keys only (SendGrid).
    PublicKeys,
    /// Both: secrets for `v1` signatures, public keys for `v1a` (Standard Webhooks).
    SecretsAndPublicKeys,
}

impl KeyKinds {
    pub fn takes_secrets(self) -> bool {
        matches!(self, KeyKinds::Secrets | KeyKinds::SecretsAndPublicKeys)
    }

    pub fn takes_public_keys(self) -> bool {
        matches!(self, KeyKinds::PublicKeys | KeyKinds::SecretsAndPublicKeys)
    }
}

impl SigningKey {
    /// An HMAC secret.
    pub(crate) fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(Material::Secret(SecretBox::new(bytes.into_boxed_slice())))
    }

    pub(crate) fn p256_public(key: aws_lc_rs::signature::ParsedPublicKey) -> Self {
        Self(Material::P256Public(Box::new(key)))
    }

    pub(crate) fn p256_private(key: p256::ecdsa::SigningKey) -> Self {
        Self(Material::P256Private(Box::new(key)))
    }

    pub(crate) fn ed25519_public(key: ed25519_dalek::VerifyingKey) -> Self {
        Self(Material::Ed25519Public(Box::new(key)))
    }

    pub(crate) fn ed25519_private(key: ed25519_dalek::SigningKey) -> Self {
        Self(Material::Ed25519Private(Box::new(key)))
    }

    /// Whether this is a secret, a public key or a private key.
    pub fn kind(&self) -> KeyKind {
        match &self.0 {
            Material::Secret(_) => KeyKind::Secret,
            Material::P256Public(_) | Material::Ed25519Public(_) => KeyKind::PublicKey,
            Material::P256Private(_) | Material::Ed25519Private(_) => KeyKind::PrivateKey,
        }
    }

    /// The secret's bytes; `None` for any other kind, which must never key a MAC.
    pub(crate) fn secret(&self) -> Option<&[u8]> {
        match &self.0 {
            Material::Secret(bytes) => Some(bytes.expose_secret()),
            _ => None,
        }
    }

    pub(crate) fn as_p256_public(&self) -> Option<&aws_lc_rs::signature::ParsedPublicKey> {
        match &self.0 {
            Material::P256Public(key) => Some(key),
            _ => None,
        }
    }

    pub(crate) fn as_p256_private(&self) -> Option<&p256::ecdsa::SigningKey> {
        match &self.0 {
            Material::P256Private(key) => Some(key),
            _ => None,
        }
    }

    pub(crate) fn as_ed25519_public(&self) -> Option<&ed25519_dalek::VerifyingKey> {
        match &self.0 {
            Material::Ed25519Public(key) => Some(key),
            _ => None,
        }
    }

    pub(crate) fn as_ed25519_private(&self) -> Option<&ed25519_dalek::SigningKey> {
        match &self.0 {
            Material::Ed25519Private(key) => Some(key),
            _ => None,
        }
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey([redacted])")
    }
}

/// The DER bytes of a key written as base64 (standard alphabet, padded) or as PEM armour around it (any
/// `-----...-----` line is dropped, whitespace ignored). Zeroed on drop, as they may hold a private key.
pub(crate) fn der_from_text(text: &str, what: &str) -> Result<Zeroizing<Vec<u8>>, SignatureError> {
    let encoded: Zeroizing<String> = Zeroizing::new(
        text.lines()
            .filter(|line| !line.trim_start().starts_with("-----"))
            .flat_map(|line| line.chars().filter(|c| !c.is_ascii_whitespace()))
            .collect(),
    );
    if encoded.is_empty() {
        return Err(invalid(format!("it is empty; expected {what}")));
    }
    STANDARD
        .decode(encoded.as_bytes())
        .map(Zeroizing::new)
        .map_err(|_| invalid(format!("it is not base64; expected {what}")))
}

pub(crate) fn invalid(reason: impl Into<String>) -> SignatureError {
    SignatureError::InvalidSecret(reason.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_accessors_agree() {
        let secret = SigningKey::from_bytes(b"s".to_vec());
        assert_eq!(secret.kind(), KeyKind::Secret);
        assert_eq!(secret.secret(), Some(&b"s"[..]));
        assert!(secret.as_p256_public().is_none() && secret.as_ed25519_private().is_none());
        let ed = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let public = SigningKey::ed25519_public(ed.verifying_key());
        assert_eq!(public.kind(), KeyKind::PublicKey);
        assert!(public.secret().is_none() && public.as_ed25519_public().is_some());
        let private = SigningKey::ed25519_private(ed);
        assert_eq!(private.kind(), KeyKind::PrivateKey);
        assert!(private.secret().is_none() && private.as_ed25519_public().is_none());
        for key in [secret, public, private] {
            assert_eq!(format!("{key:?}"), "SigningKey([redacted])");
        }
    }

    #[test]
    fn key_kinds() {
        assert!(KeyKinds::Secrets.takes_secrets() && !KeyKinds::Secrets.takes_public_keys());
        assert!(!KeyKinds::PublicKeys.takes_secrets() && KeyKinds::PublicKeys.takes_public_keys());
        let both = KeyKinds::SecretsAndPublicKeys;
        assert!(both.takes_secrets() && both.takes_public_keys());
    }

    #[test]
    fn der_text_accepts_base64_and_pem() {
        assert_eq!(der_from_text("AAEC", "x").unwrap().as_slice(), [0, 1, 2]);
        let pem = "-----BEGIN PUBLIC KEY-----\nAA\r\nEC\n-----END PUBLIC KEY-----\n";
        assert_eq!(der_from_text(pem, "x").unwrap().as_slice(), [0, 1, 2]);
        for bad in ["", "  \n", "-----BEGIN-----", "not*base64", "é"] {
            let err = der_from_text(bad, "a key").unwrap_err();
            assert!(matches!(err, SignatureError::InvalidSecret(_)), "{bad:?}");
        }
    }
}
