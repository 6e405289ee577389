//! Quarantine statements: reading a stored webhook back as it arrived, and recording a new translation of a
//! quarantined event (an ordinary event with its deliveries and the entity state it carries, or still quarantined
//! with the new error).

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use uuid::Uuid;

use crate::store::{EventStatus, Resolution, Resolved, StoreError, StoredWebhook};

pub(super) fn get(conn: &Connection, id: Uuid) -> Result<Option<StoredWebhook>, StoreError> {
    let row = conn
        .prepare_cached(
            "SELECT provider, provider_event_id, status, correlation_id, received_at_ms, raw_body, raw_headers,
                    quarantine_error
             FROM outbox WHERE id = ?1",
        )?
        .query_row(params![id.to_string()], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, Vec<u8>>(5)?,
                r.get::<_, Option<String>>(6)?,
                r.get::<_, Option<String>>(7)?,
            ))
        })
        .optional()?;
    let Some((provider, provider_event_id, status, correlation_id, received_at_ms, body, headers, error)) = row else {
        return Ok(None);
    };
    let status = EventStatus::parse(&status)
        .ok_or_else(|| StoreError::Unavailable(format!("unreadable status {status:?} of event {id}")))?;
    let headers = match headers {
        Some(json) => serde_json::from_str(&json)
            .map_err(|e| StoreError::Unavailable(format!("unreadable headers of event {id}: {e}")))?,
        None => Vec::new(),
    };
    Ok(Some(StoredWebhook {
        id,
        provider,
        provider_event_id,
        status,
        correlation_id,
        received_at_ms,
        raw_body: body.into(),
        headers,
        error,
    }))
}

pub(super) fn resolve(
    tx: &Transaction<'_>,
    id: Uuid,
    resolution: &Resolution,
    now_ms: i64,
) -> rusqlite::Result<Option<Resolved>> {
    let found: Option<(i64, String, String, String, i64)> = tx
        .prepare_cached("SELECT seq, status, provider, provider_event_id, received_at_ms FROM outbox WHERE id = ?1")?
        .query_row(params![id.to_string()], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .optional()?;
    let Some((seq, status, provider, stored_id, received_at_ms)) = found else {
        return Ok(None);
    };
    if status != EventStatus::Quarantined.as_str() {
        let status = EventStatus::parse(&status).unwrap_or(EventStatus::Pending);
        return Ok(Some(Resolved::NotQuarantined(status)));
    }
    let (provider_event_id, event_type, subject, envelope, deliver_to, entity) = match resolution {
        Resolution::Failed { error } => {
            tx.prepare_cached("UPDATE outbox SET quarantine_error = ?2 WHERE seq = ?1")?
                .execute(params![seq, error])?;
            return Ok(Some(Resolved::Now(EventStatus::Quarantined)));
        }
        Resolution::Translated {
            provider_event_id,
            event_type,
            subject,
            envelope,
            deliver_to,
            entity,
        } => (provider_event_id, event_type, subject, envelope, deliver_to, entity),
    };
    // The translation may read the vendor's id where the quarantine could not (it was keyed by the body's hash):
    // claim that id too, so a later copy is recognised; if another event holds it, this one is its duplicate.
    let mut duplicate_of = None;
    if *provider_event_id != stored_id {
        let claimed = tx
            .prepare_cached(
                "INSERT INTO inbox (provider, provider_event_id, event_id, received_at_ms) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (provider, provider_event_id) DO NOTHING",
            )?
            .execute(params![provider, provider_event_id, id.to_string(), received_at_ms])?;
        if claimed == 0 {
            let holder: String = tx
                .prepare_cached("SELECT event_id FROM inbox WHERE provider = ?1 AND provider_event_id = ?2")?
                .query_row(params![provider, provider_event_id], |r| r.get(0))?;
            duplicate_of = Uuid::parse_str(&holder).ok().filter(|holder| *holder != id);
        }
    }
    let deliver_to = if duplicate_of.is_some() {
        &[][..]
    } else {
        &deliver_to[..]
    };
    let status = if deliver_to.is_empty() {
        EventStatus::Delivered
    } else {
        EventStatus::Pending
    };
    tx.prepare_cached(
        "UPDATE outbox SET provider_event_id = ?2, event_type = ?3, subject = ?4, envelope = ?5, status = ?6,
             quarantine_error = NULL
         WHERE seq = ?1",
    )?
    .execute(params![
        seq,
        provider_event_id,
        event_type,
        subject,
        envelope,
        status.as_str()
    ])?;
    super::deliveries::fan_out(tx, seq, subject.as_deref(), deliver_to, now_ms)?;
    if duplicate_of.is_none()
        && let Some(entity) = entity
    {
        super::entities::apply(tx, entity)?;
    }
    Ok(Some(match duplicate_of {
        Some(first) => Resolved::DuplicateOf(first),
        None => Resolved::Now(status),
    }))
}
