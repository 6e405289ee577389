//! A saga's outcome as an outbox event: `gatehouse.saga.completed`, `gatehouse.saga.compensated` or
//! `gatehouse.saga.failed`, committed with the saga's final state. It carries the caller's correlation id, the saga
//! id as its causation id and subject, and the saga's steps (state, attempts, answers, errors).

use serde_json::json;
use uuid::Uuid;

use crate::envelope::Envelope;
use crate::store::{NewEvent, SagaRecord, SagaStatus};

pub const COMPLETED: &str = "gatehouse.saga.completed";
pub const COMPENSATED: &str = "gatehouse.saga.compensated";
pub const FAILED: &str = "gatehouse.saga.failed";

/// The event announcing that `saga` ended as `status` (its deliveries still to be routed: `deliver_to` is empty).
/// Its provider event id is `saga/{id}/{status}`, with `/{n}` after an operator's n-th retry, so each ending of a
/// saga is one event, once.
pub fn announcement(saga: &SagaRecord, status: SagaStatus) -> NewEvent {
    let event_type = match status {
        SagaStatus::Completed => COMPLETED,
        SagaStatus::Compensated => COMPENSATED,
        SagaStatus::Failed | SagaStatus::Running | SagaStatus::Compensating => FAILED,
    };
    let id = Uuid::now_v7();
    let now = crate::clock::now_ms();
    let subject = saga.id.to_string();
    let provider_event_id = match saga.retries {
        0 => format!("saga/{}/{}", saga.id, status.as_str()),
        n => format!("saga/{}/{}/{n}", saga.id, status.as_str()),
    };
    let data = json!({
        "id": saga.id,
        "saga": saga.name,
        "status": status,
        "caller": saga.caller,
        "steps": saga.steps,
    });
    let envelope = Envelope {
        specversion: Envelope::SPEC_VERSION,
        id,
        source: "gatehouse/sagas".into(),
        event_type,
        time: crate::clock::rfc3339_from_ms(now),
        subject: Some(&subject),
        datacontenttype: Envelope::CONTENT_TYPE,
        data: &data,
        providereventid: &provider_event_id,
        correlationid: &saga.correlation_id,
        causationid: Some(&subject),
    };
    let envelope = serde_json::to_vec(&envelope).unwrap_or_default();
    NewEvent {
        id,
        provider: "gatehouse".into(),
        provider_event_id,
        event_type: event_type.into(),
        subject: Some(subject),
        correlation_id: saga.correlation_id.clone(),
        received_at_ms: now,
        envelope,
        raw_body: bytes::Bytes::new(),
        deliver_to: Vec::new(),
        quarantine: None,
        entity: None,
    }
}
