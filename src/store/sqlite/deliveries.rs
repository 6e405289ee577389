//! Delivery statements: fan-out of a new event to its subscribers, claiming due deliveries under a lease (at most
//! one in flight per subject for ordered subscriptions), and recording an attempt's outcome, conditioned on the
//! claim, together with the event's overall status.

use rusqlite::{Transaction, params, params_from_iter};
use uuid::Uuid;

use crate::store::{Delivery, DeliveryOutcome, StoreError, Subscriber};

/// `next_attempt_ms` of a delivery waiting behind an earlier pending one of its subject (ordered subscriptions):
/// out of the claims' way until [`promote_next`] makes it due.
pub(super) const WAITING: i64 = i64::MAX;

/// One pending delivery per subscriber of the event stored at `seq`.
pub(super) fn fan_out(
    tx: &Transaction<'_>,
    seq: i64,
    subject: Option<&str>,
    subscribers: &[Subscriber],
    now_ms: i64,
) -> rusqlite::Result<()> {
    let mut insert = tx.prepare_cached(
        "INSERT INTO deliveries (subscription, event_seq, subject, ordered, next_attempt_ms, updated_at_ms,
                                 provider, event_type)
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, provider, event_type FROM outbox WHERE seq = ?2",
    )?;
    for subscriber in subscribers {
        let due = due_at(tx, &subscriber.name, subscriber.ordered, subject, seq, now_ms)?;
        insert.execute(params![subscriber.name, seq, subject, subscriber.ordered, due, now_ms])?;
    }
    Ok(())
}

/// When a new pending delivery of event `seq` is due: now, or [`WAITING`] behind an older pending delivery of its
/// subject in an ordered subscription (that one's end promotes the oldest waiting one). Behind only a newer one (a
/// replayed or retranslated event) it is due at once: it comes first in its subject's order, and the claim still
/// holds it back while a newer one of its subject is in flight. (Waiting behind a newer one would wedge the subject:
/// the newer one is never claimed while an older one is pending.)
pub(super) fn due_at(
    tx: &Transaction<'_>,
    subscription: &str,
    ordered: bool,
    subject: Option<&str>,
    seq: i64,
    now_ms: i64,
) -> rusqlite::Result<i64> {
    let Some(subject) = subject.filter(|_| ordered) else {
        return Ok(now_ms);
    };
    let behind: bool = tx
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM deliveries WHERE subscription = ?1 AND subject = ?2 AND state = 'pending'
                 AND event_seq < ?3)",
        )?
        .query_row(params![subscription, subject, seq], |r| r.get(0))?;
    Ok(if behind { WAITING } else { now_ms })
}

/// Makes the oldest waiting delivery of `subscription`'s `subject` due, once the one before it is over.
fn promote_next(tx: &Transaction<'_>, subscription: &str, event_seq: i64, now_ms: i64) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "UPDATE deliveries SET next_attempt_ms = ?3
         WHERE (subscription, event_seq) = (
             SELECT n.subscription, n.event_seq FROM deliveries d JOIN deliveries n
                 ON n.subscription = d.subscription AND n.subject = d.subject
             WHERE d.subscription = ?1 AND d.event_seq = ?2 AND d.ordered AND n.state = 'pending'
             ORDER BY n.event_seq LIMIT 1)
         AND next_attempt_ms = ?4",
    )?
    .execute(params![subscription, event_seq, now_ms, WAITING])?;
    Ok(())
}

/// Leases up to `limit` due deliveries of `subscriptions` to `owner`, longest due first (in the order of the
/// `deliveries_due` index, led by the subscription: a claim for one subscription, as the relay makes, reads only
/// the rows it takes, however long its own or another subscription's queue). For an ordered subscription
/// only the oldest pending delivery of each subject is due, and none while another of the subject is in flight (a
/// replayed older event waits for it), so one subject never has two in flight and a failing event holds back its
/// own subject only. Events without a subject are not ordered.
pub(super) fn claim(
    tx: &Transaction<'_>,
    owner: &str,
    subscriptions: &[String],
    now_ms: i64,
    lease_ms: i64,
    limit: usize,
) -> rusqlite::Result<Vec<Result<Delivery, StoreError>>> {
    if subscriptions.is_empty() {
        return Ok(Vec::new());
    }
    let names = (0..subscriptions.len())
        .map(|i| format!("?{}", i + 5))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "UPDATE deliveries SET lease_owner = ?1, lease_until_ms = ?2
         WHERE (subscription, event_seq) IN (
             SELECT d.subscription, d.event_seq FROM deliveries d INDEXED BY deliveries_due
             WHERE d.state = 'pending' AND d.next_attempt_ms <= ?3 AND d.lease_until_ms <= ?3
               AND d.subscription IN ({names})
               AND NOT (d.ordered AND d.subject IS NOT NULL AND EXISTS (
                   SELECT 1 FROM deliveries e
                   WHERE e.subscription = d.subscription AND e.subject = d.subject AND e.state = 'pending'
                     AND (e.event_seq < d.event_seq OR (e.event_seq != d.event_seq AND e.lease_until_ms > ?3))))
             ORDER BY d.next_attempt_ms LIMIT ?4)
         RETURNING subscription, event_seq, attempts"
    );
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut args: Vec<rusqlite::types::Value> = vec![
        owner.to_owned().into(),
        now_ms.saturating_add(lease_ms).into(),
        now_ms.into(),
        limit.into(),
    ];
    args.extend(subscriptions.iter().map(|s| rusqlite::types::Value::from(s.clone())));
    let claimed: Vec<(String, i64, i64)> = tx
        .prepare_cached(&sql)?
        .query_map(params_from_iter(args), |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    let mut event =
        tx.prepare_cached("SELECT id, provider, event_type, envelope, received_at_ms FROM outbox WHERE seq = ?1")?;
    let mut deliveries = Vec::with_capacity(claimed.len());
    for (subscription, event_seq, attempts) in claimed {
        let (id, provider, event_type, envelope, received_at_ms): (String, String, String, Vec<u8>, i64) = event
            .query_row(params![event_seq], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })?;
        deliveries.push(match Uuid::parse_str(&id) {
            Ok(event_id) => Ok(Delivery {
                subscription,
                event_seq,
                event_id,
                provider,
                event_type,
                received_at_ms,
                attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
                envelope,
            }),
            Err(e) => Err(StoreError::Unavailable(format!("bad event id {id:?} in outbox: {e}"))),
        });
    }
    Ok(deliveries)
}

/// Records an attempt if `owner` still holds the delivery's claim (`false`: nothing written), and updates the
/// event's status: pending while any delivery is, else dead if any is, else delivered.
pub(super) fn finish(
    tx: &Transaction<'_>,
    subscription: &str,
    event_seq: i64,
    owner: &str,
    now_ms: i64,
    latency_ms: i64,
    outcome: &DeliveryOutcome,
) -> rusqlite::Result<bool> {
    let (state, next_attempt_ms, error) = match outcome {
        DeliveryOutcome::Delivered => ("delivered", 0, None),
        DeliveryOutcome::Retry { next_attempt_ms, error } => ("pending", *next_attempt_ms, Some(error.as_str())),
        DeliveryOutcome::Dead { error } => ("dead", 0, Some(error.as_str())),
    };
    let changed = tx
        .prepare_cached(
            "UPDATE deliveries SET state = ?4, attempts = attempts + 1, next_attempt_ms = ?5, last_error = ?6,
                 lease_owner = NULL, lease_until_ms = 0, updated_at_ms = ?7
             WHERE subscription = ?1 AND event_seq = ?2 AND lease_owner = ?3 AND state = 'pending'",
        )?
        .execute(params![
            subscription,
            event_seq,
            owner,
            state,
            next_attempt_ms,
            error,
            now_ms
        ])?;
    if changed == 0 {
        return Ok(false);
    }
    let label = match outcome {
        DeliveryOutcome::Delivered => "delivered",
        DeliveryOutcome::Retry { .. } => "retry",
        DeliveryOutcome::Dead { .. } => "dead",
    };
    tx.prepare_cached(
        "INSERT INTO delivery_attempts (subscription, event_seq, attempt, at_ms, outcome, error, latency_ms)
         SELECT ?1, ?2, COALESCE(MAX(attempt), 0) + 1, ?3, ?4, ?5, ?6 FROM delivery_attempts
         WHERE subscription = ?1 AND event_seq = ?2",
    )?
    .execute(params![subscription, event_seq, now_ms, label, error, latency_ms])?;
    if !matches!(outcome, DeliveryOutcome::Retry { .. }) {
        promote_next(tx, subscription, event_seq, now_ms)?;
    }
    refresh_status(tx, event_seq)?;
    Ok(true)
}

/// The event's status from its deliveries.
pub(super) fn refresh_status(tx: &Transaction<'_>, event_seq: i64) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "UPDATE outbox SET status = CASE
             WHEN EXISTS (SELECT 1 FROM deliveries WHERE event_seq = ?1 AND state = 'pending') THEN 'pending'
             WHEN EXISTS (SELECT 1 FROM deliveries WHERE event_seq = ?1 AND state = 'dead') THEN 'dead'
             ELSE 'delivered' END
         WHERE seq = ?1",
    )?
    .execute(params![event_seq])?;
    Ok(())
}
