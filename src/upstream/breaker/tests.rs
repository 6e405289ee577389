//! Tests of the breaker's state machine through its permit API, on tokio's paused clock; the tower layer's tests are
//! in `tests/layer.rs`, metrics in `tests/telemetry.rs`, configuration and edge cases in `tests/config.rs`.

mod config;
mod layer;
mod telemetry;

use std::time::Duration;

use tokio::time::advance;

use super::machine::HALF_OPEN_RETRY_AFTER;
use super::*;

const FAST: Duration = Duration::from_millis(10);

/// Window 10, decisions from 5 calls, 50% failures, slow from 1s (rate 1.0), open 10s doubling up to 40s, 2 probes.
fn config() -> BreakerConfig {
    BreakerConfig {
        window: 10,
        min_calls: 5,
        failure_rate: 0.5,
        slow_call: Duration::from_secs(1),
        slow_call_rate: 1.0,
        open_for: Duration::from_secs(10),
        max_open_for: Duration::from_secs(40),
        half_open_calls: 2,
    }
}

fn record(breaker: &CircuitBreaker, outcome: Outcome, times: usize) {
    for _ in 0..times {
        breaker.try_acquire().unwrap().record(outcome, FAST);
    }
}

/// Fails calls until the breaker opens; returns the open duration it chose.
fn trip(breaker: &CircuitBreaker) -> Duration {
    for _ in 0..breaker.config().window {
        record(breaker, Outcome::Failure, 1);
        if breaker.state() == BreakerState::Open {
            return breaker.snapshot().open_remaining.unwrap();
        }
    }
    panic!("breaker did not open: {:?}", breaker.snapshot());
}

/// Waits out the open period (the longest jittered one) without moving to half-open.
async fn wait_out(breaker: &CircuitBreaker) {
    advance(breaker.snapshot().open_remaining.unwrap()).await;
}

fn assert_within(actual: Duration, base: Duration) {
    let (low, high) = (base.mul_f64(0.8), base.mul_f64(1.2));
    assert!(
        low <= actual && actual <= high,
        "{actual:?} not within ±20% of {base:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn stays_closed_below_min_calls_even_at_full_failure() {
    let breaker = CircuitBreaker::new("acme", config());
    record(&breaker, Outcome::Failure, 4);
    let snapshot = breaker.snapshot();
    assert_eq!(snapshot.state, BreakerState::Closed);
    assert_eq!((snapshot.calls, snapshot.failure_rate), (4, 1.0));
    assert!(breaker.try_acquire().is_ok());
}

#[tokio::test(start_paused = true)]
async fn opens_at_the_failure_rate_threshold() {
    let breaker = CircuitBreaker::new("acme", config());
    record(&breaker, Outcome::Success, 3);
    record(&breaker, Outcome::Failure, 2);
    assert_eq!(breaker.state(), BreakerState::Closed, "2/5 = 40% < 50%");
    record(&breaker, Outcome::Failure, 1);
    let snapshot = breaker.snapshot();
    assert_eq!(snapshot.state, BreakerState::Open, "3/6 = 50% trips");
    assert_eq!(
        (snapshot.calls, snapshot.failure_rate, snapshot.consecutive_trips),
        (6, 0.5, 1)
    );
    assert_within(snapshot.open_remaining.unwrap(), Duration::from_secs(10));
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_the_time_left() {
    let breaker = CircuitBreaker::new("acme", config());
    let open_for = trip(&breaker);
    assert_eq!(breaker.try_acquire().unwrap_err(), Rejected { retry_after: open_for });
    advance(Duration::from_secs(3)).await;
    let left = open_for - Duration::from_secs(3);
    assert_eq!(breaker.try_acquire().unwrap_err().retry_after, left);
    assert_eq!(breaker.snapshot().open_remaining, Some(left));
    advance(left - Duration::from_millis(1)).await;
    assert_eq!(breaker.try_acquire().unwrap_err().retry_after, Duration::from_millis(1));
    assert_eq!(breaker.state(), BreakerState::Open);
    advance(Duration::from_millis(1)).await;
    assert_eq!(
        breaker.state(),
        BreakerState::Open,
        "lazy: nothing moves until a call arrives"
    );
    let probe = breaker.try_acquire().unwrap();
    assert_eq!(breaker.state(), BreakerState::HalfOpen);
    drop(probe);
}

#[tokio::test(start_paused = true)]
async fn half_open_admits_at_most_n_probes_and_closes_when_they_succeed() {
    let breaker = CircuitBreaker::new("acme", config());
    trip(&breaker);
    wait_out(&breaker).await;
    let first = breaker.try_acquire().unwrap();
    let second = breaker.try_acquire().unwrap();
    let refused = breaker.try_acquire().unwrap_err();
    assert_eq!(refused.retry_after, HALF_OPEN_RETRY_AFTER);
    assert_eq!(breaker.snapshot().half_open_in_flight, 2);

    first.record(Outcome::Success, FAST);
    assert_eq!(
        breaker.state(),
        BreakerState::HalfOpen,
        "one outcome of two does not decide"
    );
    assert!(
        breaker.try_acquire().is_err(),
        "a recorded probe does not free a slot: 2 outcomes decide"
    );
    second.record(Outcome::Success, FAST);

    let snapshot = breaker.snapshot();
    assert_eq!(snapshot.state, BreakerState::Closed);
    assert_eq!(
        (snapshot.calls, snapshot.consecutive_trips, snapshot.open_remaining),
        (0, 0, None)
    );
    record(&breaker, Outcome::Failure, 4);
    assert_eq!(breaker.state(), BreakerState::Closed, "the window started afresh");
}

#[tokio::test(start_paused = true)]
async fn reopens_when_probes_fail_for_longer_capped_and_jittered() {
    let breaker = CircuitBreaker::new("acme", config());
    assert_within(trip(&breaker), Duration::from_secs(10));
    // 10s, 20s, 40s, then capped at 40s; each ±20%.
    for (trips, base) in [(2, 20), (3, 40), (4, 40), (5, 40)] {
        wait_out(&breaker).await;
        let probe = breaker.try_acquire().unwrap();
        let other = breaker.try_acquire().unwrap();
        probe.record(Outcome::Success, FAST);
        other.record(Outcome::Failure, FAST);
        let snapshot = breaker.snapshot();
        assert_eq!(
            snapshot.state,
            BreakerState::Open,
            "1 failure of 2 probes = 50% re-opens"
        );
        assert_eq!(
            (snapshot.consecutive_trips, snapshot.calls, snapshot.failure_rate),
            (trips, 2, 0.5)
        );
        assert_within(snapshot.open_remaining.unwrap(), Duration::from_secs(base));
    }
    wait_out(&breaker).await;
    record(&breaker, Outcome::Success, 2);
    assert_eq!(breaker.state(), BreakerState::Closed);
    assert_within(trip(&breaker), Duration::from_secs(10));
    assert_eq!(breaker.snapshot().consecutive_trips, 1, "closing resets the growth");
}

#[tokio::test(start_paused = true)]
async fn slow_calls_trip_the_breaker_when_the_slow_rate_is_below_one() {
    let slow = Duration::from_secs(1);
    for (slow_call_rate, expected) in [(1.0, BreakerState::Closed), (0.6, BreakerState::Open)] {
        let breaker = CircuitBreaker::new(
            "acme",
            BreakerConfig {
                slow_call_rate,
                ..config()
            },
        );
        record(&breaker, Outcome::Success, 2);
        for _ in 0..3 {
            breaker.try_acquire().unwrap().record(Outcome::Success, slow);
        }
        let snapshot = breaker.snapshot();
        assert_eq!(
            (snapshot.state, snapshot.slow_call_rate, snapshot.failure_rate),
            (expected, 0.6, 0.0)
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_dropped_permit_records_nothing_and_frees_its_probe_slot() {
    let breaker = CircuitBreaker::new(
        "acme",
        BreakerConfig {
            half_open_calls: 1,
            ..config()
        },
    );
    drop(breaker.try_acquire().unwrap());
    assert_eq!(breaker.snapshot().calls, 0, "a cancelled call is not an outcome");
    trip(&breaker);
    wait_out(&breaker).await;

    let probe = breaker.try_acquire().unwrap();
    assert!(breaker.try_acquire().is_err());
    drop(probe);
    let snapshot = breaker.snapshot();
    assert_eq!(
        (snapshot.state, snapshot.half_open_in_flight, snapshot.calls),
        (BreakerState::HalfOpen, 0, 0)
    );
    breaker.try_acquire().unwrap().record(Outcome::Success, FAST);
    assert_eq!(breaker.state(), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn an_ignored_outcome_records_nothing_and_frees_its_probe_slot() {
    let breaker = CircuitBreaker::new(
        "acme",
        BreakerConfig {
            half_open_calls: 1,
            ..config()
        },
    );
    breaker
        .try_acquire()
        .unwrap()
        .record(Outcome::Ignored, Duration::from_secs(60));
    assert_eq!(breaker.snapshot().calls, 0, "neither an outcome nor a slow call");
    trip(&breaker);
    wait_out(&breaker).await;

    breaker.try_acquire().unwrap().record(Outcome::Ignored, FAST);
    let snapshot = breaker.snapshot();
    assert_eq!(
        (snapshot.state, snapshot.half_open_in_flight, snapshot.calls),
        (BreakerState::HalfOpen, 0, 0)
    );
    breaker.try_acquire().unwrap().record(Outcome::Failure, FAST);
    assert_eq!(breaker.snapshot().consecutive_trips, 2);
}

#[tokio::test(start_paused = true)]
async fn stale_permits_do_not_affect_the_half_open_decision() {
    let breaker = CircuitBreaker::new("acme", config());
    let stale_failure = breaker.try_acquire().unwrap();
    let stale_dropped = breaker.try_acquire().unwrap();
    let stale_after_close = breaker.try_acquire().unwrap();
    trip(&breaker);
    wait_out(&breaker).await;
    let probes = [breaker.try_acquire().unwrap(), breaker.try_acquire().unwrap()];

    stale_failure.record(Outcome::Failure, Duration::from_secs(60));
    drop(stale_dropped);
    let snapshot = breaker.snapshot();
    assert_eq!(
        (snapshot.state, snapshot.calls, snapshot.half_open_in_flight),
        (BreakerState::HalfOpen, 0, 2)
    );
    assert!(
        breaker.try_acquire().is_err(),
        "a stale drop must not free a probe slot"
    );

    for probe in probes {
        probe.record(Outcome::Success, FAST);
    }
    assert_eq!(breaker.state(), BreakerState::Closed);
    stale_after_close.record(Outcome::Failure, FAST);
    assert_eq!(
        breaker.snapshot().calls,
        0,
        "nor does it count in the next closed window"
    );
}

#[tokio::test(start_paused = true)]
async fn the_window_slides() {
    let breaker = CircuitBreaker::new(
        "acme",
        BreakerConfig {
            min_calls: 10,
            ..config()
        },
    );
    record(&breaker, Outcome::Failure, 4);
    record(&breaker, Outcome::Success, 6);
    assert_eq!((breaker.snapshot().calls, breaker.snapshot().failure_rate), (10, 0.4));
    // The 4 old failures age out as 4 new ones arrive: still 40%.
    record(&breaker, Outcome::Failure, 4);
    assert_eq!(
        (
            breaker.state(),
            breaker.snapshot().calls,
            breaker.snapshot().failure_rate
        ),
        (BreakerState::Closed, 10, 0.4)
    );
    // Old successes age out too; 6 successes fill the window anew.
    record(&breaker, Outcome::Success, 6);
    assert_eq!(breaker.snapshot().failure_rate, 0.4);
    record(&breaker, Outcome::Success, 4);
    assert_eq!(breaker.snapshot().failure_rate, 0.0);
    record(&breaker, Outcome::Failure, 4);
    assert_eq!(breaker.state(), BreakerState::Closed);
    record(&breaker, Outcome::Failure, 1);
    assert_eq!(
        (breaker.state(), breaker.snapshot().failure_rate),
        (BreakerState::Open, 0.5)
    );
}
