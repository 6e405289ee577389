//! Handing writes to the writer thread and waiting for their commit ([`submit`], [`SqliteStore::write`] for data,
//! [`SqliteStore::maintain`] for housekeeping), and the retry of an idempotency key's answer that could not be
//! committed when its request finished.

use std::sync::Arc;

use rusqlite::Transaction;
use tokio::sync::{mpsc, oneshot};

use super::{SqliteStore, WRITE_DEADLINE, claims, keys, writer};
use crate::store::{KeyCompletion, StoreError};

impl SqliteStore {
    /// Runs `f` in the writer's next group commit and answers once that commit is durable.
    pub(super) async fn write<T: Send + 'static>(
        &self,
        f: impl FnMut(&Transaction<'_>) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let writer = self.writer.as_ref().ok_or(StoreError::Closed)?;
        let (op, answer) = writer::Op::boxed(f);
        submit(writer, op, answer).await
    }

    /// Runs `f` in the writer's next group commit like [`Self::write`], as housekeeping (a claim, pruning) whose
    /// success says nothing of the store's health.
    pub(super) async fn maintain<T: Send + 'static>(
        &self,
        f: impl FnMut(&Transaction<'_>) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.queue(writer::Role::Maintenance, writer::Durability::Synced, f)
            .await
    }

    /// Runs `f` in the writer's next group commit, answered once committed but, when nothing in the batch needs
    /// more, without waiting for the disk: for writes whose loss at a power failure only repeats work (a
    /// delivery's claim or outcome; see [`writer::Durability::Relaxed`]).
    pub(super) async fn relaxed<T: Send + 'static>(
        &self,
        role: writer::Role,
        f: impl FnMut(&Transaction<'_>) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.queue(role, writer::Durability::Relaxed, f).await
    }

    async fn queue<T: Send + 'static>(
        &self,
        role: writer::Role,
        durability: writer::Durability,
        f: impl FnMut(&Transaction<'_>) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let writer = self.writer.as_ref().ok_or(StoreError::Closed)?;
        let (op, answer) = writer::Op::boxed(f);
        submit(writer, Box::new(writer::WithRole(role, durability, op)), answer).await
    }

    /// Gives the idempotency answers still held in memory a last attempt (at shutdown: once the process is gone,
    /// their keys are free again).
    pub(super) async fn commit_held_answers(&self) {
        for (done, held) in self.claims.held_answers() {
            let (caller, key, token) = (done.caller.clone(), done.key.clone(), done.token);
            let stored = self
                .write(move |tx| keys::store(tx, &done, &held.fingerprint, held.expires_at_ms))
                .await;
            match stored {
                Ok(()) => {
                    self.claims.drop_claim(&caller, &key, token);
                }
                Err(error) => tracing::error!(%error, %caller,
                    "an idempotency key's answer could not be committed before shutdown; its key is free again"),
            }
        }
    }

    /// Keeps trying to commit a key's answer that could not be committed when its request finished, with backoff,
    /// until it is committed (then the in-memory claim holding it goes) or the store shuts down.
    pub(super) fn retry_key_write(&self, done: KeyCompletion, held: claims::Held) {
        let (Some(writer), claims) = (self.writer.clone(), Arc::clone(&self.claims)) else {
            return;
        };
        tokio::spawn(async move {
            let mut pause = std::time::Duration::from_millis(100);
            loop {
                tokio::time::sleep(pause).await;
                let (written, fingerprint) = (done.clone(), held.fingerprint.clone());
                let (op, answer) =
                    writer::Op::boxed(move |tx| keys::store(tx, &written, &fingerprint, held.expires_at_ms));
                match submit(&writer, op, answer).await {
                    Ok(()) => {
                        claims.drop_claim(&done.caller, &done.key, done.token);
                        tracing::info!("an idempotency key's answer held in memory is committed now");
                        return;
                    }
                    Err(StoreError::Closed) => {
                        tracing::error!(caller = %done.caller,
                            "the store shut down before an idempotency key's answer could be committed; after a \
                             restart that key is free again");
                        return;
                    }
                    Err(error) => tracing::warn!(%error, "an idempotency key's answer still cannot be committed"),
                }
                pause = (pause * 2).min(std::time::Duration::from_secs(5));
            }
        });
    }
}

/// Hands `op` to the writer and waits for its commit (at most [`WRITE_DEADLINE`]).
pub(super) async fn submit<T>(
    writer: &mpsc::Sender<writer::Command>,
    op: Box<dyn writer::Write>,
    answer: oneshot::Receiver<Result<T, StoreError>>,
) -> Result<T, StoreError> {
    let sent = tokio::time::timeout(WRITE_DEADLINE, writer.send(writer::Command::Write(op))).await;
    match sent {
        Ok(Ok(())) => {}
        // Never queued: it certainly did not happen.
        Ok(Err(_)) => return Err(StoreError::Closed),
        Err(_) => return Err(StoreError::Unavailable("the writer's queue stayed full".into())),
    }
    // Queued: a write not committed by the deadline may still commit after it, so its outcome is uncertain (a
    // webhook answers 503: the vendor retries, and if the commit did land, the retry is recognised as a duplicate).
    match tokio::time::timeout(WRITE_DEADLINE, answer).await {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(_)) => Err(StoreError::Uncertain("the writer stopped before answering".into())),
        Err(_) => Err(StoreError::Uncertain("the commit did not finish in time".into())),
    }
}
