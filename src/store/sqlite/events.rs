//! Inbox and outbox statements: ingesting an event (deduplicated by the provider's event id, with one delivery per
//! subscriber and the entity state it carries) and listing events.

use rusqlite::{Connection, OptionalExtension, Transaction, params, params_from_iter};
use uuid::Uuid;

use crate::store::{EventFilter, EventStatus, EventSummary, Ingested, NewEvent, StoreError};

/// Claims the event's inbox key; if the key is new, adds the event to the outbox (and, unless it is quarantined,
/// applies the entity state it carries), otherwise answers with the id the key already points to.
pub(super) fn ingest(tx: &Transaction<'_>, event: &NewEvent) -> rusqlite::Result<Ingested> {
    let mut claim = tx.prepare_cached(
        "INSERT INTO inbox (provider, provider_event_id, event_id, received_at_ms) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (provider, provider_event_id) DO NOTHING",
    )?;
    let id = event.id.to_string();
    let claimed = claim.execute(params![
        event.provider,
        event.provider_event_id,
        id,
        event.received_at_ms
    ])?;
    if claimed == 1 {
        let mut insert = tx.prepare_cached(
            "INSERT INTO outbox (id, provider, event_type, subject, provider_event_id, correlation_id,
                                 received_at_ms, envelope, raw_body, status, raw_headers, quarantine_error)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        )?;
        // A quarantined event waits for a translation; one no subscription wants has nothing left to deliver.
        let status = if event.quarantine.is_some() {
            "quarantined"
        } else if event.deliver_to.is_empty() {
            "delivered"
        } else {
            "pending"
        };
        let (headers, error) = match &event.quarantine {
            Some(quarantine) => (
                Some(serde_json::to_string(&quarantine.headers).map_err(|e| to_sql_error(e.into()))?),
                Some(quarantine.error.as_str()),
            ),
            None => (None, None),
        };
        insert.execute(params![
            id,
            event.provider,
            event.event_type,
            event.subject,
            event.provider_event_id,
            event.correlation_id,
            event.received_at_ms,
            event.envelope,
            event.raw_body.as_ref(),
            status,
            headers,
            error,
        ])?;
        let seq = tx.last_insert_rowid();
        if event.quarantine.is_none() {
            super::deliveries::fan_out(
                tx,
                seq,
                event.subject.as_deref(),
                &event.deliver_to,
                event.received_at_ms,
            )?;
            if let Some(entity) = &event.entity {
                super::entities::apply(tx, entity)?;
            }
        }
        return Ok(Ingested {
            id: event.id,
            duplicate: false,
            quarantined: event.quarantine.is_some(),
        });
    }
    // The first event's id, and whether it is quarantined now (it may have been pruned since).
    let mut existing = tx.prepare_cached(
        "SELECT i.event_id, o.status FROM inbox i LEFT JOIN outbox o ON o.id = i.event_id
         WHERE i.provider = ?1 AND i.provider_event_id = ?2",
    )?;
    let first: Option<(String, Option<String>)> = existing
        .query_row(params![event.provider, event.provider_event_id], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .optional()?;
    let (first, status) = first.ok_or(rusqlite::Error::QueryReturnedNoRows)?;
    let first = Uuid::parse_str(&first).map_err(|_| rusqlite::Error::QueryReturnedNoRows)?;
    Ok(Ingested {
        id: first,
        duplicate: true,
        quarantined: status.as_deref() == Some(EventStatus::Quarantined.as_str()),
    })
}

fn to_sql_error(error: Box<dyn std::error::Error + Send + Sync>) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(error)
}

/// Outbox events matching `filter`, in `seq` order or its reverse. Each filter has an index that reads in `seq`
/// order (`0005_operate.sql`), so a page costs a short index walk whatever the filter.
pub(super) fn list(conn: &Connection, filter: EventFilter) -> Result<Vec<EventSummary>, StoreError> {
    let columns = SUMMARY_COLUMNS
        .split(", ")
        .map(|c| format!("o.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut args: Vec<rusqlite::types::Value> = Vec::new();
    let mut arg = |value: rusqlite::types::Value| {
        args.push(value);
        format!("?{}", args.len())
    };
    let mut sql = match &filter.subscription {
        Some(subscription) => {
            let mut sql = format!(
                "SELECT {columns} FROM deliveries d JOIN outbox o ON o.seq = d.event_seq WHERE d.subscription = {}",
                arg(subscription.clone().into())
            );
            if let Some(status) = filter.status {
                // Inline (a fixed word), so the planner can match the dead deliveries' partial indexes.
                sql.push_str(&format!(" AND d.state = '{}'", status.as_str()));
                sql.push_str(crate::store::implied_event_status(status));
            }
            sql
        }
        None => {
            let mut sql = format!("SELECT {columns} FROM outbox o WHERE 1 = 1");
            if let Some(status) = filter.status {
                // Inline (a fixed word), with the partial status and (status, provider|type) indexes' own
                // condition spelled out: SQLite uses a partial index only when the query states its condition.
                // Delivered events, dense in `seq` order, are read from the table itself.
                sql.push_str(&format!(" AND o.status = '{}'", status.as_str()));
                if status != EventStatus::Delivered {
                    sql.push_str(" AND o.status <> 'delivered'");
                }
            }
            sql
        }
    };
    let (seq, order) = match (&filter.subscription, filter.newest_first) {
        (Some(_), true) => ("d.event_seq", "DESC"),
        (Some(_), false) => ("d.event_seq", "ASC"),
        (None, true) => ("o.seq", "DESC"),
        (None, false) => ("o.seq", "ASC"),
    };
    if let Some(after) = filter.after {
        let op = if filter.newest_first { "<" } else { ">" };
        sql.push_str(&format!(" AND {seq} {op} {}", arg(after.into())));
    }
    // By subscription, the delivery's own copies of the event's provider and type (indexed for dead ones).
    let table = if filter.subscription.is_some() { "d" } else { "o" };
    for (column, value) in [
        (format!("{table}.provider"), filter.provider),
        (format!("{table}.event_type"), filter.event_type),
        ("o.provider_event_id".to_owned(), filter.provider_event_id),
    ] {
        if let Some(value) = value {
            sql.push_str(&format!(" AND {column} = {}", arg(value.into())));
        }
    }
    if let Some(since) = filter.since_ms {
        sql.push_str(&format!(" AND o.received_at_ms >= {}", arg(since.into())));
    }
    if let Some(until) = filter.until_ms {
        sql.push_str(&format!(" AND o.received_at_ms < {}", arg(until.into())));
    }
    sql.push_str(&format!(
        " ORDER BY {seq} {order} LIMIT {}",
        filter.limit.min(i64::MAX as usize)
    ));
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params_from_iter(args.iter()), summary)?;
    let mut events = Vec::new();
    for row in rows {
        events.push(row??);
    }
    Ok(events)
}

/// The columns an [`EventSummary`] is read from, in [`summary`]'s order.
pub(super) const SUMMARY_COLUMNS: &str =
    "id, provider, event_type, subject, provider_event_id, status, received_at_ms, correlation_id, seq";

/// An outbox row (selected as [`SUMMARY_COLUMNS`]) as an [`EventSummary`].
pub(super) fn summary(row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<EventSummary, StoreError>> {
    let id: String = row.get(0)?;
    let status: String = row.get(5)?;
    let (Ok(uuid), Some(status)) = (Uuid::parse_str(&id), EventStatus::parse(&status)) else {
        return Ok(Err(StoreError::Unavailable(format!("unreadable outbox row {id:?}"))));
    };
    Ok(Ok(EventSummary {
        id: uuid,
        provider: row.get(1)?,
        event_type: row.get(2)?,
        subject: row.get(3)?,
        providereventid: row.get(4)?,
        status,
        received_at: crate::clock::rfc3339_from_ms(row.get(6)?),
        correlationid: row.get(7)?,
        seq: row.get(8)?,
    }))
}
