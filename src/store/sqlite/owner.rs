//! One owner per database file. The embedded store's guarantees rest on a single writing process: its idempotency
//! claims live in that process's memory, and its group commit assumes no other writer. A second gateway on the same
//! file would break them silently (two replicas, one `Idempotency-Key`, two vendor calls), so opening the file for
//! writing as its owner (`serve`, `relay`) takes an exclusive lock on `<file>.lock` for as long as the store is
//! open, and a second owner gets a clear error instead. The lock is the operating system's (`flock`): it goes with
//! the process, crash included. Read-only commands (`events list`) and one-shot operator commands (`events
//! replay`, `events retranslate`, `migrate`, which hold no in-memory state) take no lock.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::store::StoreError;

/// How long an opener waits for a previous owner that is shutting down (a restart) before giving up.
const WAIT: Duration = Duration::from_secs(1);

/// Takes the owner lock of the database at `path`, creating its directory and lock file if needed.
pub(super) fn lock(path: &Path) -> Result<File, StoreError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| StoreError::Unavailable(format!("cannot create directory {}: {e}", parent.display())))?;
    }
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&name)
        .map_err(|e| StoreError::Unavailable(format!("cannot open {}: {e}", Path::new(&name).display())))?;
    let started = Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(TryLockError::WouldBlock) if started.elapsed() < WAIT => std::thread::sleep(Duration::from_millis(20)),
            Err(TryLockError::WouldBlock) => return Err(in_use(path)),
            Err(TryLockError::Error(e)) => {
                return Err(StoreError::Unavailable(format!(
                    "cannot lock {}: {e}",
                    Path::new(&name).display()
                )));
            }
        }
    }
}

fn in_use(path: &Path) -> StoreError {
    StoreError::Unavailable(format!(
        "{} is in use by another gatehouse process: the embedded SQLite store has one gateway or relay at a time \
         (a second one would break idempotency keys). Stop that process first; while it runs, the `gatehouse \
         events` commands still work beside it. To run several gateways, use PostgreSQL (store.url = \
         \"postgres://...\"; see \"Running several replicas\" in the README)",
        path.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_owner_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("data").join("g.db");
        let first = lock(&db).unwrap();
        let refused = lock(&db).unwrap_err().to_string();
        assert!(refused.contains("in use by another gatehouse process"), "{refused}");
        assert!(refused.contains("PostgreSQL"), "{refused}");
        drop(first);
        lock(&db).unwrap();
    }
}
