//! Delivery statements: leasing due deliveries, recording an attempt's outcome, and queuing deliveries of an
//! existing event (replay, a retranslated quarantine).
//!
//! Claims from every relay take one advisory lock ([`CLAIM_LOCK`]) for the instant of their statement, then lease
//! with `FOR UPDATE SKIP LOCKED`: a claim always sees the leases of the claims before it, so an ordered
//! subscription never has two deliveries of one subject in flight, across any number of relays. Finishing a
//! delivery takes its subject lock (see [`super::events`]) and its event's row before anything else.

use deadpool_postgres::GenericClient;

use super::connect::Failure;

use crate::store::{Delivery, DeliveryOutcome, StoreError, Subscriber};

/// The claim lock's key (any constant shared by every replica).
const CLAIM_LOCK: i64 = 0x6761_7465_0003;

const CLAIM: &str = "
WITH picked AS (
    SELECT d.ctid FROM unnest($5::text[]) AS s(name), LATERAL (
        SELECT d.ctid, d.next_attempt_ms FROM deliveries d
        WHERE d.subscription = s.name AND d.state = 'pending' AND d.next_attempt_ms <= $3 AND d.lease_until_ms <= $3
          AND NOT (d.ordered AND d.subject IS NOT NULL AND EXISTS (
              SELECT 1 FROM deliveries e
              WHERE e.subscription = d.subscription AND e.subject = d.subject AND e.state = 'pending'
                AND (e.event_seq < d.event_seq OR (e.event_seq <> d.event_seq AND e.lease_until_ms > $3))))
        ORDER BY d.next_attempt_ms LIMIT $4
        FOR UPDATE SKIP LOCKED) AS d
    ORDER BY d.next_attempt_ms LIMIT $4
), leased AS (
    UPDATE deliveries d SET lease_owner = $1, lease_until_ms = $2
    FROM picked p WHERE d.ctid = p.ctid
    RETURNING d.subscription, d.event_seq, d.attempts, d.next_attempt_ms
)
SELECT l.subscription, l.event_seq, l.attempts, o.id, o.provider, o.event_type, o.envelope, o.received_at_ms
FROM leased l JOIN outbox o ON o.seq = l.event_seq
ORDER BY l.next_attempt_ms, l.event_seq";

/// Leases up to `limit` due deliveries of `subscriptions` to `owner` until `now + lease_ms`, longest due first;
/// for an ordered subscription only the oldest pending delivery of a subject, and none while another of its
/// subject is leased. One transaction, sent at once (see [`super::connect::pipelined`]).
pub(super) async fn claim(
    client: &deadpool_postgres::Object,
    owner: &str,
    subscriptions: &[String],
    now: i64,
    lease_ms: i64,
    limit: usize,
) -> Result<Vec<Delivery>, StoreError> {
    if subscriptions.is_empty() {
        return Ok(Vec::new());
    }
    let lock = client.prepare_cached("SELECT pg_advisory_xact_lock($1)").await?;
    let statement = client.prepare_cached(CLAIM).await?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let until = now.saturating_add(lease_ms);
    let (_, rows) = super::connect::pipelined(
        client,
        client.execute(&lock, &[&CLAIM_LOCK]),
        client.query(&statement, &[&owner, &until, &now, &limit, &subscriptions]),
    )
    .await?;
    rows.iter()
        .map(|row| {
            let attempts: i32 = row.try_get(2)?;
            Ok(Delivery {
                subscription: row.try_get(0)?,
                event_seq: row.try_get(1)?,
                attempts: u32::try_from(attempts).unwrap_or(0),
                event_id: row.try_get(3)?,
                provider: row.try_get(4)?,
                event_type: row.try_get(5)?,
                envelope: row.try_get(6)?,
                received_at_ms: row.try_get(7)?,
            })
        })
        .collect()
}

/// The locks a batch of finishes needs, in one statement and a fixed order: the subject locks of its ordered
/// deliveries (by key), then its events' rows (by seq). Taken first, they make every statement after see each
/// commit that could change its answer (a promotion, an event's status), and two batches never wait for each other.
const FINISH_LOCKS: &str = "
SELECT count(*) FROM (
    SELECT 1 FROM (
        SELECT pg_advisory_xact_lock(k) FROM (
            SELECT DISTINCT hashtextextended(d.subscription || chr(10) || d.subject, 0) AS k
            FROM deliveries d JOIN unnest($1::text[], $2::int8[]) AS j(subscription, event_seq)
                ON d.subscription = j.subscription AND d.event_seq = j.event_seq
            WHERE d.ordered AND d.subject IS NOT NULL
            ORDER BY k) AS keys) AS subjects
    UNION ALL
    SELECT 1 FROM (SELECT seq FROM outbox WHERE seq = ANY($2) ORDER BY seq FOR UPDATE) AS events
) AS locks";

/// Records a batch of outcomes in one statement, each only if its claimant still holds the lease (the answer is
/// the ordinals, from 1, of those recorded). The snapshot still shows the batch's deliveries as pending, so the
/// promotion skips the finished delivery itself, and an event's status counts the batch's new states in place of
/// the old ones (two subscriptions' deliveries of one event may finish in one batch).
const FINISH: &str = "
WITH input AS (
    SELECT * FROM unnest($1::text[], $2::int8[], $3::text[], $4::text[], $5::int8[], $6::text[], $7::int8[],
                         $8::text[], $9::int8[])
        WITH ORDINALITY AS t(subscription, event_seq, owner, state, next_attempt_ms, error, now_ms, label,
                             latency_ms, n)
), done AS (
    UPDATE deliveries d SET state = i.state, attempts = d.attempts + 1, history = d.history + 1,
        next_attempt_ms = i.next_attempt_ms, last_error = i.error, lease_owner = NULL, lease_until_ms = 0,
        updated_at_ms = i.now_ms
    FROM input i
    -- Not `state = 'pending'`: that would let the planner pick a partial index of every pending delivery over the
    -- primary key.
    WHERE d.subscription = i.subscription AND d.event_seq = i.event_seq AND d.lease_owner = i.owner
      AND d.state <> 'delivered' AND d.state <> 'dead'
    RETURNING d.subscription, d.event_seq, d.subject, d.ordered, d.history, i.state, i.now_ms, i.label, i.error,
              i.latency_ms, i.n
), attempt AS (
    INSERT INTO delivery_attempts (subscription, event_seq, attempt, at_ms, outcome, error, latency_ms)
    SELECT subscription, event_seq, history, now_ms, label, error, latency_ms FROM done
), promoted AS (
    UPDATE deliveries p SET next_attempt_ms = x.now_ms
    FROM (SELECT n.subscription, n.event_seq, done.now_ms FROM done, LATERAL (
              SELECT subscription, event_seq FROM deliveries n
              WHERE n.subscription = done.subscription AND n.subject = done.subject AND n.state = 'pending'
                AND n.event_seq <> done.event_seq
              ORDER BY n.event_seq LIMIT 1) AS n
          WHERE done.state <> 'pending' AND done.ordered) AS x
    WHERE p.subscription = x.subscription AND p.event_seq = x.event_seq
      AND p.next_attempt_ms = 9223372036854775807
), refreshed AS (
    UPDATE outbox o SET status = CASE
        WHEN EXISTS (SELECT 1 FROM done x WHERE x.event_seq = o.seq AND x.state = 'pending')
          OR EXISTS (SELECT 1 FROM deliveries d WHERE d.event_seq = o.seq AND d.state = 'pending'
                     AND NOT EXISTS (SELECT 1 FROM done x
                                     WHERE x.event_seq = d.event_seq AND x.subscription = d.subscription))
            THEN 'pending'
        WHEN EXISTS (SELECT 1 FROM done x WHERE x.event_seq = o.seq AND x.state = 'dead')
          OR EXISTS (SELECT 1 FROM deliveries d WHERE d.event_seq = o.seq AND d.state = 'dead'
                     AND NOT EXISTS (SELECT 1 FROM done x
                                     WHERE x.event_seq = d.event_seq AND x.subscription = d.subscription))
            THEN 'dead'
        ELSE 'delivered' END
    WHERE o.seq IN (SELECT event_seq FROM done)
)
SELECT n FROM done";

/// An attempt's outcome to record (times on the database's clock).
pub(super) struct Finish {
    subscription: String,
    event_seq: i64,
    owner: String,
    now: i64,
    state: &'static str,
    next_attempt_ms: i64,
    error: Option<String>,
    label: &'static str,
    latency_ms: i64,
}

impl Finish {
    pub(super) fn new(
        delivery: &Delivery,
        owner: String,
        (now, latency_ms): (i64, i64),
        outcome: DeliveryOutcome,
        next: i64,
    ) -> Self {
        let (state, label, next_attempt_ms, error) = match outcome {
            DeliveryOutcome::Delivered => ("delivered", "delivered", 0, None),
            DeliveryOutcome::Retry { error, .. } => ("pending", "retry", next, Some(error)),
            DeliveryOutcome::Dead { error } => ("dead", "dead", 0, Some(error)),
        };
        Self {
            subscription: delivery.subscription.clone(),
            event_seq: delivery.event_seq,
            owner,
            now,
            state,
            next_attempt_ms,
            error,
            label,
            latency_ms,
        }
    }
}

/// Delivery outcomes, committed in batches: each records its attempt if its claimant still holds the lease (`false`:
/// nothing written), promotes the next delivery of its subject once it is over, and updates its event's status
/// (pending while any delivery is, else dead if any is, else delivered).
pub(super) struct Finishes;

impl super::batch::Batch for Finishes {
    type Item = Finish;
    type Answer = bool;

    async fn commit(&self, pool: &deadpool_postgres::Pool, items: &[&Finish]) -> Result<Vec<bool>, Failure> {
        let conn = super::connect::get(pool).await?;
        let locks = conn.prepare_cached(FINISH_LOCKS).await?;
        let finish = conn.prepare_cached(FINISH).await?;
        let subscriptions: Vec<&str> = items.iter().map(|f| f.subscription.as_str()).collect();
        let seqs: Vec<i64> = items.iter().map(|f| f.event_seq).collect();
        let client: &tokio_postgres::Client = &conn;
        let owners: Vec<&str> = items.iter().map(|f| f.owner.as_str()).collect();
        let states: Vec<&str> = items.iter().map(|f| f.state).collect();
        let next: Vec<i64> = items.iter().map(|f| f.next_attempt_ms).collect();
        let errors: Vec<Option<&str>> = items.iter().map(|f| f.error.as_deref()).collect();
        let nows: Vec<i64> = items.iter().map(|f| f.now).collect();
        let labels: Vec<&str> = items.iter().map(|f| f.label).collect();
        let latencies: Vec<i64> = items.iter().map(|f| f.latency_ms).collect();
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 9] = [
            &subscriptions,
            &seqs,
            &owners,
            &states,
            &next,
            &errors,
            &nows,
            &labels,
            &latencies,
        ];
        let lock_params: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&subscriptions, &seqs];
        let (_, rows) = super::connect::pipelined(
            client,
            client.query_one(&locks, &lock_params),
            client.query(&finish, &params),
        )
        .await?;
        let mut recorded = vec![false; items.len()];
        for row in rows {
            let n: i64 = row.try_get(0)?;
            if let Some(slot) = usize::try_from(n - 1).ok().and_then(|i| recorded.get_mut(i)) {
                *slot = true;
            }
        }
        Ok(recorded)
    }
}

/// Queues event `seq` (of `subject`) for `subscribers`: a new delivery each, or, with `again`, a delivery that is
/// over (delivered or dead) made pending anew; one still pending is left alone. Due at `now`, or waiting behind an
/// older pending delivery of its subject. Returns how many were queued. The caller holds the ingest lock, the
/// subject locks, and the event's row.
pub(super) async fn queue(
    client: &impl GenericClient,
    seq: i64,
    subject: Option<&str>,
    subscribers: &[Subscriber],
    now: i64,
) -> Result<usize, StoreError> {
    let statement = client
        .prepare_cached(
            "INSERT INTO deliveries (subscription, event_seq, subject, ordered, next_attempt_ms, updated_at_ms)
             SELECT s.name, $1, $2, s.ordered,
                    CASE WHEN s.ordered AND $2::text IS NOT NULL AND EXISTS (
                             SELECT 1 FROM deliveries o
                             WHERE o.subscription = s.name AND o.subject = $2 AND o.state = 'pending'
                               AND o.event_seq < $1)
                         THEN 9223372036854775807 ELSE $3 END,
                    $3
             FROM unnest($4::text[], $5::bool[]) AS s(name, ordered)
             ON CONFLICT (subscription, event_seq) DO UPDATE SET state = 'pending', attempts = 0,
                 next_attempt_ms = excluded.next_attempt_ms, lease_owner = NULL, lease_until_ms = 0,
                 last_error = NULL, ordered = excluded.ordered, updated_at_ms = excluded.updated_at_ms
             WHERE deliveries.state <> 'pending'",
        )
        .await?;
    let names: Vec<&str> = subscribers.iter().map(|s| s.name.as_str()).collect();
    let ordered: Vec<bool> = subscribers.iter().map(|s| s.ordered).collect();
    let queued = client
        .execute(&statement, &[&seq, &subject, &now, &names, &ordered])
        .await?;
    Ok(usize::try_from(queued).unwrap_or(usize::MAX))
}

/// The event's status from its deliveries.
pub(super) async fn refresh_status(client: &impl GenericClient, seq: i64) -> Result<(), StoreError> {
    let statement = client
        .prepare_cached(
            "UPDATE outbox SET status = CASE
                 WHEN EXISTS (SELECT 1 FROM deliveries WHERE event_seq = $1 AND state = 'pending') THEN 'pending'
                 WHEN EXISTS (SELECT 1 FROM deliveries WHERE event_seq = $1 AND state = 'dead') THEN 'dead'
                 ELSE 'delivered' END
             WHERE seq = $1",
        )
        .await?;
    client.execute(&statement, &[&seq]).await?;
    Ok(())
}
