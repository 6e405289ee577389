//! Prompt wake-ups across replicas: writes that give the relay or the command executor work `NOTIFY` one channel
//! in their transaction (PostgreSQL delivers it at commit), and every replica `LISTEN`s on a connection of its
//! own and wakes its workers (relay, command and saga executors), so an event ingested on one replica is delivered by another's relay at once rather
//! than at its next poll. The listener reconnects by itself; after it (re)connects it wakes every worker, for the
//! notifications it may have missed.

use std::time::Duration;

use futures_util::StreamExt;
use tokio_postgres::AsyncMessage;
use tokio_util::sync::CancellationToken;

use crate::store::{StoreError, Wakes};

/// The channel: payload [`OUTBOX`] (deliveries to make), [`COMMANDS`] (a deferred command to run) or [`SAGAS`] (a
/// saga to run).
pub(super) const CHANNEL: &str = "gatehouse_wake";
pub(super) const OUTBOX: &str = "outbox";
pub(super) const COMMANDS: &str = "commands";
pub(super) const SAGAS: &str = "sagas";
/// Wakes the replicas' workers once the transaction commits: `$1` [`CHANNEL`], `$2` the payload.
pub(super) const WAKE: &str = "SELECT pg_notify($1, $2)";

/// Queues a wake-up of `work` ([`OUTBOX`], [`COMMANDS`] or [`SAGAS`]) in the caller's transaction.
pub(super) async fn wake(client: &impl deadpool_postgres::GenericClient, work: &str) -> Result<(), StoreError> {
    let statement = client.prepare_cached(WAKE).await?;
    client.execute(&statement, &[&CHANNEL, &work]).await?;
    Ok(())
}

/// Listens until `stop`, waking `wakes` on each notification.
pub(super) async fn listen(url: super::PostgresUrl, wakes: Wakes, stop: CancellationToken) {
    let mut pause = Duration::from_millis(100);
    let mut failing = false;
    while !stop.is_cancelled() {
        let started = std::time::Instant::now();
        match session(&url, &wakes, &stop, &mut failing).await {
            Ok(()) => return,
            Err(error) => {
                if !failing {
                    tracing::warn!(%error, "lost the PostgreSQL wake-up listener; workers poll until it is back");
                    failing = true;
                }
            }
        }
        // A session that lasted starts the backoff over.
        if started.elapsed() > Duration::from_secs(30) {
            pause = Duration::from_millis(100);
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(pause) => {}
        }
        pause = (pause * 2).min(Duration::from_secs(5));
    }
}

async fn session(
    url: &super::PostgresUrl,
    wakes: &Wakes,
    stop: &CancellationToken,
    failing: &mut bool,
) -> Result<(), String> {
    let tls = super::connect::tls(url.verify).map_err(|e| e.to_string())?;
    let (client, mut connection) = url
        .config
        .connect(tls)
        .await
        .map_err(|e| super::connect::describe(&e))?;
    let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
    let statement = format!("LISTEN {CHANNEL}");
    let listening = client.batch_execute(&statement);
    // The connection must be driven for the LISTEN to complete.
    tokio::pin!(listening);
    loop {
        tokio::select! {
            done = &mut listening => { done.map_err(|e| super::connect::describe(&e))?; break; }
            message = messages.next() => if message.is_none() { return Err("connection closed".into()) },
        }
    }
    if std::mem::take(failing) {
        tracing::info!("the PostgreSQL wake-up listener is back");
    }
    wakes.relay.notify_one();
    wakes.commands.notify_one();
    wakes.sagas.notify_one();
    loop {
        tokio::select! {
            () = stop.cancelled() => return Ok(()),
            message = messages.next() => match message {
                Some(Ok(AsyncMessage::Notification(note))) => match note.payload() {
                    COMMANDS => wakes.commands.notify_one(),
                    SAGAS => wakes.sagas.notify_one(),
                    _ => wakes.relay.notify_one(),
                },
                Some(Ok(_)) => {}
                Some(Err(error)) => return Err(super::connect::describe(&error)),
                None => return Err("connection closed".into()),
            },
        }
    }
}
