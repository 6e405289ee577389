//! SQLite connection settings and schema migrations (numbered SQL files, tracked in `PRAGMA user_version`).

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use crate::store::StoreError;

const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_inbox_outbox.sql"),
    include_str!("migrations/0002_idempotency_commands.sql"),
    include_str!("migrations/0003_deliveries.sql"),
];

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
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

/// A read-only connection to an existing database (for inspection commands).
pub(super) fn connect_read_only(path: &Path) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
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
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", index + 1)?;
        tx.commit()?;
        tracing::info!(version = index + 1, "applied store migration");
    }
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
