//! The delivery statements, driven with explicit clocks: per-subject order for ordered subscriptions (replay
//! included), leases, and outcomes recorded only by the claim that holds them.

use bytes::Bytes;
use uuid::Uuid;

use super::SqliteStore;
use crate::store::{Delivery, DeliveryOutcome, NewEvent, Store, Subscriber};

async fn store() -> (SqliteStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("t.db"), 64).await.unwrap();
    store.migrate().await.unwrap();
    (store, dir)
}

/// Stores an event of `subject` for the ordered subscription `sub`; returns its id.
async fn event(store: &SqliteStore, n: u32, subject: &str) -> Uuid {
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

async fn claim(store: &SqliteStore, owner: &str, now_ms: i64) -> Vec<Delivery> {
    store
        .claim_deliveries(owner.into(), vec!["sub".into()], now_ms, 1_000, 10)
        .await
        .unwrap()
}

#[tokio::test]
async fn one_delivery_per_subject_at_a_time_in_order() {
    let (store, _dir) = store().await;
    let a1 = event(&store, 1, "a").await;
    let a2 = event(&store, 2, "a").await;
    let b1 = event(&store, 3, "b").await;
    let first = claim(&store, "one", 10).await;
    let ids: Vec<Uuid> = first.iter().map(|d| d.event_id).collect();
    assert_eq!(ids, [a1, b1], "a2 waits for a1");
    assert!(
        claim(&store, "two", 20).await.is_empty(),
        "nothing more is due while a1 is in flight"
    );
    assert!(
        store
            .finish_delivery(&first[1], "one".into(), 25, DeliveryOutcome::Delivered)
            .await
            .unwrap()
    );
    // a1 fails and backs off: a2 still waits, b is not held back.
    let a1_claim = &first[0];
    let retry = DeliveryOutcome::Retry {
        next_attempt_ms: 5_000,
        error: "503".into(),
    };
    assert!(store.finish_delivery(a1_claim, "one".into(), 30, retry).await.unwrap());
    assert!(claim(&store, "two", 40).await.is_empty());
    let waiting = store.get_event(a2).await.unwrap().unwrap();
    assert_eq!(waiting.deliveries[0].state, "pending");
    assert_eq!(
        waiting.deliveries[0].next_attempt_at, None,
        "a2 waits for a1, out of the claims' way"
    );
    // a1 delivered: a2 is next.
    let again = claim(&store, "two", 5_000).await;
    assert_eq!(again.iter().map(|d| d.event_id).collect::<Vec<_>>(), [a1]);
    assert!(
        store
            .finish_delivery(&again[0], "two".into(), 5_010, DeliveryOutcome::Delivered)
            .await
            .unwrap()
    );
    let next = claim(&store, "two", 5_020).await;
    assert_eq!(next.iter().map(|d| d.event_id).collect::<Vec<_>>(), [a2]);
    // Replaying a1 while a2 is in flight: a1 waits for a2 rather than racing it.
    assert_eq!(
        store.replay_event(a1, vec![subscriber()], 5_030).await.unwrap(),
        Some(1)
    );
    assert!(claim(&store, "three", 5_040).await.is_empty());
    assert!(
        store
            .finish_delivery(&next[0], "two".into(), 5_050, DeliveryOutcome::Delivered)
            .await
            .unwrap()
    );
    let replayed = claim(&store, "three", 5_060).await;
    assert_eq!(replayed.iter().map(|d| d.event_id).collect::<Vec<_>>(), [a1]);
}

#[tokio::test]
async fn only_the_claim_holding_the_lease_records_an_outcome() {
    let (store, _dir) = store().await;
    let id = event(&store, 1, "a").await;
    let stale = claim(&store, "one", 0).await.remove(0);
    // The lease (1 s) lapses; another relay takes the delivery over.
    let fresh = claim(&store, "two", 1_500).await.remove(0);
    assert_eq!(fresh.event_id, id);
    assert!(
        !store
            .finish_delivery(&stale, "one".into(), 1_600, DeliveryOutcome::Delivered)
            .await
            .unwrap()
    );
    let dead = DeliveryOutcome::Dead { error: "410".into() };
    assert!(store.finish_delivery(&fresh, "two".into(), 1_700, dead).await.unwrap());
    let detail = store.get_event(id).await.unwrap().unwrap();
    assert_eq!(detail.summary.status.as_str(), "dead");
    assert_eq!(
        detail.deliveries[0].history.len(),
        1,
        "the stale claim left no attempt behind"
    );
}
