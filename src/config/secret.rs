//! Secret references in config: `"env:NAME"`, `"file:PATH"` or (with a warning) a literal.
//!
//! A [`SecretRef`] is what the TOML says; it never prints a literal value (Debug, Display and Serialize redact it),
//! and [`SecretRef::resolve`] turns it into a [`SecretString`] at start-up.

use std::fmt;

use secrecy::SecretString;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::ConfigError;

/// A secret as written in config. No `PartialEq`: secrets are never compared with `==`.
#[derive(Clone)]
pub struct SecretRef(Source);

#[derive(Clone)]
enum Source {
    Env(String),
    File(String),
    Literal(String),
}

const REDACTED: &str = "[redacted literal]";

impl SecretRef {
    pub fn parse(text: &str) -> Self {
        if let Some(name) = text.strip_prefix("env:") {
            SecretRef(Source::Env(name.to_owned()))
        } else if let Some(path) = text.strip_prefix("file:") {
            SecretRef(Source::File(path.to_owned()))
        } else {
            SecretRef(Source::Literal(text.to_owned()))
        }
    }

    /// Whether the secret is written in clear in the config (accepted, but `check-config` warns).
    pub fn is_literal(&self) -> bool {
        matches!(self.0, Source::Literal(_))
    }

    /// Whether resolving the secret reads a file (`file:PATH`).
    pub fn is_file(&self) -> bool {
        matches!(self.0, Source::File(_))
    }

    /// Reads the secret. `key` names the config key in errors; the secret itself never appears in one.
    pub fn resolve(&self, key: &str) -> Result<SecretString, ConfigError> {
        let value = match &self.0 {
            Source::Env(name) => std::env::var(name).map_err(|_| {
                ConfigError::invalid(key, format!("environment variable {name} is not set (or not UTF-8)"))
            })?,
            Source::File(path) => std::fs::read_to_string(path)
                .map_err(|e| ConfigError::invalid(key, format!("cannot read secret file {path}: {e}")))?
                .trim_end_matches(['\r', '\n'])
                .to_owned(),
            Source::Literal(value) => value.clone(),
        };
        if value.is_empty() {
            return Err(ConfigError::invalid(key, "the secret is empty"));
        }
        Ok(SecretString::from(value))
    }
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Source::Env(name) => write!(f, "env:{name}"),
            Source::File(path) => write!(f, "file:{path}"),
            Source::Literal(_) => f.write_str(REDACTED),
        }
    }
}

impl fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretRef({self})")
    }
}

impl Serialize for SecretRef {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SecretRef {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Ok(SecretRef::parse(&text))
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn literals_never_print() {
        let secret = SecretRef::parse("hunter2");
        assert!(secret.is_literal());
        assert!(!secret.is_file());
        assert!(SecretRef::parse("file:/run/s").is_file() && !SecretRef::parse("env:S").is_file());
        for shown in [
            format!("{secret}"),
            format!("{secret:?}"),
            serde_json::to_string(&secret).unwrap(),
        ] {
            assert!(!shown.contains("hunter2"), "{shown}");
        }
    }

    #[test]
    fn references_resolve_and_name_what_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        std::fs::write(&path, "from-file\n").unwrap();
        let file = SecretRef::parse(&format!("file:{}", path.display()));
        assert_eq!(file.resolve("k").unwrap().expose_secret(), "from-file");
        let err = SecretRef::parse("env:GATEHOUSE_TEST_SURELY_UNSET")
            .resolve("a.b")
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("a.b") && text.contains("GATEHOUSE_TEST_SURELY_UNSET"),
            "{text}"
        );
    }
}
