//! Deliveries, driven with explicit clocks: per-subject order for ordered subscriptions (replay and retranslation
//! included), leases, and outcomes recorded only by the claim that holds them.

use bytes::Bytes;
use uuid::Uuid;

use super::{Backend, Fixture, conformance};
use crate::store::{
    Delivery, DeliveryOutcome, EventStatus, NewEvent, Quarantine, Replayed, Resolution, Resolved, Store, Subscriber,
};

/// Stores an event of `subject` for the ordered subscription `sub`; returns its id.
async fn event(store: &dyn Store, n: u32, subject: &str) -> Uuid {
    let id = Uuid::now_v7();
    store
        .ingest(NewEvent {
            id,
            provider: "acme-crm".into(),
            provider_event_id: format!("evt_{n}"),
            event_type: "acme-crm.customer.updated".into(),
            subject: Some(subject.into()),
            correlation_id: "c".into(),
            received_at_ms: 0,
            envelope: b"{}".to_vec(),
            raw_body: Bytes::new(),
            deliver_to: vec![subscriber()],
            quarantine: None,
            entity: None,
        })
        .await
        .unwrap();
    id
}

fn subscriber() -> Subscriber {
    Subscriber {
        name: "sub".into(),
        ordered: true,
    }
}

/// Records `delivery` as delivered by `owner` at `now_ms`, which must still hold its claim.
async fn delivered(store: &dyn Store, delivery: &Delivery, owner: &str, now_ms: i64) {
    let recorded = store.finish_delivery(delivery, owner.into(), now_ms, 3, DeliveryOutcome::Delivered);
    assert!(recorded.await.unwrap(), "{owner} holds the claim");
}

/// Records a failed attempt of `delivery` by `owner` at `now_ms`, to be retried at `next_attempt_ms`.
async fn retried(store: &dyn Store, delivery: &Delivery, owner: &str, now_ms: i64, next_attempt_ms: i64) {
    let retry = DeliveryOutcome::Retry {
        next_attempt_ms,
        error: "503".into(),
    };
    let recorded = store.finish_delivery(delivery, owner.into(), now_ms, 5, retry);
    assert!(recorded.await.unwrap(), "{owner} holds the claim");
}

async fn claim(store: &dyn Store, owner: &str, now_ms: i64) -> Vec<Delivery> {
    store
        .claim_deliveries(owner.into(), vec!["sub".into()], now_ms, 1_000, 10)
        .await
        .unwrap()
}

async fn one_delivery_per_subject_at_a_time_in_order(backend: Backend) {
    let Some(fixture) = Fixture::new(backend).await else {
        return;
    };
    let store = fixture.store.as_ref();
    let a1 = event(store, 1, "a").await;
    let a2 = event(store, 2, "a").await;
    let b1 = event(store, 3, "b").await;
    let first = claim(store, "one", 10).await;
    let ids: Vec<Uuid> = first.iter().map(|d| d.event_id).collect();
    assert_eq!(ids, [a1, b1], "a2 waits for a1");
    assert!(
        claim(store, "two", 20).await.is_empty(),
        "nothing more is due while a1 is in flight"
    );
    delivered(store, &first[1], "one", 25).await;
    // a1 fails and backs off: a2 still waits, b is not held back.
    let a1_claim = &first[0];
    retried(store, a1_claim, "one", 30, 5_000).await;
    assert!(claim(store, "two", 40).await.is_empty());
    let waiting = store.get_event(a2).await.unwrap().unwrap();
    assert_eq!(waiting.deliveries[0].state, "pending");
    assert_eq!(
        waiting.deliveries[0].next_attempt_at, None,
        "a2 waits for a1, out of the claims' way"
    );
    // a1 delivered: a2 is next.
    let again = claim(store, "two", 5_000).await;
    assert_eq!(again.iter().map(|d| d.event_id).collect::<Vec<_>>(), [a1]);
    delivered(store, &again[0], "two", 5_010).await;
    let next = claim(store, "two", 5_020).await;
    assert_eq!(next.iter().map(|d| d.event_id).collect::<Vec<_>>(), [a2]);
    // Replaying a1 while a2 is in flight: a1 waits for a2 rather than racing it.
    assert_eq!(
        store.replay_event(a1, vec![subscriber()], 5_030).await.unwrap(),
        Replayed::Queued(1)
    );
    assert!(claim(store, "three", 5_040).await.is_empty());
    delivered(store, &next[0], "two", 5_050).await;
    let replayed = claim(store, "three", 5_060).await;
    assert_eq!(replayed.iter().map(|d| d.event_id).collect::<Vec<_>>(), [a1]);
}

async fn only_the_claim_holding_the_lease_records_an_outcome(backend: Backend) {
    let Some(fixture) = Fixture::new(backend).await else {
        return;
    };
    let store = fixture.store.as_ref();
    let id = event(store, 1, "a").await;
    let stale = claim(store, "one", 0).await.remove(0);
    // The lease (1 s) lapses; another relay takes the delivery over.
    let fresh = claim(store, "two", 1_500).await.remove(0);
    assert_eq!(fresh.event_id, id);
    assert!(
        !store
            .finish_delivery(&stale, "one".into(), 1_600, 1, DeliveryOutcome::Delivered)
            .await
            .unwrap()
    );
    let dead = DeliveryOutcome::Dead { error: "410".into() };
    assert!(
        store
            .finish_delivery(&fresh, "two".into(), 1_700, 1, dead)
            .await
            .unwrap()
    );
    let detail = store.get_event(id).await.unwrap().unwrap();
    assert_eq!(detail.summary.status.as_str(), "dead");
    assert_eq!(
        detail.deliveries[0].history.len(),
        1,
        "the stale claim left no attempt behind"
    );
}

async fn a_replay_behind_a_newer_retrying_delivery_does_not_wedge_the_subject(backend: Backend) {
    let Some(fixture) = Fixture::new(backend).await else {
        return;
    };
    let store = fixture.store.as_ref();
    let a1 = event(store, 1, "a").await;
    let a2 = event(store, 2, "a").await;
    let first = claim(store, "one", 10).await;
    delivered(store, &first[0], "one", 20).await;
    // a2 fails and backs off (pending, not in flight); a1 is replayed meanwhile.
    let a2_claim = claim(store, "one", 30).await.remove(0);
    assert_eq!(a2_claim.event_id, a2);
    retried(store, &a2_claim, "one", 40, 1_000).await;
    assert_eq!(
        store.replay_event(a1, vec![subscriber()], 50).await.unwrap(),
        Replayed::Queued(1)
    );
    // a1 comes first in its subject's order, at once; a2 follows it.
    let replayed = claim(store, "two", 60).await;
    assert_eq!(replayed.iter().map(|d| d.event_id).collect::<Vec<_>>(), [a1]);
    // a2 is due again at 1_000, but a1 (leased until 1_060) is ahead of it.
    assert!(claim(store, "two", 1_010).await.is_empty(), "a2 waits for a1 in flight");
    delivered(store, &replayed[0], "two", 1_020).await;
    let next = claim(store, "two", 1_030).await;
    assert_eq!(next.iter().map(|d| d.event_id).collect::<Vec<_>>(), [a2]);
}

async fn a_replay_behind_a_newer_delivery_whose_relay_died_does_not_wedge_the_subject(backend: Backend) {
    let Some(fixture) = Fixture::new(backend).await else {
        return;
    };
    let store = fixture.store.as_ref();
    let a1 = event(store, 1, "a").await;
    let a2 = event(store, 2, "a").await;
    let first = claim(store, "one", 10).await;
    delivered(store, &first[0], "one", 20).await;
    // a2 in flight at a relay that then dies (its lease lapses at 1_030); a1 replayed meanwhile.
    assert_eq!(claim(store, "one", 30).await.remove(0).event_id, a2);
    assert_eq!(
        store.replay_event(a1, vec![subscriber()], 40).await.unwrap(),
        Replayed::Queued(1)
    );
    assert!(claim(store, "two", 50).await.is_empty(), "a1 waits for a2 in flight");
    let after = claim(store, "two", 1_100).await;
    assert_eq!(after.iter().map(|d| d.event_id).collect::<Vec<_>>(), [a1]);
}

async fn a_retranslated_event_takes_its_original_place_in_its_subjects_order(backend: Backend) {
    let Some(fixture) = Fixture::new(backend).await else {
        return;
    };
    let store = fixture.store.as_ref();
    // q arrives first and is quarantined; a2 and a3 of the same subject arrive after it.
    let q = Uuid::now_v7();
    store
        .ingest(NewEvent {
            id: q,
            provider: "acme-crm".into(),
            provider_event_id: "evt_q".into(),
            event_type: "acme-crm.unknown".into(),
            subject: None,
            correlation_id: "c".into(),
            received_at_ms: 0,
            envelope: b"{}".to_vec(),
            raw_body: Bytes::from_static(b"{\"drifted\":true}"),
            deliver_to: Vec::new(),
            quarantine: Some(Quarantine {
                error: "field `data` is missing".into(),
                headers: vec![("webhook-id".into(), "evt_q".into())],
            }),
            entity: None,
        })
        .await
        .unwrap();
    let a2 = event(store, 2, "a").await;
    let a3 = event(store, 3, "a").await;
    let stored = store.get_webhook(q).await.unwrap().unwrap();
    assert_eq!(stored.status, EventStatus::Quarantined);
    assert_eq!(stored.headers, [("webhook-id".to_owned(), "evt_q".to_owned())]);
    assert_eq!(stored.error.as_deref(), Some("field `data` is missing"));
    // a2 fails once and backs off; then q is translated.
    let a2_claim = claim(store, "one", 10).await.remove(0);
    assert_eq!(a2_claim.event_id, a2);
    retried(store, &a2_claim, "one", 20, 1_000).await;
    let translated = Resolution::Translated {
        provider_event_id: "evt_q".into(),
        event_type: "acme-crm.customer.updated".into(),
        subject: Some("a".into()),
        envelope: b"{\"translated\":true}".to_vec(),
        deliver_to: vec![subscriber()],
        entity: None,
    };
    assert_eq!(
        store.resolve_quarantine(q, translated.clone(), 30).await.unwrap(),
        Some(Resolved::Now(EventStatus::Pending))
    );
    let first = claim(store, "two", 2_000).await;
    assert_eq!(first.iter().map(|d| d.event_id).collect::<Vec<_>>(), [q]);
    assert_eq!(first[0].envelope, b"{\"translated\":true}");
    delivered(store, &first[0], "two", 2_010).await;
    let next = claim(store, "two", 2_020).await;
    assert_eq!(
        next.iter().map(|d| d.event_id).collect::<Vec<_>>(),
        [a2],
        "then a2, and a3 after it"
    );
    assert!(!next.iter().any(|d| d.event_id == a3));
    // Resolving again changes nothing.
    assert_eq!(
        store.resolve_quarantine(q, translated, 40).await.unwrap(),
        Some(Resolved::NotQuarantined(EventStatus::Delivered))
    );
    assert_eq!(
        store
            .resolve_quarantine(Uuid::now_v7(), Resolution::Failed { error: "x".into() }, 50)
            .await
            .unwrap(),
        None
    );
}

async fn a_retranslation_that_fails_keeps_it_quarantined_with_the_new_error(backend: Backend) {
    let Some(fixture) = Fixture::new(backend).await else {
        return;
    };
    let store = fixture.store.as_ref();
    let q = Uuid::now_v7();
    let mut quarantined = NewEvent {
        id: q,
        provider: "acme-crm".into(),
        provider_event_id: "sha256:00".into(),
        event_type: "acme-crm.unknown".into(),
        subject: None,
        correlation_id: "c".into(),
        received_at_ms: 0,
        envelope: b"{}".to_vec(),
        raw_body: Bytes::from_static(b"not json"),
        deliver_to: vec![subscriber()],
        quarantine: Some(Quarantine {
            error: "body is not valid JSON".into(),
            headers: Vec::new(),
        }),
        entity: None,
    };
    store.ingest(quarantined.clone()).await.unwrap();
    let detail = store.get_event(q).await.unwrap().unwrap();
    assert!(detail.deliveries.is_empty(), "a quarantined event has no deliveries");
    assert_eq!(detail.quarantine.unwrap().error, "body is not valid JSON");
    assert_eq!(
        store.replay_event(q, vec![subscriber()], 5).await.unwrap(),
        Replayed::Quarantined
    );
    let failed = Resolution::Failed {
        error: "still not JSON".into(),
    };
    assert_eq!(
        store.resolve_quarantine(q, failed, 10).await.unwrap(),
        Some(Resolved::Now(EventStatus::Quarantined))
    );
    assert_eq!(
        store.get_webhook(q).await.unwrap().unwrap().error.as_deref(),
        Some("still not JSON")
    );
    // A duplicate of a quarantined webhook is recognised like any other.
    quarantined.id = Uuid::now_v7();
    let again = store.ingest(quarantined).await.unwrap();
    assert_eq!((again.id, again.duplicate), (q, true));
    // Translated under an id another event already holds: kept as that event's duplicate, not delivered.
    let holder = event(store, 7, "a").await;
    let translated = Resolution::Translated {
        provider_event_id: "evt_7".into(),
        event_type: "acme-crm.customer.updated".into(),
        subject: Some("a".into()),
        envelope: b"{}".to_vec(),
        deliver_to: vec![subscriber()],
        entity: None,
    };
    assert_eq!(
        store.resolve_quarantine(q, translated, 20).await.unwrap(),
        Some(Resolved::DuplicateOf(holder))
    );
    let detail = store.get_event(q).await.unwrap().unwrap();
    assert_eq!(detail.summary.status, EventStatus::Delivered);
    assert!(detail.deliveries.is_empty());
}

conformance!(
    one_delivery_per_subject_at_a_time_in_order,
    only_the_claim_holding_the_lease_records_an_outcome,
    a_replay_behind_a_newer_retrying_delivery_does_not_wedge_the_subject,
    a_replay_behind_a_newer_delivery_whose_relay_died_does_not_wedge_the_subject,
    a_retranslated_event_takes_its_original_place_in_its_subjects_order,
    a_retranslation_that_fails_keeps_it_quarantined_with_the_new_error,
);
