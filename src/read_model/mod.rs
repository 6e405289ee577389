//! The read model: the latest known state of each entity the adapters declare (`gatehouse_kit::entity`), for the
//! providers whose `fallback` keeps it, answered when the vendor cannot be (see `calls::fallback`).
//!
//! - What a webhook carries ([`from_event`]) is committed by ingest in the event's own transaction
//!   (`NewEvent::entity`).
//! - What a successful `/v1` answer carries ([`ReadModel::observe`]) is queued and written in batches by
//!   [`ReadModel::run`]: a request never waits for it, and many answers about one entity between two writes
//!   are one write. A full queue drops the newest observations (counted), never a request.
//! - Lookups ([`ReadModel::lookup`]) go through a small in-memory cache of recent answers, kept at most
//!   [`CACHE_FOR`] (another replica's writes are seen within that) and forgotten when this process writes the
//!   entity.
//!
//! Every store keeps the newest state by the same rule (`EntityState::supersedes`), whatever order states arrive.

use std::sync::Arc;
use std::time::{Duration, Instant};

use gatehouse_kit::InboundEvent;
use gatehouse_kit::outbound::DomainResponse;
use http::Method;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::config::ReadFallback;
use crate::providers::Provider;
use crate::store::{EntitySource, EntityState, Store, StoreError};

/// How long a looked-up state is answered from memory before the store is asked again.
pub const CACHE_FOR: Duration = Duration::from_secs(1);
/// The most entities held in memory.
const CACHE_ENTRIES: usize = 100_000;
/// The most observations waiting for their write; more are dropped (and counted).
const QUEUE: usize = 65_536;
/// The most observations one write takes.
const BATCH: usize = 4_096;

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
    Some(EntityState {
        provider: provider.name.clone(),
        kind: seen.kind.to_owned(),
        id: seen.id,
        version: seen.version.unwrap_or(received_at_ms),
        observed_at_ms: received_at_ms,
        source: EntitySource::Webhook,
        deleted: seen.deleted,
        body: serde_json::to_vec(&seen.body).unwrap_or_default().into(),
        event_id: Some(id),
    })
}

/// The entity kind read by `route` and its fallback, when `provider` answers that read from its read model.
pub fn read_fallback(provider: &Provider, route: &str) -> Option<(&'static str, ReadFallback)> {
    let spec = provider.adapter.entities().iter().find(|spec| spec.read == route)?;
    let fallback = provider.fallback.for_route(route);
    fallback.enabled.then_some((spec.kind, fallback))
}

/// The memory cache's key.
fn key(provider: &str, kind: &str, id: &str) -> String {
    format!("{provider}\n{kind}\n{id}")
}

#[derive(Clone)]
struct Cached {
    state: Option<Arc<EntityState>>,
    at: Instant,
}

/// Observations to write and recent lookups, over the store.
pub struct ReadModel {
    store: Arc<dyn Store>,
    cache: quick_cache::sync::Cache<String, Cached>,
    queue: mpsc::Sender<EntityState>,
    queued: std::sync::Mutex<Option<mpsc::Receiver<EntityState>>>,
}

impl ReadModel {
    pub fn new(store: Arc<dyn Store>) -> Arc<Self> {
        let (queue, queued) = mpsc::channel(QUEUE);
        Arc::new(Self {
            store,
            cache: quick_cache::sync::Cache::new(CACHE_ENTRIES),
            queue,
            queued: std::sync::Mutex::new(Some(queued)),
        })
    }

    /// Queues what a successful answer to `method route` says about `provider`'s entities; whether it said
    /// anything.
    pub fn observe(&self, provider: &Provider, method: &Method, route: &str, answer: &DomainResponse) -> bool {
        if !provider.fallback.keeps_entities() {
            return false;
        }
        let mut observed = false;
        let source = if *method == Method::GET {
            EntitySource::Read
        } else {
            EntitySource::Write
        };
        let now = crate::clock::now_ms();
        for spec in provider.adapter.entities() {
            for seen in spec.from_answer(method, route, answer) {
                let state = EntityState {
                    provider: provider.name.clone(),
                    kind: seen.kind.to_owned(),
                    id: seen.id,
                    version: seen.version.unwrap_or(now),
                    observed_at_ms: now,
                    source,
                    deleted: false,
                    body: serde_json::to_vec(&seen.body).unwrap_or_default().into(),
                    event_id: None,
                };
                if self.queue.try_send(state).is_err() {
                    metrics::counter!(crate::metrics::READ_MODEL_DROPPED, "provider" => provider.name.clone())
                        .increment(1);
                }
                observed = true;
            }
        }
        observed
    }

    /// The stored state of an entity, from memory when looked up within [`CACHE_FOR`].
    pub async fn lookup(&self, provider: &str, kind: &str, id: &str) -> Result<Option<Arc<EntityState>>, StoreError> {
        let key = key(provider, kind, id);
        if let Some(cached) = self.cache.get(&key).filter(|c| c.at.elapsed() < CACHE_FOR) {
            return Ok(cached.state);
        }
        let state = self.store.get_entity(provider, kind, id).await?.map(Arc::new);
        let cached = Cached {
            state: state.clone(),
            at: Instant::now(),
        };
        self.cache.insert(key, cached);
        Ok(state)
    }

    /// Drops the memory's copy of an entity this process just wrote (a webhook's state, say).
    pub fn forget(&self, state: &EntityState) {
        self.cache.remove(&key(&state.provider, &state.kind, &state.id));
    }

    /// Writes queued observations until `stop`, then what is still queued. Runs once per process.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        let queued = self.queued.lock().map(|mut q| q.take()).unwrap_or_default();
        let Some(mut queued) = queued else {
            return;
        };
        let mut batch = Vec::with_capacity(BATCH);
        loop {
            let received = tokio::select! {
                () = stop.cancelled() => {
                    queued.close();
                    while queued.recv_many(&mut batch, BATCH).await > 0 {
                        self.write(std::mem::take(&mut batch)).await;
                    }
                    return;
                }
                received = queued.recv_many(&mut batch, BATCH) => received,
            };
            if received == 0 {
                return;
            }
            self.write(std::mem::take(&mut batch)).await;
        }
    }

    /// One batch, reduced to the newest state of each entity, in one store write.
    async fn write(&self, batch: Vec<EntityState>) {
        let mut newest: std::collections::HashMap<(String, String, String), EntityState> =
            std::collections::HashMap::with_capacity(batch.len());
        for state in batch {
            let key = (state.provider.clone(), state.kind.clone(), state.id.clone());
            match newest.get(&key) {
                Some(kept) if !state.supersedes(kept) => {}
                _ => {
                    newest.insert(key, state);
                }
            }
        }
        let states: Vec<EntityState> = newest.into_values().collect();
        for state in &states {
            self.forget(state);
        }
        if let Err(error) = self.store.upsert_entities(states).await {
            tracing::warn!(%error, "cannot write the read model's observations; they are dropped");
        }
    }
}
