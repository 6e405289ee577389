//! Standard Webhooks and its Svix flavour: `webhook-id`, `webhook-timestamp` and `webhook-signature: v1,<base64>
//! [v1,<base64> ...]` (Svix sends `svix-*` names and is read with the `webhook-*` ones as a fallback), an HMAC-SHA256
//! over `{id}.{timestamp}.{body}`, and the `whsec_<base64>` secrets this scheme decodes into key bytes.

use http::HeaderMap;

use super::mac;
use super::{SignRequest, SignatureError, SigningKey, VerifyContext};

/// Which header names a request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    /// `webhook-*` headers only.
    Standard,
    /// `svix-*` headers, each falling back to its `webhook-*` twin when absent.
    Svix,
}

/// A header's `(standard, svix)` names.
type Names = (&'static str, &'static str);

const ID: Names = ("webhook-id", "svix-id");
const TIMESTAMP: Names = ("webhook-timestamp", "svix-timestamp");
const SIGNATURE: Names = ("webhook-signature", "svix-signature");

const SECRET_PREFIX: &str = "whsec_";
const VERSION: &str = "v1";

impl Flavor {
    /// The name this flavour signs with.
    fn name(self, (standard, svix): Names) -> &'static str {
        match self {
            Flavor::Standard => standard,
            Flavor::Svix => svix,
        }
    }

    /// The header's name and value: Svix reads its own name, or the standard one when only that is present.
    fn read(self, headers: &HeaderMap, (standard, svix): Names) -> Result<(&'static str, &str), SignatureError> {
        let name = match self {
            Flavor::Svix if !headers.contains_key(svix) && headers.contains_key(standard) => standard,
            flavor => flavor.name((standard, svix)),
        };
        Ok((name, mac::header(headers, name)?))
    }
}

/// The key bytes of a secret: base64 (standard alphabet), optionally prefixed with `whsec_`.
pub(crate) fn key_from_secret(secret: &str) -> Result<SigningKey, SignatureError> {
    let encoded = secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret);
    let bytes = mac::base64_decode(encoded)
        .ok_or_else(|| SignatureError::InvalidSecret("it is not base64 after the optional whsec_ prefix".into()))?;
    if bytes.is_empty() {
        return Err(SignatureError::InvalidSecret("it holds no key bytes".into()));
    }
    Ok(SigningKey::from_bytes(bytes))
}

pub(crate) fn verify(
    flavor: Flavor,
    headers: &HeaderMap,
    body: &[u8],
    ctx: VerifyContext<'_>,
) -> Result<(), SignatureError> {
    let (_, id) = flavor.read(headers, ID)?;
    if flavor == Flavor::Svix
        && let (Some(svix), Some(standard)) = (headers.get(ID.1), headers.get(ID.0))
        && svix != standard
    {
        // Only one of them is signed: a reader of the other could be handed any id.
        return Err(mac::malformed(
            ID.1,
            "svix-id and webhook-id are both present and differ",
        ));
    }
    let (timestamp_name, timestamp_text) = flavor.read(headers, TIMESTAMP)?;
    let (signature_name, signatures) = flavor.read(headers, SIGNATURE)?;
    let timestamp = mac::parse_timestamp(timestamp_name, timestamp_text)?;
    mac::check_tolerance(timestamp, &ctx)?;

    let mut versioned = 0usize;
    let mut candidates = Vec::new();
    for entry in signatures.split_ascii_whitespace() {
        if let Some((VERSION, signature)) = entry.split_once(',') {
            versioned += 1;
            candidates.extend(mac::base64_decode(signature));
        }
    }
    if versioned == 0 {
        return Err(SignatureError::NoMatch);
    }
    if candidates.is_empty() {
        return Err(mac::malformed(signature_name, "no v1 signature is base64"));
    }
    let content: [&[u8]; 5] = [id.as_bytes(), b".", timestamp_text.as_bytes(), b".", body];
    mac::match_any(ctx.keys, &content, &candidates)
}

pub(crate) fn sign(flavor: Flavor, key: &SigningKey, req: SignRequest<'_>) -> Vec<(String, String)> {
    let timestamp = req.timestamp.to_string();
    let content: [&[u8]; 5] = [req.message_id.as_bytes(), b".", timestamp.as_bytes(), b".", req.body];
    let signature = mac::base64_encode(&mac::hmac_sha256(key.bytes(), &content));
    vec![
        (flavor.name(ID).to_owned(), req.message_id.to_owned()),
        (flavor.name(TIMESTAMP).to_owned(), timestamp),
        (flavor.name(SIGNATURE).to_owned(), format!("{VERSION},{signature}")),
    ]
}

#[cfg(test)]
mod tests {
    use super::super::mac::test_support::{NOW, ctx, duplicate, headers, remove, replace, request};
    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    fn key() -> SigningKey {
        key_from_secret(SECRET).unwrap()
    }

    fn signed(flavor: Flavor, body: &[u8]) -> Vec<(String, String)> {
        sign(flavor, &key(), request(body))
    }

    fn check(flavor: Flavor, map: &HeaderMap, body: &[u8]) -> Result<(), SignatureError> {
        verify(flavor, map, body, ctx(&[key()]))
    }

    fn malformed(result: Result<(), SignatureError>) -> bool {
        matches!(result, Err(SignatureError::Malformed { .. }))
    }

    #[test]
    fn round_trips_in_both_flavors() {
        for flavor in [Flavor::Standard, Flavor::Svix] {
            let out = signed(flavor, b"{\"a\":1}");
            assert_eq!(check(flavor, &headers(&out), b"{\"a\":1}"), Ok(()));
            assert_eq!(
                check(flavor, &headers(&out), b"{\"a\":2}"),
                Err(SignatureError::NoMatch)
            );
            assert_eq!(check(flavor, &headers(&out), b""), Err(SignatureError::NoMatch));
            let out = signed(flavor, b"");
            assert_eq!(check(flavor, &headers(&out), b""), Ok(()), "empty body");
        }
        let out = signed(Flavor::Svix, b"x");
        assert_eq!(out[0].0, "svix-id");
        assert!(out[2].1.starts_with("v1,"));
    }

    #[test]
    fn matches_the_published_vector() {
        let map = headers(&[
            ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"),
            ("webhook-timestamp", "1614265330"),
            ("webhook-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="),
        ]);
        let keys = [key()];
        let mut ctx = ctx(&keys);
        ctx.now = 1_614_265_330;
        assert_eq!(verify(Flavor::Standard, &map, b"{\"test\": 2432232314}", ctx), Ok(()));
        assert_eq!(
            verify(Flavor::Svix, &map, b"{\"test\": 2432232314}", ctx),
            Ok(()),
            "svix falls back"
        );
    }

    #[test]
    fn svix_prefers_its_own_names() {
        let mut out = signed(Flavor::Svix, b"x");
        out.push(("webhook-signature".into(), "v1,AAAA".into()));
        assert_eq!(check(Flavor::Svix, &headers(&out), b"x"), Ok(()));
        assert_eq!(
            check(Flavor::Standard, &headers(&out), b"x"),
            Err(SignatureError::MissingHeader("webhook-id".into()))
        );
    }

    #[test]
    fn svix_refuses_a_second_id_that_disagrees_with_the_signed_one() {
        let mut out = signed(Flavor::Svix, b"x");
        out.push(("webhook-id".into(), "msg_replayed_under_a_new_id".into()));
        assert!(malformed(check(Flavor::Svix, &headers(&out), b"x")));
        // The same id twice is fine.
        let mut same = signed(Flavor::Svix, b"x");
        let id = same[0].1.clone();
        same.push(("webhook-id".into(), id));
        assert_eq!(check(Flavor::Svix, &headers(&same), b"x"), Ok(()));
    }

    #[test]
    fn secrets_decode_with_or_without_prefix() {
        let with = key_from_secret(SECRET).unwrap();
        let without = key_from_secret(&SECRET[6..]).unwrap();
        assert_eq!(with.bytes(), without.bytes());
        for bad in ["whsec_not*base64", "whsec_", "whsec_abc"] {
            let err = key_from_secret(bad).unwrap_err();
            assert!(matches!(err, SignatureError::InvalidSecret(_)), "{bad}");
            assert!(!err.to_string().contains(bad), "the error must not echo the secret");
        }
    }

    #[test]
    fn rejects_bad_headers() {
        let f = Flavor::Standard;
        let out = signed(f, b"x");
        let bad = |name: &str, value: &[u8]| check(f, &replace(&out, name, value), b"x");
        assert_eq!(
            check(f, &remove(&out, "webhook-signature"), b"x"),
            Err(SignatureError::MissingHeader("webhook-signature".into()))
        );
        assert!(malformed(check(f, &duplicate(&out, "webhook-signature"), b"x")));
        assert!(malformed(check(f, &duplicate(&out, "webhook-timestamp"), b"x")));
        assert!(malformed(bad("webhook-signature", b"")));
        assert!(malformed(bad("webhook-signature", b"v1,\xff\xfe")));
        assert!(malformed(bad("webhook-signature", b"v1,not*base64!")));
        assert_eq!(bad("webhook-signature", b"garbage"), Err(SignatureError::NoMatch));
        assert_eq!(
            bad("webhook-signature", b"v2,AAAA v1a,AAAA"),
            Err(SignatureError::NoMatch)
        );
        assert!(malformed(bad("webhook-timestamp", b"99999999999999999999999")));
        assert!(malformed(bad("webhook-timestamp", b"-1700000000")));
        assert!(malformed(bad("webhook-timestamp", b"")));
        assert!(malformed(bad("webhook-id", b"")));
    }

    #[test]
    fn keeps_a_valid_signature_among_others_and_checks_the_clock() {
        let out = signed(Flavor::Standard, b"x");
        let mixed = format!("v2,zzz v1,not*base64 v1,AAAA {}", out[2].1);
        let map = replace(&out, "webhook-signature", mixed.as_bytes());
        assert_eq!(check(Flavor::Standard, &map, b"x"), Ok(()));
        let late = (NOW + 301).to_string();
        let map = replace(&out, "webhook-timestamp", late.as_bytes());
        assert_eq!(
            check(Flavor::Standard, &map, b"x"),
            Err(SignatureError::TimestampOutOfTolerance)
        );
    }
}
