//! Ingest, dedup and inspection: one event per provider event id (also under concurrent duplicates), listing with
//! filters and cursors, pending depth per subscription.

use std::sync::Arc;

use bytes::Bytes;
use uuid::Uuid;

use super::{Backend, Fixture, conformance};
use crate::store::{EventFilter, EventStatus, NewEvent, Store, Subscriber};

pub(crate) fn webhook(provider: &str, n: usize, deliver_to: &[&str]) -> NewEvent {
    NewEvent {
        id: Uuid::now_v7(),
        provider: provider.into(),
        provider_event_id: format!("evt_{n}"),
        event_type: format!("{provider}.customer.updated"),
        subject: Some(format!("cus_{n}")),
        correlation_id: format!("corr-{n}"),
        received_at_ms: 1_000 + i64::try_from(n).unwrap(),
        envelope: format!("{{\"n\":{n}}}").into_bytes(),
        raw_body: Bytes::from(format!("raw {n}")),
        deliver_to: deliver_to
            .iter()
            .map(|name| Subscriber {
                name: (*name).into(),
                ordered: false,
            })
            .collect(),
        quarantine: None,
        entity: None,
    }
}

async fn ids(store: &dyn Store, filter: EventFilter) -> Vec<Uuid> {
    store.list_events(filter).await.unwrap().iter().map(|e| e.id).collect()
}

async fn events_are_deduplicated_listed_and_paged(backend: Backend) {
    let Some(fixture) = Fixture::new(backend).await else {
        return;
    };
    let store = fixture.store.as_ref();
    let first = webhook("acme-crm", 1, &["crm"]);
    let ingested = store.ingest(first.clone()).await.unwrap();
    assert_eq!(
        (ingested.id, ingested.duplicate, ingested.quarantined),
        (first.id, false, false)
    );
    // The same provider event again, under a new id: the first event's id, nothing stored.
    let mut again = first.clone();
    again.id = Uuid::now_v7();
    let duplicate = store.ingest(again).await.unwrap();
    assert_eq!((duplicate.id, duplicate.duplicate), (first.id, true));
    // The same provider event id from another provider is another event.
    let other = webhook("stripe", 1, &[]);
    assert!(!store.ingest(other.clone()).await.unwrap().duplicate);
    let third = webhook("acme-crm", 3, &["crm", "audit"]);
    store.ingest(third.clone()).await.unwrap();

    let all = store
        .list_events(EventFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        all.iter().map(|e| e.id).collect::<Vec<_>>(),
        [first.id, other.id, third.id],
        "commit order"
    );
    assert_eq!(all[0].providereventid, "evt_1");
    assert_eq!(all[0].correlationid, "corr-1");
    assert_eq!(all[0].subject.as_deref(), Some("cus_1"));
    assert_eq!(
        all[1].status,
        EventStatus::Delivered,
        "no subscriber: nothing to deliver"
    );
    assert_eq!(all[2].status, EventStatus::Pending);
    let page = EventFilter {
        limit: 2,
        ..Default::default()
    };
    let one = store.list_events(page.clone()).await.unwrap();
    assert_eq!(one.len(), 2);
    let after = EventFilter {
        after: Some(one[1].seq),
        ..page
    };
    assert_eq!(
        ids(store, after).await,
        [third.id],
        "the cursor resumes after the last row seen"
    );
    let acme = EventFilter {
        provider: Some("acme-crm".into()),
        limit: 10,
        ..Default::default()
    };
    assert_eq!(ids(store, acme).await, [first.id, third.id]);
    let delivered = EventFilter {
        status: Some(EventStatus::Delivered),
        limit: 10,
        ..Default::default()
    };
    assert_eq!(ids(store, delivered).await, [other.id]);

    let detail = store.get_event(third.id).await.unwrap().unwrap();
    assert_eq!(detail.envelope, serde_json::json!({"n": 3}));
    let names: Vec<&str> = detail.deliveries.iter().map(|d| d.subscription.as_str()).collect();
    assert_eq!(names, ["audit", "crm"]);
    assert!(
        detail
            .deliveries
            .iter()
            .all(|d| d.state == "pending" && d.next_attempt_at.is_some())
    );
    let webhook = store.get_webhook(first.id).await.unwrap().unwrap();
    assert_eq!(webhook.raw_body, Bytes::from("raw 1"));
    assert!(store.get_event(Uuid::now_v7()).await.unwrap().is_none());

    let mut depth = store.pending_stats().await.unwrap();
    depth.sort();
    assert_eq!(depth, [("audit".to_owned(), 1, 1_003), ("crm".to_owned(), 2, 1_001)]);
}

async fn concurrent_duplicates_make_one_event(backend: Backend) {
    let Some(fixture) = Fixture::new(backend).await else {
        return;
    };
    let store = Arc::clone(&fixture.store);
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.ingest(webhook("acme-crm", 42, &["crm"])).await.unwrap() })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    assert_eq!(answers.iter().filter(|a| !a.duplicate).count(), 1, "{answers:?}");
    assert!(
        answers.iter().all(|a| a.id == answers[0].id),
        "every answer carries the one event's id"
    );
    let listed = store
        .list_events(EventFilter {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    let detail = store.get_event(answers[0].id).await.unwrap().unwrap();
    assert_eq!(detail.deliveries.len(), 1, "one delivery, not one per copy");
}

conformance!(
    events_are_deduplicated_listed_and_paged,
    concurrent_duplicates_make_one_event
);
