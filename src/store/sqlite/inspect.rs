//! Statements for operating the outbox: an event's detail (envelope, deliveries, attempts), replay, retention of
//! delivered events and old inbox entries, and the pending depth per subscription.

use rusqlite::{Connection, OptionalExtension, Transaction, params, params_from_iter};
use uuid::Uuid;

use super::events::{SUMMARY_COLUMNS, summary};
use crate::store::{
    AttemptRecord, DeliveryState, EventDetail, EventStatus, QuarantineState, Replayed, StoreError, Subscriber,
};

pub(super) fn detail(conn: &Connection, id: Uuid) -> Result<Option<EventDetail>, StoreError> {
    let sql = format!("SELECT {SUMMARY_COLUMNS}, envelope, quarantine_error, raw_body FROM outbox WHERE id = ?1");
    let found = conn
        .prepare_cached(&sql)?
        .query_row(params![id.to_string()], |row| {
            Ok((
                summary(row)?,
                row.get::<_, Vec<u8>>(9)?,
                row.get::<_, Option<String>>(10)?,
                row.get::<_, Vec<u8>>(11)?,
            ))
        })
        .optional()?;
    let Some((summary, envelope, quarantine_error, raw_body)) = found else {
        return Ok(None);
    };
    let summary = summary?;
    let envelope = serde_json::from_slice(&envelope).unwrap_or(serde_json::Value::Null);
    let mut attempts = conn.prepare_cached(
        "SELECT attempt, at_ms, outcome, error, latency_ms FROM delivery_attempts
         WHERE subscription = ?1 AND event_seq = ?2 ORDER BY attempt",
    )?;
    let mut rows = conn.prepare_cached(
        "SELECT subscription, state, attempts, next_attempt_ms, last_error, updated_at_ms FROM deliveries
         WHERE event_seq = ?1 ORDER BY subscription",
    )?;
    let states = rows
        .query_map(params![summary.seq], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, i64>(5)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let mut deliveries = Vec::with_capacity(states.len());
    for (subscription, state, count, next_ms, last_error, updated_ms) in states {
        let history = attempts
            .query_map(params![subscription, summary.seq], |r| {
                Ok(AttemptRecord {
                    attempt: u32::try_from(r.get::<_, i64>(0)?).unwrap_or(u32::MAX),
                    at: crate::clock::rfc3339_from_ms(r.get(1)?),
                    outcome: r.get(2)?,
                    error: r.get(3)?,
                    latency_ms: r.get(4)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        deliveries.push(DeliveryState {
            // A delivery waiting behind an earlier one of its subject has no time of its own yet.
            next_attempt_at: (state == "pending" && next_ms != super::deliveries::WAITING)
                .then(|| crate::clock::rfc3339_from_ms(next_ms)),
            subscription,
            state,
            attempts: u32::try_from(count).unwrap_or(u32::MAX),
            last_error,
            updated_at: crate::clock::rfc3339_from_ms(updated_ms),
            history,
        });
    }
    let (raw_body, raw_body_base64) = crate::store::deliveries::raw_text(&raw_body);
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
/// has none; a pending delivery is left to its current attempt. A quarantined event is left as it is.
pub(super) fn replay(
    tx: &Transaction<'_>,
    id: Uuid,
    subscribers: &[Subscriber],
    now_ms: i64,
) -> rusqlite::Result<Replayed> {
    let found: Option<(i64, Option<String>, String)> = tx
        .prepare_cached("SELECT seq, subject, status FROM outbox WHERE id = ?1")?
        .query_row(params![id.to_string()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    let Some((seq, subject, status)) = found else {
        return Ok(Replayed::NoSuchEvent);
    };
    if status == EventStatus::Quarantined.as_str() {
        return Ok(Replayed::Quarantined);
    }
    let mut queue = tx.prepare_cached(
        "INSERT INTO deliveries (subscription, event_seq, subject, ordered, next_attempt_ms, updated_at_ms,
                                 provider, event_type)
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, provider, event_type FROM outbox WHERE seq = ?2
         ON CONFLICT (subscription, event_seq) DO UPDATE SET state = 'pending', attempts = 0,
             next_attempt_ms = excluded.next_attempt_ms, lease_owner = NULL, lease_until_ms = 0,
             last_error = NULL, ordered = excluded.ordered, updated_at_ms = excluded.updated_at_ms
         WHERE deliveries.state != 'pending'",
    )?;
    let mut queued = 0;
    for subscriber in subscribers {
        let due = super::deliveries::due_at(
            tx,
            &subscriber.name,
            subscriber.ordered,
            subject.as_deref(),
            seq,
            now_ms,
        )?;
        queued += queue.execute(params![subscriber.name, seq, subject, subscriber.ordered, due, now_ms])?;
    }
    super::deliveries::refresh_status(tx, seq)?;
    Ok(Replayed::Queued(queued))
}

/// Deletes up to `limit` delivered events received before `events_before_ms`, with their deliveries and attempts,
/// and up to `limit` inbox entries received before `inbox_before_ms`.
pub(super) fn prune(
    tx: &Transaction<'_>,
    events_before_ms: i64,
    inbox_before_ms: i64,
    limit: usize,
) -> rusqlite::Result<(usize, usize)> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let seqs: Vec<i64> = tx
        .prepare_cached(
            "SELECT seq FROM outbox WHERE status = 'delivered' AND received_at_ms < ?1 ORDER BY received_at_ms LIMIT ?2",
        )?
        .query_map(params![events_before_ms, limit], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    if !seqs.is_empty() {
        let marks = (1..=seqs.len()).map(|i| format!("?{i}")).collect::<Vec<_>>().join(", ");
        for table in ["delivery_attempts", "deliveries"] {
            tx.execute(
                &format!("DELETE FROM {table} WHERE event_seq IN ({marks})"),
                params_from_iter(seqs.iter()),
            )?;
        }
        tx.execute(
            &format!("DELETE FROM outbox WHERE seq IN ({marks})"),
            params_from_iter(seqs.iter()),
        )?;
    }
    let inbox = tx
        .prepare_cached(
            "DELETE FROM inbox WHERE (provider, provider_event_id) IN
                 (SELECT provider, provider_event_id FROM inbox WHERE received_at_ms < ?1 LIMIT ?2)",
        )?
        .execute(params![inbox_before_ms, limit])?;
    Ok((seqs.len(), inbox))
}

/// Per subscription: pending deliveries and the receipt time of the oldest one's event.
pub(super) fn pending(conn: &Connection) -> rusqlite::Result<Vec<(String, u64, i64)>> {
    conn.prepare_cached(
        "SELECT d.subscription, COUNT(*), MIN(o.received_at_ms) FROM deliveries d JOIN outbox o ON o.seq = d.event_seq
         WHERE d.state = 'pending' GROUP BY d.subscription",
    )?
    .query_map([], |r| {
        Ok((r.get(0)?, u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0), r.get(2)?))
    })?
    .collect()
}
