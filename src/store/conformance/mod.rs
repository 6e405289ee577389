//! One conformance suite for every [`Store`] backend: each case is an `async fn(Backend)` driven with explicit
//! clocks, and [`conformance!`] runs it against SQLite (always) and PostgreSQL (a fresh database per test, dropped
//! afterwards; skipped with a loud message when no server answers, unless `GATEHOUSE_REQUIRE_SERVICES` is set).
//! Cases live by area: [`events`] (ingest, dedup, cursors), [`keys`] (idempotency keys, commands, retention),
//! [`deliveries`] (leases, per-subject order, replay, quarantine), [`operate`] (listings, bulk replay, commands),
//! [`entities`] (the read model: newest wins, with the webhook that carries it), [`sagas`] (leases, checkpoints,
//! retries, retention).

mod deliveries;
mod entities;
pub(crate) mod events;
mod keys;
mod operate;
mod sagas;

use std::sync::Arc;

use crate::config::{DatabaseUrl, StoreConfig};
use crate::store::{PostgresStore, SqliteStore, Store};

/// The server the PostgreSQL cases create their databases on.
pub(crate) fn postgres_admin_url() -> String {
    std::env::var("GATEHOUSE_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    Sqlite,
    Postgres,
}

/// A migrated store of one backend, in a place of its own (a temp file; a fresh database, dropped with it).
pub(crate) struct Fixture {
    pub store: Arc<dyn Store>,
    backend: Backend,
    config: StoreConfig,
    _dir: Option<tempfile::TempDir>,
    database: Option<TestDatabase>,
}

impl Fixture {
    /// `None` when the backend's server is not there (and the run does not require it).
    pub(crate) async fn new(backend: Backend) -> Option<Fixture> {
        let (config, dir, database) = match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}", dir.path().join("t.db").display());
                (config(url), Some(dir), None)
            }
            Backend::Postgres => {
                let database = TestDatabase::create().await?;
                (config(database.url.clone()), None, Some(database))
            }
        };
        let store = open(backend, &config).await;
        store.migrate().await.unwrap();
        Some(Fixture {
            store,
            backend,
            config,
            _dir: dir,
            database,
        })
    }

    /// Shuts the store down and opens it again (as a restarted process would).
    pub(crate) async fn reopen(&mut self) {
        self.store.shutdown().await;
        self.store = open(self.backend, &self.config).await;
    }

    /// Another gateway's store on the same database (PostgreSQL only: SQLite has one owner).
    pub(crate) async fn replica(&self) -> Arc<dyn Store> {
        assert_eq!(self.backend, Backend::Postgres, "only PostgreSQL is shared");
        open(self.backend, &self.config).await
    }

    pub(crate) fn database(&self) -> Option<&TestDatabase> {
        self.database.as_ref()
    }
}

fn config(url: String) -> StoreConfig {
    StoreConfig {
        url: DatabaseUrl::new(url),
        max_batch: 64,
        ..StoreConfig::default()
    }
}

async fn open(backend: Backend, config: &StoreConfig) -> Arc<dyn Store> {
    match (backend, crate::store::StoreUrl::parse(&config.url).unwrap()) {
        (Backend::Sqlite, crate::store::StoreUrl::Sqlite(path)) => {
            Arc::new(SqliteStore::open(&path, config.max_batch).await.unwrap())
        }
        (Backend::Postgres, crate::store::StoreUrl::Postgres(url)) => {
            Arc::new(PostgresStore::open(*url, config).await.unwrap())
        }
        other => panic!("mismatched backend {other:?}"),
    }
}

/// A database of its own on the test server, dropped (its connections closed) when this is.
pub(crate) struct TestDatabase {
    pub name: String,
    pub url: String,
}

impl TestDatabase {
    pub(crate) async fn create() -> Option<TestDatabase> {
        let admin = postgres_admin_url();
        let client = match admin_client(&admin).await {
            Ok(client) => client,
            Err(error) => {
                assert!(
                    std::env::var_os("GATEHOUSE_REQUIRE_SERVICES").is_none(),
                    "PostgreSQL is required (GATEHOUSE_REQUIRE_SERVICES is set) but {admin} answers: {error}"
                );
                eprintln!("SKIPPED: PostgreSQL store case: no server at {admin} ({error})");
                return None;
            }
        };
        let name = format!("gatehouse_test_{}", uuid::Uuid::now_v7().simple());
        client.batch_execute(&format!("CREATE DATABASE {name}")).await.unwrap();
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(base, _)| base);
        Some(TestDatabase {
            url: format!("{base}/{name}"),
            name,
        })
    }
}

async fn admin_client(url: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs outside any runtime's reach (and on panics): a thread with a runtime of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let client = admin_client(&postgres_admin_url()).await.ok()?;
                client
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await
                    .ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(()))) {
            eprintln!("could not drop test database {}", self.name);
        }
    }
}

/// Runs each named case (an `async fn(Backend)` in scope) against every backend.
macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test] async fn $case() { super::$case(crate::store::conformance::Backend::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test] async fn $case() { super::$case(crate::store::conformance::Backend::Postgres).await })*
        }
    };
}
pub(crate) use conformance;
