//! Quarantine statements: reading a stored webhook back as it arrived, and recording a new translation of a
//! quarantined event (an ordinary event with its deliveries and the entity state it carries, or still quarantined
//! with the new error).

use deadpool_postgres::GenericClient;
use uuid::Uuid;

use super::events;
use crate::store::{EventStatus, Resolution, Resolved, StoreError, StoredWebhook};

pub(super) async fn get(client: &impl GenericClient, id: Uuid) -> Result<Option<StoredWebhook>, StoreError> {
    let statement = client
        .prepare_cached(
            "SELECT provider, provider_event_id, status, correlation_id, received_at_ms, raw_body, raw_headers,
                    quarantine_error
             FROM outbox WHERE id = $1",
        )
        .await?;
    let Some(row) = client.query_opt(&statement, &[&id]).await? else {
        return Ok(None);
    };
    let status: String = row.try_get(2)?;
    let status = EventStatus::parse(&status)
        .ok_or_else(|| StoreError::Unavailable(format!("unreadable status {status:?} of event {id}")))?;
    let headers = match row.try_get::<_, Option<String>>(6)? {
        Some(json) => serde_json::from_str(&json)
            .map_err(|e| StoreError::Unavailable(format!("unreadable headers of event {id}: {e}")))?,
        None => Vec::new(),
    };
    Ok(Some(StoredWebhook {
        id,
        provider: row.try_get(0)?,
        provider_event_id: row.try_get(1)?,
        status,
        correlation_id: row.try_get(3)?,
        received_at_ms: row.try_get(4)?,
        raw_body: row.try_get::<_, Vec<u8>>(5)?.into(),
        headers,
        error: row.try_get(7)?,
    }))
}

/// Runs in a transaction: the ingest and subject locks, then the event's row, then the inbox and deliveries, then
/// the entity state the translation carries.
pub(super) async fn resolve(
    client: &impl GenericClient,
    id: Uuid,
    resolution: &Resolution,
    now: i64,
) -> Result<Option<Resolved>, StoreError> {
    let locks = match resolution {
        Resolution::Translated {
            subject, deliver_to, ..
        } => events::subject_locks(subject.as_deref(), deliver_to),
        Resolution::Failed { .. } => Vec::new(),
    };
    events::lock(client, true, &locks).await?;
    let find = client
        .prepare_cached(
            "SELECT seq, status, provider, provider_event_id, received_at_ms FROM outbox WHERE id = $1 FOR UPDATE",
        )
        .await?;
    let Some(row) = client.query_opt(&find, &[&id]).await? else {
        return Ok(None);
    };
    let (seq, status, provider, stored_id, received_at_ms): (i64, String, String, String, i64) = (
        row.try_get(0)?,
        row.try_get(1)?,
        row.try_get(2)?,
        row.try_get(3)?,
        row.try_get(4)?,
    );
    if status != EventStatus::Quarantined.as_str() {
        let status = EventStatus::parse(&status).unwrap_or(EventStatus::Pending);
        return Ok(Some(Resolved::NotQuarantined(status)));
    }
    let (provider_event_id, event_type, subject, envelope, deliver_to, entity) = match resolution {
        Resolution::Failed { error } => {
            let statement = client
                .prepare_cached("UPDATE outbox SET quarantine_error = $2 WHERE seq = $1")
                .await?;
            client.execute(&statement, &[&seq, error]).await?;
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
        let claim = client
            .prepare_cached(
                "WITH claimed AS (
                     INSERT INTO inbox (provider, provider_event_id, event_id, received_at_ms) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (provider, provider_event_id) DO NOTHING RETURNING event_id)
                 SELECT event_id FROM claimed
                 UNION ALL
                 SELECT event_id FROM inbox
                 WHERE provider = $1 AND provider_event_id = $2 AND NOT EXISTS (SELECT 1 FROM claimed)",
            )
            .await?;
        let holder: Option<Uuid> = client
            .query_opt(&claim, &[&provider, provider_event_id, &id, &received_at_ms])
            .await?
            .map(|row| row.try_get(0))
            .transpose()?;
        duplicate_of = holder.filter(|holder| *holder != id);
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
    let update = client
        .prepare_cached(
            "UPDATE outbox SET provider_event_id = $2, event_type = $3, subject = $4, envelope = $5, status = $6,
                 quarantine_error = NULL
             WHERE seq = $1",
        )
        .await?;
    client
        .execute(
            &update,
            &[&seq, provider_event_id, event_type, subject, envelope, &status.as_str()],
        )
        .await?;
    super::deliveries::queue(client, seq, subject.as_deref(), deliver_to, now).await?;
    if duplicate_of.is_none()
        && let Some(entity) = entity
    {
        super::entities::apply(client, std::slice::from_ref(&**entity)).await?;
    }
    Ok(Some(match duplicate_of {
        Some(first) => Resolved::DuplicateOf(first),
        None => Resolved::Now(status),
    }))
}
