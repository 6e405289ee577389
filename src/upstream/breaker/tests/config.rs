//! Tests of the configuration (defaults, validation naming the field), the open-duration arithmetic, an invalid
//! configuration that must not panic, and how states and rejections read.

use std::time::Duration;

use super::super::machine::open_duration;
use super::super::*;
use super::{FAST, config, record};

#[test]
fn open_duration_grows_caps_and_never_overflows() {
    let config = config();
    let secs = |trips, factor| open_duration(&config, trips, factor).as_secs_f64();
    assert_eq!(secs(1, 1.0), 10.0);
    assert_eq!(secs(2, 0.8), 16.0);
    assert_eq!(secs(3, 1.2), 48.0);
    assert_eq!(secs(9, 1.0), 40.0);
    assert_eq!(secs(u32::MAX, 1.0), 40.0);
    let huge = BreakerConfig {
        open_for: Duration::MAX,
        max_open_for: Duration::MAX,
        ..config
    };
    assert_eq!(open_duration(&huge, 3, 1.2), Duration::MAX);
    assert_eq!(open_duration(&huge, 0, 1.0), Duration::MAX);
}

#[test]
fn config_validation_names_the_field() {
    assert_eq!(BreakerConfig::default().validate(), Ok(()));
    assert_eq!(config().validate(), Ok(()));
    let base = config();
    let cases: Vec<(BreakerConfig, &str)> = vec![
        (
            BreakerConfig {
                window: 0,
                ..base.clone()
            },
            "window must be at least 1",
        ),
        (
            BreakerConfig {
                min_calls: 0,
                ..base.clone()
            },
            "min_calls must be between 1 and window",
        ),
        (
            BreakerConfig {
                min_calls: 11,
                ..base.clone()
            },
            "min_calls must be between 1 and window",
        ),
        (
            BreakerConfig {
                failure_rate: 0.0,
                ..base.clone()
            },
            "failure_rate must be in (0, 1]",
        ),
        (
            BreakerConfig {
                failure_rate: 1.5,
                ..base.clone()
            },
            "failure_rate must be in (0, 1]",
        ),
        (
            BreakerConfig {
                failure_rate: f64::NAN,
                ..base.clone()
            },
            "failure_rate must be in (0, 1]",
        ),
        (
            BreakerConfig {
                slow_call_rate: -0.1,
                ..base.clone()
            },
            "slow_call_rate must be in (0, 1]",
        ),
        (
            BreakerConfig {
                half_open_calls: 0,
                ..base.clone()
            },
            "half_open_calls must be at least 1",
        ),
        (
            BreakerConfig {
                slow_call: Duration::ZERO,
                ..base.clone()
            },
            "slow_call must be greater than zero",
        ),
        (
            BreakerConfig {
                open_for: Duration::ZERO,
                ..base.clone()
            },
            "open_for must be greater than zero",
        ),
        (
            BreakerConfig {
                max_open_for: Duration::ZERO,
                ..base.clone()
            },
            "max_open_for must be greater than zero",
        ),
        (
            BreakerConfig {
                max_open_for: Duration::from_secs(5),
                ..base
            },
            "max_open_for (5s) must be at least open_for",
        ),
    ];
    for (config, expected) in cases {
        let error = config.validate().unwrap_err();
        assert!(error.starts_with(expected), "{error:?} should start with {expected:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn an_invalid_config_never_panics() {
    let config = BreakerConfig {
        window: 0,
        min_calls: 0,
        half_open_calls: 0,
        open_for: Duration::ZERO,
        ..config()
    };
    let breaker = CircuitBreaker::new("acme", config);
    record(&breaker, Outcome::Failure, 1);
    assert_eq!(breaker.state(), BreakerState::Open);
    breaker.try_acquire().unwrap().record(Outcome::Success, FAST);
    assert_eq!(breaker.state(), BreakerState::Closed);
}

#[test]
fn states_and_rejections_read_well() {
    let names = [BreakerState::Closed, BreakerState::Open, BreakerState::HalfOpen].map(BreakerState::as_str);
    assert_eq!(names, ["closed", "open", "half_open"]);
    assert_eq!(BreakerState::HalfOpen.to_string(), "half_open");
    let rejected = Rejected {
        retry_after: Duration::from_secs(3),
    };
    assert_eq!(rejected.to_string(), "circuit open; retry after 3s");
}
