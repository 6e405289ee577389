//! SQLite connection settings and schema migrations (numbered steps, SQL or code, in `PRAGMA user_version`).

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};

use crate::store::StoreError;

/// One schema step: a SQL file, or code for a change SQL alone cannot state.
enum Migration {
    Sql(&'static str),
    Code(fn(&Transaction<'_>) -> Result<(), StoreError>),
}

const MIGRATIONS: &[Migration] = &[
    Migration::Sql(include_str!("migrations/0001_inbox_outbox.sql")),
    Migration::Sql(include_str!("migrations/0002_idempotency_commands.sql")),
    Migration::Sql(include_str!("migrations/0003_deliveries.sql")),
    Migration::Sql(include_str!("migrations/0004_quarantine.sql")),
    Migration::Sql(include_str!("migrations/0005_operate.sql")),
    Migration::Sql(include_str!("migrations/0006_read_model.sql")),
    Migration::Code(super::checks::rewrite),
    Migration::Sql(include_str!("migrations/0008_outbox_indexes.sql")),
    Migration::Sql(include_str!("migrations/0009_sagas.sql")),
];

/// Prepared statements kept per connection: more than the store's distinct statements, so none is parsed and planned
/// again while the gateway runs (rusqlite's default, 16, made the writer re-parse statements in turn: the relay's
/// claim alone is a few hundred microseconds to plan).
const STATEMENT_CACHE: usize = 256;

/// Opens a connection with the durability settings every connection shares: WAL, `synchronous=FULL` (a commit is
/// on disk before it returns, power loss included), and a busy timeout for other processes' writes.
pub(super) fn connect(path: &Path) -> Result<Connection, StoreError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| StoreError::Unavailable(format!("cannot create directory {}: {e}", parent.display())))?;
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

/// The writer's connection: [`connect`]'s, with the query planner's stability guarantee (QPSG) on. Without it, a
/// statement whose bound values the planner looked at is parsed and planned again whenever they change, and the
/// planner looks at every value on a table with a partial index (to check whether the index applies): on `outbox`
/// and `deliveries`, that was nearly every statement the writer runs (a third of the writer's CPU at a steady
/// 1,000 webhooks/s went to re-planning the relay's claim alone). The writer's statements are point lookups and
/// fixed plans; the partial indexes serve the console's reads, which state their conditions literally, on the
/// other connections.
pub(super) fn connect_writer(path: &Path) -> Result<Connection, StoreError> {
    let conn = connect(path)?;
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    Ok(conn)
}

/// A read-only connection to an existing database (for inspection commands).
pub(super) fn connect_read_only(path: &Path) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.busy_timeout(Duration::from_secs(5))?;
    Ok(conn)
}

pub(super) fn version(conn: &Connection) -> Result<usize, StoreError> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    Ok(usize::try_from(version).unwrap_or(usize::MAX))
}

/// Applies the migrations this database has not had, each in its own transaction.
pub(super) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let current = version(conn)?;
    if current > MIGRATIONS.len() {
        return Err(StoreError::Schema(format!(
            "the database schema is version {current}, newer than this gatehouse ({}); upgrade gatehouse",
            MIGRATIONS.len()
        )));
    }
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(current) {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        match migration {
            Migration::Sql(sql) => tx.execute_batch(sql)?,
            Migration::Code(step) => step(&tx)?,
        }
        tx.pragma_update(None, "user_version", index + 1)?;
        tx.commit()?;
        tracing::info!(version = index + 1, "applied store migration");
    }
    // Table statistics for the query planner (the console's filters pick their index by them); cheap when they
    // are recent (SQLite analyses only tables that changed a lot, and a bounded sample of each).
    conn.execute_batch("PRAGMA optimize = 0x10002")?;
    Ok(())
}

/// Fails with a clear message when the schema is not (fully) migrated.
pub(super) fn check(conn: &Connection) -> Result<(), StoreError> {
    let current = version(conn)?;
    if current != MIGRATIONS.len() {
        return Err(StoreError::Schema(format!(
            "the database schema is at version {current}, expected {}; run `gatehouse migrate`",
            MIGRATIONS.len()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quarantine_migration_keeps_every_event_and_frees_wedged_deliveries() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = connect(&dir.path().join("m.db")).unwrap();
        // A database at version 3, with two events of one subject: seq 7 replayed behind seq 9, which retries.
        for (index, migration) in MIGRATIONS.iter().enumerate().take(3) {
            let Migration::Sql(sql) = migration else {
                unreachable!("the first migrations are SQL")
            };
            conn.execute_batch(sql).unwrap();
            conn.pragma_update(None, "user_version", index + 1).unwrap();
        }
        conn.execute_batch(
            "INSERT INTO outbox (seq, id, provider, event_type, subject, provider_event_id, correlation_id,
                                 received_at_ms, status, envelope, raw_body)
             VALUES (7, 'e7', 'p', 'p.t', 's', 'x7', 'c', 1, 'pending', x'7b7d', x''),
                    (9, 'e9', 'p', 'p.t', 's', 'x9', 'c', 2, 'pending', x'7b7d', x'');
             INSERT INTO deliveries (subscription, event_seq, subject, ordered, next_attempt_ms, updated_at_ms)
             VALUES ('sub', 7, 's', 1, 9223372036854775807, 0), ('sub', 9, 's', 1, 5000, 0);",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        check(&conn).unwrap();
        let rows: Vec<(i64, String, String)> = conn
            .prepare("SELECT seq, id, status FROM outbox ORDER BY seq")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            rows,
            [(7, "e7".into(), "pending".into()), (9, "e9".into(), "pending".into())]
        );
        let due: Vec<i64> = conn
            .prepare("SELECT next_attempt_ms FROM deliveries ORDER BY event_seq")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            due,
            [0, 5000],
            "the replayed delivery no longer waits behind the newer one"
        );
        conn.execute(
            "UPDATE outbox SET status = 'quarantined', quarantine_error = 'e' WHERE seq = 9",
            [],
        )
        .unwrap();
    }
}
