//! Fuzz targets of configuration: the loader ([`Config::from_toml_str`], the path [`Config::load`] takes) followed
//! by what `gatehouse check-config` does with a valid config (providers and sinks built, the config printed), and
//! the two parsers config values go through: secret references ([`SecretRef`]) and store URLs ([`StoreUrl`]).

use std::path::Path;

use crate::config::{Config, SecretRef};
use crate::providers::Providers;
use crate::relay::Relay;
use crate::store::StoreUrl;

/// Input: a TOML config as text. Loading it gives a config or an error with a message, never a panic. A valid
/// config is then treated as `check-config` treats it: its providers and subscription sinks are built (unless it
/// has a `file:` secret: see below) and it is printed, the same way every time, with every key digest and sink URL
/// redacted (printing redacts, so the printed text is not meant to load again).
///
/// Building resolves secrets, and a `file:PATH` secret reads that file: the fuzzer must not read whatever files its
/// inputs name (`/dev/zero`, a FIFO, anything large or slow), so a config that prints a `file:` anywhere is not
/// built. `SecretRef` prints as `file:PATH`, so this catches every file secret, in any field, present or future.
/// `env:` secrets are resolved: reading an environment variable is harmless.
pub fn config_toml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let config = match Config::from_toml_str(text) {
        Ok(config) => config,
        Err(error) => {
            assert!(!error.to_string().is_empty());
            return;
        }
    };
    let printed = match toml::to_string(&config) {
        Ok(printed) => printed,
        Err(error) => panic!("a valid config cannot be printed: {error}"),
    };
    if !printed.contains("file:") {
        if let Ok(providers) = Providers::build(&config) {
            assert_eq!(providers.iter().count(), config.providers.len());
        }
        let _ = Relay::check(&config);
    }
    match toml::to_string(&config) {
        Ok(reprinted) => assert_eq!(reprinted, printed, "printing is not stable"),
        Err(error) => panic!("a printed config cannot be printed again: {error}"),
    }
    let shown = serde_json::to_value(&config).unwrap_or_default();
    let digests = shown["callers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|caller| &caller["key_sha256"])
        .chain(std::iter::once(&shown["admin"]["token_sha256"]))
        .filter(|digest| !digest.is_null());
    for digest in digests {
        assert_eq!(digest, "[redacted]", "a key digest is printed");
    }
    // A sink URL prints as its origin, alone or followed by `/[redacted]`, or as `[redacted]`: nothing of its path,
    // query or fragment. The origin is the parsed one (`http://1/x` prints `http://0.0.0.1/[redacted]`, an IDN host
    // its punycode), so it may be longer than the URL as written.
    for (i, subscription) in config.subscriptions.iter().enumerate() {
        if let crate::config::SinkConfig::Http { url, .. } = &subscription.sink {
            let printed = shown["subscriptions"][i]["sink"]["url"].as_str().unwrap_or_default();
            let origin = url::Url::parse(url).map(|u| u.origin().ascii_serialization());
            assert!(
                printed == "[redacted]" || origin.is_ok_and(|o| printed == o || printed == format!("{o}/[redacted]")),
                "a sink URL is printed beyond its origin: {printed}"
            );
        }
    }
}

/// Input: a secret reference as config writes it. `env:NAME` and `file:PATH` print as written; anything else is a
/// literal and prints redacted (Display, Debug, JSON). An `env:` or literal secret resolves to its value or an
/// error naming no literal (`file:` secrets are not resolved, as in [`config_toml`]).
pub fn secret_ref(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let secret = SecretRef::parse(text);
    let shown = secret.to_string();
    let debug = format!("{secret:?}");
    let json = serde_json::to_string(&secret).unwrap_or_default();
    let is_env = text.starts_with("env:");
    assert_eq!(secret.is_file(), text.starts_with("file:"));
    assert_eq!(secret.is_literal(), !is_env && !secret.is_file());
    if secret.is_literal() {
        assert_eq!(shown, "[redacted literal]");
        assert_eq!(debug, "SecretRef([redacted literal])");
        assert_eq!(json, "\"[redacted literal]\"");
    } else {
        assert_eq!(shown, text);
        assert_eq!(SecretRef::parse(&shown).to_string(), shown);
    }
    if secret.is_file() {
        return;
    }
    match secret.resolve("key") {
        Ok(_) => assert!(is_env || !text.is_empty()),
        Err(error) => {
            let message = error.to_string();
            assert!(message.starts_with("key: "), "{message}");
            assert!(is_env || text.is_empty(), "a literal failed to resolve: {message}");
        }
    }
}

/// Input: a store URL. One that parses is `sqlite://PATH` or `sqlite:PATH` for a non-empty path without a query
/// that is not `:memory:`, and gives exactly that path, or a `postgres://` URL whose Debug hides its password; one
/// that does not gives a message.
pub fn store_url(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match StoreUrl::parse(text) {
        Ok(StoreUrl::Sqlite(path)) => {
            let written = text
                .strip_prefix("sqlite://")
                .or_else(|| text.strip_prefix("sqlite:"))
                .unwrap_or_default();
            assert!(
                !written.is_empty() && !written.contains('?') && written != ":memory:",
                "{text:?}"
            );
            assert_eq!(path, Path::new(written));
        }
        Ok(StoreUrl::Postgres(url)) => {
            assert!(
                text.starts_with("postgres://") || text.starts_with("postgresql://"),
                "{text:?}"
            );
            // The settings print without the password.
            if let Some(password) = url.config.get_password().filter(|p| p.len() > 3) {
                let shown = format!("{url:?}");
                assert!(
                    !shown.contains(&*String::from_utf8_lossy(password)),
                    "{text:?} shows its password"
                );
            }
        }
        Err(error) => assert!(!error.to_string().is_empty()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_configs_pass_the_config_target() {
        for name in ["gatehouse.toml", "container.toml"] {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config").join(name);
            config_toml(&std::fs::read(path).unwrap());
        }
    }

    #[test]
    fn a_printed_sink_origin_may_be_longer_than_the_url_as_written() {
        // The origin printed is the parsed one, so a length bound on the URL as written was wrong.
        for (url, shown) in [
            ("http://1/x", "http://0.0.0.1/[redacted]"),
            ("http://ü/x", "http://xn--tda/[redacted]"),
        ] {
            assert_eq!(crate::config::CapabilityUrl::new(url).to_string(), shown);
            let sink =
                format!("{{ type = \"http\", url = \"{url}\", secret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\" }}");
            config_toml(format!("[[subscriptions]]\nname = \"a\"\nevents = [\"*\"]\nsink = {sink}\n").as_bytes());
        }
    }

    #[test]
    fn the_parsers_hold_on_a_few_inputs() {
        for text in ["env:HOME", "env:", "file:/nonexistent", "hunter2", "", "env:A=B\u{0}"] {
            secret_ref(text.as_bytes());
        }
        for text in [
            "sqlite://a.db",
            "sqlite:b",
            "sqlite::memory:",
            "sqlite://",
            "mysql://x",
            "sqlite://a?b",
        ] {
            store_url(text.as_bytes());
        }
    }
}
