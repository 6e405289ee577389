//! The bodies of the cargo-fuzz targets in `fuzz/`: one `pub fn <target>(data: &[u8])` per target, which
//! `fuzz/fuzz_targets/<target>.rs` calls and nothing else; each panics when the code under test panics or breaks a
//! property the target asserts. Compiled for tests and under the `fuzzing` feature only. The tests below replay
//! every target's seed corpus (`fuzz/corpus/<target>/`) and crash reproducers (`fuzz/regressions/<target>/`) in
//! the ordinary test suite. docs/FUZZING.md says how to run the targets and what each asserts.
//!
//! - `signature`: every webhook signature scheme, on arbitrary headers and bodies and on signed round trips.
//! - `adapters`: every adapter's webhook interpretation of a correctly signed webhook; the generic adapter's
//!   locators; every adapter of the registry by name (`adapter_registry`).
//! - `http`: the `/proxy` path check and the `Idempotency-Key`, `Prefer` and `Retry-After` parsers.
//! - `config`: the config loader (and the providers and sinks built from a valid config), secret references and
//!   store URLs.

mod adapters;
mod config;
mod http;
mod signature;

use ::http::{HeaderMap, HeaderName, HeaderValue};

pub use adapters::{
    adapter_acme_crm, adapter_generic, adapter_github, adapter_registry, adapter_shopify, adapter_slack,
    adapter_stripe, generic_locator,
};
pub use config::{config_toml, secret_ref, store_url};
pub use http::{idempotency_key, prefer, proxy_path, retry_after};
pub use signature::{signature_roundtrip, signature_verify};

/// A target's body: any bytes in, a panic when a property fails.
pub type Target = fn(&[u8]);

/// Every target, by name: the fuzz crate has one target file per entry, and the replay runs each on its corpus.
pub const TARGETS: &[(&str, Target)] = &[
    ("signature_verify", signature_verify),
    ("signature_roundtrip", signature_roundtrip),
    ("adapter_acme_crm", adapter_acme_crm),
    ("adapter_stripe", adapter_stripe),
    ("adapter_github", adapter_github),
    ("adapter_shopify", adapter_shopify),
    ("adapter_slack", adapter_slack),
    ("adapter_generic", adapter_generic),
    ("adapter_registry", adapter_registry),
    ("generic_locator", generic_locator),
    ("proxy_path", proxy_path),
    ("idempotency_key", idempotency_key),
    ("prefer", prefer),
    ("retry_after", retry_after),
    ("config_toml", config_toml),
    ("secret_ref", secret_ref),
    ("store_url", store_url),
];

/// An HTTP request as fuzz input: header lines `Name: value` up to the first empty line, then the body, raw.
/// Values are trimmed of spaces and tabs as an HTTP server does; a line that is no valid header is skipped. Without
/// an empty line, the whole input is headers.
fn request(data: &[u8]) -> (HeaderMap, &[u8]) {
    let (head, body) = match data.windows(2).position(|pair| pair == b"\n\n") {
        Some(at) => (&data[..at], &data[at + 2..]),
        None => (data, &[][..]),
    };
    (header_lines(head), body)
}

/// The header lines of `head` (see [`request`]), in order, repeated names appended.
fn header_lines(head: &[u8]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for line in head.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let value = line[colon + 1..].trim_ascii_start();
        let value = value
            .iter()
            .rposition(|b| !matches!(b, b' ' | b'\t'))
            .map_or(&[][..], |end| &value[..=end]);
        if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(&line[..colon]), HeaderValue::from_bytes(value)) {
            headers.append(name, value);
        }
    }
    headers
}

/// The first line of `data` (without `\r`) and the rest after its `\n` (empty when there is none).
fn first_line(data: &[u8]) -> (&[u8], &[u8]) {
    let (line, rest) = match data.iter().position(|&b| b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    (line.strip_suffix(b"\r").unwrap_or(line), rest)
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;

    fn fuzz_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
    }

    /// The files directly in `dir`, sorted; none when it does not exist.
    fn files(dir: &Path) -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Vec::new();
        };
        let mut files: Vec<PathBuf> = entries
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.is_file())
            .collect();
        files.sort();
        files
    }

    #[test]
    fn every_target_replays_its_corpus_and_regressions() {
        for (name, target) in TARGETS {
            let corpus = files(&fuzz_dir().join("corpus").join(name));
            assert!(!corpus.is_empty(), "fuzz/corpus/{name}/ is missing or empty");
            let regressions = files(&fuzz_dir().join("regressions").join(name));
            for path in corpus.iter().chain(&regressions) {
                let data = std::fs::read(path).unwrap();
                let outcome = std::panic::catch_unwind(|| target(&data));
                assert!(outcome.is_ok(), "{name} fails on {}", path.display());
            }
        }
    }

    #[test]
    fn every_target_file_is_listed_and_every_listed_target_has_a_file() {
        let mut on_disk: Vec<String> = files(&fuzz_dir().join("fuzz_targets"))
            .iter()
            .filter_map(|path| Some(path.file_stem()?.to_str()?.to_owned()))
            .collect();
        on_disk.sort();
        let mut listed: Vec<String> = TARGETS.iter().map(|(name, _)| (*name).to_owned()).collect();
        listed.sort();
        assert_eq!(on_disk, listed);
        for name in &listed {
            let file = std::fs::read_to_string(fuzz_dir().join("fuzz_targets").join(format!("{name}.rs"))).unwrap();
            assert!(
                file.contains(&format!("gatehouse::fuzzing::{name}(")),
                "fuzz_targets/{name}.rs must call gatehouse::fuzzing::{name}"
            );
        }
        let manifest = std::fs::read_to_string(fuzz_dir().join("Cargo.toml")).unwrap();
        for name in &listed {
            assert!(
                manifest.contains(&format!("name = \"{name}\"")),
                "fuzz/Cargo.toml lacks {name}"
            );
        }
    }

    #[test]
    fn requests_are_header_lines_then_the_body() {
        let (headers, body) = request(b"A: 1\r\nb:  two \t\nbad line\nC D: x\na: 3\n\nbody\n\nmore");
        assert_eq!(body, b"body\n\nmore");
        let a: Vec<_> = headers.get_all("a").iter().collect();
        assert_eq!(a, ["1", "3"]);
        assert_eq!(headers.get("b").unwrap(), "two");
        assert_eq!(headers.len(), 3, "{headers:?}");
        let (headers, body) = request(b"x: 1");
        assert_eq!((headers.len(), body), (1, &b""[..]));
        assert_eq!(first_line(b"one\r\ntwo\nthree"), (&b"one"[..], &b"two\nthree"[..]));
        assert_eq!(first_line(b"one"), (&b"one"[..], &b""[..]));
    }
}
