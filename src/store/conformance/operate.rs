//! What operators ask of a store: events listed by every filter in both orders with cursors, bulk replay of dead
//! deliveries by filter (only those, only for the subscriptions asked), counts per subscription, attempt latency,
//! and commands listed newest first and cancelled only while pending and not running.

use bytes::Bytes;
use uuid::Uuid;

use super::{Backend, Fixture, conformance};
use crate::store::{
    Cancelled, CommandFilter, CommandStatus, DeliveryOutcome, EventFilter, EventStatus, Finished, NewCommand, NewEvent,
    ReplayFilter, Store, Subscriber,
};

fn sub(name: &str, ordered: bool) -> Subscriber {
    Subscriber {
        name: name.into(),
        ordered,
    }
}

/// Stores event `n` of `provider`/`event_type`, received at `n * 1000` ms, for subscriptions `a` and `b`.
async fn event(store: &dyn Store, n: i64, provider: &str, event_type: &str) -> Uuid {
    let id = Uuid::now_v7();
    store
        .ingest(NewEvent {
            id,
            provider: provider.into(),
            provider_event_id: format!("evt_{n}"),
            event_type: event_type.into(),
            subject: Some(format!("subject-{}", n % 2)),
            correlation_id: "c".into(),
            received_at_ms: n * 1000,
            envelope: b"{}".to_vec(),
            raw_body: Bytes::from_static(b"<script>raw</script>"),
            deliver_to: vec![sub("a", true), sub("b", false)],
            quarantine: None,
            entity: None,
        })
        .await
        .unwrap();
    id
}

/// Claims every due delivery of `subscription` and records each as `dead` (or delivered).
async fn finish_all(store: &dyn Store, subscription: &str, dead: bool) -> usize {
    let mut finished = 0;
    loop {
        let claimed = store
            .claim_deliveries("r".into(), vec![subscription.into()], 10_000_000, 60_000, 100)
            .await
            .unwrap();
        if claimed.is_empty() {
            return finished;
        }
        for delivery in &claimed {
            let outcome = if dead {
                DeliveryOutcome::Dead { error: "410".into() }
            } else {
                DeliveryOutcome::Delivered
            };
            assert!(
                store
                    .finish_delivery(delivery, "r".into(), 10_000_000, 7, outcome)
                    .await
                    .unwrap()
            );
            finished += 1;
        }
    }
}

async fn ids(store: &dyn Store, filter: EventFilter) -> Vec<Uuid> {
    store.list_events(filter).await.unwrap().iter().map(|e| e.id).collect()
}

async fn events_are_listed_by_every_filter_in_both_orders(backend: Backend) {
    let Some(fixture) = Fixture::new(backend).await else {
        return;
    };
    let store = fixture.store.as_ref();
    let mut all = Vec::new();
    for n in 1..=6 {
        let (provider, kind) = if n % 3 == 0 {
            ("stripe", "stripe.payment_intent.succeeded")
        } else {
            ("acme-crm", "acme-crm.customer.updated")
        };
        all.push(event(store, n, provider, kind).await);
    }
    finish_all(store, "a", true).await;
    let base = || EventFilter {
        limit: 10,
        ..EventFilter::default()
    };
    let newest: Vec<Uuid> = all.iter().rev().copied().collect();
    assert_eq!(ids(store, base()).await, all);
    assert_eq!(
        ids(
            store,
            EventFilter {
                newest_first: true,
                ..base()
            }
        )
        .await,
        newest
    );
    // A cursor walks on in the listing's order.
    let page = store
        .list_events(EventFilter {
            newest_first: true,
            limit: 2,
            ..base()
        })
        .await
        .unwrap();
    let after = Some(page[1].seq);
    let next = ids(
        store,
        EventFilter {
            newest_first: true,
            limit: 2,
            after,
            ..base()
        },
    )
    .await;
    assert_eq!(next, newest[2..4]);
    let stripe = ids(
        store,
        EventFilter {
            provider: Some("stripe".into()),
            newest_first: true,
            ..base()
        },
    )
    .await;
    assert_eq!(stripe, vec![all[5], all[2]]);
    let typed = EventFilter {
        event_type: Some("acme-crm.customer.updated".into()),
        ..base()
    };
    assert_eq!(ids(store, typed).await, vec![all[0], all[1], all[3], all[4]]);
    let by_id = EventFilter {
        provider_event_id: Some("evt_4".into()),
        ..base()
    };
    assert_eq!(ids(store, by_id).await, vec![all[3]]);
    let window = EventFilter {
        since_ms: Some(2_000),
        until_ms: Some(4_000),
        ..base()
    };
    assert_eq!(ids(store, window).await, vec![all[1], all[2]]);
    // `a` is dead for every event, `b` still pending: the event is pending, and with a subscription the status is
    // that subscription's.
    let dead = EventFilter {
        status: Some(EventStatus::Dead),
        ..base()
    };
    assert!(ids(store, dead.clone()).await.is_empty());
    let dead_for_a = EventFilter {
        subscription: Some("a".into()),
        ..dead.clone()
    };
    assert_eq!(ids(store, dead_for_a).await, all);
    let dead_for_b = EventFilter {
        subscription: Some("b".into()),
        ..dead
    };
    assert!(ids(store, dead_for_b).await.is_empty());
    let pending_for_b = EventFilter {
        subscription: Some("b".into()),
        status: Some(EventStatus::Pending),
        newest_first: true,
        limit: 1,
        ..base()
    };
    assert_eq!(ids(store, pending_for_b).await, vec![all[5]]);
    let nobody = EventFilter {
        subscription: Some("c".into()),
        ..base()
    };
    assert!(ids(store, nobody).await.is_empty());
}

async fn bulk_replay_requeues_only_the_matching_dead_deliveries(backend: Backend) {
    let Some(fixture) = Fixture::new(backend).await else {
        return;
    };
    let store = fixture.store.as_ref();
    let mut all = Vec::new();
    for n in 1..=6 {
        let provider = if n <= 4 { "acme-crm" } else { "stripe" };
        all.push(event(store, n, provider, &format!("{provider}.thing")).await);
    }
    assert_eq!(finish_all(store, "a", true).await, 6);
    assert_eq!(finish_all(store, "b", false).await, 6);
    let stats = store.subscription_stats().await.unwrap();
    let a = stats.iter().find(|s| s.name == "a").unwrap();
    assert_eq!((a.pending, a.dead, a.delivered), (0, 6, 0));
    let filter = ReplayFilter {
        state: Finished::Dead,
        provider: Some("acme-crm".into()),
        event_type: None,
        since_ms: Some(2_000),
        until_ms: None,
    };
    let subscribers = vec![sub("a", true), sub("b", false)];
    let counted = store
        .replay_deliveries(filter.clone(), subscribers.clone(), 20_000_000, true)
        .await
        .unwrap();
    assert_eq!(
        (counted.matched, counted.queued),
        (3, 0),
        "events 2-4 of acme-crm, for a only"
    );
    let stats = store.subscription_stats().await.unwrap();
    assert_eq!(
        stats.iter().find(|s| s.name == "a").unwrap().dead,
        6,
        "a dry run changes nothing"
    );
    let replayed = store
        .replay_deliveries(filter, subscribers, 20_000_000, false)
        .await
        .unwrap();
    assert_eq!((replayed.matched, replayed.queued), (3, 3));
    let stats = store.subscription_stats().await.unwrap();
    let (a, b) = (
        stats.iter().find(|s| s.name == "a").unwrap(),
        stats.iter().find(|s| s.name == "b").unwrap(),
    );
    assert_eq!((a.pending, a.dead, a.retrying), (3, 3, 0));
    assert_eq!(
        (b.pending, b.delivered),
        (0, 6),
        "the healthy subscription gets nothing twice"
    );
    assert_eq!(a.oldest_pending_ms, Some(2_000));
    let detail = store.get_event(all[1]).await.unwrap().unwrap();
    assert_eq!(detail.summary.status, EventStatus::Pending);
    assert_eq!(detail.raw_body, "<script>raw</script>");
    let history = &detail
        .deliveries
        .iter()
        .find(|d| d.subscription == "a")
        .unwrap()
        .history;
    assert_eq!(history[0].latency_ms, Some(7));
    // `a` is ordered: events 2 and 4 share a subject, so 4 waits behind 2; 3 (the other subject) is due.
    let claimed = store
        .claim_deliveries("r2".into(), vec!["a".into()], 20_000_001, 60_000, 10)
        .await
        .unwrap();
    let mut seqs: Vec<Uuid> = claimed.iter().map(|d| d.event_id).collect();
    seqs.sort();
    assert_eq!(seqs, vec![all[1], all[2]]);
}

fn command(id: Uuid, caller: &str, provider: &str, at: i64) -> NewCommand {
    NewCommand {
        id,
        caller: caller.into(),
        provider: provider.into(),
        method: "POST".into(),
        path: "/customers".into(),
        body: Bytes::from_static(b"{\"name\":\"Ada\"}"),
        vendor_key: format!("gh-{id}"),
        correlation_id: "corr".into(),
        created_at_ms: at,
    }
}

fn cancellation(id: Uuid) -> NewEvent {
    NewEvent {
        id: Uuid::now_v7(),
        provider: "gatehouse".into(),
        provider_event_id: format!("command/{id}"),
        event_type: "gatehouse.command.cancelled".into(),
        subject: Some(id.to_string()),
        correlation_id: "corr".into(),
        received_at_ms: 1_000,
        envelope: b"{}".to_vec(),
        raw_body: Bytes::new(),
        deliver_to: vec![sub("b", false)],
        quarantine: None,
        entity: None,
    }
}

async fn commands_are_listed_newest_first_and_cancelled_only_while_pending(backend: Backend) {
    let Some(fixture) = Fixture::new(backend).await else {
        return;
    };
    let store = fixture.store.as_ref();
    let ids: Vec<Uuid> = (0..4).map(|_| Uuid::now_v7()).collect();
    for (i, id) in ids.iter().enumerate() {
        let (caller, provider) = if i % 2 == 0 {
            ("billing", "acme-crm")
        } else {
            ("shop", "stripe")
        };
        store
            .insert_command(command(*id, caller, provider, 1_000), None)
            .await
            .unwrap();
    }
    let all = CommandFilter {
        limit: 10,
        ..CommandFilter::default()
    };
    let listed: Vec<Uuid> = store
        .list_commands(all.clone())
        .await
        .unwrap()
        .iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(listed, ids.iter().rev().copied().collect::<Vec<_>>());
    let page = store
        .list_commands(CommandFilter {
            limit: 1,
            ..all.clone()
        })
        .await
        .unwrap();
    let before = Some(page[0].seq);
    let next = store
        .list_commands(CommandFilter {
            limit: 1,
            before,
            ..all.clone()
        })
        .await
        .unwrap();
    assert_eq!(next[0].id, ids[2]);
    let billing = CommandFilter {
        caller: Some("billing".into()),
        provider: Some("acme-crm".into()),
        ..all.clone()
    };
    let billing: Vec<Uuid> = store
        .list_commands(billing)
        .await
        .unwrap()
        .iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(billing, vec![ids[2], ids[0]]);

    // Lease the oldest (an executor is attempting it): it cannot be cancelled until the lease lapses.
    let leased = store.claim_commands("exec".into(), 1_000, 60_000, 1).await.unwrap();
    assert_eq!(leased[0].id, ids[0]);
    let running = store.cancel_command(ids[0], 2_000, cancellation(ids[0])).await.unwrap();
    assert!(matches!(running, Cancelled::Running), "{running:?}");
    let Cancelled::Done(done) = store.cancel_command(ids[1], 2_000, cancellation(ids[1])).await.unwrap() else {
        panic!("a pending command is cancelled");
    };
    assert_eq!((done.id, done.status), (ids[1], CommandStatus::Cancelled));
    let again = store.cancel_command(ids[1], 2_000, cancellation(ids[1])).await.unwrap();
    assert!(
        matches!(again, Cancelled::Finished(CommandStatus::Cancelled)),
        "{again:?}"
    );
    let missing = store
        .cancel_command(Uuid::now_v7(), 2_000, cancellation(ids[1]))
        .await
        .unwrap();
    assert!(matches!(missing, Cancelled::NotFound));
    // The cancellation's announcement was stored with it, for `b`; the executor never gets the command again.
    let announced = EventFilter {
        provider_event_id: Some(format!("command/{}", ids[1])),
        limit: 5,
        ..EventFilter::default()
    };
    assert_eq!(store.list_events(announced).await.unwrap().len(), 1);
    let cancelled = CommandFilter {
        status: Some(CommandStatus::Cancelled),
        ..all
    };
    assert_eq!(store.list_commands(cancelled).await.unwrap().len(), 1);
    let claimed = store.claim_commands("exec2".into(), 100_000, 60_000, 10).await.unwrap();
    assert!(claimed.iter().all(|c| c.id != ids[1]));
}

conformance!(
    events_are_listed_by_every_filter_in_both_orders,
    bulk_replay_requeues_only_the_matching_dead_deliveries,
    commands_are_listed_newest_first_and_cancelled_only_while_pending,
);
