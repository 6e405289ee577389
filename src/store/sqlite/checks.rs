//! Migration 7: the `CHECK (column IN (a, b, c))` constraints of the earlier migrations restated as
//! `column = a OR column = b OR column = c`, which admits exactly the same values.
//!
//! SQLite evaluates a constant `IN` list of more than two values by building a temporary b-tree of the list, and in a
//! CHECK constraint it builds it again for every row written: a pager, a page cache and a zeroed page per `INSERT`
//! into `outbox` and per status change of an event, a delivery or a command (about a fifth of the writer's
//! instructions at webhook-ingest saturation, counted with callgrind). The comparisons cost a few instructions.
//!
//! The rewrite changes no stored row, so it edits the tables' definitions in place (SQLite's documented procedure
//! for schema changes that do not touch the on-disk content: `writable_schema`, then a new `schema_version` so
//! every connection reloads the schema) instead of copying each table. The tests also hold the plans of the
//! listings and retention over migration 8's narrowed indexes.

use rusqlite::{Transaction, params};

use crate::store::StoreError;

/// `(table, constraint as migrations 1–6 wrote it, the same constraint without IN)`.
const REWRITES: &[(&str, &str, &str)] = &[
    (
        "outbox",
        "status IN ('pending', 'delivered', 'dead', 'quarantined')",
        "status = 'pending' OR status = 'delivered' OR status = 'dead' OR status = 'quarantined'",
    ),
    (
        "deliveries",
        "state IN ('pending', 'delivered', 'dead')",
        "state = 'pending' OR state = 'delivered' OR state = 'dead'",
    ),
    (
        "commands",
        "status IN ('pending', 'succeeded', 'failed', 'cancelled')",
        "status = 'pending' OR status = 'succeeded' OR status = 'failed' OR status = 'cancelled'",
    ),
    (
        "read_model",
        "source IN ('webhook', 'read', 'write')",
        "source = 'webhook' OR source = 'read' OR source = 'write'",
    ),
];

/// Rewrites every constraint of [`REWRITES`]; a table whose definition does not hold the expected text fails the
/// migration (nothing is changed: the caller's transaction rolls back).
pub(super) fn rewrite(tx: &Transaction<'_>) -> Result<(), StoreError> {
    let version: i64 = tx.query_row("PRAGMA schema_version", [], |row| row.get(0))?;
    tx.pragma_update(None, "writable_schema", "ON")?;
    let rewritten = rewrite_all(tx);
    // Off again whatever happened: the connection may outlive a failed migration.
    tx.pragma_update(None, "writable_schema", "OFF")?;
    rewritten?;
    tx.pragma_update(None, "schema_version", version + 1)?;
    Ok(())
}

fn rewrite_all(tx: &Transaction<'_>) -> Result<(), StoreError> {
    for (table, from, to) in REWRITES {
        let changed = tx.execute(
            "UPDATE sqlite_schema SET sql = replace(sql, ?1, ?2)
             WHERE type = 'table' AND name = ?3 AND instr(sql, ?1) > 0",
            params![from, to, table],
        )?;
        if changed != 1 {
            return Err(StoreError::Schema(format!(
                "table {table} does not hold the constraint `{from}` migration 7 restates; the database was changed \
                 outside gatehouse"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::schema;

    fn ops(conn: &rusqlite::Connection, sql: &str, args: usize) -> Vec<String> {
        let mut explain = conn.prepare(&format!("EXPLAIN {sql}")).unwrap();
        let nulls = vec![rusqlite::types::Value::Null; args];
        explain
            .query_map(rusqlite::params_from_iter(nulls), |row| row.get::<_, String>(1))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn constraints_keep_their_values_without_a_temporary_btree_per_row() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        let mut conn = schema::connect(&path).unwrap();
        schema::migrate(&mut conn).unwrap();
        drop(conn);
        // A new connection reads the rewritten schema, and so does the integrity check.
        let conn = schema::connect(&path).unwrap();
        let ok: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
        assert_eq!(ok, "ok");
        for sql in [
            "INSERT INTO outbox (id, provider, event_type, subject, provider_event_id, correlation_id, received_at_ms,
                                 envelope, raw_body, status) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            "UPDATE outbox SET status = ?1 WHERE seq = ?2",
            "UPDATE deliveries SET state = ?1 WHERE subscription = ?2 AND event_seq = ?3",
            "UPDATE commands SET status = ?1 WHERE id = ?2",
            "UPDATE read_model SET source = ?1 WHERE provider = ?2",
        ] {
            let args = sql.matches('?').count();
            assert!(
                !ops(&conn, sql, args).iter().any(|op| op == "OpenEphemeral"),
                "{sql} builds a temporary b-tree"
            );
        }
        let insert = |status: &str| {
            conn.execute(
                "INSERT INTO outbox (id, provider, event_type, provider_event_id, correlation_id, received_at_ms,
                                     envelope, raw_body, status) VALUES (?1, 'p', 't', ?1, 'c', 1, x'', x'', ?2)",
                rusqlite::params![format!("id-{status}"), status],
            )
        };
        for status in ["pending", "delivered", "dead", "quarantined"] {
            insert(status).unwrap();
        }
        let refused = insert("lost").unwrap_err().to_string();
        assert!(refused.contains("CHECK constraint failed"), "{refused}");
    }

    #[test]
    fn listings_and_retention_read_in_order_without_sorting_every_row() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = schema::connect(&dir.path().join("p.db")).unwrap();
        schema::migrate(&mut conn).unwrap();
        for (sql, index) in [
            // Delivered events (the bulk) from the table in `seq` order; the others from the status index.
            (
                "SELECT seq FROM outbox o WHERE o.status = 'delivered' ORDER BY o.seq DESC LIMIT 50",
                None,
            ),
            (
                "SELECT seq FROM outbox o WHERE o.status = 'dead' AND o.status <> 'delivered' ORDER BY o.seq DESC \
                 LIMIT 50",
                Some("outbox_status"),
            ),
            (
                "SELECT seq FROM outbox WHERE status = 'delivered' AND received_at_ms < 5 ORDER BY received_at_ms \
                 LIMIT 500",
                Some("outbox_retention"),
            ),
        ] {
            let plan: Vec<String> = conn
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .unwrap()
                .query_map([], |row| row.get::<_, String>(3))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            let plan = plan.join("; ");
            assert!(!plan.contains("TEMP B-TREE"), "{sql}: {plan}");
            if let Some(index) = index {
                assert!(plan.contains(index), "{sql}: {plan}");
            }
        }
    }

    #[test]
    fn a_table_without_the_expected_constraint_fails_the_migration() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE outbox (status TEXT)").unwrap();
        let tx = conn.transaction().unwrap();
        let error = super::rewrite(&tx).unwrap_err().to_string();
        assert!(error.contains("outbox"), "{error}");
    }
}
