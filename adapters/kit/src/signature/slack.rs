//! Slack: `X-Slack-Request-Timestamp: <ts>` and `X-Slack-Signature: v0=<hex>`, an HMAC-SHA256 over `v0:{ts}:{body}`
//! keyed with the signing secret's bytes; the timestamp must be within the tolerance.

use http::HeaderMap;

use super::mac;
use super::{SignRequest, SignatureError, SigningKey, VerifyContext};

const TIMESTAMP: &str = "X-Slack-Request-Timestamp";
const SIGNATURE: &str = "X-Slack-Signature";
const VERSION: &str = "v0";

pub(crate) fn verify(headers: &HeaderMap, body: &[u8], ctx: VerifyContext<'_>) -> Result<(), SignatureError> {
    let timestamp_text = mac::header(headers, TIMESTAMP)?;
    let value = mac::header(headers, SIGNATURE)?;
    let timestamp = mac::parse_timestamp(TIMESTAMP, timestamp_text)?;
    mac::check_tolerance(timestamp, &ctx)?;
    let (version, signature) = value
        .split_once('=')
        .ok_or_else(|| mac::malformed(SIGNATURE, "it is not <version>=<hex>"))?;
    if version != VERSION {
        return Err(SignatureError::NoMatch);
    }
    let candidate = mac::hex_signature(SIGNATURE, signature)?;
    let content: [&[u8]; 5] = [VERSION.as_bytes(), b":", timestamp_text.as_bytes(), b":", body];
    mac::match_any(ctx.keys, &content, &[candidate])
}

pub(crate) fn sign(key: &SigningKey, req: SignRequest<'_>) -> Vec<(String, String)> {
    let Some(secret) = key.secret() else {
        return Vec::new();
    };
    let timestamp = req.timestamp.to_string();
    let content: [&[u8]; 5] = [VERSION.as_bytes(), b":", timestamp.as_bytes(), b":", req.body];
    let signature = hex::encode(mac::hmac_sha256(secret, &content));
    vec![
        (TIMESTAMP.to_owned(), timestamp),
        (SIGNATURE.to_owned(), format!("{VERSION}={signature}")),
    ]
}

#[cfg(test)]
mod tests {
    use super::super::mac::test_support::{NOW, ctx, duplicate, headers, key, remove, replace, request};
    use super::*;

    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";

    fn check(map: &HeaderMap, body: &[u8]) -> Result<(), SignatureError> {
        verify(map, body, ctx(&[key(SECRET)]))
    }

    fn malformed(result: Result<(), SignatureError>) -> bool {
        matches!(result, Err(SignatureError::Malformed { .. }))
    }

    #[test]
    fn round_trips() {
        let out = sign(&key(SECRET), request(b"token=abc&text="));
        assert_eq!(out[0], (TIMESTAMP.to_owned(), NOW.to_string()));
        assert!(out[1].1.starts_with("v0="));
        assert_eq!(check(&headers(&out), b"token=abc&text="), Ok(()));
        assert_eq!(check(&headers(&out), b"token=abd&text="), Err(SignatureError::NoMatch));
        let empty = sign(&key(SECRET), request(b""));
        assert_eq!(check(&headers(&empty), b""), Ok(()), "empty body");
        let rotated = verify(&headers(&out), b"token=abc&text=", ctx(&[key("old"), key(SECRET)]));
        assert_eq!(rotated, Ok(()));
    }

    #[test]
    fn rejects_bad_headers() {
        let out = sign(&key(SECRET), request(b"x"));
        let hex = out[1].1.trim_start_matches("v0=").to_owned();
        let bad = |name: &str, value: &[u8]| check(&replace(&out, name, value), b"x");
        for name in [TIMESTAMP, SIGNATURE] {
            assert_eq!(
                check(&remove(&out, name), b"x"),
                Err(SignatureError::MissingHeader(name.into()))
            );
            assert!(malformed(check(&duplicate(&out, name), b"x")), "{name} twice");
            assert!(malformed(bad(name, b"")), "{name} empty");
            assert!(malformed(bad(name, b"\xff1700000000")), "{name} not ASCII");
        }
        assert!(malformed(bad(SIGNATURE, b"garbage")));
        assert!(malformed(bad(SIGNATURE, b"v0=not-hex")));
        assert_eq!(
            bad(SIGNATURE, format!("v1={hex}").as_bytes()),
            Err(SignatureError::NoMatch)
        );
        assert!(malformed(bad(TIMESTAMP, b"99999999999999999999999")));
        assert!(malformed(bad(TIMESTAMP, b"-1700000000")));
        let stale = (NOW - 301).to_string();
        assert_eq!(
            bad(TIMESTAMP, stale.as_bytes()),
            Err(SignatureError::TimestampOutOfTolerance)
        );
        let edge = (NOW - 300).to_string();
        assert_eq!(
            bad(TIMESTAMP, edge.as_bytes()),
            Err(SignatureError::NoMatch),
            "in tolerance, signed otherwise"
        );
    }
}
