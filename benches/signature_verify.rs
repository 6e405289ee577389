//! Per-request cost of verifying one webhook with each signature scheme, in-process (no HTTP, no store): what an
//! asymmetric scheme (SendGrid's ECDSA P-256, Standard Webhooks `v1a` Ed25519) costs beside the HMAC ones.
//!
//! Run: `cargo bench --bench signature_verify` (env `BENCH_BODY_BYTES`, default 1024; `BENCH_ITERATIONS`, default
//! 20000). Each scheme signs one body with the kit's test key and verifies it `BENCH_ITERATIONS` times, five
//! rounds; the table gives the best round's mean (the least disturbed by the machine's other work) and the median
//! round's. Every verification must succeed.

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use gatehouse_kit::Scheme;
use gatehouse_kit::signature::{SignRequest, SigningKey, TwilioScheme, VerifyContext};
use gatehouse_kit::testing::{TEST_NOW, TEST_V1A_PRIVATE_KEY, TEST_V1A_PUBLIC_KEY, test_keys};
use http::{HeaderMap, HeaderName, HeaderValue};
use secrecy::SecretString;

const ROUNDS: usize = 5;

/// One scheme under test: its label, the scheme, the key it signs with and the keys it verifies with.
struct Case {
    label: &'static str,
    scheme: Scheme,
    signer: SigningKey,
    verifiers: Vec<SigningKey>,
}

fn case(label: &'static str, scheme: Scheme) -> Case {
    let (signer, verifiers) = test_keys(&scheme);
    Case {
        label,
        scheme,
        signer,
        verifiers,
    }
}

fn cases() -> Vec<Case> {
    let named = |name| Scheme::from_name(name).expect("a scheme of the kit");
    let twilio = TwilioScheme::new("https://hooks.example.com/webhooks/twilio").expect("a valid URL");
    let v1a = Scheme::StandardWebhooks;
    let v1a_signer = v1a
        .signing_key(&SecretString::from(TEST_V1A_PRIVATE_KEY))
        .expect("the kit's v1a test key");
    let v1a_verifier = v1a.public_key(TEST_V1A_PUBLIC_KEY).expect("the kit's v1a test key");
    vec![
        case("standard-webhooks v1 (HMAC-SHA256)", named("standard-webhooks")),
        case("stripe (HMAC-SHA256)", named("stripe")),
        case("github (HMAC-SHA256, body only)", named("github")),
        case("twilio (HMAC-SHA1, form)", Scheme::Twilio(twilio)),
        Case {
            label: "standard-webhooks v1a (Ed25519)",
            scheme: v1a,
            signer: v1a_signer,
            verifiers: vec![v1a_verifier],
        },
        case("sendgrid (ECDSA P-256)", named("sendgrid")),
    ]
}

/// A JSON body of about `bytes` bytes (a form body for Twilio, whose JSON flavour hashes the body like the others).
fn body(scheme: &Scheme, bytes: usize) -> Vec<u8> {
    let filler = "x".repeat(bytes.saturating_sub(64));
    match scheme {
        Scheme::Twilio(_) => format!("MessageSid=SM1&MessageStatus=delivered&Body={filler}").into_bytes(),
        _ => format!(r#"[{{"sg_event_id":"e1","event":"delivered","note":"{filler}"}}]"#).into_bytes(),
    }
}

fn headers(pairs: Vec<(String, String)>) -> HeaderMap {
    pairs
        .into_iter()
        .map(|(name, value)| {
            let name = HeaderName::try_from(name).expect("a signer's header name");
            (name, HeaderValue::try_from(value).expect("a signer's header value"))
        })
        .collect()
}

/// Mean time of one verification in each of [`ROUNDS`] rounds of `iterations`.
fn measure(case: &Case, body: &[u8], iterations: usize) -> Vec<Duration> {
    let request = SignRequest {
        body,
        timestamp: TEST_NOW,
        message_id: "msg_bench",
    };
    let headers = headers(case.scheme.sign(&case.signer, request));
    let query = case.scheme.signed_query(body);
    let body = Bytes::copy_from_slice(body);
    let verify = || {
        let ctx = VerifyContext {
            keys: &case.verifiers,
            now: TEST_NOW,
            tolerance: Duration::from_secs(300),
            query: query.as_deref(),
        };
        case.scheme
            .verify(black_box(headers.clone()), black_box(body.clone()), ctx)
    };
    if let Err(error) = verify() {
        panic!("{} refused what it signed: {error}", case.label);
    }
    (0..ROUNDS)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..iterations {
                assert!(black_box(verify()).is_ok());
            }
            start.elapsed() / iterations as u32
        })
        .collect()
}

/// A positive integer from the environment, or `default`.
fn env_usize(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Err(_) => default,
        Ok(text) => match text.parse() {
            Ok(n) if n > 0 => n,
            _ => panic!("{name} must be a positive integer, not {text:?}"),
        },
    }
}

fn main() {
    let bytes = env_usize("BENCH_BODY_BYTES", 1024);
    let iterations = env_usize("BENCH_ITERATIONS", 20_000);
    eprintln!("{ROUNDS} rounds of {iterations} verifications of a {bytes}-byte body per scheme");
    println!("| scheme | best µs/verify | median µs/verify | verifies/s (best) | × HMAC (standard-webhooks v1) |");
    println!("|---|---:|---:|---:|---:|");
    let mut hmac = None;
    for case in cases() {
        let mut rounds = measure(&case, &body(&case.scheme, bytes), iterations);
        rounds.sort_unstable();
        let best = rounds[0].as_secs_f64() * 1e6;
        let median = rounds[ROUNDS / 2].as_secs_f64() * 1e6;
        let baseline = *hmac.get_or_insert(best);
        println!(
            "| {} | {best:.2} | {median:.2} | {:.0} | {:.1} |",
            case.label,
            1e6 / best,
            best / baseline
        );
    }
}
