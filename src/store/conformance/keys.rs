//! Idempotency keys, deferred commands and retention, driven with explicit clocks: claims, replays, mismatches,
//! lock expiry, release, pruning; command leases, claim-conditioned updates and the finishing event.

use bytes::Bytes;
use uuid::Uuid;

use super::{Backend, Fixture, conformance};
use crate::store::{
    Claimed, CommandStatus, CommandUpdate, KeyClaim, KeyCompletion, NewCommand, NewEvent, StoredResponse,
};

fn claim(key: &str, fingerprint: &str, now_ms: i64) -> KeyClaim {
    KeyClaim {
        caller: "svc".into(),
        key: key.into(),
        fingerprint: fingerprint.into(),
        now_ms,
        lock_ms: 1_000,
        keep_ms: 10_000,
    }
}

fn started(claimed: Claimed) -> Uuid {
    match claimed {
        Claimed::Started { token } => token,
        other => panic!("expected Started, got {other:?}"),
    }
}

fn completion(key: &str, token: Uuid, status: u16) -> KeyCompletion {
    KeyCompletion {
        caller: "svc".into(),
        key: key.into(),
        token,
        response: StoredResponse {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: Bytes::from_static(b"{\"id\":1}"),
        },
    }
}

async fn keys_run_once_then_replay_until_they_expire(backend: Backend) {
    let Some(mut fixture) = Fixture::new(backend).await else {
        return;
    };
    let store = fixture.store.as_ref();
    let token = started(store.claim_key(claim("k", "f1", 0)).await.unwrap());
    assert_eq!(store.claim_key(claim("k", "f1", 10)).await.unwrap(), Claimed::InUse);
    assert_eq!(store.claim_key(claim("k", "f2", 10)).await.unwrap(), Claimed::Mismatch);
    let done = completion("k", token, 201);
    assert!(store.complete_key(done.clone()).await.unwrap());
    assert!(!store.complete_key(done.clone()).await.unwrap(), "completes once");
    assert_eq!(
        store.claim_key(claim("k", "f1", 20)).await.unwrap(),
        Claimed::Replay(done.response.clone())
    );
    assert_eq!(store.claim_key(claim("k", "f2", 20)).await.unwrap(), Claimed::Mismatch);
    // Another caller's key of the same name is another key.
    let mut theirs = claim("k", "f2", 20);
    theirs.caller = "other".into();
    started(store.claim_key(theirs).await.unwrap());
    // The answer is durable: a new process on the same database replays it.
    fixture.reopen().await;
    let reopened = fixture.store.as_ref();
    assert_eq!(
        reopened.claim_key(claim("k", "f1", 30)).await.unwrap(),
        Claimed::Replay(done.response)
    );
    // Past keep_ms the key is new again (and its new answer replaces the old); pruning deletes it.
    let token = started(reopened.claim_key(claim("k", "f2", 10_001)).await.unwrap());
    assert!(reopened.complete_key(completion("k", token, 202)).await.unwrap());
    assert!(
        matches!(reopened.claim_key(claim("k", "f2", 10_002)).await.unwrap(), Claimed::Replay(r) if r.status == 202)
    );
    assert_eq!(reopened.prune(10_000, 0).await.unwrap().0, 0);
    assert_eq!(reopened.prune(30_000, 0).await.unwrap().0, 1);
}

async fn a_lapsed_lock_is_retaken_by_the_same_request_and_the_old_claim_loses(backend: Backend) {
    let Some(fixture) = Fixture::new(backend).await else {
        return;
    };
    let store = fixture.store.as_ref();
    let old = started(store.claim_key(claim("k", "f1", 0)).await.unwrap());
    let new = started(store.claim_key(claim("k", "f1", 1_500)).await.unwrap());
    assert_ne!(old, new);
    assert!(
        !store.complete_key(completion("k", old, 500)).await.unwrap(),
        "the stuck claim cannot store"
    );
    assert!(!store.release_key("svc".into(), "k".into(), old).await.unwrap());
    assert!(store.release_key("svc".into(), "k".into(), new).await.unwrap());
    // Released: nothing was stored, so any request may take the key.
    started(store.claim_key(claim("k", "f2", 1_600)).await.unwrap());
    // A claim never completed nor released is forgotten by pruning once its lock lapsed.
    store.prune(1_700, 0).await.unwrap();
    assert_eq!(
        store.claim_key(claim("k", "f1", 1_700)).await.unwrap(),
        Claimed::Mismatch
    );
    store.prune(2_601, 0).await.unwrap();
    started(store.claim_key(claim("k", "f1", 2_601)).await.unwrap());
}

fn command(id: Uuid, at: i64) -> NewCommand {
    NewCommand {
        id,
        caller: "svc".into(),
        provider: "pay".into(),
        method: "POST".into(),
        path: "/payments".into(),
        body: Bytes::from_static(b"{}"),
        vendor_key: format!("svc:command-{id}"),
        correlation_id: "c".into(),
        created_at_ms: at,
    }
}

fn event(id: Uuid) -> NewEvent {
    NewEvent {
        id: Uuid::now_v7(),
        provider: "gatehouse".into(),
        provider_event_id: format!("command/{id}"),
        event_type: "gatehouse.command.succeeded".into(),
        subject: Some(id.to_string()),
        correlation_id: "c".into(),
        received_at_ms: 0,
        envelope: b"{}".to_vec(),
        raw_body: Bytes::new(),
        deliver_to: Vec::new(),
        quarantine: None,
        entity: None,
    }
}

async fn commands_are_leased_and_only_their_claimant_records_an_outcome(backend: Backend) {
    let Some(fixture) = Fixture::new(backend).await else {
        return;
    };
    let store = fixture.store.as_ref();
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    store.insert_command(command(a, 0), None).await.unwrap();
    store.insert_command(command(b, 0), None).await.unwrap();
    let first = store.claim_commands("one".into(), 100, 1_000, 1).await.unwrap();
    assert_eq!(
        first.iter().map(|c| c.id).collect::<Vec<_>>(),
        [a],
        "oldest first, up to the limit"
    );
    let second = store.claim_commands("two".into(), 500, 1_000, 10).await.unwrap();
    assert_eq!(
        second.iter().map(|c| c.id).collect::<Vec<_>>(),
        [b],
        "a leased command is not claimed twice"
    );
    assert!(
        store
            .claim_commands("two".into(), 600, 1_000, 10)
            .await
            .unwrap()
            .is_empty()
    );

    // The lease of `one` expires (`two`'s on `b` has not); `two` takes `a` over, and `one`'s late outcome is
    // refused.
    let retaken = store.claim_commands("two".into(), 1_200, 1_000, 10).await.unwrap();
    assert_eq!(retaken.iter().map(|c| c.id).collect::<Vec<_>>(), [a]);
    let retry = CommandUpdate::Retry {
        next_attempt_ms: 5_000,
        counted: true,
        error: "503".into(),
    };
    assert!(
        !store
            .update_command(a, "one".into(), 1_300, retry.clone())
            .await
            .unwrap()
    );
    assert!(store.update_command(a, "two".into(), 1_300, retry).await.unwrap());
    let record = store.get_command(a).await.unwrap().unwrap();
    assert_eq!((record.status, record.attempts), (CommandStatus::Pending, 1));
    assert_eq!(record.last_error.as_deref(), Some("503"));
    let early = store.claim_commands("three".into(), 4_999, 1_000, 10).await.unwrap();
    assert!(early.iter().all(|c| c.id != a), "not due yet");

    let finish = CommandUpdate::Finish {
        status: CommandStatus::Succeeded,
        response: serde_json::json!({"status": 201}),
        error: None,
        event: Box::new(event(a)),
    };
    let due = store.claim_commands("two".into(), 5_000, 1_000, 10).await.unwrap();
    assert_eq!(due.iter().map(|c| c.id).collect::<Vec<_>>(), [a]);
    assert!(
        store
            .update_command(a, "two".into(), 5_100, finish.clone())
            .await
            .unwrap()
    );
    assert!(
        !store.update_command(a, "two".into(), 5_200, finish).await.unwrap(),
        "finishes once"
    );
    let record = store.get_command(a).await.unwrap().unwrap();
    assert_eq!((record.status, record.attempts), (CommandStatus::Succeeded, 2));
    assert_eq!(record.response, Some(serde_json::json!({"status": 201})));
    let events = store
        .list_events(crate::store::EventFilter {
            provider: Some("gatehouse".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(events.len(), 1, "the outcome and its event commit together");
    // Finished commands are pruned after their retention; pending ones never.
    assert_eq!(store.prune(0, 5_101).await.unwrap().1, 1);
    assert!(store.get_command(a).await.unwrap().is_none());
    assert!(store.get_command(b).await.unwrap().is_some());
}

async fn retention_deletes_delivered_events_and_old_inbox_entries_only(backend: Backend) {
    let Some(fixture) = Fixture::new(backend).await else {
        return;
    };
    let store = fixture.store.as_ref();
    let mut delivered = event(Uuid::now_v7());
    delivered.provider_event_id = "evt_delivered".into();
    delivered.received_at_ms = 1_000;
    let mut pending = event(Uuid::now_v7());
    pending.provider_event_id = "evt_pending".into();
    pending.received_at_ms = 1_000;
    pending.deliver_to = vec![crate::store::Subscriber {
        name: "sub".into(),
        ordered: false,
    }];
    store.ingest(delivered.clone()).await.unwrap();
    store.ingest(pending.clone()).await.unwrap();
    // Events received after the cutoff, and pending ones, stay; so do inbox entries after theirs.
    assert_eq!(store.prune_delivered(1_000, 1_000).await.unwrap(), (0, 0));
    assert_eq!(store.prune_delivered(2_000, 0).await.unwrap(), (1, 0));
    assert!(store.get_event(delivered.id).await.unwrap().is_none());
    assert!(store.get_event(pending.id).await.unwrap().is_some());
    assert_eq!(store.prune_delivered(2_000, 2_000).await.unwrap(), (0, 2));
    assert_eq!(store.prune_delivered(2_000, 2_000).await.unwrap(), (0, 0));
}

conformance!(
    keys_run_once_then_replay_until_they_expire,
    a_lapsed_lock_is_retaken_by_the_same_request_and_the_old_claim_loses,
    commands_are_leased_and_only_their_claimant_records_an_outcome,
    retention_deletes_delivered_events_and_old_inbox_entries_only,
);
