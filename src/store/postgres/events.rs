//! Inbox and outbox statements: the locks an ingest takes, ingesting one event (deduplicated by the inbox's
//! primary key, with one delivery per subscriber, in one statement; the entity state it carries is applied after,
//! in the same transaction: [`super::entities::CARRIED`]), and listing events.
//!
//! Ordering across replicas rests on two advisory transaction locks, always taken before any row and in one
//! statement ([`lock`]): the *ingest lock*, held by every transaction that adds events or deliveries, so outbox
//! `seq` values are taken in commit order (cursors never skip a late commit); and one *subject lock* per
//! (ordered subscription, subject), also taken by [`super::deliveries::finish`], so "is an older delivery of this
//! subject still pending?" is never answered while its answer is changing.

use std::borrow::Cow;

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;
use tokio_postgres::types::{ToSql, Type};
use uuid::Uuid;

use super::connect::Failure;
use crate::store::{EventFilter, EventStatus, EventSummary, Ingested, NewEvent, StoreError, Subscriber};

/// The ingest lock's key (any constant shared by every replica).
pub(super) const INGEST_LOCK: i64 = 0x6761_7465_0002;

/// `next_attempt_ms` of a delivery waiting behind an older pending one of its subject.
pub(super) const WAITING: i64 = i64::MAX;

/// The subject-lock names for `subscribers` of an event of `subject` (ordered subscriptions only).
pub(super) fn subject_locks(subject: Option<&str>, subscribers: &[Subscriber]) -> Vec<String> {
    let Some(subject) = subject else {
        return Vec::new();
    };
    subscribers
        .iter()
        .filter(|s| s.ordered)
        .map(|s| format!("{}\n{subject}", s.name))
        .collect()
}

/// Takes the ingest lock (when `ingest`) and the subject locks `subjects`, in one statement, until the
/// transaction ends. Parameters: `$1` the ingest lock's key, `$2` whether to take it, `$3` the subject locks.
/// Subject locks are taken in key order, as [`super::deliveries::Finishes`] takes them, so no two transactions wait
/// for each other.
pub(super) const LOCK: &str = "SELECT count(*) FROM (
    SELECT pg_advisory_xact_lock($1) WHERE $2
    UNION ALL
    SELECT pg_advisory_xact_lock(k) FROM (
        SELECT DISTINCT hashtextextended(name, 0) AS k FROM unnest($3::text[]) AS name ORDER BY k) AS keys
) AS locks";

/// Takes the locks [`LOCK`] names for `subjects` (and the ingest lock when `ingest`).
pub(super) async fn lock(client: &impl GenericClient, ingest: bool, subjects: &[String]) -> Result<(), StoreError> {
    let statement = client.prepare_cached(LOCK).await?;
    client
        .query_one(&statement, &[&INGEST_LOCK, &ingest, &subjects])
        .await?;
    Ok(())
}

pub(super) const INGEST: &str = "
WITH claimed AS (
    INSERT INTO inbox (provider, provider_event_id, event_id, received_at_ms) VALUES ($1, $2, $3, $4)
    ON CONFLICT (provider, provider_event_id) DO NOTHING
    RETURNING event_id
), stored AS (
    INSERT INTO outbox (id, provider, event_type, subject, provider_event_id, correlation_id, received_at_ms,
                        envelope, raw_body, status, raw_headers, quarantine_error)
    SELECT event_id, $1, $5, $6, $2, $7, $4, $8, $9, $10, $11, $12 FROM claimed
    RETURNING seq
), fanned AS (
    INSERT INTO deliveries (subscription, event_seq, subject, ordered, next_attempt_ms, updated_at_ms, provider,
                            event_type)
    SELECT s.name, stored.seq, $6, s.ordered,
           CASE WHEN s.ordered AND $6::text IS NOT NULL AND EXISTS (
                    SELECT 1 FROM deliveries o
                    WHERE o.subscription = s.name AND o.subject = $6 AND o.state = 'pending'
                      AND o.event_seq < stored.seq)
                THEN 9223372036854775807 ELSE $13 END,
           $13, $1, $5
    FROM stored, unnest($14::text[], $15::bool[]) AS s(name, ordered)
)
SELECT event_id, NULL::text, true FROM claimed
UNION ALL
SELECT i.event_id, o.status, false FROM inbox i LEFT JOIN outbox o ON o.id = i.event_id
WHERE i.provider = $1 AND i.provider_event_id = $2 AND NOT EXISTS (SELECT 1 FROM claimed)";

/// The parameters of [`INGEST`] for one event: its inbox key, its outbox row, and one delivery per subscriber (due
/// at `due_ms`, or waiting behind an older pending one of its subject).
pub(super) struct IngestArgs<'a> {
    event: &'a NewEvent,
    /// The event's text fields as PostgreSQL can store them ([`text`]).
    texts: [Cow<'a, str>; 4],
    subject: Option<Cow<'a, str>>,
    raw_body: &'a [u8],
    status: &'static str,
    headers: Option<String>,
    error: Option<Cow<'a, str>>,
    names: Vec<&'a str>,
    ordered: Vec<bool>,
    due_ms: i64,
}

impl<'a> IngestArgs<'a> {
    pub(super) fn new(event: &'a NewEvent, due_ms: i64) -> Result<Self, Failure> {
        let status = if event.quarantine.is_some() {
            EventStatus::Quarantined
        } else if event.deliver_to.is_empty() {
            EventStatus::Delivered
        } else {
            EventStatus::Pending
        };
        let (headers, error) = match &event.quarantine {
            Some(quarantine) => (
                Some(
                    serde_json::to_string(&quarantine.headers)
                        .map_err(|e| Failure::Data(StoreError::Unavailable(e.to_string())))?,
                ),
                Some(text(&quarantine.error)),
            ),
            None => (None, None),
        };
        let deliver_to: &[Subscriber] = if event.quarantine.is_some() {
            &[]
        } else {
            &event.deliver_to
        };
        Ok(Self {
            event,
            texts: [
                text(&event.provider),
                text(&event.provider_event_id),
                text(&event.event_type),
                text(&event.correlation_id),
            ],
            subject: event.subject.as_deref().map(text),
            raw_body: event.raw_body.as_ref(),
            status: status.as_str(),
            headers,
            error,
            names: deliver_to.iter().map(|s| s.name.as_str()).collect(),
            ordered: deliver_to.iter().map(|s| s.ordered).collect(),
            due_ms,
        })
    }

    pub(super) fn params(&self) -> [&(dyn ToSql + Sync); 15] {
        let event = self.event;
        let [provider, provider_event_id, event_type, correlation_id] = &self.texts;
        [
            provider,
            provider_event_id,
            &event.id,
            &event.received_at_ms,
            event_type,
            &self.subject,
            correlation_id,
            &event.envelope,
            &self.raw_body,
            &self.status,
            &self.headers,
            &self.error,
            &self.due_ms,
            &self.names,
            &self.ordered,
        ]
    }

    /// What [`INGEST`]'s row says: the new event, or the duplicate's first event.
    pub(super) fn answer(&self, row: Option<Row>) -> Result<Ingested, Failure> {
        let row = row.ok_or_else(|| {
            Failure::Other(StoreError::Unavailable(
                "the inbox entry of a duplicate vanished".into(),
            ))
        })?;
        let (id, stored_status, new): (Uuid, Option<String>, bool) =
            (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
        Ok(Ingested {
            id,
            duplicate: !new,
            quarantined: if new {
                self.event.quarantine.is_some()
            } else {
                stored_status.as_deref() == Some(EventStatus::Quarantined.as_str())
            },
        })
    }
}

/// `value` as PostgreSQL text can hold it: a NUL character (which SQLite stores and PostgreSQL refuses) becomes
/// U+FFFD, so an event carrying one is stored rather than refused forever; its raw body keeps every byte.
pub(super) fn text(value: &str) -> Cow<'_, str> {
    if value.contains('\0') {
        Cow::Owned(value.replace('\0', "\u{FFFD}"))
    } else {
        Cow::Borrowed(value)
    }
}

/// Ingests `event` in the caller's transaction, which holds the locks [`lock`] takes for it, with the entity state
/// it carries when it is new.
pub(super) async fn ingest(client: &impl GenericClient, event: &NewEvent, due_ms: i64) -> Result<Ingested, Failure> {
    let statement = client.prepare_cached(INGEST).await?;
    let args = IngestArgs::new(event, due_ms)?;
    let row = client.query_opt(&statement, &args.params()).await?;
    let ingested = args.answer(row)?;
    if !ingested.duplicate {
        super::entities::apply_carried(client, &[event]).await?;
    }
    Ok(ingested)
}

/// Outbox events matching `filter`, in `seq` order or its reverse; each filter reads an index in `seq` order
/// (`0002_operate.sql`). Planned for its values each time (an unnamed statement): a plan cached for any value
/// walks the whole table by `seq` hoping to meet `limit` matches early, and meets none for a rare value.
pub(super) async fn list(
    client: &tokio_postgres::Client,
    filter: EventFilter,
) -> Result<Vec<EventSummary>, StoreError> {
    let columns = SUMMARY_COLUMNS
        .split(", ")
        .map(|c| format!("o.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut args: Vec<(Box<dyn ToSql + Sync + Send>, Type)> = Vec::new();
    let mut arg = |value: Box<dyn ToSql + Sync + Send>, kind: Type| {
        args.push((value, kind));
        format!("${}", args.len())
    };
    // By subscription, the delivery's own copies of the event's provider and type (indexed for dead ones).
    let table = if filter.subscription.is_some() { "d" } else { "o" };
    let (mut sql, seq) = match filter.subscription {
        Some(subscription) => {
            let mut sql = format!(
                "SELECT {columns} FROM deliveries d JOIN outbox o ON o.seq = d.event_seq WHERE d.subscription = {}",
                arg(Box::new(subscription), Type::TEXT)
            );
            if let Some(status) = filter.status {
                // Inline (a fixed word), so the planner can match the dead deliveries' partial indexes.
                sql.push_str(&format!(" AND d.state = '{}'", status.as_str()));
                sql.push_str(crate::store::implied_event_status(status));
            }
            (sql, "d.event_seq")
        }
        None => {
            let mut sql = format!("SELECT {columns} FROM outbox o WHERE true");
            if let Some(status) = filter.status {
                // Inline (a fixed word), with the partial (status, provider|type) indexes' own condition spelled
                // out: SQLite uses a partial index only when the query states its condition.
                sql.push_str(&format!(" AND o.status = '{}'", status.as_str()));
                if status != EventStatus::Delivered {
                    sql.push_str(" AND o.status <> 'delivered'");
                }
            }
            (sql, "o.seq")
        }
    };
    if let Some(after) = filter.after {
        let op = if filter.newest_first { "<" } else { ">" };
        sql.push_str(&format!(" AND {seq} {op} {}", arg(Box::new(after), Type::INT8)));
    }
    for (column, value) in [
        (format!("{table}.provider"), filter.provider),
        (format!("{table}.event_type"), filter.event_type),
        ("o.provider_event_id".to_owned(), filter.provider_event_id),
    ] {
        if let Some(value) = value {
            sql.push_str(&format!(" AND {column} = {}", arg(Box::new(value), Type::TEXT)));
        }
    }
    if let Some(since) = filter.since_ms {
        sql.push_str(&format!(
            " AND o.received_at_ms >= {}",
            arg(Box::new(since), Type::INT8)
        ));
    }
    if let Some(until) = filter.until_ms {
        sql.push_str(&format!(" AND o.received_at_ms < {}", arg(Box::new(until), Type::INT8)));
    }
    let order = if filter.newest_first { "DESC" } else { "ASC" };
    let limit = i64::try_from(filter.limit).unwrap_or(i64::MAX);
    sql.push_str(&format!(" ORDER BY {seq} {order} LIMIT {limit}"));
    let params: Vec<(&(dyn ToSql + Sync), Type)> = args
        .iter()
        .map(|(value, kind)| (value.as_ref() as &(dyn ToSql + Sync), kind.clone()))
        .collect();
    let rows = client.query_typed(&sql, &params).await?;
    rows.iter().map(summary).collect()
}

/// The columns an [`EventSummary`] is read from, in [`summary`]'s order.
pub(super) const SUMMARY_COLUMNS: &str =
    "id, provider, event_type, subject, provider_event_id, status, received_at_ms, correlation_id, seq";

/// An outbox row (selected as [`SUMMARY_COLUMNS`]) as an [`EventSummary`].
pub(super) fn summary(row: &Row) -> Result<EventSummary, StoreError> {
    let id: Uuid = row.try_get(0)?;
    let status: String = row.try_get(5)?;
    let status = EventStatus::parse(&status)
        .ok_or_else(|| StoreError::Unavailable(format!("unreadable status {status:?} of event {id}")))?;
    Ok(EventSummary {
        id,
        provider: row.try_get(1)?,
        event_type: row.try_get(2)?,
        subject: row.try_get(3)?,
        providereventid: row.try_get(4)?,
        status,
        received_at: crate::clock::rfc3339_from_ms(row.try_get(6)?),
        correlationid: row.try_get(7)?,
        seq: row.try_get(8)?,
    })
}
