//! Opening a store: parsing `store.url` ([`StoreUrl`]: `sqlite://PATH` or `postgres://...`) and opening the
//! backend it names, as an owner (`serve`, `relay`), for a one-shot operator command, or read-only.

use std::path::PathBuf;
use std::sync::Arc;

use super::{PostgresStore, PostgresUrl, SqliteStore, Store, StoreError, postgres};
use crate::config::StoreConfig;

/// A parsed `store.url`.
#[derive(Debug, Clone)]
pub enum StoreUrl {
    Sqlite(PathBuf),
    /// The connection settings (the password inside is never printed: `Config`'s Debug hides it).
    Postgres(Box<PostgresUrl>),
}

impl StoreUrl {
    pub fn parse(url: &str) -> Result<StoreUrl, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return postgres::parse_url(url).map(|parsed| StoreUrl::Postgres(Box::new(parsed)));
        }
        let Some(path) = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")) else {
            return Err(StoreError::Url(
                "unsupported scheme; supported: sqlite://PATH, postgres://USER[:PASSWORD]@HOST[:PORT]/DB".into(),
            ));
        };
        if path.is_empty() || path.contains('?') || path == ":memory:" {
            return Err(StoreError::Url(
                "expected sqlite://PATH to a database file (no query options, no :memory:)".into(),
            ));
        }
        Ok(StoreUrl::Sqlite(PathBuf::from(path)))
    }
}

/// Opens an existing store read-only (no writer, creates nothing), for inspection commands. (A PostgreSQL store
/// is shared by design: it opens as usual.)
pub async fn open_read_only(config: &StoreConfig) -> Result<Arc<dyn Store>, StoreError> {
    match StoreUrl::parse(&config.url)? {
        StoreUrl::Sqlite(path) => Ok(Arc::new(SqliteStore::open_read_only(&path).await?)),
        StoreUrl::Postgres(url) => Ok(Arc::new(PostgresStore::open(*url, config).await?)),
    }
}

/// Opens the store for a one-shot operator command that writes (`events replay`, `events retranslate`,
/// `migrate`): beside a running gateway on the embedded store, without taking its ownership.
pub async fn open_for_maintenance(config: &StoreConfig) -> Result<Arc<dyn Store>, StoreError> {
    match StoreUrl::parse(&config.url)? {
        StoreUrl::Sqlite(path) => Ok(Arc::new(
            SqliteStore::open_for_maintenance(&path, config.max_batch).await?,
        )),
        StoreUrl::Postgres(url) => Ok(Arc::new(PostgresStore::open(*url, config).await?)),
    }
}

/// Opens the store `config.url` names (without migrating it), as a gateway or relay: the embedded store refuses a
/// second one on the same file.
pub async fn open(config: &StoreConfig) -> Result<Arc<dyn Store>, StoreError> {
    match StoreUrl::parse(&config.url)? {
        StoreUrl::Sqlite(path) => Ok(Arc::new(SqliteStore::open(&path, config.max_batch).await?)),
        StoreUrl::Postgres(url) => Ok(Arc::new(PostgresStore::open(*url, config).await?)),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn urls() {
        assert!(
            matches!(StoreUrl::parse("sqlite://data/g.db").unwrap(), StoreUrl::Sqlite(p) if p == Path::new("data/g.db"))
        );
        assert!(
            matches!(StoreUrl::parse("sqlite:///var/lib/g.db").unwrap(), StoreUrl::Sqlite(p) if p == Path::new("/var/lib/g.db"))
        );
        assert!(matches!(
            StoreUrl::parse("postgres://gh:pw@db.internal:6543/gatehouse?sslmode=require").unwrap(),
            StoreUrl::Postgres(_)
        ));
        assert!(matches!(
            StoreUrl::parse("postgresql://localhost/g").unwrap(),
            StoreUrl::Postgres(_)
        ));
        for bad in [
            "postgres://x:5432:1/g",
            "postgres://localhost/g?sslmode=sometimes",
            "postgres://localhost",
            "mysql://x",
            "sqlite://",
            "sqlite::memory:",
            "sqlite://a.db?mode=ro",
            "",
        ] {
            assert!(StoreUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
