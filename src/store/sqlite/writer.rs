//! The single SQLite writer: one thread that owns the write connection and **group-commits** whatever writes are
//! waiting (webhooks, idempotency keys, commands). While one batch's fsync runs, the next batch queues, so each
//! fsync carries many writes and durability does not cost throughput. Every caller is answered only after its
//! batch's commit returned.
//!
//! A batch holding only [`Durability::Relaxed`] writes (a delivery's claim or outcome: losing one at a power
//! failure only makes a delivery happen again, and delivery is at least once) commits with `synchronous=NORMAL`:
//! no fsync of its own. WAL frames are appended in commit order, so such a commit is never lost while a later
//! synced one survives: the next `FULL` commit makes it durable too.

use std::sync::Arc;

use rusqlite::{Connection, Transaction, TransactionBehavior};
use tokio::sync::oneshot;

use super::health::Health;
use crate::store::StoreError;

/// One write: applied inside the batch's transaction, answered once that transaction committed (or failed).
pub(super) trait Write: Send {
    /// Runs the write's statements in `tx`, remembering its answer. May run again (alone) if its batch failed.
    fn apply(&mut self, tx: &Transaction<'_>) -> rusqlite::Result<()>;
    /// Sends the remembered answer (`Ok`) or `error` to the waiting caller.
    fn answer(self: Box<Self>, outcome: Result<(), StoreError>);
    /// What its outcome tells [`Health`] about the store's writes.
    fn role(&self) -> Role {
        Role::Data
    }
    /// Whether its commit must be on disk before it is answered.
    fn durability(&self) -> Durability {
        Durability::Synced
    }
}

/// Whether a write's commit must reach the disk before it is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Durability {
    /// `synchronous=FULL`: committed means on disk (events, keys' answers, commands, operators' requests).
    Synced,
    /// `synchronous=NORMAL` when the whole batch is relaxed: its loss at a power failure only repeats work.
    Relaxed,
}

/// What a write's outcome says about the store's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    /// Stores data (an event, a key's answer, a command, a delivery's outcome): its success shows writes work.
    Data,
    /// Housekeeping (claims, pruning): it may change no row and need no room, so only its failure tells anything.
    Maintenance,
    /// The readiness probe: its own answer is the signal; it touches one row that never grows, so it can succeed
    /// while writes that need room fail.
    Probe,
}

/// A write with a [`Role`] and a [`Durability`] of its own.
pub(super) struct WithRole(pub Role, pub Durability, pub Box<dyn Write>);

impl Write for WithRole {
    fn apply(&mut self, tx: &Transaction<'_>) -> rusqlite::Result<()> {
        self.2.apply(tx)
    }

    fn answer(self: Box<Self>, outcome: Result<(), StoreError>) {
        self.2.answer(outcome);
    }

    fn role(&self) -> Role {
        self.0
    }

    fn durability(&self) -> Durability {
        self.1
    }
}

/// A failure the writer can be made to show ([`crate::store::Store::inject_fault`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fault {
    None,
    /// Every write fails as on a read-only database (`PRAGMA query_only`).
    ReadOnly,
    /// Writes that need a new page fail as on a full disk (`PRAGMA max_page_count` at the current size).
    Full,
}

/// Applies `fault` to the write connection.
fn set_fault(conn: &Connection, fault: Fault) -> rusqlite::Result<()> {
    conn.pragma_update(None, "query_only", fault == Fault::ReadOnly)?;
    let pages: i64 = match fault {
        Fault::Full => conn.query_row("PRAGMA page_count", [], |r| r.get(0))?,
        Fault::None | Fault::ReadOnly => i64::from(u32::MAX - 1),
    };
    conn.query_row(&format!("PRAGMA max_page_count = {pages}"), [], |_| Ok(()))
}

/// A [`Write`] from a closure and the channel its caller waits on.
pub(super) struct Op<T, F> {
    run: F,
    result: Option<T>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> Op<T, F>
where
    T: Send + 'static,
    F: FnMut(&Transaction<'_>) -> rusqlite::Result<T> + Send + 'static,
{
    pub(super) fn boxed(run: F) -> (Box<dyn Write>, oneshot::Receiver<Result<T, StoreError>>) {
        let (reply, answer) = oneshot::channel();
        (
            Box::new(Op {
                run,
                result: None,
                reply,
            }),
            answer,
        )
    }
}

impl<T, F> Write for Op<T, F>
where
    T: Send + 'static,
    F: FnMut(&Transaction<'_>) -> rusqlite::Result<T> + Send + 'static,
{
    fn apply(&mut self, tx: &Transaction<'_>) -> rusqlite::Result<()> {
        self.result = Some((self.run)(tx)?);
        Ok(())
    }

    fn answer(self: Box<Self>, outcome: Result<(), StoreError>) {
        let this = *self;
        let answer = outcome.and_then(|()| {
            this.result
                .ok_or_else(|| StoreError::Unavailable("the write produced no result".into()))
        });
        let _ = this.reply.send(answer);
    }
}

pub(super) enum Command {
    Write(Box<dyn Write>),
    /// Make writes fail (or stop failing) from now on.
    Fault(Fault, oneshot::Sender<Result<(), StoreError>>),
    /// Stop after everything queued before it; answered when the thread is done.
    Shutdown(oneshot::Sender<()>),
}

/// Runs until a `Shutdown` command arrives or every sender is gone.
pub(super) fn run(
    mut conn: Connection,
    mut rx: tokio::sync::mpsc::Receiver<Command>,
    max_batch: usize,
    health: Arc<Health>,
) {
    let mut batch: Vec<Box<dyn Write>> = Vec::with_capacity(max_batch);
    let mut stop = None;
    let mut sync = Durability::Synced;
    while stop.is_none() {
        let Some(first) = rx.blocking_recv() else {
            break;
        };
        let mut next = Some(first);
        while let Some(command) = next.take() {
            match command {
                Command::Write(write) => batch.push(write),
                Command::Fault(fault, done) => {
                    // Writes queued before it commit as they would have.
                    if !batch.is_empty() {
                        commit(&mut conn, &mut batch, &health, &mut sync);
                    }
                    let _ = done.send(set_fault(&conn, fault).map_err(StoreError::from));
                }
                Command::Shutdown(done) => {
                    stop = Some(done);
                    break;
                }
            }
            if batch.len() < max_batch {
                next = rx.try_recv().ok();
            }
        }
        if !batch.is_empty() {
            commit(&mut conn, &mut batch, &health, &mut sync);
        }
    }
    drop(conn);
    if let Some(done) = stop {
        let _ = done.send(());
    }
}

/// Sets `synchronous` for a batch that needs `wanted` (`sync` is the connection's setting). A relaxed batch that
/// cannot relax commits synced; a batch that must be synced and cannot be is refused.
fn synchronous(conn: &Connection, wanted: Durability, sync: &mut Durability) -> rusqlite::Result<()> {
    if wanted == *sync {
        return Ok(());
    }
    let mode = match wanted {
        Durability::Synced => "FULL",
        Durability::Relaxed => "NORMAL",
    };
    match conn.pragma_update(None, "synchronous", mode) {
        Ok(()) => {
            *sync = wanted;
            Ok(())
        }
        Err(error) if wanted == Durability::Synced => Err(error),
        Err(_) => Ok(()),
    }
}

/// Commits the batch in one transaction. If that fails, each write is retried in a transaction of its own, so one
/// bad write cannot fail its neighbours.
fn commit(conn: &mut Connection, batch: &mut Vec<Box<dyn Write>>, health: &Health, sync: &mut Durability) {
    let wanted = if batch.iter().any(|w| w.durability() == Durability::Synced) {
        Durability::Synced
    } else {
        Durability::Relaxed
    };
    if let Err(error) = synchronous(conn, wanted, sync) {
        tracing::error!(%error, "cannot make commits synchronous");
        for write in batch.drain(..) {
            health.record(write.role(), &Err(StoreError::Unavailable(error.to_string())), true);
            write.answer(Err(StoreError::Unavailable(error.to_string())));
        }
        return;
    }
    let started = std::time::Instant::now();
    metrics::histogram!(crate::metrics::COMMIT_BATCH).record(batch.len() as f64);
    let written = apply_all(conn, batch);
    metrics::histogram!(crate::metrics::COMMIT_SECONDS).record(started.elapsed().as_secs_f64());
    let answer = |write: Box<dyn Write>, outcome: Result<(), StoreError>, store_wide: bool| {
        health.record(write.role(), &outcome, store_wide);
        write.answer(outcome);
    };
    match written {
        Ok(()) => {
            for write in batch.drain(..) {
                answer(write, Ok(()), false);
            }
        }
        Err(error) if batch.len() == 1 || !is_write_specific(&error) => {
            tracing::error!(%error, "store write failed");
            let store_wide = !is_write_specific(&error);
            for write in batch.drain(..) {
                answer(write, Err(StoreError::Unavailable(error.to_string())), store_wide);
            }
        }
        Err(error) => {
            tracing::warn!(%error, size = batch.len(), "batch commit failed; retrying its writes one by one");
            for mut write in batch.drain(..) {
                let written = apply_all(conn, std::slice::from_mut(&mut write));
                let store_wide = written.as_ref().is_err_and(|e| !is_write_specific(e));
                let outcome = written.map_err(|e| {
                    tracing::error!(error = %e, "store write failed");
                    StoreError::Unavailable(e.to_string())
                });
                answer(write, outcome, store_wide);
            }
        }
    }
}

fn apply_all(conn: &mut Connection, batch: &mut [Box<dyn Write>]) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    for write in batch.iter_mut() {
        write.apply(&tx)?;
    }
    tx.commit()
}

/// Whether a failed batch may succeed write by write: a constraint or data error belongs to one write; a busy,
/// locked, full or failing database fails every write alike, so the batch fails at once instead of waiting out
/// the busy timeout once per write.
fn is_write_specific(error: &rusqlite::Error) -> bool {
    use rusqlite::ErrorCode;
    !matches!(
        error.sqlite_error_code(),
        Some(
            ErrorCode::DatabaseBusy
                | ErrorCode::DatabaseLocked
                | ErrorCode::SystemIoFailure
                | ErrorCode::DiskFull
                | ErrorCode::ReadOnly
                | ErrorCode::CannotOpen
                | ErrorCode::DatabaseCorrupt
                | ErrorCode::NotADatabase
                | ErrorCode::OutOfMemory,
        )
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setting(conn: &Connection) -> i64 {
        conn.query_row("PRAGMA synchronous", [], |r| r.get(0)).unwrap()
    }

    fn op(durability: Durability) -> (Box<dyn Write>, oneshot::Receiver<Result<(), StoreError>>) {
        let (op, answer) = Op::boxed(|tx: &Transaction<'_>| tx.execute("INSERT INTO t VALUES (1)", []).map(|_| ()));
        (Box::new(WithRole(Role::Data, durability, op)), answer)
    }

    #[test]
    fn a_batch_of_relaxed_writes_skips_the_fsync_and_any_synced_write_restores_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = super::super::schema::connect_writer(&dir.path().join("w.db")).unwrap();
        conn.execute_batch("CREATE TABLE t (n INTEGER)").unwrap();
        let health = Health::default();
        let mut sync = Durability::Synced;
        let (relaxed, answered) = op(Durability::Relaxed);
        commit(&mut conn, &mut vec![relaxed], &health, &mut sync);
        assert!(answered.blocking_recv().unwrap().is_ok());
        assert_eq!(
            (setting(&conn), sync),
            (1, Durability::Relaxed),
            "NORMAL: no fsync of its own"
        );
        let (relaxed, first) = op(Durability::Relaxed);
        let (synced, second) = op(Durability::Synced);
        commit(&mut conn, &mut vec![relaxed, synced], &health, &mut sync);
        assert!(first.blocking_recv().unwrap().is_ok() && second.blocking_recv().unwrap().is_ok());
        assert_eq!(
            (setting(&conn), sync),
            (2, Durability::Synced),
            "FULL: on disk before answering"
        );
        let count: i64 = conn.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(count, 3);
    }

    #[test]
    fn the_writers_statements_are_not_planned_again_for_new_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.db");
        let setup = super::super::schema::connect(&path).unwrap();
        // A partial index makes SQLite look at a bound value to decide whether the index applies to it.
        setup
            .execute_batch(
                "CREATE TABLE e (seq INTEGER PRIMARY KEY, status TEXT, at INTEGER);
                 CREATE INDEX e_open ON e (status, at) WHERE status = 'open';",
            )
            .unwrap();
        let replanned = |conn: &Connection| {
            let mut stmt = conn
                .prepare_cached("UPDATE e SET at = ?2 WHERE status = ?1 AND at < ?2")
                .unwrap();
            for at in 0..5 {
                let status = if at % 2 == 0 { "open" } else { "done" };
                stmt.execute(rusqlite::params![status, at]).unwrap();
            }
            stmt.get_status(rusqlite::StatementStatus::RePrepare)
        };
        assert!(replanned(&setup) > 0, "without QPSG, new values re-plan the statement");
        let writer = super::super::schema::connect_writer(&path).unwrap();
        assert_eq!(replanned(&writer), 0);
    }
}
