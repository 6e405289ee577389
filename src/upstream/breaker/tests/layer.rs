//! Tests of the tower layer against a fake vendor built from `tower::service_fn`, each request saying how the fake
//! behaves (succeed, fail, take a while, or wait at a gate), with inner calls counted.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::time::advance;
use tower::{Layer, Service, ServiceExt};

use super::super::machine::HALF_OPEN_RETRY_AFTER;
use super::super::*;
use super::config;

#[derive(Debug, PartialEq)]
enum TestError {
    Rejected(Rejected),
    Upstream,
    /// The gateway refused the call itself (e.g. bulkhead full).
    Refused,
}

impl From<Rejected> for TestError {
    fn from(rejected: Rejected) -> Self {
        Self::Rejected(rejected)
    }
}

/// How the fake vendor answers one call.
enum Call {
    Ok,
    Fail,
    Refuse,
    /// Succeeds after this long (on the paused clock).
    Slow(Duration),
    /// Waits for a permit of the gate, then succeeds.
    Gated(Arc<Semaphore>),
}

fn classify(result: &Result<(), TestError>) -> Outcome {
    match result {
        Ok(()) => Outcome::Success,
        Err(TestError::Upstream) => Outcome::Failure,
        Err(TestError::Refused | TestError::Rejected(_)) => Outcome::Ignored,
    }
}

type Classify = fn(&Result<(), TestError>) -> Outcome;

/// A breaker-wrapped fake vendor and the number of calls that reached the vendor.
fn guarded(
    breaker: &Arc<CircuitBreaker>,
) -> (
    impl Service<Call, Response = (), Error = TestError, Future: Send> + Clone + Send + 'static,
    Arc<AtomicUsize>,
) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let vendor = tower::service_fn(move |call: Call| {
        counter.fetch_add(1, Ordering::SeqCst);
        async move {
            match call {
                Call::Ok => Ok(()),
                Call::Fail => Err(TestError::Upstream),
                Call::Refuse => Err(TestError::Refused),
                Call::Slow(took) => {
                    tokio::time::sleep(took).await;
                    Ok(())
                }
                Call::Gated(gate) => {
                    let _pass = gate.acquire().await.map_err(|_| TestError::Upstream)?;
                    Ok(())
                }
            }
        }
    });
    (
        BreakerLayer::new(Arc::clone(breaker), classify as Classify).layer(vendor),
        calls,
    )
}

async fn send<S>(service: &S, call: Call) -> Result<(), TestError>
where
    S: Service<Call, Response = (), Error = TestError> + Clone,
{
    service.clone().oneshot(call).await
}

#[tokio::test(start_paused = true)]
async fn an_open_breaker_rejects_without_calling_the_vendor() {
    let breaker = Arc::new(CircuitBreaker::new("acme", config()));
    let (service, calls) = guarded(&breaker);
    for _ in 0..5 {
        assert_eq!(send(&service, Call::Fail).await, Err(TestError::Upstream));
    }
    assert_eq!(breaker.state(), BreakerState::Open);
    assert_eq!(calls.load(Ordering::SeqCst), 5);

    let open_for = breaker.snapshot().open_remaining.unwrap();
    advance(Duration::from_secs(2)).await;
    for _ in 0..3 {
        let expected = Rejected {
            retry_after: open_for - Duration::from_secs(2),
        };
        assert_eq!(send(&service, Call::Ok).await, Err(TestError::Rejected(expected)));
    }
    assert_eq!(calls.load(Ordering::SeqCst), 5, "rejected calls never reach the vendor");
}

#[tokio::test(start_paused = true)]
async fn at_most_n_concurrent_probes_reach_the_vendor() {
    const PROBES: usize = 3;
    let breaker = Arc::new(CircuitBreaker::new(
        "acme",
        BreakerConfig {
            half_open_calls: PROBES,
            ..config()
        },
    ));
    let (service, calls) = guarded(&breaker);
    for _ in 0..5 {
        let _ = send(&service, Call::Fail).await;
    }
    advance(breaker.snapshot().open_remaining.unwrap()).await;

    let gate = Arc::new(Semaphore::new(0));
    let tasks: Vec<_> = (0..PROBES + 2)
        .map(|_| tokio::spawn(send_owned(service.clone(), Call::Gated(Arc::clone(&gate)))))
        .collect();
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        5 + PROBES,
        "exactly N probes reach the vendor"
    );
    assert_eq!(breaker.snapshot().half_open_in_flight, PROBES);

    gate.add_permits(PROBES);
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    let admitted = results.iter().filter(|r| r.is_ok()).count();
    let refused = Rejected {
        retry_after: HALF_OPEN_RETRY_AFTER,
    };
    let rejected = results
        .iter()
        .filter(|r| **r == Err(TestError::Rejected(refused)))
        .count();
    assert_eq!((admitted, rejected), (PROBES, 2));
    assert_eq!(
        breaker.state(),
        BreakerState::Closed,
        "successful probes close the breaker"
    );
    assert_eq!(send(&service, Call::Ok).await, Ok(()));
}

async fn send_owned<S>(mut service: S, call: Call) -> Result<(), TestError>
where
    S: Service<Call, Response = (), Error = TestError>,
{
    service.ready().await?.call(call).await
}

#[tokio::test(start_paused = true)]
async fn failing_probes_reopen_for_longer() {
    let breaker = Arc::new(CircuitBreaker::new("acme", config()));
    let (service, calls) = guarded(&breaker);
    for _ in 0..5 {
        let _ = send(&service, Call::Fail).await;
    }
    advance(breaker.snapshot().open_remaining.unwrap()).await;
    assert_eq!(send(&service, Call::Fail).await, Err(TestError::Upstream));
    assert_eq!(send(&service, Call::Fail).await, Err(TestError::Upstream));
    let snapshot = breaker.snapshot();
    assert_eq!((snapshot.state, snapshot.consecutive_trips), (BreakerState::Open, 2));
    let open_for = snapshot.open_remaining.unwrap();
    assert!(
        (Duration::from_secs(16)..=Duration::from_secs(24)).contains(&open_for),
        "{open_for:?}"
    );
    assert!(matches!(send(&service, Call::Ok).await, Err(TestError::Rejected(_))));
    assert_eq!(calls.load(Ordering::SeqCst), 7);
}

#[tokio::test(start_paused = true)]
async fn slow_calls_are_timed_on_the_tokio_clock() {
    let breaker = Arc::new(CircuitBreaker::new(
        "acme",
        BreakerConfig {
            slow_call_rate: 0.5,
            ..config()
        },
    ));
    let (service, _) = guarded(&breaker);
    for _ in 0..2 {
        assert_eq!(send(&service, Call::Ok).await, Ok(()));
        assert_eq!(send(&service, Call::Slow(Duration::from_millis(999))).await, Ok(()));
    }
    assert_eq!(breaker.snapshot().slow_call_rate, 0.0, "999ms is under slow_call (1s)");
    for slow in 1..=3 {
        assert_eq!(send(&service, Call::Slow(Duration::from_secs(slow))).await, Ok(()));
    }
    assert_eq!(breaker.state(), BreakerState::Closed, "3 slow of 7 < 50%");
    assert_eq!(send(&service, Call::Slow(Duration::from_secs(1))).await, Ok(()));
    let snapshot = breaker.snapshot();
    assert_eq!(
        (snapshot.state, snapshot.slow_call_rate, snapshot.failure_rate),
        (BreakerState::Open, 0.5, 0.0),
        "4 slow of 8 trips, though every call succeeded"
    );
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_probe_frees_its_slot() {
    let breaker = Arc::new(CircuitBreaker::new(
        "acme",
        BreakerConfig {
            half_open_calls: 1,
            ..config()
        },
    ));
    let (service, calls) = guarded(&breaker);
    for _ in 0..5 {
        let _ = send(&service, Call::Fail).await;
    }
    advance(breaker.snapshot().open_remaining.unwrap()).await;

    let never = Arc::new(Semaphore::new(0));
    let cancelled = tokio::time::timeout(Duration::from_millis(5), send(&service, Call::Gated(never))).await;
    assert!(cancelled.is_err(), "the probe hung and was cancelled");
    let snapshot = breaker.snapshot();
    assert_eq!(
        (snapshot.state, snapshot.half_open_in_flight, snapshot.calls),
        (BreakerState::HalfOpen, 0, 0)
    );

    assert_eq!(send(&service, Call::Ok).await, Ok(()));
    assert_eq!(breaker.state(), BreakerState::Closed);
    assert_eq!(calls.load(Ordering::SeqCst), 7);
}

#[tokio::test(start_paused = true)]
async fn calls_the_classifier_ignores_count_for_nothing() {
    let breaker = Arc::new(CircuitBreaker::new(
        "acme",
        BreakerConfig {
            half_open_calls: 1,
            ..config()
        },
    ));
    let (service, calls) = guarded(&breaker);
    for _ in 0..20 {
        assert_eq!(send(&service, Call::Refuse).await, Err(TestError::Refused));
    }
    assert_eq!((breaker.state(), breaker.snapshot().calls), (BreakerState::Closed, 0));
    for _ in 0..5 {
        let _ = send(&service, Call::Fail).await;
    }
    advance(breaker.snapshot().open_remaining.unwrap()).await;
    assert_eq!(send(&service, Call::Refuse).await, Err(TestError::Refused));
    assert_eq!(
        breaker.snapshot().half_open_in_flight,
        0,
        "the refused probe gave its slot back"
    );
    assert_eq!(send(&service, Call::Ok).await, Ok(()));
    assert_eq!(breaker.state(), BreakerState::Closed);
    assert_eq!(calls.load(Ordering::SeqCst), 27);
}
