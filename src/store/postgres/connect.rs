//! Reaching PostgreSQL: parsing `store.url` (`postgres://` or `postgresql://`, `sslmode` honoured with rustls as
//! libpq does: `prefer` and `require` encrypt, `verify-ca` and `verify-full` also check the server's certificate
//! with the platform's verifier), the connection pool (`store.pool_size`, `store.statement_timeout`), and how a
//! driver error is described and classified (a commit whose answer was lost is uncertain, not failed).

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::store::StoreError;

/// A parsed `postgres://` or `postgresql://` URL: the connection settings and whether the server's certificate is
/// verified. Its Debug never shows the password (tokio-postgres prints it as `_`).
#[derive(Clone)]
pub struct PostgresUrl {
    pub(crate) config: tokio_postgres::Config,
    pub(crate) verify: bool,
}

impl std::fmt::Debug for PostgresUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresUrl")
            .field("config", &self.config)
            .field("verify", &self.verify)
            .finish()
    }
}

/// Parses `postgres://user[:password]@host[:port]/db[?sslmode=...]`. Errors never repeat the URL (it may hold a
/// password).
pub(crate) fn parse_url(url: &str) -> Result<PostgresUrl, StoreError> {
    // tokio-postgres knows disable|prefer|require; the verifying modes are require plus a certificate check.
    let mut verify = false;
    let mut text = url.to_owned();
    for mode in ["sslmode=verify-full", "sslmode=verify-ca"] {
        if text.contains(mode) {
            text = text.replace(mode, "sslmode=require");
            verify = true;
        }
    }
    let config: tokio_postgres::Config = text
        .parse()
        .map_err(|e: tokio_postgres::Error| StoreError::Url(format!("invalid PostgreSQL URL: {e}")))?;
    if config.get_hosts().is_empty() {
        return Err(StoreError::Url("the PostgreSQL URL names no host".into()));
    }
    if config.get_dbname().is_none() {
        return Err(StoreError::Url(
            "the PostgreSQL URL names no database (postgres://USER@HOST/DATABASE)".into(),
        ));
    }
    Ok(PostgresUrl { config, verify })
}

/// The TLS connector (unused with `sslmode=disable`): with `verify`, rustls with the platform's verifier, so the
/// server's certificate and name are checked as a browser would; without, encryption only, as libpq's `prefer` and
/// `require` do.
pub(super) fn tls(verify: bool) -> Result<MakeRustlsConnect, StoreError> {
    use rustls_platform_verifier::ConfigVerifierExt;
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = if verify {
        rustls::ClientConfig::with_platform_verifier()
            .map_err(|e| StoreError::Unavailable(format!("cannot set up TLS for PostgreSQL: {e}")))?
    } else {
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| StoreError::Unavailable(format!("cannot set up TLS for PostgreSQL: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(std::sync::Arc::new(super::unverified::EncryptOnly(provider)))
            .with_no_client_auth()
    };
    Ok(MakeRustlsConnect::new(config))
}

/// A pool of `size` connections; every connection gets `statement_timeout` (also its lock timeout) and an
/// `application_name`.
pub(super) fn pool(url: &PostgresUrl, size: usize, timeout: Duration) -> Result<Pool, StoreError> {
    let mut config = url.config.clone();
    let millis = timeout.as_millis();
    // Appended to the URL's own `options` (a `search_path`, say), which `options()` would replace.
    let theirs = config.get_options().map(|o| format!("{o} ")).unwrap_or_default();
    config
        .options(format!(
            "{theirs}-c statement_timeout={millis} -c lock_timeout={millis}"
        ))
        .connect_timeout(timeout)
        .application_name("gatehouse");
    let manager = Manager::from_config(
        config,
        tls(url.verify)?,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(timeout))
        .create_timeout(Some(timeout))
        .recycle_timeout(Some(timeout))
        .build()
        .map_err(|e| StoreError::Unavailable(format!("cannot build the PostgreSQL pool: {e}")))
}

/// Runs `first` then `then` in one transaction whose messages all go out at once (`BEGIN`, both, `COMMIT`: one
/// round trip), with generic plans (the store's statements are fixed, and PostgreSQL's custom plans, which it keeps
/// choosing for data-modifying CTEs, cost more to plan than to run). Both must be built from statements already
/// prepared, so each is sent on its first poll, in order. PostgreSQL turns the `COMMIT` into a rollback if a
/// statement failed, so: a database error anywhere is a certain failure; an answer lost on the way (the connection
/// closed, or a statement never sent) leaves the commit uncertain.
pub(super) async fn pipelined<A, B>(
    client: &tokio_postgres::Client,
    first: impl std::future::Future<Output = Result<A, tokio_postgres::Error>>,
    then: impl std::future::Future<Output = Result<B, tokio_postgres::Error>>,
) -> Result<(A, B), Failure> {
    let (begun, first, then, committed) = tokio::join!(
        client.batch_execute("BEGIN; SET LOCAL plan_cache_mode = force_generic_plan"),
        first,
        then,
        client.batch_execute("COMMIT")
    );
    let errors = [
        begun.as_ref().err(),
        first.as_ref().err(),
        then.as_ref().err(),
        committed.as_ref().err(),
    ];
    if let Some(lost) = errors.iter().flatten().find(|e| e.as_db_error().is_none()) {
        return Err(Failure::Other(StoreError::Uncertain(format!(
            "a transaction's answer was lost: {}",
            describe(lost)
        ))));
    }
    begun?;
    let (first, then) = (first?, then?);
    committed?;
    Ok((first, then))
}

/// A pooled connection, or `Unavailable` when none can be had.
pub(super) async fn get(pool: &Pool) -> Result<deadpool_postgres::Object, StoreError> {
    pool.get()
        .await
        .map_err(|e| StoreError::Unavailable(format!("no PostgreSQL connection: {}", pool_error(&e))))
}

fn pool_error(error: &deadpool_postgres::PoolError) -> String {
    match error {
        deadpool_postgres::PoolError::Backend(e) => describe(e),
        other => other.to_string(),
    }
}

/// A driver error in one line: the server's message and SQLSTATE when it sent one, else the driver's (which never
/// includes the password).
pub(crate) fn describe(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => match std::error::Error::source(error) {
            Some(source) => format!("{error}: {source}"),
            None => error.to_string(),
        },
    }
}

/// A failed `COMMIT` of an explicit transaction: the server refused it (nothing happened) or its answer never came
/// (it may have happened).
pub(super) fn commit_error(error: tokio_postgres::Error) -> StoreError {
    if error.as_db_error().is_some() {
        StoreError::Unavailable(describe(&error))
    } else {
        StoreError::Uncertain(format!("the commit's answer was lost: {}", describe(&error)))
    }
}

/// Why a write was not committed, classified where the driver answered: a statement that refused its own data
/// (SQLSTATE class 22 or 23, such as a NUL byte in text) fails alone on a retry; anything else is the database's.
pub(super) enum Failure {
    Data(StoreError),
    Other(StoreError),
}

impl Failure {
    pub(super) fn into_error(self) -> StoreError {
        match self {
            Failure::Data(error) | Failure::Other(error) => error,
        }
    }
}

impl From<tokio_postgres::Error> for Failure {
    fn from(error: tokio_postgres::Error) -> Self {
        let data = error
            .as_db_error()
            .is_some_and(|db| matches!(&db.code().code()[..2], "22" | "23"));
        if data {
            Failure::Data(error.into())
        } else {
            Failure::Other(error.into())
        }
    }
}

impl From<StoreError> for Failure {
    fn from(error: StoreError) -> Self {
        Failure::Other(error)
    }
}

impl From<Failure> for StoreError {
    fn from(failure: Failure) -> Self {
        failure.into_error()
    }
}
