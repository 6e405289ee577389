//! [`ReadModel`]: the process's side of the read model — observations of `/v1` answers queued and written in
//! batches (behind the answers, one state per entity per batch, unchanged re-confirmations at most every
//! [`CONFIRM_EVERY`]), and lookups through a memory cache trusted for [`CACHE_FOR`].

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use gatehouse_kit::entity::Versioning;
use gatehouse_kit::outbound::DomainResponse;
use http::Method;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{CACHE_FOR, CONFIRM_EVERY, key};
use crate::providers::Provider;
use crate::store::{EntitySource, EntityState, Store, StoreError};

/// The most entities held in each memory cache.
const CACHE_ENTRIES: usize = 100_000;
/// The most observations waiting for their write; more are dropped (and counted).
const QUEUE: usize = 65_536;
/// The most observations one write takes (all that can be queued).
const BATCH: usize = QUEUE;
/// How long the writer gathers observations after the first before writing them: an entity answered many times in
/// that window is written once (its newest state), and each page of the table once.
const GATHER: std::time::Duration = std::time::Duration::from_secs(1);

#[derive(Clone)]
struct Cached {
    state: Option<Arc<EntityState>>,
    at: Instant,
}

/// Observations to write and recent lookups, over the store.
pub struct ReadModel {
    store: Arc<dyn Store>,
    /// Recent lookups.
    cache: quick_cache::sync::Cache<String, Cached>,
    /// What this process last queued of each entity (a digest of its body) and when: an unchanged state is not
    /// written again within [`CONFIRM_EVERY`].
    queued_last: quick_cache::sync::Cache<String, (u64, Instant)>,
    queue: mpsc::Sender<EntityState>,
    receiver: Mutex<Option<mpsc::Receiver<EntityState>>>,
}

impl ReadModel {
    pub fn new(store: Arc<dyn Store>) -> Arc<Self> {
        let (queue, receiver) = mpsc::channel(QUEUE);
        Arc::new(Self {
            store,
            cache: quick_cache::sync::Cache::new(CACHE_ENTRIES),
            queued_last: quick_cache::sync::Cache::new(CACHE_ENTRIES),
            queue,
            receiver: Mutex::new(Some(receiver)),
        })
    }

    /// Queues what a successful answer to `method route` says about `provider`'s entities; whether the read model
    /// holds what it said (queued now, or an unchanged state queued within [`CONFIRM_EVERY`]).
    pub fn observe(&self, provider: &Provider, method: &Method, route: &str, answer: &DomainResponse) -> bool {
        if !provider.fallback.keeps_entities() {
            return false;
        }
        let source = if *method == Method::GET {
            EntitySource::Read
        } else {
            EntitySource::Write
        };
        let now = crate::clock::now_ms();
        let mut kept = false;
        for spec in provider.adapter.entities() {
            for seen in spec.from_answer(method, route, answer) {
                let body = bytes::Bytes::from(serde_json::to_vec(seen.body).unwrap_or_default());
                let key = key(&provider.name, seen.kind, &seen.id);
                let digest = BuildHasherDefault::<DefaultHasher>::default().hash_one(&body);
                // Skipping a re-confirmation is sound when every state is ordered by when it was seen, or by a
                // field of its own; with vendor event times, a late event must still meet the newest read's time.
                let skippable = spec.versioning != Versioning::EventTime;
                let unchanged = self
                    .queued_last
                    .get(&key)
                    .is_some_and(|(last, at)| last == digest && at.elapsed() < CONFIRM_EVERY);
                if skippable && unchanged {
                    kept = true;
                    continue;
                }
                let state = super::state(provider, seen, body, now, source, None);
                if self.enqueue(provider, state) {
                    self.queued_last.insert(key, (digest, Instant::now()));
                    kept = true;
                }
            }
        }
        kept
    }

    /// Queues a deletion marker for entity `id` of `kind`: the vendor answered its single-entity read 404
    /// (`source` read), or a deletion of it went through (`source` write).
    pub fn observe_gone(&self, provider: &Provider, kind: &'static str, id: &str, source: EntitySource) {
        let now = crate::clock::now_ms();
        self.queued_last.remove(&key(&provider.name, kind, id));
        let state = EntityState {
            provider: provider.name.clone(),
            kind: kind.to_owned(),
            id: id.to_owned(),
            version: now,
            observed_at_ms: now,
            source,
            deleted: true,
            body: bytes::Bytes::new(),
            event_id: None,
        };
        self.enqueue(provider, state);
    }

    /// Hands `state` to the writer; `false` (and counted) when the queue is full or the writer has stopped.
    fn enqueue(&self, provider: &Provider, state: EntityState) -> bool {
        let queued = self.queue.try_send(state).is_ok();
        if !queued {
            metrics::counter!(crate::metrics::READ_MODEL_DROPPED, "provider" => provider.name.clone()).increment(1);
        }
        queued
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

    /// Drops what memory holds of an entity this process just wrote (a webhook's state, say).
    pub fn forget(&self, state: &EntityState) {
        let key = key(&state.provider, &state.kind, &state.id);
        self.cache.remove(&key);
        self.queued_last.remove(&key);
    }

    /// Writes queued observations until `stop`, then what is still queued. Runs once per process; cancel `stop`
    /// only once nothing observes any more (the server has drained, the executor stopped).
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        let receiver = self.receiver.lock().map(|mut r| r.take()).unwrap_or_default();
        let Some(mut receiver) = receiver else {
            return;
        };
        let mut batch = Vec::with_capacity(BATCH);
        loop {
            let received = tokio::select! {
                () = stop.cancelled() => {
                    receiver.close();
                    while receiver.recv_many(&mut batch, BATCH).await > 0 {
                        self.write(std::mem::take(&mut batch)).await;
                    }
                    return;
                }
                received = receiver.recv_many(&mut batch, BATCH) => received,
            };
            if received == 0 {
                return;
            }
            tokio::select! {
                () = stop.cancelled() => {}
                () = tokio::time::sleep(GATHER) => {}
            }
            while batch.len() < BATCH {
                match receiver.try_recv() {
                    Ok(state) => batch.push(state),
                    Err(_) => break,
                }
            }
            self.write(std::mem::take(&mut batch)).await;
        }
    }

    /// One batch, reduced to the newest state of each entity, in one store write; the lookup cache forgets each
    /// entity once it is written.
    async fn write(&self, batch: Vec<EntityState>) {
        let mut newest: HashMap<String, EntityState> = HashMap::with_capacity(batch.len());
        for state in batch {
            let key = key(&state.provider, &state.kind, &state.id);
            match newest.get(&key) {
                Some(kept) if !state.supersedes(kept) => {}
                _ => {
                    newest.insert(key, state);
                }
            }
        }
        let (keys, states): (Vec<String>, Vec<EntityState>) = newest.into_iter().unzip();
        let written = self.store.upsert_entities(states).await;
        for key in &keys {
            self.cache.remove(key);
            if written.is_err() {
                // Not written: the next answer about it must not be skipped as unchanged.
                self.queued_last.remove(key);
            }
        }
        if let Err(error) = written {
            tracing::warn!(%error, "cannot write the read model's observations; they are dropped");
        }
    }
}
