//! The read model: the latest known state of each entity the adapters declare (`gatehouse_kit::entity`), for the
//! providers whose `fallback` keeps it, answered when the vendor cannot be (see `calls::fallback`).
//!
//! - What a webhook carries ([`from_event`]) is committed by ingest in the event's own transaction
//!   (`NewEvent::entity`).
//! - What a successful `/v1` answer carries ([`ReadModel::observe`]), and an entity gone (a single-entity read the
//!   vendor answers 404, a deletion on that route: [`ReadModel::observe_gone`]), is queued and written in batches by [`ReadModel::run`] (`keeper`): a
//!   request never waits for it, many answers about one entity between two writes are one write, and a read that
//!   only re-confirms an unchanged state is written at most every [`CONFIRM_EVERY`]. A full queue drops the newest
//!   observations (counted), never a request.
//! - Lookups ([`ReadModel::lookup`]) go through a small in-memory cache, each entry trusted for [`CACHE_FOR`]
//!   (another replica's writes are seen within that) and forgotten when this process writes the entity.
//!
//! Every store keeps the newest state by the same rule (`EntityState::supersedes`), whatever order states arrive.

mod keeper;

use std::time::Duration;

use gatehouse_kit::InboundEvent;
use gatehouse_kit::entity::Observation;
use uuid::Uuid;

pub use keeper::ReadModel;

use crate::config::ReadFallback;
use crate::providers::Provider;
use crate::store::{EntitySource, EntityState};

/// How long a looked-up state is answered from memory before the store is asked again.
pub const CACHE_FOR: Duration = Duration::from_secs(1);
/// How often a read that only re-confirms an unchanged state is written, per entity: `Age` over-states by at most
/// this much, never under-states.
pub const CONFIRM_EVERY: Duration = Duration::from_secs(10);

/// The state of an entity `event` carries, when `provider` keeps a read model and its adapter declares one:
/// ordered by the adapter's versioning, else by `received_at_ms`.
pub fn from_event(provider: &Provider, event: &InboundEvent, id: Uuid, received_at_ms: i64) -> Option<EntityState> {
    if !provider.fallback.keeps_entities() {
        return None;
    }
    let seen = provider
        .adapter
        .entities()
        .iter()
        .find_map(|spec| spec.from_event(event))?;
    let body = serde_json::to_vec(seen.body).unwrap_or_default().into();
    Some(state(
        provider,
        seen,
        body,
        received_at_ms,
        EntitySource::Webhook,
        Some(id),
    ))
}

/// The state `seen` describes as `provider`'s, its body serialized as `body`, seen at `seen_at_ms` (also its
/// version when the adapter's versioning gives none).
fn state(
    provider: &Provider,
    seen: Observation<'_>,
    body: bytes::Bytes,
    seen_at_ms: i64,
    source: EntitySource,
    event_id: Option<Uuid>,
) -> EntityState {
    EntityState {
        provider: provider.name.clone(),
        kind: seen.kind.to_owned(),
        id: seen.id,
        version: seen.version.unwrap_or(seen_at_ms),
        observed_at_ms: seen_at_ms,
        source,
        deleted: seen.deleted,
        body,
        event_id,
    }
}

/// The entity kind read by `route` and its fallback, when `provider` answers that read from its read model.
pub fn read_fallback(provider: &Provider, route: &str) -> Option<(&'static str, ReadFallback)> {
    let kind = read_kind(provider, route)?;
    let fallback = provider.fallback.for_route(route);
    fallback.enabled.then_some((kind, fallback))
}

/// The entity kind `route` is the single-entity read of, when `provider` keeps its entities.
pub fn read_kind(provider: &Provider, route: &str) -> Option<&'static str> {
    if !provider.fallback.keeps_entities() {
        return None;
    }
    let spec = provider.adapter.entities().iter().find(|spec| spec.read == route)?;
    Some(spec.kind)
}

/// The memory caches' key.
fn key(provider: &str, kind: &str, id: &str) -> String {
    format!("{provider}\n{kind}\n{id}")
}
