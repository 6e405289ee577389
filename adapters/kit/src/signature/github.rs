//! GitHub: `X-Hub-Signature-256: sha256=<hex>`, an HMAC-SHA256 over the raw body keyed with the secret's bytes. No
//! timestamp is signed, so the tolerance does not apply.

use http::HeaderMap;

use super::mac;
use super::{SignRequest, SignatureError, SigningKey, VerifyContext};

const HEADER: &str = "X-Hub-Signature-256";
const PREFIX: &str = "sha256=";

pub(crate) fn verify(headers: &HeaderMap, body: &[u8], ctx: VerifyContext<'_>) -> Result<(), SignatureError> {
    let value = mac::header(headers, HEADER)?;
    let signature = value
        .strip_prefix(PREFIX)
        .ok_or_else(|| mac::malformed(HEADER, "it does not start with sha256="))?;
    let candidate = mac::hex_signature(HEADER, signature)?;
    mac::match_any(ctx.keys, &[body], &[candidate])
}

pub(crate) fn sign(key: &SigningKey, req: SignRequest<'_>) -> Vec<(String, String)> {
    let Some(secret) = key.secret() else {
        return Vec::new();
    };
    let signature = hex::encode(mac::hmac_sha256(secret, &[req.body]));
    vec![(HEADER.to_owned(), format!("{PREFIX}{signature}"))]
}

#[cfg(test)]
mod tests {
    use super::super::mac::test_support::{ctx, duplicate, headers, key, replace, request};
    use super::*;

    const SECRET: &str = "It's a Secret to Everybody";

    fn check(map: &HeaderMap, body: &[u8]) -> Result<(), SignatureError> {
        verify(map, body, ctx(&[key(SECRET)]))
    }

    fn malformed(result: Result<(), SignatureError>) -> bool {
        matches!(result, Err(SignatureError::Malformed { .. }))
    }

    #[test]
    fn round_trips_and_matches_the_docs() {
        let out = sign(&key(SECRET), request(b"Hello, World!"));
        assert_eq!(
            out,
            [(
                HEADER.to_owned(),
                "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17".to_owned()
            )]
        );
        assert_eq!(check(&headers(&out), b"Hello, World!"), Ok(()));
        assert_eq!(check(&headers(&out), b"Hello, World?"), Err(SignatureError::NoMatch));
        let empty = sign(&key(SECRET), request(b""));
        assert_eq!(check(&headers(&empty), b""), Ok(()), "empty body");
        let rotated = verify(&headers(&out), b"Hello, World!", ctx(&[key("old"), key(SECRET)]));
        assert_eq!(rotated, Ok(()));
    }

    #[test]
    fn rejects_bad_headers() {
        let out = sign(&key(SECRET), request(b"x"));
        let hex = out[0].1.trim_start_matches(PREFIX).to_owned();
        assert_eq!(
            check(&HeaderMap::new(), b"x"),
            Err(SignatureError::MissingHeader(HEADER.into()))
        );
        assert!(malformed(check(&duplicate(&out, HEADER), b"x")));
        assert!(malformed(check(&replace(&out, HEADER, b""), b"x")));
        assert!(malformed(check(&replace(&out, HEADER, b"sha256=\xff\xfe"), b"x")));
        assert!(malformed(check(&replace(&out, HEADER, "garbage"), b"x")));
        assert!(malformed(check(&replace(&out, HEADER, &hex), b"x")), "no prefix");
        assert!(
            malformed(check(&replace(&out, HEADER, format!("sha1={hex}")), b"x")),
            "other version"
        );
        assert!(malformed(check(&replace(&out, HEADER, "sha256=xyz"), b"x")), "not hex");
        assert_eq!(
            check(&replace(&out, HEADER, "sha256=00"), b"x"),
            Err(SignatureError::NoMatch)
        );
        let upper = format!("sha256={}", hex.to_uppercase());
        assert_eq!(check(&replace(&out, HEADER, upper), b"x"), Ok(()), "either case of hex");
    }
}
