//! Unit tests of the Twilio scheme, with twilio-python's request-validator values.

use super::super::mac::test_support::{ctx, duplicate, headers, key, remove, replace, request};
use super::*;

/// twilio-python's test_request_validator.py values.
const TOKEN: &str = "12345";
const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";
const FORM: &str = "CallSid=CA1234567890ABCDE&Digits=1234&From=%2B14158675309&To=%2B18005551212&Caller=%2B14158675309";
const FORM_SIGNATURE: &str = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";
const JSON: &str = "{\"property\": \"value\", \"boolean\": true}";
const JSON_QUERY: &str = "foo=1&bar=2&bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";
const JSON_SIGNATURE: &str = "a9nBmqA0ju/hNViExpshrM61xv4=";

fn scheme(url: &str) -> TwilioScheme {
    TwilioScheme::new(url).unwrap()
}

fn form(signature: &str) -> HeaderMap {
    headers(&[(CONTENT_TYPE, "application/x-www-form-urlencoded"), (HEADER, signature)])
}

fn check(scheme: &TwilioScheme, map: &HeaderMap, body: &str, query: Option<&str>) -> Result<(), SignatureError> {
    let keys = [key(TOKEN)];
    let mut context = ctx(&keys);
    context.query = query;
    scheme.verify(map, body.as_bytes(), context)
}

fn malformed(result: Result<(), SignatureError>) -> bool {
    matches!(result, Err(SignatureError::Malformed { .. }))
}

#[test]
fn verifies_the_sdk_form_vector_with_the_configured_or_the_request_query() {
    let configured = scheme(URL);
    assert_eq!(check(&configured, &form(FORM_SIGNATURE), FORM, None), Ok(()));
    assert_eq!(
        check(&configured, &form(FORM_SIGNATURE), FORM, Some("")),
        Ok(()),
        "empty is absent"
    );
    let bare = scheme("https://mycompany.com/myapp.php");
    assert_eq!(check(&bare, &form(FORM_SIGNATURE), FORM, Some("foo=1&bar=2")), Ok(()));
    assert_eq!(
        check(&bare, &form(FORM_SIGNATURE), FORM, None),
        Err(SignatureError::NoMatch)
    );
    let moved = Some("foo=1&bar=3");
    assert_eq!(
        check(&configured, &form(FORM_SIGNATURE), FORM, moved),
        Err(SignatureError::NoMatch)
    );
    let changed = FORM.replace("Digits=1234", "Digits=1235");
    assert_eq!(
        check(&configured, &form(FORM_SIGNATURE), &changed, None),
        Err(SignatureError::NoMatch)
    );
    let added = format!("{FORM}&Extra=1");
    assert_eq!(
        check(&configured, &form(FORM_SIGNATURE), &added, None),
        Err(SignatureError::NoMatch)
    );
    // Twilio signs decoded parameters in sorted order: order and encoding of the body do not matter.
    let reordered = "Caller=%2b14158675309&To=%2B18005551212&From=%2B14158675309&Digits=1234&CallSid=CA1234567890ABCDE";
    assert_eq!(check(&configured, &form(FORM_SIGNATURE), reordered, None), Ok(()));
    let wrong = scheme(URL).verify(&form(FORM_SIGNATURE), FORM.as_bytes(), ctx(&[key("54321")]));
    assert_eq!(wrong, Err(SignatureError::NoMatch));
    assert_eq!(
        scheme(URL).verify(&form(FORM_SIGNATURE), FORM.as_bytes(), ctx(&[])),
        Err(SignatureError::NoMatch)
    );
}

#[test]
fn tries_the_url_without_its_port_and_with_the_default_one() {
    let with_port = scheme("https://mycompany.com:1234/myapp.php?foo=1&bar=2");
    assert_eq!(
        check(&with_port, &form(FORM_SIGNATURE), FORM, None),
        Ok(()),
        "port removed"
    );
    // Signed over https://mycompany.com:443/... (twilio-python test_validation_adds_port_on_https).
    assert_eq!(
        check(&scheme(URL), &form("kvajT1Ptam85bY51eRf/AJRuM3w="), FORM, None),
        Ok(())
    );
    let http = scheme("http://mycompany.com/myapp.php?foo=1&bar=2");
    let signed = http.sign(&key(TOKEN), request(FORM.as_bytes()));
    let via_80 = scheme("http://mycompany.com:80/myapp.php?foo=1&bar=2");
    assert_eq!(
        via_80.verify(&headers(&signed), FORM.as_bytes(), ctx(&[key(TOKEN)])),
        Ok(())
    );
    let ipv6 = scheme("https://[::1]:8443/hook");
    assert_eq!(
        (ipv6.base.as_str(), ipv6.other_base.as_str()),
        ("https://[::1]:8443/hook", "https://[::1]/hook")
    );
}

#[test]
fn repeated_keys_contribute_every_value_sorted() {
    let body = "Sid=CA123&SidAccount=AC123&Digits=5678&Digits=1234";
    assert_eq!(
        check(&scheme(URL), &form("IK+Dwps556ElfBT0I3Rgjkr1wJU="), body, None),
        Ok(())
    );
    let plus = scheme("https://example.com/sms");
    let signed = plus.sign(&key(TOKEN), request(b"Body=hello+world"));
    assert_eq!(
        check(&plus, &headers(&signed), "Body=hello%20world", None),
        Ok(()),
        "+ is a space"
    );
}

#[test]
fn json_bodies_are_covered_by_body_sha256() {
    let bare = scheme("https://mycompany.com/myapp.php");
    let json = headers(&[
        (CONTENT_TYPE, "application/json; charset=utf-8"),
        (HEADER, JSON_SIGNATURE),
    ]);
    assert_eq!(check(&bare, &json, JSON, Some(JSON_QUERY)), Ok(()));
    let tampered = JSON.replace("true", "false");
    assert_eq!(
        check(&bare, &json, &tampered, Some(JSON_QUERY)),
        Err(SignatureError::NoMatch)
    );
    assert!(
        malformed(check(&bare, &json, JSON, Some("foo=1&bar=2"))),
        "no bodySHA256"
    );
    let twice = format!("{JSON_QUERY}&bodySHA256=00");
    assert!(malformed(check(&bare, &json, JSON, Some(&twice))));
    // The same request sent as a form: its parameters are not what was signed.
    assert_eq!(
        check(&bare, &form(JSON_SIGNATURE), JSON, Some(JSON_QUERY)),
        Err(SignatureError::NoMatch)
    );
}

#[test]
fn signs_forms_and_json_as_twilio_does() {
    let twilio = scheme(URL);
    assert_eq!(
        twilio.sign(&key(TOKEN), request(FORM.as_bytes())),
        [
            (CONTENT_TYPE.to_owned(), "application/x-www-form-urlencoded".to_owned()),
            (HEADER.to_owned(), FORM_SIGNATURE.to_owned()),
        ]
    );
    assert_eq!(twilio.signed_query(FORM.as_bytes()).as_deref(), Some("foo=1&bar=2"));
    let bare = scheme("https://mycompany.com/myapp.php");
    assert_eq!(bare.signed_query(b"x=1"), None);
    let query = twilio.signed_query(JSON.as_bytes());
    assert_eq!(query.as_deref(), Some(JSON_QUERY));
    let signed = twilio.sign(&key(TOKEN), request(JSON.as_bytes()));
    assert_eq!(signed[1].1, JSON_SIGNATURE);
    assert_eq!(check(&bare, &headers(&signed), JSON, query.as_deref()), Ok(()));
    for body in [&b""[..], b"\xff\xfe", b"{", b"a=%ff&b"] {
        let signed = twilio.sign(&key(TOKEN), request(body));
        let mut context = ctx(&[]);
        let keys = [key(TOKEN)];
        context.keys = &keys;
        let query = twilio.signed_query(body);
        context.query = query.as_deref();
        assert_eq!(twilio.verify(&headers(&signed), body, context), Ok(()), "{body:?}");
    }
    assert!(
        twilio
            .sign(
                &SigningKey::ed25519_public(ed25519_dalek::SigningKey::from_bytes(&[1; 32]).verifying_key()),
                request(b"")
            )
            .is_empty()
    );
}

#[test]
fn rejects_bad_headers_without_panicking() {
    let twilio = scheme(URL);
    let out = twilio.sign(&key(TOKEN), request(FORM.as_bytes()));
    let run = |map: &HeaderMap| check(&twilio, map, FORM, None);
    assert_eq!(
        run(&remove(&out, HEADER)),
        Err(SignatureError::MissingHeader(HEADER.into()))
    );
    assert_eq!(run(&remove(&out, CONTENT_TYPE)), Ok(()), "no Content-Type is a form");
    for name in [HEADER, CONTENT_TYPE] {
        assert!(malformed(run(&duplicate(&out, name))), "{name} twice");
        assert!(malformed(run(&replace(&out, name, b"\xe9"))), "{name} not ASCII");
    }
    assert!(malformed(run(&replace(&out, HEADER, b"not*base64"))));
    assert_eq!(run(&replace(&out, HEADER, b"AAAA")), Err(SignatureError::NoMatch));
    assert_eq!(
        run(&replace(&out, HEADER, "A".repeat(50_000))),
        Err(SignatureError::NoMatch)
    );
    let weird_query = Some("%ff%fe=\u{e9}&&=&bodySHA256");
    assert_eq!(
        check(&twilio, &headers(&out), FORM, weird_query),
        Err(SignatureError::NoMatch)
    );
    let json = replace(&out, CONTENT_TYPE, b"Application/JSON");
    let result = check(&twilio, &json, "\u{0}\u{ffff}", weird_query);
    assert_eq!(result, Err(SignatureError::NoMatch), "an empty bodySHA256");
    assert!(
        malformed(check(&twilio, &json, "\u{0}\u{ffff}", None)),
        "the configured query has none"
    );
}

#[test]
fn validates_the_public_url_without_echoing_it() {
    let ok = [
        "https://a.example/x",
        "http://a.example",
        "HTTPS://a.example:8443/x?y=1",
        "https://[::1]/x",
    ];
    for url in ok {
        assert!(TwilioScheme::new(url).is_ok(), "{url}");
    }
    for (url, reason) in [
        ("", "non-empty"),
        ("/relative/path", "absolute"),
        ("ftp://a.example/x", "http or https"),
        ("https://a.example/x y", "visible ASCII"),
        ("https://a.example/é", "visible ASCII"),
        ("https://a.example/x#frag", "fragment"),
        ("https://user:hunter2@a.example/x", "credentials"),
        ("https://a.example:/x", "port"),
        ("https://a.example:99999/x", "port"),
        ("https://a.example:12x/x", "port"),
        ("https://[::1/x", "port"),
        ("https:///x", "no host"),
        ("https://:443/x", "no host"),
    ] {
        let error = TwilioScheme::new(url).unwrap_err();
        assert!(error.contains(reason), "{url}: {error}");
        assert!(url.is_empty() || !error.contains(url), "{url}: echoed");
        assert!(!error.contains("hunter2"));
    }
    assert_eq!(scheme(URL).public_url(), URL);
}
