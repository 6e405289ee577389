//! Statements for operating the outbox: an event's detail (envelope, deliveries, attempts), replay, retention of
//! delivered events and old inbox entries, and the pending depth per subscription.

use deadpool_postgres::GenericClient;
use uuid::Uuid;

use super::events::{self, SUMMARY_COLUMNS, WAITING, summary};
use crate::store::{
    AttemptRecord, DeliveryState, EventDetail, EventStatus, QuarantineState, Replayed, StoreError, Subscriber,
};

pub(super) async fn detail(client: &impl GenericClient, id: Uuid) -> Result<Option<EventDetail>, StoreError> {
    let statement = client
        .prepare_cached(&format!(
            "SELECT {SUMMARY_COLUMNS}, envelope, quarantine_error, raw_body FROM outbox WHERE id = $1"
        ))
        .await?;
    let Some(row) = client.query_opt(&statement, &[&id]).await? else {
        return Ok(None);
    };
    let summary = summary(&row)?;
    let envelope: Vec<u8> = row.try_get(9)?;
    let quarantine_error: Option<String> = row.try_get(10)?;
    let (raw_body, raw_body_base64) = crate::store::deliveries::raw_text(row.try_get::<_, &[u8]>(11)?);
    let envelope = serde_json::from_slice(&envelope).unwrap_or(serde_json::Value::Null);
    let states = client
        .prepare_cached(
            "SELECT subscription, state, attempts, next_attempt_ms, last_error, updated_at_ms FROM deliveries
             WHERE event_seq = $1 ORDER BY subscription",
        )
        .await?;
    let attempts = client
        .prepare_cached(
            "SELECT subscription, attempt, at_ms, outcome, error, latency_ms FROM delivery_attempts
             WHERE event_seq = $1 ORDER BY subscription, attempt",
        )
        .await?;
    let (states, history) = futures_util::future::join(
        client.query(&states, &[&summary.seq]),
        client.query(&attempts, &[&summary.seq]),
    )
    .await;
    let history = history?;
    let mut deliveries = Vec::new();
    for row in states? {
        let subscription: String = row.try_get(0)?;
        let state: String = row.try_get(1)?;
        let (count, next_ms): (i32, i64) = (row.try_get(2)?, row.try_get(3)?);
        let mut attempts = Vec::new();
        for attempt in history
            .iter()
            .filter(|r| r.try_get::<_, &str>(0).is_ok_and(|s| s == subscription))
        {
            attempts.push(AttemptRecord {
                attempt: u32::try_from(attempt.try_get::<_, i32>(1)?).unwrap_or(0),
                at: crate::clock::rfc3339_from_ms(attempt.try_get(2)?),
                outcome: attempt.try_get(3)?,
                error: attempt.try_get(4)?,
                latency_ms: attempt.try_get(5)?,
            });
        }
        deliveries.push(DeliveryState {
            // A delivery waiting behind an earlier one of its subject has no time of its own yet.
            next_attempt_at: (state == "pending" && next_ms != WAITING).then(|| crate::clock::rfc3339_from_ms(next_ms)),
            subscription,
            state,
            attempts: u32::try_from(count).unwrap_or(0),
            last_error: row.try_get(4)?,
            updated_at: crate::clock::rfc3339_from_ms(row.try_get(5)?),
            history: attempts,
        });
    }
    Ok(Some(EventDetail {
        raw_body,
        raw_body_base64,
        quarantine: quarantine_error
            .filter(|_| summary.status == EventStatus::Quarantined)
            .map(|error| QuarantineState { error }),
        summary,
        envelope,
        deliveries,
    }))
}

/// Puts event `id` back in the queue of each of `subscribers` whose delivery is over (delivered or dead) or who
/// has none; a pending delivery is left to its current attempt. A quarantined event is left as it is. Runs in a
/// transaction: the ingest and subject locks, then the event's row, then its deliveries.
pub(super) async fn replay(
    client: &impl GenericClient,
    id: Uuid,
    subscribers: &[Subscriber],
    now: i64,
) -> Result<Replayed, StoreError> {
    let find = client
        .prepare_cached("SELECT seq, subject, status FROM outbox WHERE id = $1")
        .await?;
    let Some(row) = client.query_opt(&find, &[&id]).await? else {
        return Ok(Replayed::NoSuchEvent);
    };
    let subject: Option<String> = row.try_get(1)?;
    events::lock(client, true, &events::subject_locks(subject.as_deref(), subscribers)).await?;
    let lock = client
        .prepare_cached("SELECT seq, status, subject FROM outbox WHERE id = $1 FOR UPDATE")
        .await?;
    let Some(row) = client.query_opt(&lock, &[&id]).await? else {
        return Ok(Replayed::NoSuchEvent);
    };
    let (seq, status, locked_subject): (i64, String, Option<String>) =
        (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
    if locked_subject != subject {
        // Retranslated meanwhile: its subject locks were not the ones taken.
        return Err(StoreError::Unavailable(
            "the event changed while it was replayed; replay it again".into(),
        ));
    }
    if status == EventStatus::Quarantined.as_str() {
        return Ok(Replayed::Quarantined);
    }
    let queued = super::deliveries::queue(client, seq, subject.as_deref(), subscribers, now).await?;
    super::deliveries::refresh_status(client, seq).await?;
    Ok(Replayed::Queued(queued))
}

/// Deletes up to `limit` delivered events received before `events_before_ms`, with their deliveries and attempts,
/// and up to `limit` inbox entries received before `inbox_before_ms`.
pub(super) async fn prune(
    client: &impl GenericClient,
    events_before_ms: i64,
    inbox_before_ms: i64,
    limit: i64,
) -> Result<(usize, usize), StoreError> {
    let events = client
        .prepare_cached(
            "WITH gone AS (
                 SELECT seq FROM outbox WHERE status = 'delivered' AND received_at_ms < $1 ORDER BY seq LIMIT $2
                 FOR UPDATE SKIP LOCKED
             ), attempts AS (
                 DELETE FROM delivery_attempts WHERE event_seq IN (SELECT seq FROM gone)
             ), deliveries AS (
                 DELETE FROM deliveries WHERE event_seq IN (SELECT seq FROM gone)
             )
             DELETE FROM outbox WHERE seq IN (SELECT seq FROM gone)",
        )
        .await?;
    let inbox = client
        .prepare_cached(
            "DELETE FROM inbox WHERE (provider, provider_event_id) IN
                 (SELECT provider, provider_event_id FROM inbox WHERE received_at_ms < $1 LIMIT $2)",
        )
        .await?;
    let pruned = client.execute(&events, &[&events_before_ms, &limit]).await?;
    let forgotten = client.execute(&inbox, &[&inbox_before_ms, &limit]).await?;
    Ok((
        usize::try_from(pruned).unwrap_or(usize::MAX),
        usize::try_from(forgotten).unwrap_or(usize::MAX),
    ))
}

/// Per subscription: pending deliveries and the receipt time of the oldest one's event.
pub(super) async fn pending(client: &impl GenericClient) -> Result<Vec<(String, u64, i64)>, StoreError> {
    let statement = client
        .prepare_cached(
            "SELECT d.subscription, COUNT(*), MIN(o.received_at_ms) FROM deliveries d
             JOIN outbox o ON o.seq = d.event_seq
             WHERE d.state = 'pending' GROUP BY d.subscription",
        )
        .await?;
    client
        .query(&statement, &[])
        .await?
        .iter()
        .map(|row| {
            let count: i64 = row.try_get(1)?;
            Ok((row.try_get(0)?, u64::try_from(count).unwrap_or(0), row.try_get(2)?))
        })
        .collect()
}
