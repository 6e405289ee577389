//! Bearer authentication: callers (`[[callers]]`, by the SHA-256 of their key) and the admin token. Keys are hashed
//! on arrival and compared in constant time with every configured hash; they are never logged or echoed.

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::problem::{ApiError, Problem};
use crate::calls::Caller;
use crate::config::{AdminConfig, CallerConfig};

/// The configured callers, each with the SHA-256 of its key.
#[derive(Debug, Default)]
pub struct Callers(Vec<([u8; 32], Caller)>);

impl Callers {
    pub fn from_config(callers: &[CallerConfig]) -> Self {
        Callers(
            callers
                .iter()
                .map(|c| (decode_sha256(&c.key_sha256), Caller::new(&c.name, &c.providers)))
                .collect(),
        )
    }

    /// The caller whose key is in `Authorization: Bearer <key>` (noted for the request's access log line); 401
    /// otherwise.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<&Caller, ApiError> {
        let key = bearer(headers).ok_or_else(|| {
            ApiError::new(
                Problem::Unauthorized,
                "send your caller key as Authorization: Bearer <key>",
            )
        })?;
        let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        let mut found = None;
        for (key_sha256, caller) in &self.0 {
            if bool::from(key_sha256.ct_eq(&digest)) {
                found = Some(caller);
            }
        }
        let caller = found.ok_or_else(|| ApiError::new(Problem::Unauthorized, "unknown caller key"))?;
        super::access_log::record_caller(caller.logged_name());
        Ok(caller)
    }
}

/// The admin token's hash, if the admin API is enabled.
#[derive(Debug, Default)]
pub struct AdminToken(Option<[u8; 32]>);

impl AdminToken {
    pub fn from_config(admin: Option<&AdminConfig>) -> Self {
        AdminToken(admin.map(|a| decode_sha256(&a.token_sha256)))
    }

    pub fn check(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let Some(expected) = &self.0 else {
            return Err(ApiError::new(
                Problem::Unauthorized,
                "the admin API is disabled: set [admin] token_sha256",
            ));
        };
        let token = bearer(headers)
            .ok_or_else(|| ApiError::new(Problem::Unauthorized, "send the admin token as Authorization: Bearer"))?;
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if bool::from(expected.ct_eq(&digest)) {
            Ok(())
        } else {
            Err(ApiError::new(Problem::Unauthorized, "wrong admin token"))
        }
    }
}

/// The token of `Authorization: Bearer <token>` (scheme case-insensitive), if exactly one such header is present.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    let value = value.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Config validation guarantees 64 hex digits; anything else maps to a hash no key has.
fn decode_sha256(hex_digest: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    if hex::decode_to_slice(hex_digest, &mut out).is_err() {
        out = [0xff; 32];
    }
    out
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(auth: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_str(auth).unwrap());
        h
    }

    #[test]
    fn finds_callers_by_key_hash() {
        let callers = Callers::from_config(&[CallerConfig {
            name: "billing".into(),
            key_sha256: crate::config::KeyDigest::new(hex::encode(Sha256::digest(b"k1"))),
            providers: vec!["stripe".into()],
            rate_limit: None,
        }]);
        let caller = callers.authenticate(&headers("Bearer k1")).unwrap();
        assert_eq!(caller.name, "billing");
        assert!(caller.may_call("stripe") && !caller.may_call("acme-crm"));
        assert!(callers.authenticate(&headers("bearer k1")).is_ok());
        for bad in ["Bearer k2", "Basic k1", "Bearer ", "k1"] {
            assert!(callers.authenticate(&headers(bad)).is_err(), "{bad}");
        }
        assert!(callers.authenticate(&HeaderMap::new()).is_err());
    }
}
