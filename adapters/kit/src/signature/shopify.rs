//! Shopify: `X-Shopify-Hmac-Sha256: <base64>`, an HMAC-SHA256 over the raw body keyed with the secret's bytes. No
//! timestamp is signed, so the tolerance does not apply.

use http::HeaderMap;

use super::mac;
use super::{SignRequest, SignatureError, SigningKey, VerifyContext};

const HEADER: &str = "X-Shopify-Hmac-Sha256";

pub(crate) fn verify(headers: &HeaderMap, body: &[u8], ctx: VerifyContext<'_>) -> Result<(), SignatureError> {
    let value = mac::header(headers, HEADER)?;
    let candidate = mac::base64_decode(value).ok_or_else(|| mac::malformed(HEADER, "the signature is not base64"))?;
    mac::match_any(ctx.keys, &[body], &[candidate])
}

pub(crate) fn sign(key: &SigningKey, req: SignRequest<'_>) -> Vec<(String, String)> {
    let Some(secret) = key.secret() else {
        return Vec::new();
    };
    let signature = mac::base64_encode(&mac::hmac_sha256(secret, &[req.body]));
    vec![(HEADER.to_owned(), signature)]
}

#[cfg(test)]
mod tests {
    use super::super::mac::test_support::{ctx, duplicate, headers, key, replace, request};
    use super::*;

    const SECRET: &str = "test_secret_key";

    fn check(map: &HeaderMap, body: &[u8]) -> Result<(), SignatureError> {
        verify(map, body, ctx(&[key(SECRET)]))
    }

    fn malformed(result: Result<(), SignatureError>) -> bool {
        matches!(result, Err(SignatureError::Malformed { .. }))
    }

    #[test]
    fn round_trips_and_matches_the_sdk_vector() {
        let out = sign(&key(SECRET), request(b"{\"foo\": \"bar\"}"));
        assert_eq!(
            out,
            [(
                HEADER.to_owned(),
                "B23tXN681gZ0qIWNRrgtzBE9XSDo5yaUu6wfmhu3a7g=".to_owned()
            )]
        );
        assert_eq!(check(&headers(&out), b"{\"foo\": \"bar\"}"), Ok(()));
        assert_eq!(
            check(&headers(&out), b"{\"foo\":\"bar\"}"),
            Err(SignatureError::NoMatch)
        );
        let empty = sign(&key(SECRET), request(b""));
        assert_eq!(check(&headers(&empty), b""), Ok(()), "empty body");
        let rotated = verify(&headers(&out), b"{\"foo\": \"bar\"}", ctx(&[key("old"), key(SECRET)]));
        assert_eq!(rotated, Ok(()));
    }

    #[test]
    fn rejects_bad_headers() {
        let out = sign(&key(SECRET), request(b"x"));
        let hex = hex::encode(mac::base64_decode(&out[0].1).unwrap());
        assert_eq!(
            check(&HeaderMap::new(), b"x"),
            Err(SignatureError::MissingHeader(HEADER.into()))
        );
        assert!(malformed(check(&duplicate(&out, HEADER), b"x")));
        assert!(malformed(check(&replace(&out, HEADER, b""), b"x")));
        assert!(malformed(check(&replace(&out, HEADER, b"\xc3\xa9AAA"), b"x")));
        assert!(malformed(check(&replace(&out, HEADER, "garbage!"), b"x")), "not base64");
        assert!(
            malformed(check(&replace(&out, HEADER, "sha256=AAAA"), b"x")),
            "a prefix is not base64"
        );
        assert_eq!(
            check(&replace(&out, HEADER, "fake"), b"x"),
            Err(SignatureError::NoMatch)
        );
        assert_eq!(
            check(&replace(&out, HEADER, hex), b"x"),
            Err(SignatureError::NoMatch),
            "hex, not base64"
        );
    }
}
