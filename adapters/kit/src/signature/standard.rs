//! Standard Webhooks and its Svix flavour: `webhook-id`, `webhook-timestamp` and `webhook-signature: v1,<base64>
//! [v1,<base64> ...]` (Svix sends `svix-*` names and is read with the `webhook-*` ones as a fallback), an HMAC-SHA256
//! over `{id}.{timestamp}.{body}`, and the `whsec_<base64>` secrets this scheme decodes into key bytes. Standard
//! Webhooks (not Svix) also accepts `v1a,<base64>` Ed25519 entries over the same content, checked against public
//! keys only (`standard_v1a.rs`), while `v1` entries are checked against secrets only.

use http::HeaderMap;

use super::{SignRequest, SignatureError, SigningKey, VerifyContext};
use super::{mac, standard_v1a};

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

    let asymmetric = flavor == Flavor::Standard;
    let mut versioned = 0usize;
    let (mut macs, mut signatures_v1a) = (Vec::new(), Vec::new());
    for entry in signatures.split_ascii_whitespace() {
        match entry.split_once(',') {
            Some((VERSION, signature)) => {
                versioned += 1;
                macs.extend(mac::base64_decode(signature));
            }
            Some((standard_v1a::VERSION, signature)) if asymmetric => {
                versioned += 1;
                signatures_v1a.extend(standard_v1a::parse_signature(signature));
            }
            _ => {}
        }
    }
    if versioned == 0 {
        return Err(SignatureError::NoMatch);
    }
    if macs.is_empty() && signatures_v1a.is_empty() {
        let reason = if asymmetric {
            "no v1 signature is base64 and no v1a one is base64 of 64 bytes"
        } else {
            "no v1 signature is base64"
        };
        return Err(mac::malformed(signature_name, reason));
    }
    if signatures_v1a.len() > standard_v1a::MAX_SIGNATURES {
        return Err(mac::malformed(
            signature_name,
            format!("it carries more than {} v1a signatures", standard_v1a::MAX_SIGNATURES),
        ));
    }
    let content: [&[u8]; 5] = [id.as_bytes(), b".", timestamp_text.as_bytes(), b".", body];
    // Each entry is checked against keys of its kind only: v1 against secrets, v1a against public keys.
    let by_mac = mac::match_any(ctx.keys, &content, &macs);
    if by_mac.is_ok() || standard_v1a::matches(ctx.keys, &content, &signatures_v1a) {
        Ok(())
    } else {
        by_mac
    }
}

/// The headers for `req`: a `v1` entry with a secret; for Standard Webhooks, a `v1a` entry with a `whsk_` private
/// key; no headers at all with any other key.
pub(crate) fn sign(flavor: Flavor, key: &SigningKey, req: SignRequest<'_>) -> Vec<(String, String)> {
    let timestamp = req.timestamp.to_string();
    let content: [&[u8]; 5] = [req.message_id.as_bytes(), b".", timestamp.as_bytes(), b".", req.body];
    let entry = match (key.secret(), flavor) {
        (Some(secret), _) => format!("{VERSION},{}", mac::base64_encode(&mac::hmac_sha256(secret, &content))),
        (None, Flavor::Standard) => match standard_v1a::sign(key, &content) {
            Some(entry) => entry,
            None => return Vec::new(),
        },
        (None, Flavor::Svix) => return Vec::new(),
    };
    vec![
        (flavor.name(ID).to_owned(), req.message_id.to_owned()),
        (flavor.name(TIMESTAMP).to_owned(), timestamp),
        (flavor.name(SIGNATURE).to_owned(), entry),
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
        assert_eq!(with.secret(), without.secret());
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
            bad("webhook-signature", b"v2,AAAA v1b,AAAA"),
            Err(SignatureError::NoMatch)
        );
        // A v1a entry counts for Standard Webhooks, but one that is not 64 bytes can never be a signature.
        assert!(malformed(bad("webhook-signature", b"v2,AAAA v1a,AAAA")));
        let svix = signed(Flavor::Svix, b"x");
        assert_eq!(
            check(Flavor::Svix, &replace(&svix, "svix-signature", b"v1a,AAAA"), b"x"),
            Err(SignatureError::NoMatch),
            "Svix knows no v1a"
        );
        assert!(malformed(bad("webhook-timestamp", b"99999999999999999999999")));
        assert!(malformed(bad("webhook-timestamp", b"-1700000000")));
        assert!(malformed(bad("webhook-timestamp", b"")));
        assert!(malformed(bad("webhook-id", b"")));
    }

    /// The v1a test keys of tests/data/asymmetric-signatures.json.
    const V1A_PRIVATE: &str = "whsk_5laf+QTEnvWCdKC8XkmrUfVwYaw4iLBDuQeZZZS/EYs=";
    const V1A_PUBLIC: &str = "whpk_GzjGJPChJhsL4KcK1n/uz6CGLt6x/3UUYWtmrbpEp6M=";

    fn public() -> SigningKey {
        standard_v1a::public_key(V1A_PUBLIC).unwrap()
    }

    /// Headers signed with the HMAC secret and the Ed25519 key, both entries in one `webhook-signature`.
    fn signed_both(body: &[u8]) -> Vec<(String, String)> {
        let mut out = signed(Flavor::Standard, body);
        let v1a = sign(
            Flavor::Standard,
            &standard_v1a::private_key(V1A_PRIVATE).unwrap(),
            request(body),
        );
        out[2].1 = format!("{} {}", out[2].1, v1a[2].1);
        out
    }

    #[test]
    fn v1a_round_trips_with_public_keys_only() {
        let private = standard_v1a::private_key(V1A_PRIVATE).unwrap();
        let out = sign(Flavor::Standard, &private, request(b"{}"));
        assert!(out[2].1.starts_with("v1a,"));
        let verify_with = |keys: &[SigningKey], body: &[u8]| verify(Flavor::Standard, &headers(&out), body, ctx(keys));
        assert_eq!(verify_with(&[public()], b"{}"), Ok(()));
        assert_eq!(verify_with(&[key(), public()], b"{}"), Ok(()), "mixed configuration");
        assert_eq!(verify_with(&[public()], b"{ }"), Err(SignatureError::NoMatch));
        assert_eq!(
            verify_with(&[key()], b"{}"),
            Err(SignatureError::NoMatch),
            "secrets never check v1a"
        );
        assert_eq!(
            verify_with(&[private], b"{}"),
            Err(SignatureError::NoMatch),
            "private keys never verify"
        );
        assert!(
            sign(
                Flavor::Svix,
                &standard_v1a::private_key(V1A_PRIVATE).unwrap(),
                request(b"")
            )
            .is_empty()
        );
        assert!(sign(Flavor::Standard, &public(), request(b"")).is_empty());
    }

    #[test]
    fn v1_and_v1a_in_one_header_each_checked_against_its_own_kind() {
        let out = signed_both(b"x");
        assert_eq!(verify(Flavor::Standard, &headers(&out), b"x", ctx(&[key()])), Ok(()));
        assert_eq!(verify(Flavor::Standard, &headers(&out), b"x", ctx(&[public()])), Ok(()));
        // Svix ignores the v1a entry and checks v1 only.
        let svix = replace(&out, "webhook-signature", out[2].1.as_bytes());
        assert_eq!(verify(Flavor::Svix, &svix, b"x", ctx(&[key()])), Ok(()));
        assert_eq!(
            verify(Flavor::Svix, &svix, b"x", ctx(&[public()])),
            Err(SignatureError::NoMatch)
        );
        // A v1a signature relabelled v1 (or the reverse) matches nothing.
        let (v1, v1a) = out[2].1.split_once(' ').unwrap();
        let swapped = format!("v1a,{} v1,{}", &v1[3..], &v1a[4..]);
        let map = replace(&out, "webhook-signature", swapped.as_bytes());
        let keys = [key(), public()];
        assert!(verify(Flavor::Standard, &map, b"x", ctx(&keys)).is_err());
    }

    #[test]
    fn v1a_checks_the_clock_and_bounds_the_work() {
        let out = signed_both(b"x");
        for late in [NOW + 301, NOW - 301] {
            let map = replace(&out, "webhook-timestamp", late.to_string().as_bytes());
            let result = verify(Flavor::Standard, &map, b"x", ctx(&[public()]));
            assert_eq!(result, Err(SignatureError::TimestampOutOfTolerance));
        }
        let v1a = out[2].1.split_once(' ').unwrap().1;
        let stuffed = [v1a; standard_v1a::MAX_SIGNATURES + 1].join(" ");
        let map = replace(&out, "webhook-signature", stuffed.as_bytes());
        assert!(malformed(verify(Flavor::Standard, &map, b"x", ctx(&[public()]))));
        let enough = [v1a; standard_v1a::MAX_SIGNATURES].join(" ");
        let map = replace(&out, "webhook-signature", enough.as_bytes());
        assert_eq!(verify(Flavor::Standard, &map, b"x", ctx(&[public()])), Ok(()));
        let huge = format!("v1a,{}", "A".repeat(20_000));
        let map = replace(&out, "webhook-signature", huge.as_bytes());
        assert!(malformed(verify(Flavor::Standard, &map, b"x", ctx(&[public()]))));
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
