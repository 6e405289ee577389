//! Twilio: `X-Twilio-Signature: <base64 HMAC-SHA1>` keyed with the auth token, over the URL Twilio called followed,
//! for form bodies, by every POST parameter (form-decoded) as key then value, sorted by key and, for a repeated key,
//! by value (as twilio-python's `compute_signature`). A JSON body (`Content-Type: application/json`) is covered
//! instead by a `bodySHA256=<hex SHA-256 of the body>` query parameter of the signed URL. The signed URL is the
//! configured public URL, with the request's own query string in place of the configured one when the request has
//! one (Twilio adds `bodySHA256` to it); like the SDKs, the URL is tried without its port and with the default port
//! added (443, 80). No timestamp is signed, so the tolerance does not apply.

use std::borrow::Cow;

use hmac::{Hmac, Mac};
use http::HeaderMap;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

use super::mac;
use super::{SignRequest, SignatureError, SigningKey, VerifyContext};

const HEADER: &str = "X-Twilio-Signature";
const CONTENT_TYPE: &str = "Content-Type";
const BODY_HASH: &str = "bodySHA256";

/// Twilio's scheme for one webhook URL: the public URL Twilio was configured to call, split once at start-up into
/// the two spellings its signature may cover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwilioScheme {
    /// The URL as configured.
    url: String,
    /// The URL before its query, as configured, and the other spelling of its port (without it when it has one,
    /// with the scheme's default when it has none).
    base: String,
    other_base: String,
    /// The configured query (after `?`), used when the request carries none.
    query: Option<String>,
}

impl TwilioScheme {
    /// Validates the public URL Twilio calls: absolute `http` or `https`, with a host, visible ASCII, without
    /// credentials or fragment. The error is a message naming the problem (it never repeats the URL).
    pub fn new(public_url: &str) -> Result<TwilioScheme, String> {
        let problem = |reason: &str| format!("the Twilio public URL {reason}");
        if public_url.is_empty() || !public_url.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(problem("must be non-empty visible ASCII without spaces"));
        }
        let (scheme, rest) = public_url
            .split_once("://")
            .ok_or_else(|| problem("must be absolute (http:// or https://)"))?;
        let default_port = match scheme.to_ascii_lowercase().as_str() {
            "https" => 443,
            "http" => 80,
            _ => return Err(problem("must use http or https")),
        };
        if rest.contains('#') {
            return Err(problem("must not have a fragment (#...)"));
        }
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path_and_query) = rest.split_at(authority_end);
        if authority.contains('@') {
            return Err(problem("must not carry credentials (user:password@)"));
        }
        let (host, port) = split_port(authority).ok_or_else(|| problem("has an invalid port"))?;
        if host.is_empty() || host == "[]" {
            return Err(problem("has no host"));
        }
        let (path, query) = match path_and_query.split_once('?') {
            Some((path, query)) => (path, Some(query.to_owned())),
            None => (path_and_query, None),
        };
        let without_port = format!("{scheme}://{host}{path}");
        let with_port = format!("{scheme}://{host}:{}{path}", port.unwrap_or(default_port));
        let (base, other_base) = if port.is_some() {
            (with_port, without_port)
        } else {
            (without_port, with_port)
        };
        Ok(TwilioScheme {
            url: public_url.to_owned(),
            base,
            other_base,
            query,
        })
    }

    /// The public URL as configured.
    pub fn public_url(&self) -> &str {
        &self.url
    }

    /// The query string (after `?`) a request signed by [`Self::sign`] must be sent with: for a body that parses as
    /// JSON, the configured query with `bodySHA256=<hex>` added, as Twilio does; otherwise the configured one.
    pub fn signed_query(&self, body: &[u8]) -> Option<String> {
        if !is_json_text(body) {
            return self.query.clone();
        }
        let hash = format!("{BODY_HASH}={}", hex::encode(Sha256::digest(body)));
        Some(match &self.query {
            Some(query) if !query.is_empty() => format!("{query}&{hash}"),
            _ => hash,
        })
    }

    pub(crate) fn verify(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        ctx: VerifyContext<'_>,
    ) -> Result<(), SignatureError> {
        let encoded = mac::header(headers, HEADER)?;
        let candidate =
            mac::base64_decode(encoded).ok_or_else(|| mac::malformed(HEADER, "the signature is not base64"))?;
        let query = ctx.query.filter(|query| !query.is_empty()).or(self.query.as_deref());
        let (params, body_ok) = if is_json(headers)? {
            let expected = body_hash(query)?;
            let actual = hex::encode(Sha256::digest(body));
            (Vec::new(), actual.as_bytes().ct_eq(expected.as_bytes()))
        } else {
            (sorted_params(body), Choice::from(1))
        };
        let mut matched = Choice::from(0);
        for secret in ctx.keys.iter().filter_map(SigningKey::secret) {
            for base in [&self.base, &self.other_base] {
                let mac = hmac_sha1(secret, base, query, &params);
                matched |= mac.as_slice().ct_eq(candidate.as_slice());
            }
        }
        if bool::from(matched & body_ok) {
            Ok(())
        } else {
            Err(SignatureError::NoMatch)
        }
    }

    /// Twilio's headers for `req.body`, or none when `key` is not a secret. A body that parses as JSON is sent as
    /// `application/json` and signed over the URL with [`Self::signed_query`], which the sender must call; any
    /// other body is sent as a form and signed over the configured URL and its parameters. `req.timestamp` and
    /// `req.message_id` are not used.
    pub(crate) fn sign(&self, key: &SigningKey, req: SignRequest<'_>) -> Vec<(String, String)> {
        let Some(secret) = key.secret() else {
            return Vec::new();
        };
        let (content_type, params) = if is_json_text(req.body) {
            ("application/json", Vec::new())
        } else {
            ("application/x-www-form-urlencoded", sorted_params(req.body))
        };
        let query = self.signed_query(req.body);
        let mac = hmac_sha1(secret, &self.base, query.as_deref(), &params);
        vec![
            (CONTENT_TYPE.to_owned(), content_type.to_owned()),
            (HEADER.to_owned(), mac::base64_encode(&mac)),
        ]
    }
}

/// The host and the explicit port of an authority; `None` when the port is not 1 to 5 digits fitting a `u16`.
fn split_port(authority: &str) -> Option<(&str, Option<u16>)> {
    // An IPv6 literal's colons are inside its brackets.
    let after_host = if authority.starts_with('[') {
        authority.find(']')? + 1
    } else {
        authority.find(':').unwrap_or(authority.len())
    };
    let (host, port) = authority.split_at(after_host);
    match port.strip_prefix(':') {
        None if port.is_empty() => Some((host, None)),
        None => None,
        Some(digits) if (1..=5).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) => {
            Some((host, Some(digits.parse().ok()?)))
        }
        Some(_) => None,
    }
}

/// Whether the request's body is JSON by its `Content-Type` (`application/json`, parameters allowed). Absent is
/// a form; repeated or not visible ASCII is `Malformed`.
fn is_json(headers: &HeaderMap) -> Result<bool, SignatureError> {
    if !headers.contains_key(CONTENT_TYPE) {
        return Ok(false);
    }
    let value = mac::header(headers, CONTENT_TYPE)?;
    let media_type = value.split(';').next().unwrap_or_default().trim();
    Ok(media_type.eq_ignore_ascii_case("application/json"))
}

/// Whether a body to sign is JSON text.
fn is_json_text(body: &[u8]) -> bool {
    serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok()
}

/// The `bodySHA256` parameter of the signed URL's query, which a JSON body must carry exactly once.
fn body_hash(query: Option<&str>) -> Result<Cow<'_, str>, SignatureError> {
    let mut hashes = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .filter(|(name, _)| name == BODY_HASH)
        .map(|(_, value)| value);
    match (hashes.next(), hashes.next()) {
        (Some(hash), None) => Ok(hash),
        (None, _) => Err(mac::malformed(
            HEADER,
            "the body is JSON but the signed URL has no bodySHA256 query parameter",
        )),
        (Some(_), Some(_)) => Err(mac::malformed(HEADER, "the signed URL has more than one bodySHA256")),
    }
}

/// The body's form parameters, decoded (`+` is a space), sorted by name then value.
fn sorted_params(body: &[u8]) -> Vec<(Cow<'_, str>, Cow<'_, str>)> {
    let mut params: Vec<_> = form_urlencoded::parse(body).collect();
    params.sort_unstable();
    params
}

/// HMAC-SHA1 over `base`, `?query` when there is one, then each parameter's name and value.
fn hmac_sha1(secret: &[u8], base: &str, query: Option<&str>, params: &[(Cow<'_, str>, Cow<'_, str>)]) -> [u8; 20] {
    // HMAC takes keys of any length (RFC 2104), so this never fails.
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(secret) else {
        unreachable!("HMAC-SHA1 accepts keys of any length")
    };
    mac.update(base.as_bytes());
    if let Some(query) = query {
        mac.update(b"?");
        mac.update(query.as_bytes());
    }
    for (name, value) in params {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests;
