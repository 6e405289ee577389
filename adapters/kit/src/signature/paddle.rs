//! Paddle Billing: `Paddle-Signature: ts=<ts>;h1=<hex>[;h1=<hex> ...]`, an HMAC-SHA256 over `{ts}:{body}` keyed
//! with the secret's bytes as written; any `h1` may match and the timestamp must be within the tolerance.

use http::HeaderMap;

use super::mac;
use super::{SignRequest, SignatureError, SigningKey, VerifyContext};

const HEADER: &str = "Paddle-Signature";

pub(crate) fn verify(headers: &HeaderMap, body: &[u8], ctx: VerifyContext<'_>) -> Result<(), SignatureError> {
    let value = mac::header(headers, HEADER)?;
    let parsed = mac::parse_timestamped(HEADER, value, ';', "ts", "h1")?;
    mac::check_tolerance(parsed.timestamp, &ctx)?;
    let content: [&[u8]; 3] = [parsed.timestamp_text.as_bytes(), b":", body];
    mac::match_any(ctx.keys, &content, &parsed.candidates)
}

pub(crate) fn sign(key: &SigningKey, req: SignRequest<'_>) -> Vec<(String, String)> {
    let Some(secret) = key.secret() else {
        return Vec::new();
    };
    let timestamp = req.timestamp.to_string();
    let content: [&[u8]; 3] = [timestamp.as_bytes(), b":", req.body];
    let signature = hex::encode(mac::hmac_sha256(secret, &content));
    vec![(HEADER.to_owned(), format!("ts={timestamp};h1={signature}"))]
}

#[cfg(test)]
mod tests {
    use super::super::mac::test_support::{NOW, ctx, duplicate, headers, key, replace, request};
    use super::*;

    const SECRET: &str = "pdl_ntf_01hbpjmytsa32fhr36nqgc3kgb_WvRO0eL4Bj9rgYYIBZY6wZhG4EHy9jzh";

    fn check(map: &HeaderMap, body: &[u8]) -> Result<(), SignatureError> {
        verify(map, body, ctx(&[key(SECRET)]))
    }

    fn with_value(value: &str) -> HeaderMap {
        headers(&[(HEADER, value)])
    }

    fn malformed(result: Result<(), SignatureError>) -> bool {
        matches!(result, Err(SignatureError::Malformed { .. }))
    }

    #[test]
    fn round_trips() {
        let out = sign(&key(SECRET), request(b"hello-world"));
        assert!(out[0].1.starts_with(&format!("ts={NOW};h1=")));
        assert_eq!(check(&headers(&out), b"hello-world"), Ok(()));
        assert_eq!(check(&headers(&out), b"hello-world!"), Err(SignatureError::NoMatch));
        let empty = sign(&key(SECRET), request(b""));
        assert_eq!(check(&headers(&empty), b""), Ok(()), "empty body");
        let rotated = verify(&headers(&out), b"hello-world", ctx(&[key("old"), key(SECRET)]));
        assert_eq!(rotated, Ok(()));
    }

    #[test]
    fn any_h1_may_match_and_other_versions_never_do() {
        let out = sign(&key(SECRET), request(b"x"));
        let good = out[0].1.split_once(";h1=").unwrap().1.to_owned();
        let ts = format!("ts={NOW}");
        assert_eq!(check(&with_value(&format!("{ts};h1=dummy;h1={good}")), b"x"), Ok(()));
        assert_eq!(
            check(&with_value(&format!("{ts};h2={good}")), b"x"),
            Err(SignatureError::NoMatch)
        );
        assert!(malformed(check(&with_value(&format!("{ts};h1=dummy")), b"x")));
        assert!(malformed(check(&with_value(&format!("h1={good}")), b"x")), "no ts");
    }

    #[test]
    fn rejects_bad_headers() {
        let out = sign(&key(SECRET), request(b"x"));
        assert_eq!(
            check(&HeaderMap::new(), b"x"),
            Err(SignatureError::MissingHeader(HEADER.into()))
        );
        assert!(malformed(check(&duplicate(&out, HEADER), b"x")));
        assert!(malformed(check(&replace(&out, HEADER, b""), b"x")));
        assert!(malformed(check(&replace(&out, HEADER, b"ts=1;h1=\x80"), b"x")));
        assert!(malformed(check(&with_value("garbage"), b"x")));
        assert!(malformed(check(&with_value("ts=99999999999999999999999;h1=00"), b"x")));
        assert!(malformed(check(&with_value("ts=-1700000000;h1=00"), b"x")));
        let stale = format!("ts={};h1=00", NOW + 301);
        assert_eq!(
            check(&with_value(&stale), b"x"),
            Err(SignatureError::TimestampOutOfTolerance)
        );
    }
}
