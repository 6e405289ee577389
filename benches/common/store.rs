//! The store a bench runs on, from `BENCH_STORE`: `sqlite` (default: a file in a temp dir) or `postgres` (a fresh
//! database on `GATEHOUSE_TEST_POSTGRES`, default `postgres://postgres@127.0.0.1:5432/postgres`, dropped at the
//! end); its `store.url`, and row counts read straight from it.

use std::path::{Path, PathBuf};

pub enum BenchStore {
    Sqlite(PathBuf),
    Postgres { name: String, url: String },
}

fn admin_url() -> String {
    std::env::var("GATEHOUSE_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn on_postgres<T>(url: &str, f: impl AsyncFnOnce(&tokio_postgres::Client) -> T) -> T {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("connect to PostgreSQL at {url}: {e}"));
        tokio::spawn(connection);
        f(&client).await
    })
}

impl BenchStore {
    /// The store `BENCH_STORE` names; a SQLite file goes in `dir`.
    pub fn from_env(dir: &Path) -> BenchStore {
        match std::env::var("BENCH_STORE").as_deref() {
            Err(_) | Ok("sqlite") => BenchStore::Sqlite(dir.join("gatehouse.db")),
            Ok("postgres") => {
                let name = format!("gatehouse_bench_{}", std::process::id());
                on_postgres(&admin_url(), async |client| {
                    for sql in [
                        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                        format!("CREATE DATABASE {name}"),
                    ] {
                        client.batch_execute(&sql).await.expect("create the bench database");
                    }
                });
                let base = admin_url()
                    .rsplit_once('/')
                    .expect("a database in the URL")
                    .0
                    .to_owned();
                BenchStore::Postgres {
                    url: format!("{base}/{name}"),
                    name,
                }
            }
            Ok(other) => panic!("BENCH_STORE must be sqlite or postgres, not {other:?}"),
        }
    }

    pub fn label(&self) -> &'static str {
        match self {
            BenchStore::Sqlite(_) => "SQLite",
            BenchStore::Postgres { .. } => "PostgreSQL",
        }
    }

    /// The value of `store.url`.
    pub fn url(&self) -> String {
        match self {
            BenchStore::Sqlite(path) => format!("sqlite://{}", path.display()),
            BenchStore::Postgres { url, .. } => url.clone(),
        }
    }

    /// Runs `sql` (statements that take no parameters) on PostgreSQL; nothing on SQLite.
    pub fn execute_on_postgres(&self, sql: &str) {
        if let BenchStore::Postgres { url, .. } = self {
            on_postgres(url, async |client| {
                client.batch_execute(sql).await.expect("run the statement")
            });
        }
    }

    /// The one number `sql` selects (0 before the schema exists).
    pub fn count(&self, sql: &str) -> i64 {
        match self {
            BenchStore::Sqlite(path) => rusqlite::Connection::open(path)
                .and_then(|conn| conn.query_row(sql, [], |row| row.get(0)))
                .unwrap_or(0),
            BenchStore::Postgres { url, .. } => on_postgres(url, async |client| {
                client.query_one(sql, &[]).await.map_or(0, |row| row.get::<_, i64>(0))
            }),
        }
    }

    /// The first column (an integer) of every row `sql` selects.
    pub fn column(&self, sql: &str) -> Vec<i64> {
        match self {
            BenchStore::Sqlite(path) => {
                let conn = rusqlite::Connection::open(path).expect("open the bench database");
                let mut statement = conn.prepare(sql).expect("prepare the query");
                let rows = statement.query_map([], |row| row.get(0)).expect("run the query");
                rows.collect::<Result<_, _>>().expect("read the rows")
            }
            BenchStore::Postgres { url, .. } => on_postgres(url, async |client| {
                let rows = client.query(sql, &[]).await.expect("run the query");
                rows.iter().map(|row| row.get::<_, i64>(0)).collect()
            }),
        }
    }
}

impl Drop for BenchStore {
    fn drop(&mut self) {
        if let BenchStore::Postgres { name, .. } = self {
            let name = name.clone();
            on_postgres(&admin_url(), async |client| {
                let _ = client
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await;
            });
        }
    }
}
