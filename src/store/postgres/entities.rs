//! [`Entities`] on PostgreSQL: the read model's rows. The rule that decides whether a state replaces the stored one
//! ([`EntityState::supersedes`]) is written once, in [`apply_entities!`], and used by the two statements that store
//! states: [`UPSERT`] (an upsert, the entity of a translated quarantine, the entity of an event ingested alone) and
//! [`CARRIED`] (the entities of a batch of webhooks, in the batch's transaction: [`super::batch`]).
//!
//! Both take their entities' rows in key order (`ORDER BY provider, kind, entity_id`), so two transactions storing
//! states of the same entities never wait for each other; pruning skips rows another transaction holds. One
//! `INSERT ... ON CONFLICT` cannot change a row twice, so several states of one entity go in as the one that wins.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use bytes::Bytes;
use deadpool_postgres::GenericClient;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use super::connect::Failure;
use super::events::text;
use super::{PRUNE_CHUNK, PostgresStore};
use crate::store::{Entities, EntitySource, EntityState, NewEvent, StoreError};

/// Stores each row of `$rows` (a query with the table's columns, in key order) unless its entity's stored state is
/// newer: the rule of [`EntityState::supersedes`].
macro_rules! apply_entities {
    ($rows:literal, $returning:literal) => {
        concat!(
            "INSERT INTO read_model (provider, kind, entity_id, version, observed_at_ms, source, deleted, body,
                                     event_id) ",
            $rows,
            " ON CONFLICT (provider, kind, entity_id) DO UPDATE SET version = excluded.version,
                observed_at_ms = excluded.observed_at_ms, source = excluded.source, deleted = excluded.deleted,
                body = excluded.body, event_id = excluded.event_id
            WHERE excluded.version > read_model.version
               OR (excluded.version = read_model.version AND excluded.observed_at_ms >= read_model.observed_at_ms) ",
            $returning
        )
    };
}

/// Applies states, at most one per entity (`$1`-`$9`: the columns as arrays); answers a row per state applied
/// (`true` and its key) and a row per state already stored for one of the entities (`false`, its key, version and
/// time: the statement's snapshot, before the insert), for counting the states of one entity the caller folded
/// into one. No join between the two: the caller matches them by key (a join planned on the arrays' default
/// estimates compared every row with every other, 13 s for 10,000 updates).
const UPSERT: &str = concat!(
    "WITH input AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[], $5::int8[], $6::text[], $7::bool[],
                         $8::bytea[], $9::uuid[])
        AS t(provider, kind, entity_id, version, observed_at_ms, source, deleted, body, event_id)
), applied AS (",
    apply_entities!(
        "SELECT provider, kind, entity_id, version, observed_at_ms, source, deleted, body, event_id FROM input
         ORDER BY provider, kind, entity_id",
        "RETURNING provider, kind, entity_id"
    ),
    ")
SELECT true, provider, kind, entity_id, NULL::int8, NULL::int8 FROM applied
UNION ALL
SELECT false, r.provider, r.kind, r.entity_id, r.version, r.observed_at_ms
FROM input i JOIN read_model r USING (provider, kind, entity_id)"
);

/// Applies the entities carried by a batch's events, each only if its event is new (the inbox entry of its provider
/// event id points to it: `$1` the event's id, `$2` its provider, `$3` its provider event id), the newest of each
/// entity winning and, among equals, the later in the batch (`$4`-`$12`: the states' columns as arrays).
pub(super) const CARRIED: &str = concat!(
    "WITH carried AS (
    SELECT DISTINCT ON (provider, kind, entity_id) *
    FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int8[], $8::int8[],
                $9::text[], $10::bool[], $11::bytea[], $12::uuid[])
        WITH ORDINALITY AS e(carrier, event_provider, provider_event_id, provider, kind, entity_id, version,
                             observed_at_ms, source, deleted, body, event_id, n)
    -- A scalar subquery, run per row: one primary-key probe each, whatever the inbox's size.
    WHERE (SELECT i.event_id FROM inbox i
           WHERE i.provider = e.event_provider AND i.provider_event_id = e.provider_event_id) = e.carrier
    ORDER BY provider, kind, entity_id, version DESC, observed_at_ms DESC, n DESC
)",
    apply_entities!(
        "SELECT provider, kind, entity_id, version, observed_at_ms, source, deleted, body, event_id FROM carried
         ORDER BY provider, kind, entity_id",
        ""
    )
);

/// The columns of entity states as [`UPSERT`] and [`CARRIED`] take them.
#[derive(Default)]
struct Columns<'a> {
    provider: Vec<Cow<'a, str>>,
    kind: Vec<Cow<'a, str>>,
    id: Vec<Cow<'a, str>>,
    version: Vec<i64>,
    observed_at_ms: Vec<i64>,
    source: Vec<&'static str>,
    deleted: Vec<bool>,
    body: Vec<&'a [u8]>,
    event_id: Vec<Option<Uuid>>,
}

impl<'a> Columns<'a> {
    fn push(&mut self, state: &'a EntityState) {
        self.provider.push(text(&state.provider));
        self.kind.push(text(&state.kind));
        self.id.push(text(&state.id));
        self.version.push(state.version);
        self.observed_at_ms.push(state.observed_at_ms);
        self.source.push(state.source.as_str());
        self.deleted.push(state.deleted);
        self.body.push(state.body.as_ref());
        self.event_id.push(state.event_id);
    }

    fn params(&self) -> [&(dyn ToSql + Sync); 9] {
        [
            &self.provider,
            &self.kind,
            &self.id,
            &self.version,
            &self.observed_at_ms,
            &self.source,
            &self.deleted,
            &self.body,
            &self.event_id,
        ]
    }
}

/// The parameters of [`CARRIED`] for a batch's events (those quarantined carry none).
pub(super) struct Carried<'a> {
    carrier: Vec<Uuid>,
    event_provider: Vec<Cow<'a, str>>,
    provider_event_id: Vec<Cow<'a, str>>,
    states: Columns<'a>,
}

impl<'a> Carried<'a> {
    /// `None` when no event carries an entity.
    pub(super) fn new(events: &[&'a NewEvent]) -> Option<Self> {
        let mut carried = Carried {
            carrier: Vec::new(),
            event_provider: Vec::new(),
            provider_event_id: Vec::new(),
            states: Columns::default(),
        };
        for event in events.iter().filter(|event| event.quarantine.is_none()) {
            let Some(state) = &event.entity else { continue };
            carried.carrier.push(event.id);
            carried.event_provider.push(text(&event.provider));
            carried.provider_event_id.push(text(&event.provider_event_id));
            carried.states.push(state);
        }
        (!carried.carrier.is_empty()).then_some(carried)
    }

    pub(super) fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&self.carrier, &self.event_provider, &self.provider_event_id];
        params.extend(self.states.params());
        params
    }
}

/// An entity's key as stored (see [`text`]).
type Key<'a> = (Cow<'a, str>, Cow<'a, str>, Cow<'a, str>);

/// Applies `states` in the caller's transaction (or alone, in a statement's own), as if one by one in order;
/// returns how many were applied.
pub(super) async fn apply(client: &impl GenericClient, states: &[EntityState]) -> Result<usize, StoreError> {
    // Per entity, in key order: the states that would be applied one by one over no stored state (each at least
    // as new as those before it); the last one wins.
    let mut chains: BTreeMap<Key<'_>, Vec<&EntityState>> = BTreeMap::new();
    for state in states {
        let chain = chains
            .entry((text(&state.provider), text(&state.kind), text(&state.id)))
            .or_default();
        if chain.last().is_none_or(|last| state.supersedes(last)) {
            chain.push(state);
        }
    }
    let mut columns = Columns::default();
    for chain in chains.values() {
        if let Some(winner) = chain.last() {
            columns.push(winner);
        }
    }
    let statement = client.prepare_cached(UPSERT).await?;
    let rows = client.query(&statement, &columns.params()).await?;
    let (mut applied_keys, mut stored) = (Vec::new(), HashMap::new());
    for row in rows {
        let key: Key<'_> = (
            Cow::Owned(row.try_get(1)?),
            Cow::Owned(row.try_get(2)?),
            Cow::Owned(row.try_get(3)?),
        );
        if row.try_get(0)? {
            applied_keys.push(key);
        } else {
            stored.insert(key, (row.try_get::<_, i64>(4)?, row.try_get::<_, i64>(5)?));
        }
    }
    let mut applied = 0;
    for key in applied_keys {
        let Some(chain) = chains.get(&key) else {
            continue;
        };
        // Of its chain, the states at least as new as the one it replaced would have been applied.
        applied += match stored.get(&key) {
            Some(&stored) => chain
                .iter()
                .filter(|state| (state.version, state.observed_at_ms) >= stored)
                .count(),
            None => chain.len(),
        };
    }
    Ok(applied)
}

#[async_trait]
impl Entities for PostgresStore {
    async fn upsert_entities(&self, states: Vec<EntityState>) -> Result<usize, StoreError> {
        if states.is_empty() {
            return Ok(0);
        }
        apply(&self.conn().await?, &states).await
    }

    async fn get_entity(&self, provider: &str, kind: &str, id: &str) -> Result<Option<EntityState>, StoreError> {
        let conn = self.conn().await?;
        let statement = conn
            .prepare_cached(
                "SELECT version, observed_at_ms, source, deleted, body, event_id FROM read_model
                 WHERE provider = $1 AND kind = $2 AND entity_id = $3",
            )
            .await?;
        let Some(row) = conn
            .query_opt(&statement, &[&text(provider), &text(kind), &text(id)])
            .await?
        else {
            return Ok(None);
        };
        let source: &str = row.try_get(2)?;
        let source = EntitySource::parse(source).ok_or_else(|| {
            StoreError::Unavailable(format!("unreadable source {source:?} of entity {provider}/{kind}/{id}"))
        })?;
        Ok(Some(EntityState {
            provider: provider.to_owned(),
            kind: kind.to_owned(),
            id: id.to_owned(),
            version: row.try_get(0)?,
            observed_at_ms: row.try_get(1)?,
            source,
            deleted: row.try_get(3)?,
            body: Bytes::from(row.try_get::<_, Vec<u8>>(4)?),
            event_id: row.try_get(5)?,
        }))
    }

    async fn prune_entities(&self, seen_before_ms: i64) -> Result<usize, StoreError> {
        let conn = self.conn().await?;
        let statement = conn
            .prepare_cached(
                "DELETE FROM read_model WHERE (provider, kind, entity_id) IN (
                     SELECT provider, kind, entity_id FROM read_model WHERE observed_at_ms < $1 LIMIT $2
                     FOR UPDATE SKIP LOCKED)",
            )
            .await?;
        let pruned = conn.execute(&statement, &[&seen_before_ms, &PRUNE_CHUNK]).await?;
        Ok(usize::try_from(pruned).unwrap_or(usize::MAX))
    }
}

/// Applies the entities `events` carry, each only if its event is new, in the caller's transaction (which stored
/// the events).
pub(super) async fn apply_carried(client: &impl GenericClient, events: &[&NewEvent]) -> Result<(), Failure> {
    let Some(carried) = Carried::new(events) else {
        return Ok(());
    };
    let statement = client.prepare_cached(CARRIED).await?;
    client.execute(&statement, &carried.params()).await?;
    Ok(())
}
