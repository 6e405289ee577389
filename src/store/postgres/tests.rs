//! PostgreSQL-only cases: what several replicas on one database must agree on (the shared cases are in
//! [`crate::store::conformance`]).

use std::sync::Arc;
use std::time::Duration;

use crate::store::conformance::{Backend, Fixture};
use crate::store::conformance_cases::webhook;
use crate::store::{Claimed, EventFilter, KeyClaim, Store, Subscriber};

fn claim(now_ms: i64) -> KeyClaim {
    KeyClaim {
        caller: "svc".into(),
        key: "k".into(),
        fingerprint: "f".into(),
        now_ms,
        lock_ms: 30_000,
        keep_ms: 60_000,
    }
}

#[tokio::test]
async fn a_key_in_flight_on_one_replica_is_in_use_on_another() {
    let Some(fixture) = Fixture::new(Backend::Postgres).await else {
        return;
    };
    let (a, b) = (Arc::clone(&fixture.store), fixture.replica().await);
    let now = crate::clock::now_ms();
    let Claimed::Started { token } = a.claim_key(claim(now)).await.unwrap() else {
        panic!("A takes the key")
    };
    assert_eq!(b.claim_key(claim(now + 10)).await.unwrap(), Claimed::InUse);
    assert!(a.release_key("svc".into(), "k".into(), token).await.unwrap());
    assert!(matches!(
        b.claim_key(claim(now + 20)).await.unwrap(),
        Claimed::Started { .. }
    ));
    b.shutdown().await;
}

fn skewed_clock() -> i64 {
    crate::clock::now_ms() + 120_000
}

#[tokio::test]
async fn leases_and_locks_follow_the_database_clock_not_a_replicas() {
    let Some(fixture) = Fixture::new(Backend::Postgres).await else {
        return;
    };
    let url = match crate::store::StoreUrl::parse(&fixture.database().unwrap().url).unwrap() {
        crate::store::StoreUrl::Postgres(url) => *url,
        other => panic!("{other:?}"),
    };
    let config = crate::config::StoreConfig::default();
    // B's clock runs two minutes fast: by its own clock, A's 30-second claims lapsed long ago.
    let b = crate::store::PostgresStore::open_with_clock(url, &config, skewed_clock)
        .await
        .unwrap();
    let a = &fixture.store;
    assert!(matches!(
        a.claim_key(claim(crate::clock::now_ms())).await.unwrap(),
        Claimed::Started { .. }
    ));
    assert_eq!(b.claim_key(claim(skewed_clock())).await.unwrap(), Claimed::InUse);
    let mut event = webhook("acme-crm", 1, &[]);
    event.deliver_to = vec![Subscriber {
        name: "sub".into(),
        ordered: false,
    }];
    a.ingest(event).await.unwrap();
    let leased = a
        .claim_deliveries("a".into(), vec!["sub".into()], crate::clock::now_ms(), 30_000, 10)
        .await
        .unwrap();
    assert_eq!(leased.len(), 1);
    let taken = b
        .claim_deliveries("b".into(), vec!["sub".into()], skewed_clock(), 30_000, 10)
        .await
        .unwrap();
    assert!(taken.is_empty(), "A's lease holds on the database's clock");
    b.shutdown().await;
}

#[tokio::test]
async fn duplicates_sent_to_two_replicas_at_once_make_one_event() {
    let Some(fixture) = Fixture::new(Backend::Postgres).await else {
        return;
    };
    let replicas = [Arc::clone(&fixture.store), fixture.replica().await];
    let mut tasks = Vec::new();
    for n in 0..20 {
        for replica in &replicas {
            let replica = Arc::clone(replica);
            tasks.push(tokio::spawn(async move {
                replica.ingest(webhook("acme-crm", n, &["crm"])).await.unwrap()
            }));
        }
    }
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    assert_eq!(answers.iter().filter(|a| !a.duplicate).count(), 20);
    for pair in answers.chunks(2) {
        assert_eq!(pair[0].id, pair[1].id, "both replicas answer with the one event's id");
    }
    replicas[1].shutdown().await;
}

#[tokio::test]
async fn a_cursor_never_skips_an_event_committed_late_by_another_replica() {
    let Some(fixture) = Fixture::new(Backend::Postgres).await else {
        return;
    };
    let replicas = [Arc::clone(&fixture.store), fixture.replica().await];
    let writers: Vec<_> = replicas
        .iter()
        .enumerate()
        .map(|(r, replica)| {
            let replica = Arc::clone(replica);
            tokio::spawn(async move {
                for n in 0..150 {
                    replica.ingest(webhook("acme-crm", r * 1_000 + n, &[])).await.unwrap();
                }
            })
        })
        .collect();
    // A reader pages through while both write: it must see every event, each once, in seq order.
    let reader = fixture.store.clone();
    let read = tokio::time::timeout(Duration::from_secs(60), async move {
        let (mut seen, mut after) = (Vec::new(), None);
        while seen.len() < 300 {
            let page = reader
                .list_events(EventFilter {
                    after,
                    limit: 7,
                    ..Default::default()
                })
                .await
                .unwrap();
            if let Some(last) = page.last() {
                after = Some(last.seq);
            } else {
                tokio::task::yield_now().await;
            }
            seen.extend(page.into_iter().map(|e| e.providereventid));
        }
        seen
    });
    for writer in writers {
        writer.await.unwrap();
    }
    let seen = read.await.expect("the cursor skipped a row: it never reached 300");
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!((seen.len(), unique.len()), (300, 300));
    replicas[1].shutdown().await;
}
