//! Config values that are not secrets to resolve, yet must never be printed whole (Debug, `check-config`, logs):
//! [`KeyDigest`], the hex SHA-256 of a caller key or the admin token, and [`CapabilityUrl`], a sink URL whose path
//! or query may itself be the credential (Slack-style incoming-webhook URLs, `?token=`); [`DatabaseUrl`], a store URL
//! whose password (`postgres://user:PASSWORD@host/db`, `?password=`) is shown as `[redacted]`.

use std::fmt;
use std::ops::Deref;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What a redacted value prints as.
const REDACTED: &str = "[redacted]";

/// The hex SHA-256 of a key. A digest of a weak key can be brute-forced, so it is printed as `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyDigest(String);

impl KeyDigest {
    pub fn new(hex: impl Into<String>) -> Self {
        Self(hex.into())
    }
}

impl Deref for KeyDigest {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for KeyDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Serialize for KeyDigest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(REDACTED)
    }
}

impl<'de> Deserialize<'de> for KeyDigest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(KeyDigest)
    }
}

/// A URL that may carry a credential in its path or query. It prints as its scheme, host and port, with
/// `/[redacted]` in place of anything after them.
#[derive(Clone, PartialEq, Eq)]
pub struct CapabilityUrl(String);

impl CapabilityUrl {
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }
}

impl Deref for CapabilityUrl {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CapabilityUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Ok(url) = url::Url::parse(&self.0) else {
            return f.write_str(REDACTED);
        };
        let origin = url.origin().ascii_serialization();
        let bare = matches!(url.path(), "" | "/") && url.query().is_none() && url.fragment().is_none();
        if origin == "null" {
            f.write_str(REDACTED)
        } else if bare {
            f.write_str(&origin)
        } else {
            write!(f, "{origin}/{REDACTED}")
        }
    }
}

impl fmt::Debug for CapabilityUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl Serialize for CapabilityUrl {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for CapabilityUrl {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(CapabilityUrl)
    }
}

/// A store URL (`sqlite://…`, `postgres://user:password@host/db`). It prints with its password, in the userinfo or
/// as a `password=` query parameter, replaced by `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }
}

impl Deref for DatabaseUrl {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = &self.0;
        let Some((scheme, rest)) = text.split_once("://") else {
            return f.write_str(text);
        };
        if scheme == "sqlite" {
            return f.write_str(text);
        }
        // Userinfo ends at the last '@' before the query: a password may hold '@' and '/' (base64).
        let query_start = rest.find('?').unwrap_or(rest.len());
        let (authority, rest) = match rest[..query_start].rfind('@') {
            Some(at) => {
                let (user, host) = (&rest[..at], &rest[at..]);
                match user.split_once(':') {
                    Some((name, _)) => (format!("{name}:{REDACTED}"), host),
                    None => (user.to_owned(), host),
                }
            }
            None => (String::new(), rest),
        };
        let tail_start = rest.find(['/', '?']).unwrap_or(rest.len());
        let (host, tail) = rest.split_at(tail_start);
        let authority = format!("{authority}{host}");
        let tail = match tail.split_once('?') {
            Some((path, query)) => {
                let query: Vec<String> = query
                    .split('&')
                    .map(|pair| match pair.split_once('=') {
                        Some((name, _)) if name.eq_ignore_ascii_case("password") => format!("{name}={REDACTED}"),
                        _ => pair.to_owned(),
                    })
                    .collect();
                format!("{path}?{}", query.join("&"))
            }
            None => tail.to_owned(),
        };
        write!(f, "{scheme}://{authority}{tail}")
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.to_string())
    }
}

impl Serialize for DatabaseUrl {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DatabaseUrl {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(DatabaseUrl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_never_print() {
        let digest = KeyDigest::new("ab".repeat(32));
        for shown in [format!("{digest:?}"), serde_json::to_string(&digest).unwrap()] {
            assert!(!shown.contains("abab"), "{shown}");
        }
        assert_eq!(&*digest, "ab".repeat(32));
    }

    #[test]
    fn urls_print_only_their_origin() {
        let cases = [
            (
                "https://hooks.example.com/services/T0/B0/s3cr3t",
                "https://hooks.example.com/[redacted]",
            ),
            (
                "http://127.0.0.1:9000/events?token=s3cr3t",
                "http://127.0.0.1:9000/[redacted]",
            ),
            ("http://consumer.internal:8080", "http://consumer.internal:8080"),
            ("http://consumer.internal/", "http://consumer.internal"),
            ("not a url s3cr3t", "[redacted]"),
        ];
        for (url, shown) in cases {
            let url = CapabilityUrl::new(url);
            assert_eq!(url.to_string(), shown);
            assert_eq!(format!("{url:?}"), shown);
            assert_eq!(serde_json::to_string(&url).unwrap(), format!("\"{shown}\""));
        }
    }

    #[test]
    fn database_urls_print_without_their_password() {
        let cases = [
            ("sqlite://data/g.db", "sqlite://data/g.db"),
            (
                "postgres://gh:s3cr3t@db.internal:5432/gatehouse?sslmode=require",
                "postgres://gh:[redacted]@db.internal:5432/gatehouse?sslmode=require",
            ),
            ("postgresql://gh:p@ss@db/g", "postgresql://gh:[redacted]@db/g"),
            (
                "postgres://gh:s3cr3t/x+y=@db:5432/g",
                "postgres://gh:[redacted]@db:5432/g",
            ),
            ("postgres://gh@db/g", "postgres://gh@db/g"),
            (
                "postgres://db/g?user=gh&password=s3cr3t",
                "postgres://db/g?user=gh&password=[redacted]",
            ),
        ];
        for (url, shown) in cases {
            let url = DatabaseUrl::new(url);
            assert_eq!(url.to_string(), shown);
            assert!(!format!("{url:?}").contains("s3cr3t"));
            assert_eq!(serde_json::to_string(&url).unwrap(), format!("\"{shown}\""));
        }
    }
}
