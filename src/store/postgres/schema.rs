//! Versioned migrations (numbered SQL files, recorded in `gatehouse_migrations`), applied under a session advisory
//! lock so replicas starting together apply each one once; and the check that the schema matches this binary.

use deadpool_postgres::Pool;

use super::connect;
use crate::store::StoreError;

const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_initial.sql"),
    include_str!("migrations/0002_operate.sql"),
    include_str!("migrations/0003_read_model.sql"),
    include_str!("migrations/0004_sagas.sql"),
];

/// The advisory lock key migrations hold (any constant shared by every replica).
const MIGRATION_LOCK: i64 = 0x6761_7465_0001;

pub(super) async fn migrate(pool: &Pool) -> Result<(), StoreError> {
    let mut conn = connect::get(pool).await?;
    conn.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK]).await?;
    let applied = apply(&mut conn).await;
    let unlocked = conn.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK]).await;
    applied?;
    unlocked?;
    Ok(())
}

async fn apply(conn: &mut deadpool_postgres::Object) -> Result<(), StoreError> {
    conn.batch_execute(
        "CREATE TABLE IF NOT EXISTS gatehouse_migrations (
             version    integer PRIMARY KEY,
             applied_at timestamptz NOT NULL DEFAULT now())",
    )
    .await?;
    let current = version(conn).await?;
    if current > MIGRATIONS.len() {
        return Err(newer(current));
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let tx = conn.transaction().await?;
        tx.batch_execute(sql).await?;
        let number = i32::try_from(index + 1).unwrap_or(i32::MAX);
        tx.execute("INSERT INTO gatehouse_migrations (version) VALUES ($1)", &[&number])
            .await?;
        tx.commit().await.map_err(connect::commit_error)?;
        tracing::info!(version = index + 1, "applied store migration");
    }
    Ok(())
}

async fn version(conn: &deadpool_postgres::Object) -> Result<usize, StoreError> {
    let row = conn
        .query_one("SELECT COALESCE(MAX(version), 0) FROM gatehouse_migrations", &[])
        .await?;
    let version: i32 = row.try_get(0)?;
    Ok(usize::try_from(version).unwrap_or(0))
}

fn newer(current: usize) -> StoreError {
    StoreError::Schema(format!(
        "the database schema is version {current}, newer than this gatehouse ({}); upgrade gatehouse",
        MIGRATIONS.len()
    ))
}

/// Runs `ANALYZE` on each of the store's tables changed by more than a tenth (and a thousand rows) since its last
/// analysis; returns how many.
pub(super) async fn analyze_changed(pool: &Pool) -> Result<usize, StoreError> {
    let conn = connect::get(pool).await?;
    let stale = conn
        .query(
            "SELECT relname FROM pg_stat_user_tables
             WHERE schemaname = current_schema()
               AND relname IN ('inbox', 'outbox', 'deliveries', 'delivery_attempts', 'idempotency_keys', 'commands',
                               'read_model')
               AND n_mod_since_analyze > 1000 + n_live_tup / 10",
            &[],
        )
        .await?;
    for row in &stale {
        let table: &str = row.try_get(0)?;
        conn.batch_execute(&format!("ANALYZE {table}")).await?;
        tracing::debug!(table, "refreshed the planner's statistics");
    }
    Ok(stale.len())
}

/// Fails with a clear message when the schema is not (fully) migrated.
pub(super) async fn check(pool: &Pool) -> Result<(), StoreError> {
    let conn = connect::get(pool).await?;
    let exists: bool = conn
        .query_one("SELECT to_regclass('gatehouse_migrations') IS NOT NULL", &[])
        .await?
        .try_get(0)?;
    let current = if exists { version(&conn).await? } else { 0 };
    if current > MIGRATIONS.len() {
        return Err(newer(current));
    }
    if current != MIGRATIONS.len() {
        return Err(StoreError::Schema(format!(
            "the database schema is at version {current}, expected {}; run `gatehouse migrate`",
            MIGRATIONS.len()
        )));
    }
    Ok(())
}
