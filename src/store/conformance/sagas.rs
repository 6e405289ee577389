//! Sagas, driven with explicit clocks: leases (one claimant at a time, a lapsed lease taken over, a late checkpoint
//! refused), checkpoints that hold or let go, the final checkpoint and its event committed together, listings by
//! name and state with a cursor, an operator's retry of a failed saga only, the key answer stored with the saga,
//! and retention of finished sagas.

use bytes::Bytes;
use serde_json::json;
use uuid::Uuid;

use super::{Backend, Fixture, conformance};
use crate::store::{
    Claimed, EventFilter, KeyClaim, KeyCompletion, NewEvent, NewSaga, SagaFilter, SagaRetried, SagaStatus, SagaUpdate,
    StepState, StepStatus, StoredResponse,
};

fn saga(id: Uuid, name: &str, at: i64) -> NewSaga {
    NewSaga {
        id,
        name: name.into(),
        caller: "svc".into(),
        input: json!({"email": "ada@example.com"}),
        steps: vec![StepState::pending("customer"), StepState::pending("payment")],
        correlation_id: "corr".into(),
        created_at_ms: at,
    }
}

fn event(id: Uuid, status: &str) -> NewEvent {
    NewEvent {
        id: Uuid::now_v7(),
        provider: "gatehouse".into(),
        provider_event_id: format!("saga/{id}/{status}"),
        event_type: format!("gatehouse.saga.{status}"),
        subject: Some(id.to_string()),
        correlation_id: "corr".into(),
        received_at_ms: 0,
        envelope: b"{}".to_vec(),
        raw_body: Bytes::new(),
        deliver_to: Vec::new(),
        quarantine: None,
        entity: None,
    }
}

fn update(status: SagaStatus, steps: Vec<StepState>, next: i64, lease_until: i64) -> SagaUpdate {
    SagaUpdate {
        status,
        steps,
        next_attempt_ms: next,
        lease_until_ms: lease_until,
        event: None,
    }
}

fn completed(name: &str) -> StepState {
    StepState {
        status: StepStatus::Completed,
        attempts: 1,
        result: Some(json!({"id": format!("{name}_1")})),
        ..StepState::pending(name)
    }
}

async fn sagas_are_leased_checkpointed_and_finished_with_their_event(backend: Backend) {
    let Some(fixture) = Fixture::new(backend).await else {
        return;
    };
    let store = fixture.store.as_ref();
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    store.insert_saga(saga(a, "checkout", 0), None).await.unwrap();
    store.insert_saga(saga(b, "checkout", 0), None).await.unwrap();
    let first = store.claim_sagas("one".into(), 100, 1_000, 1).await.unwrap();
    assert_eq!(
        first.iter().map(|s| s.id).collect::<Vec<_>>(),
        [a],
        "oldest first, up to the limit"
    );
    assert_eq!(
        first[0].steps,
        vec![StepState::pending("customer"), StepState::pending("payment")]
    );
    assert_eq!(first[0].input, json!({"email": "ada@example.com"}));
    let second = store.claim_sagas("two".into(), 200, 1_000, 10).await.unwrap();
    assert_eq!(
        second.iter().map(|s| s.id).collect::<Vec<_>>(),
        [b],
        "a leased saga is not claimed twice"
    );

    // A lease that lapsed refuses its holder's checkpoint even before anyone else claims.
    assert!(
        !store
            .update_saga(b, "two".into(), 1_300, update(SagaStatus::Running, Vec::new(), 0, 0))
            .await
            .unwrap()
    );

    // `one` checkpoints step 1 and keeps the saga; nobody else can claim it meanwhile.
    let steps = vec![completed("customer"), StepState::pending("payment")];
    let held = update(SagaStatus::Running, steps.clone(), 300, 2_300);
    assert!(
        !store.update_saga(a, "two".into(), 300, held.clone()).await.unwrap(),
        "not two's"
    );
    assert!(store.update_saga(a, "one".into(), 300, held).await.unwrap());
    assert!(
        store
            .claim_sagas("two".into(), 1_500, 1_000, 10)
            .await
            .unwrap()
            .iter()
            .all(|s| s.id != a)
    );
    let stored = store.get_saga(a).await.unwrap().unwrap();
    assert_eq!(
        (stored.status, stored.steps.clone()),
        (SagaStatus::Running, steps.clone())
    );

    // It lets go until 5_000 (a retry); the lease lapses; `two` takes it over at its due time; `one` is refused.
    let waiting = update(SagaStatus::Running, steps.clone(), 5_000, 0);
    assert!(store.update_saga(a, "one".into(), 400, waiting).await.unwrap());
    assert!(
        store
            .claim_sagas("two".into(), 4_999, 1_000, 10)
            .await
            .unwrap()
            .iter()
            .all(|s| s.id != a)
    );
    let retaken = store.claim_sagas("two".into(), 5_000, 1_000, 10).await.unwrap();
    assert_eq!(retaken.iter().map(|s| s.id).collect::<Vec<_>>(), [a]);
    let late = update(SagaStatus::Running, steps, 5_100, 6_100);
    assert!(
        !store.update_saga(a, "one".into(), 5_100, late).await.unwrap(),
        "one's claim is gone"
    );

    // The final checkpoint commits the event with it, once.
    let mut last = update(
        SagaStatus::Completed,
        vec![completed("customer"), completed("payment")],
        5_200,
        0,
    );
    last.event = Some(Box::new(event(a, "completed")));
    assert!(store.update_saga(a, "two".into(), 5_200, last.clone()).await.unwrap());
    assert!(
        !store.update_saga(a, "two".into(), 5_300, last).await.unwrap(),
        "finishes once"
    );
    assert_eq!(store.get_saga(a).await.unwrap().unwrap().status, SagaStatus::Completed);
    let events = store
        .list_events(EventFilter {
            provider: Some("gatehouse".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(events.len(), 1, "the final state and its event commit together");
    assert!(
        store
            .claim_sagas("three".into(), 9_000, 1_000, 10)
            .await
            .unwrap()
            .iter()
            .all(|s| s.id != a)
    );
}

async fn only_failed_sagas_are_retried_and_listings_filter(backend: Backend) {
    let Some(fixture) = Fixture::new(backend).await else {
        return;
    };
    let store = fixture.store.as_ref();
    let (failed, other, refund) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    store.insert_saga(saga(failed, "checkout", 0), None).await.unwrap();
    store.insert_saga(saga(other, "checkout", 0), None).await.unwrap();
    store.insert_saga(saga(refund, "refund", 0), None).await.unwrap();
    let claimed = store.claim_sagas("one".into(), 10, 1_000, 1).await.unwrap();
    assert_eq!(claimed[0].id, failed);
    let mut undone = completed("customer");
    undone.status = StepStatus::CompensationFailed;
    undone.compensation_attempts = 3;
    undone.compensation_error = Some("500".into());
    let mut steps = vec![undone, StepState::pending("payment")];
    steps[1].status = StepStatus::Failed;
    let mut last = update(SagaStatus::Failed, steps, 20, 0);
    last.event = Some(Box::new(event(failed, "failed")));
    assert!(store.update_saga(failed, "one".into(), 20, last).await.unwrap());

    let list = |name: Option<&str>, status: Option<SagaStatus>, before: Option<i64>| SagaFilter {
        name: name.map(str::to_owned),
        status,
        limit: 2,
        before,
    };
    let ids = |sagas: Vec<crate::store::SagaRecord>| sagas.iter().map(|s| s.id).collect::<Vec<_>>();
    let newest = store.list_sagas(list(None, None, None)).await.unwrap();
    assert_eq!(ids(newest.clone()), [refund, other], "newest first, up to the limit");
    let rest = store.list_sagas(list(None, None, Some(newest[1].seq))).await.unwrap();
    assert_eq!(ids(rest), [failed]);
    assert_eq!(
        ids(store.list_sagas(list(Some("checkout"), None, None)).await.unwrap()),
        [other, failed]
    );
    assert_eq!(
        ids(store
            .list_sagas(list(None, Some(SagaStatus::Failed), None))
            .await
            .unwrap()),
        [failed]
    );
    let running = list(Some("refund"), Some(SagaStatus::Running), None);
    assert_eq!(ids(store.list_sagas(running).await.unwrap()), [refund]);

    assert!(matches!(
        store.retry_saga(other, 30).await.unwrap(),
        SagaRetried::NotFailed(SagaStatus::Running)
    ));
    assert!(matches!(
        store.retry_saga(Uuid::now_v7(), 30).await.unwrap(),
        SagaRetried::NotFound
    ));
    let SagaRetried::Done(retried) = store.retry_saga(failed, 30).await.unwrap() else {
        panic!("a failed saga is retried");
    };
    assert_eq!((retried.status, retried.retries), (SagaStatus::Compensating, 1));
    assert_eq!(
        retried.steps[0].status,
        StepStatus::Completed,
        "its compensation runs again"
    );
    assert_eq!(retried.steps[0].compensation_attempts, 0);
    assert_eq!(
        retried.steps[0].compensation_error.as_deref(),
        Some("500"),
        "the last error stays visible"
    );
    let due = store.claim_sagas("two".into(), 30, 1_000, 10).await.unwrap();
    assert!(due.iter().any(|s| s.id == failed), "due at once");
}

async fn a_sagas_key_answer_is_stored_with_it_and_finished_sagas_are_pruned(backend: Backend) {
    let Some(fixture) = Fixture::new(backend).await else {
        return;
    };
    let store = fixture.store.as_ref();
    let claim = KeyClaim {
        caller: "svc".into(),
        key: "k1".into(),
        fingerprint: "f".into(),
        now_ms: 0,
        lock_ms: 1_000,
        keep_ms: 100_000,
    };
    let Claimed::Started { token } = store.claim_key(claim.clone()).await.unwrap() else {
        panic!("a new key starts");
    };
    let answer = StoredResponse {
        status: 202,
        headers: vec![("location".into(), "/v1/sagas/x".into())],
        body: Bytes::from_static(b"{\"id\":\"x\"}"),
    };
    let done = KeyCompletion {
        caller: "svc".into(),
        key: "k1".into(),
        token,
        response: answer.clone(),
    };
    let (kept, pruned, failed) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    store.insert_saga(saga(kept, "checkout", 0), Some(done)).await.unwrap();
    match store.claim_key(KeyClaim { now_ms: 10, ..claim }).await.unwrap() {
        Claimed::Replay(stored) => assert_eq!(stored, answer),
        other => panic!("expected the stored 202, got {other:?}"),
    }
    store.insert_saga(saga(pruned, "checkout", 0), None).await.unwrap();
    store.insert_saga(saga(failed, "checkout", 0), None).await.unwrap();
    for (id, status) in [(pruned, SagaStatus::Compensated), (failed, SagaStatus::Failed)] {
        let claimed = store.claim_sagas("one".into(), 100, 1_000, 10).await.unwrap();
        assert!(claimed.iter().any(|s| s.id == id));
        let mut last = update(status, Vec::new(), 200, 0);
        last.event = Some(Box::new(event(id, status.as_str())));
        assert!(store.update_saga(id, "one".into(), 200, last).await.unwrap());
        // The others go back to waiting.
        for other in claimed.iter().filter(|s| s.id != id) {
            let back = update(SagaStatus::Running, other.steps.clone(), 100, 0);
            assert!(store.update_saga(other.id, "one".into(), 200, back).await.unwrap());
        }
    }
    // Completed and compensated sagas go after their retention; failed (a person's) and running ones stay.
    assert_eq!(store.prune(0, 201).await.unwrap().1, 1);
    assert!(store.get_saga(pruned).await.unwrap().is_none());
    assert!(store.get_saga(failed).await.unwrap().is_some());
    assert!(store.get_saga(kept).await.unwrap().is_some());
}

conformance!(
    sagas_are_leased_checkpointed_and_finished_with_their_event,
    only_failed_sagas_are_retried_and_listings_filter,
    a_sagas_key_answer_is_stored_with_it_and_finished_sagas_are_pruned,
);
