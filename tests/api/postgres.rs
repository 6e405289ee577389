//! A PostgreSQL database per test (created fresh, dropped with its connections afterwards) and gateway configs
//! pointing at it. Without a server the test is skipped with a loud message, unless `GATEHOUSE_REQUIRE_SERVICES`
//! is set (CI), where a missing server fails it.

use std::path::{Path, PathBuf};

use crate::helpers::test_config_toml;

pub fn admin_url() -> String {
    std::env::var("GATEHOUSE_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub struct Database {
    pub name: String,
    pub url: String,
    /// Where the configs written by [`Database::config`] live.
    pub dir: tempfile::TempDir,
}

async fn admin() -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(&admin_url(), tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

impl Database {
    /// A fresh database, or `None` (skip) when no server answers and the run does not require one.
    pub async fn create() -> Option<Database> {
        let client = match admin().await {
            Ok(client) => client,
            Err(error) => {
                assert!(
                    std::env::var_os("GATEHOUSE_REQUIRE_SERVICES").is_none(),
                    "PostgreSQL is required (GATEHOUSE_REQUIRE_SERVICES is set): {error}"
                );
                eprintln!("SKIPPED: replica test: no PostgreSQL at {} ({error})", admin_url());
                return None;
            }
        };
        let name = format!("gatehouse_it_{}", uuid::Uuid::now_v7().simple());
        client.batch_execute(&format!("CREATE DATABASE {name}")).await.unwrap();
        let base = admin_url().rsplit_once('/').unwrap().0.to_owned();
        Some(Database {
            url: format!("{base}/{name}"),
            name,
            dir: tempfile::tempdir().unwrap(),
        })
    }

    /// A gateway config (the test config with `extra`) on this database, written as `<file>.toml`.
    pub fn config(&self, file: &str, extra: &str) -> PathBuf {
        let sqlite = test_config_toml(Path::new("unused.db"));
        let base = sqlite.replace("url = \"sqlite://unused.db\"", &format!("url = \"{}\"", self.url));
        let path = self.dir.path().join(format!("{file}.toml"));
        std::fs::write(&path, base + extra).unwrap();
        path
    }

    /// Closes every connection to this database but the caller's (as a PostgreSQL restart or failover would).
    pub async fn kill_connections(&self) -> u64 {
        let client = admin().await.unwrap();
        let row = client
            .query_one(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                 WHERE datname = $1 AND pid <> pg_backend_pid()",
                &[&self.name],
            )
            .await
            .unwrap();
        u64::try_from(row.get::<_, i64>(0)).unwrap()
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let name = self.name.clone();
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let client = admin().await.ok()?;
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
