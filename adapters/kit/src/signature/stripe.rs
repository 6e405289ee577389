//! Stripe: `Stripe-Signature: t=<ts>,v1=<hex>[,v1=<hex> ...]`, an HMAC-SHA256 over `{t}.{body}` keyed with the
//! secret's bytes as written (`whsec_` included). Only `v1` signatures count: a header with only `v0` (or other
//! versions) never verifies.

use http::HeaderMap;

use super::mac;
use super::{SignRequest, SignatureError, SigningKey, VerifyContext};

const HEADER: &str = "Stripe-Signature";

pub(crate) fn verify(headers: &HeaderMap, body: &[u8], ctx: VerifyContext<'_>) -> Result<(), SignatureError> {
    let value = mac::header(headers, HEADER)?;
    let parsed = mac::parse_timestamped(HEADER, value, ',', "t", "v1")?;
    mac::check_tolerance(parsed.timestamp, &ctx)?;
    let content: [&[u8]; 3] = [parsed.timestamp_text.as_bytes(), b".", body];
    mac::match_any(ctx.keys, &content, &parsed.candidates)
}

pub(crate) fn sign(key: &SigningKey, req: SignRequest<'_>) -> Vec<(String, String)> {
    let Some(secret) = key.secret() else {
        return Vec::new();
    };
    let timestamp = req.timestamp.to_string();
    let content: [&[u8]; 3] = [timestamp.as_bytes(), b".", req.body];
    let signature = hex::encode(mac::hmac_sha256(secret, &content));
    vec![(HEADER.to_owned(), format!("t={timestamp},v1={signature}"))]
}

#[cfg(test)]
mod tests {
    use super::super::mac::test_support::{NOW, ctx, duplicate, headers, key, replace, request};
    use super::*;

    const SECRET: &str = "whsec_test_secret";

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
        let out = sign(&key(SECRET), request(b"{\"id\":\"evt_1\"}"));
        assert_eq!(out[0].0, HEADER);
        assert!(out[0].1.starts_with(&format!("t={NOW},v1=")));
        assert_eq!(check(&headers(&out), b"{\"id\":\"evt_1\"}"), Ok(()));
        assert_eq!(
            check(&headers(&out), b"{\"id\":\"evt_2\"}"),
            Err(SignatureError::NoMatch)
        );
        let empty = sign(&key(SECRET), request(b""));
        assert_eq!(check(&headers(&empty), b""), Ok(()), "empty body");
        let rotated = verify(
            &headers(&out),
            b"{\"id\":\"evt_1\"}",
            ctx(&[key("whsec_old"), key(SECRET)]),
        );
        assert_eq!(rotated, Ok(()));
    }

    #[test]
    fn only_v1_counts_and_any_v1_may_match() {
        let out = sign(&key(SECRET), request(b"x"));
        let good = out[0].1.split_once(",v1=").unwrap().1.to_owned();
        let t = format!("t={NOW}");
        assert_eq!(
            check(&with_value(&format!("{t},v0={good}")), b"x"),
            Err(SignatureError::NoMatch)
        );
        assert_eq!(
            check(&with_value(&format!("{t},v2={good}")), b"x"),
            Err(SignatureError::NoMatch)
        );
        assert_eq!(check(&with_value(&format!("{t},v1=zz,v1={good},v0=00")), b"x"), Ok(()));
        assert_eq!(
            check(&with_value(&format!("v1={good}, {t}")), b"x"),
            Ok(()),
            "order and spaces"
        );
        assert!(malformed(check(&with_value(&format!("{t},v1=zz,v1=0")), b"x")));
        assert!(malformed(check(&with_value(&format!("v1={good}")), b"x")), "no t");
        assert!(
            malformed(check(&with_value(&format!("{t},{t},v1={good}")), b"x")),
            "two t"
        );
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
        assert!(malformed(check(&replace(&out, HEADER, b"t=1,v1=\xe9"), b"x")));
        assert!(malformed(check(&with_value("garbage"), b"x")));
        assert!(malformed(check(&with_value("t=99999999999999999999999,v1=00"), b"x")));
        assert!(malformed(check(&with_value("t=-1700000000,v1=00"), b"x")));
        assert!(malformed(check(&with_value("t=,v1=00"), b"x")));
        let stale = format!("t={},v1=00", NOW - 301);
        assert_eq!(
            check(&with_value(&stale), b"x"),
            Err(SignatureError::TimestampOutOfTolerance)
        );
    }
}
