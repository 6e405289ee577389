//! The read model's rows: the newest state of an entity wins whatever the order states arrive in (across calls and
//! within one), a tombstone holds off older states, keys are per (provider, kind, id), retention prunes by last
//! observation; a webhook's entity is applied with its event, atomically, and never for a duplicate or a
//! quarantined one; a translated quarantine's entity with its resolution; concurrent writers of the same entities
//! all finish.

use std::sync::Arc;

use bytes::Bytes;
use uuid::Uuid;

use super::events::webhook;
use super::{Backend, Fixture, conformance};
use crate::store::{
    EntitySource, EntityState, Quarantine, Resolution, Resolved, Store, StoreFault, StoreUrl, Subscriber,
};

fn state(id: &str, version: i64, observed_at_ms: i64) -> EntityState {
    EntityState {
        provider: "acme-crm".into(),
        kind: "customer".into(),
        id: id.into(),
        version,
        observed_at_ms,
        source: EntitySource::Read,
        deleted: false,
        body: Bytes::from(format!("{{\"id\":\"{id}\",\"v\":{version},\"at\":{observed_at_ms}}}")),
        event_id: None,
    }
}

async fn get(store: &dyn Store, id: &str) -> Option<EntityState> {
    store.get_entity("acme-crm", "customer", id).await.unwrap()
}

/// The stored `(version, observed_at_ms)` of customer `id`.
async fn stored(store: &dyn Store, id: &str) -> Option<(i64, i64)> {
    get(store, id).await.map(|s| (s.version, s.observed_at_ms))
}

async fn a_state_is_stored_and_read_back_exactly(backend: Backend) {
    let Some(fixture) = Fixture::new(backend).await else {
        return;
    };
    let store = fixture.store.as_ref();
    assert_eq!(get(store, "c1").await, None, "nothing stored yet");
    let mut first = state("c1", 3, 1_000);
    // Bytes that are not text survive as they are.
    first.body = Bytes::from_static(b"{\"name\":\"Ad\xc3\xa0\"}\x00\xff");
    first.source = EntitySource::Webhook;
    first.event_id = Some(Uuid::now_v7());
    assert_eq!(store.upsert_entities(vec![first.clone()]).await.unwrap(), 1);
    assert_eq!(get(store, "c1").await, Some(first.clone()));
    assert_eq!(store.upsert_entities(Vec::new()).await.unwrap(), 0);
    // The same id under another kind or provider is another entity.
    let mut other_kind = state("c1", 1, 1_000);
    other_kind.kind = "invoice".into();
    let mut other_provider = state("c1", 1, 1_000);
    other_provider.provider = "stripe".into();
    assert_eq!(
        store
            .upsert_entities(vec![other_kind.clone(), other_provider.clone()])
            .await
            .unwrap(),
        2
    );
    assert_eq!(get(store, "c1").await, Some(first));
    let read = |provider: &'static str, kind: &'static str| store.get_entity(provider, kind, "c1");
    assert_eq!(read("acme-crm", "invoice").await.unwrap(), Some(other_kind));
    assert_eq!(read("stripe", "customer").await.unwrap(), Some(other_provider));
    assert_eq!(read("stripe", "invoice").await.unwrap(), None);
    assert_eq!(get(store, "c2").await, None);
}

async fn the_newest_state_wins_in_any_order(backend: Backend) {
    let Some(fixture) = Fixture::new(backend).await else {
        return;
    };
    let store = fixture.store.as_ref();
    store.upsert_entities(vec![state("c", 1, 1_000)]).await.unwrap();
    assert_eq!(store.upsert_entities(vec![state("c", 2, 900)]).await.unwrap(), 1);
    assert_eq!(
        stored(store, "c").await,
        Some((2, 900)),
        "a greater version replaces, even observed earlier"
    );
    assert_eq!(store.upsert_entities(vec![state("c", 1, 5_000)]).await.unwrap(), 0);
    assert_eq!(
        stored(store, "c").await,
        Some((2, 900)),
        "an older version arriving later never does"
    );

    // Within one call, in either order, as if one by one.
    assert_eq!(
        store
            .upsert_entities(vec![state("up", 1, 1_000), state("up", 2, 1_000)])
            .await
            .unwrap(),
        2
    );
    assert_eq!(stored(store, "up").await, Some((2, 1_000)));
    assert_eq!(
        store
            .upsert_entities(vec![state("down", 2, 1_000), state("down", 1, 1_000)])
            .await
            .unwrap(),
        1
    );
    assert_eq!(stored(store, "down").await, Some((2, 1_000)));
    // Over a stored state, only those at least as new as it (and as those before them) count.
    let mixed = vec![
        state("c", 1, 9_000),
        state("c", 3, 1_000),
        state("c", 2, 9_000),
        state("c", 4, 1_000),
        state("other", 1, 1_000),
    ];
    assert_eq!(store.upsert_entities(mixed).await.unwrap(), 3);
    assert_eq!(stored(store, "c").await, Some((4, 1_000)));
    assert_eq!(stored(store, "other").await, Some((1, 1_000)));
}

async fn an_equal_version_refreshes_only_when_observed_no_earlier(backend: Backend) {
    let Some(fixture) = Fixture::new(backend).await else {
        return;
    };
    let store = fixture.store.as_ref();
    store.upsert_entities(vec![state("c", 5, 1_000)]).await.unwrap();
    let mut later = state("c", 5, 2_000);
    later.source = EntitySource::Write;
    later.body = Bytes::from_static(b"{\"later\":true}");
    assert_eq!(store.upsert_entities(vec![later.clone()]).await.unwrap(), 1);
    assert_eq!(
        get(store, "c").await,
        Some(later.clone()),
        "time, source and body refreshed"
    );
    let mut earlier = state("c", 5, 1_500);
    earlier.source = EntitySource::Webhook;
    assert_eq!(store.upsert_entities(vec![earlier]).await.unwrap(), 0);
    assert_eq!(get(store, "c").await, Some(later.clone()));
    // The same time again is "no earlier": a confirmation applies.
    let mut again = later.clone();
    again.source = EntitySource::Read;
    assert_eq!(store.upsert_entities(vec![again.clone()]).await.unwrap(), 1);
    assert_eq!(get(store, "c").await, Some(again));
}

async fn a_tombstone_holds_off_older_states(backend: Backend) {
    let Some(fixture) = Fixture::new(backend).await else {
        return;
    };
    let store = fixture.store.as_ref();
    store.upsert_entities(vec![state("c", 1, 1_000)]).await.unwrap();
    let mut gone = state("c", 2, 2_000);
    gone.deleted = true;
    gone.body = Bytes::new();
    gone.source = EntitySource::Webhook;
    store.upsert_entities(vec![gone.clone()]).await.unwrap();
    assert_eq!(get(store, "c").await, Some(gone.clone()), "kept, marked deleted");
    assert_eq!(store.upsert_entities(vec![state("c", 1, 3_000)]).await.unwrap(), 0);
    assert_eq!(
        get(store, "c").await,
        Some(gone),
        "an older state does not bring it back"
    );
    assert_eq!(store.upsert_entities(vec![state("c", 3, 3_000)]).await.unwrap(), 1);
    let back = get(store, "c").await.unwrap();
    assert_eq!((back.version, back.deleted), (3, false), "a newer one does");
}

/// A webhook for customer `id` carrying its state at `version` (event `n`, received at `1_000 + n`).
fn carrying(n: usize, id: &str, version: i64) -> crate::store::NewEvent {
    let mut event = webhook("acme-crm", n, &["crm"]);
    let mut carried = state(id, version, event.received_at_ms);
    carried.source = EntitySource::Webhook;
    carried.event_id = Some(event.id);
    event.entity = Some(carried);
    event
}

async fn a_webhooks_entity_is_applied_with_its_event_and_only_if_new(backend: Backend) {
    let Some(fixture) = Fixture::new(backend).await else {
        return;
    };
    let store = fixture.store.as_ref();
    let first = carrying(1, "c", 1);
    assert!(!store.ingest(first.clone()).await.unwrap().duplicate);
    assert!(store.get_event(first.id).await.unwrap().is_some());
    assert_eq!(
        get(store, "c").await,
        first.entity.clone(),
        "the event's id round-trips"
    );
    // The vendor sends the same event again with (say) a newer state: a duplicate stores nothing.
    let mut again = carrying(1, "c", 9);
    again.id = Uuid::now_v7();
    assert!(store.ingest(again).await.unwrap().duplicate);
    assert_eq!(get(store, "c").await, first.entity.clone());
    // A quarantined webhook's state is not applied (it was not translated).
    let mut quarantined = carrying(2, "c", 9);
    quarantined.quarantine = Some(Quarantine {
        error: "unreadable".into(),
        headers: Vec::new(),
    });
    assert!(store.ingest(quarantined).await.unwrap().quarantined);
    assert_eq!(get(store, "c").await, first.entity.clone());
    // A new event with an older state is stored; its state is not.
    let older = carrying(3, "c", 0);
    assert!(!store.ingest(older.clone()).await.unwrap().duplicate);
    assert!(store.get_event(older.id).await.unwrap().is_some());
    assert_eq!(get(store, "c").await, first.entity);
    // A webhook without an entity leaves the read model alone.
    store.ingest(webhook("acme-crm", 4, &[])).await.unwrap();
    assert_eq!(stored(store, "c").await, Some((1, 1_001)));
}

/// Makes every write of customer `id`'s row fail, by a trigger added behind the store's back.
async fn refuse_entity(fixture: &Fixture, id: &str) {
    match StoreUrl::parse(&fixture.config.url).unwrap() {
        StoreUrl::Sqlite(path) => {
            let conn = rusqlite::Connection::open(path).unwrap();
            conn.execute_batch(&format!(
                "CREATE TRIGGER refuse BEFORE INSERT ON read_model WHEN NEW.entity_id = '{id}'
                 BEGIN SELECT RAISE(ABORT, 'refused'); END;"
            ))
            .unwrap();
        }
        StoreUrl::Postgres(_) => {
            let url = &fixture.database().unwrap().url;
            let client = super::admin_client(url).await.unwrap();
            client
                .batch_execute(&format!(
                    "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
                         IF NEW.entity_id = '{id}' THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END $$;
                     CREATE TRIGGER refuse BEFORE INSERT ON read_model FOR EACH ROW EXECUTE FUNCTION refuse();"
                ))
                .await
                .unwrap();
        }
    }
}

async fn an_ingest_that_fails_stores_neither_its_event_nor_its_entity(backend: Backend) {
    let Some(fixture) = Fixture::new(backend).await else {
        return;
    };
    let store = fixture.store.as_ref();
    refuse_entity(&fixture, "refused").await;
    let event = carrying(1, "refused", 1);
    assert!(store.ingest(event.clone()).await.is_err());
    assert!(
        store.get_event(event.id).await.unwrap().is_none(),
        "the event went with its entity"
    );
    assert_eq!(get(store, "refused").await, None);
    if backend == Backend::Sqlite {
        store.inject_fault(StoreFault::ReadOnly).await.unwrap();
        let event = carrying(2, "c", 1);
        assert!(store.ingest(event.clone()).await.is_err());
        store.inject_fault(StoreFault::None).await.unwrap();
        assert!(store.get_event(event.id).await.unwrap().is_none());
        assert_eq!(get(store, "c").await, None);
    }
    // Once the write can go through, both are there.
    let event = carrying(3, "c", 1);
    store.ingest(event.clone()).await.unwrap();
    assert!(store.get_event(event.id).await.unwrap().is_some());
    assert_eq!(get(store, "c").await, event.entity);
}

async fn a_translated_quarantine_applies_its_entity(backend: Backend) {
    let Some(fixture) = Fixture::new(backend).await else {
        return;
    };
    let store = fixture.store.as_ref();
    let mut quarantined = carrying(1, "c", 7);
    quarantined.provider_event_id = "sha256:abc".into();
    quarantined.quarantine = Some(Quarantine {
        error: "unreadable".into(),
        headers: Vec::new(),
    });
    store.ingest(quarantined.clone()).await.unwrap();
    assert_eq!(get(store, "c").await, None);
    let translated = |provider_event_id: &str, entity: EntityState| Resolution::Translated {
        provider_event_id: provider_event_id.into(),
        event_type: "acme-crm.customer.updated".into(),
        subject: Some("c".into()),
        envelope: b"{}".to_vec(),
        deliver_to: vec![Subscriber {
            name: "crm".into(),
            ordered: false,
        }],
        entity: Some(Box::new(entity)),
    };
    let entity = quarantined.entity.clone().unwrap();
    let resolved = store
        .resolve_quarantine(quarantined.id, translated("evt_1", entity.clone()), 5_000)
        .await
        .unwrap();
    assert!(matches!(resolved, Some(Resolved::Now(_))), "{resolved:?}");
    assert_eq!(get(store, "c").await, Some(entity));
    // Translated as a duplicate of another stored event: its entity is not applied.
    let holder = store.ingest(webhook("acme-crm", 2, &[])).await.unwrap();
    let mut late = carrying(3, "d", 1);
    late.provider_event_id = "sha256:def".into();
    late.quarantine = quarantined.quarantine.clone();
    store.ingest(late.clone()).await.unwrap();
    let resolved = store
        .resolve_quarantine(late.id, translated("evt_2", late.entity.clone().unwrap()), 5_000)
        .await
        .unwrap();
    assert_eq!(resolved, Some(Resolved::DuplicateOf(holder.id)));
    assert_eq!(get(store, "d").await, None);
}

async fn pruning_deletes_only_entities_last_observed_before_the_cutoff(backend: Backend) {
    let Some(fixture) = Fixture::new(backend).await else {
        return;
    };
    let store = fixture.store.as_ref();
    let mut states: Vec<EntityState> = (0..1_500).map(|n| state(&format!("old{n}"), 1, 1_000 + n)).collect();
    let mut tombstone = state("gone", 1, 2_000);
    tombstone.deleted = true;
    states.push(tombstone);
    states.push(state("fresh", 1, 10_000));
    states.push(state("edge", 1, 5_000));
    assert_eq!(store.upsert_entities(states).await.unwrap(), 1_503);
    // A refreshed observation keeps an old entity.
    store.upsert_entities(vec![state("old0", 1, 9_000)]).await.unwrap();
    let mut pruned = Vec::new();
    loop {
        let n = store.prune_entities(5_000).await.unwrap();
        if n == 0 {
            break;
        }
        pruned.push(n);
    }
    assert!(pruned.len() > 1, "bounded per call: {pruned:?}");
    assert_eq!(pruned.iter().sum::<usize>(), 1_500, "1499 old ones and the tombstone");
    assert_eq!(stored(store, "old1").await, None);
    assert_eq!(stored(store, "gone").await, None);
    assert_eq!(stored(store, "old0").await, Some((1, 9_000)));
    assert_eq!(
        stored(store, "edge").await,
        Some((1, 5_000)),
        "the cutoff itself is kept"
    );
    assert_eq!(stored(store, "fresh").await, Some((1, 10_000)));
}

async fn concurrent_writers_of_the_same_entities_all_finish_with_the_newest(backend: Backend) {
    let Some(fixture) = Fixture::new(backend).await else {
        return;
    };
    let store = Arc::clone(&fixture.store);
    let ids: Vec<String> = (0..20).map(|n| format!("c{n}")).collect();
    let mut tasks = Vec::new();
    for writer in 0..12_i64 {
        // Every writer touches every entity, half of them in the reverse order.
        let mut states: Vec<EntityState> = ids.iter().map(|id| state(id, writer, 1_000)).collect();
        if writer % 2 == 1 {
            states.reverse();
        }
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(
            async move { store.upsert_entities(states).await.map(drop) },
        ));
    }
    // Webhooks carrying the same entities, in the reverse order, committed in batches among the upserts.
    for (n, id) in ids.iter().enumerate().rev() {
        for event in [carrying(100 + n, id, 20), carrying(200 + n, id, 19)] {
            let store = Arc::clone(&store);
            tasks.push(tokio::spawn(async move { store.ingest(event).await.map(drop) }));
        }
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    for (n, id) in ids.iter().enumerate() {
        let newest = get(store.as_ref(), id).await.unwrap();
        assert_eq!((newest.version, newest.source), (20, EntitySource::Webhook), "{id}");
        assert_eq!(newest.observed_at_ms, 1_100 + i64::try_from(n).unwrap());
    }
}

conformance!(
    a_state_is_stored_and_read_back_exactly,
    the_newest_state_wins_in_any_order,
    an_equal_version_refreshes_only_when_observed_no_earlier,
    a_tombstone_holds_off_older_states,
    a_webhooks_entity_is_applied_with_its_event_and_only_if_new,
    an_ingest_that_fails_stores_neither_its_event_nor_its_entity,
    a_translated_quarantine_applies_its_entity,
    pruning_deletes_only_entities_last_observed_before_the_cutoff,
    concurrent_writers_of_the_same_entities_all_finish_with_the_newest,
);
