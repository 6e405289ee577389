//! The breaker's state machine proper: closed (sliding window) → open (jittered, growing deadline) → half-open (at
//! most N probes, which decide), with generations so late outcomes of calls admitted in an earlier state are ignored.
//! Everything here runs under the breaker's lock and does no I/O; announcing transitions is the caller's job.

use std::time::Duration;

use rand::Rng;
use tokio::time::Instant;

use super::window::{Counts, Sample, Window};
use super::{BreakerConfig, BreakerState, Rejected};

/// `retry_after` for calls refused because every half-open probe slot is taken.
pub(super) const HALF_OPEN_RETRY_AFTER: Duration = Duration::from_secs(1);
/// Open durations vary by ±20% so breakers tripped together do not probe together.
const JITTER: f64 = 0.2;
/// Stand-in deadline when `now + open duration` does not fit in an `Instant`.
const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365);

/// The state machine proper; every method runs under the lock and does no I/O.
#[derive(Debug)]
pub(super) struct Inner {
    pub(super) state: State,
    /// Bumped on every transition; permits carry the generation they were issued in, so late outcomes of calls
    /// admitted in an earlier state are ignored.
    generation: u64,
    pub(super) consecutive_trips: u32,
    /// Closed-state outcomes; emptied when the breaker trips.
    pub(super) window: Window,
}

#[derive(Debug)]
pub(super) enum State {
    Closed,
    Open { until: Instant, tripped_on: Counts },
    HalfOpen { in_flight: usize, outcomes: Counts },
}

impl State {
    pub(super) fn kind(&self) -> BreakerState {
        match self {
            Self::Closed => BreakerState::Closed,
            Self::Open { .. } => BreakerState::Open,
            Self::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }
}

/// A state change, announced once the lock is released.
#[derive(Debug)]
pub(super) struct Transition {
    pub(super) from: BreakerState,
    pub(super) to: BreakerState,
    /// The outcomes that decided it.
    pub(super) counts: Counts,
    pub(super) open_for: Option<Duration>,
    pub(super) consecutive_trips: u32,
}

impl Inner {
    /// A closed breaker with an empty window of `window` outcomes.
    pub(super) fn new(window: usize) -> Self {
        Self {
            state: State::Closed,
            generation: 0,
            consecutive_trips: 0,
            window: Window::new(window),
        }
    }

    /// Admits a call (returning the generation to tag its permit with) or refuses it.
    pub(super) fn acquire(
        &mut self,
        config: &BreakerConfig,
        now: Instant,
    ) -> (Result<u64, Rejected>, Option<Transition>) {
        let probes = config.half_open_calls.max(1);
        match &mut self.state {
            State::Closed => (Ok(self.generation), None),
            State::Open { until, .. } if now < *until => (
                Err(Rejected {
                    retry_after: *until - now,
                }),
                None,
            ),
            State::Open { .. } => {
                let transition = self.enter(
                    State::HalfOpen {
                        in_flight: 1,
                        outcomes: Counts::default(),
                    },
                    Counts::default(),
                    None,
                );
                (Ok(self.generation), Some(transition))
            }
            // Slots free up only when a probe is abandoned: exactly `probes` outcomes decide.
            State::HalfOpen { in_flight, outcomes } if *in_flight + outcomes.calls < probes => {
                *in_flight += 1;
                (Ok(self.generation), None)
            }
            State::HalfOpen { .. } => (
                Err(Rejected {
                    retry_after: HALF_OPEN_RETRY_AFTER,
                }),
                None,
            ),
        }
    }

    /// Applies a finished (`Some`) or abandoned (`None`) call admitted in `generation`.
    pub(super) fn settle(
        &mut self,
        config: &BreakerConfig,
        generation: u64,
        sample: Option<Sample>,
        now: Instant,
    ) -> Option<Transition> {
        if generation != self.generation {
            return None;
        }
        match &mut self.state {
            // Permits are never issued while open, so none can carry the open generation.
            State::Open { .. } => None,
            State::Closed => {
                self.window.push(sample?);
                let counts = self.window.counts();
                let trip =
                    counts.calls >= config.min_calls && counts.exceeds(config.failure_rate, config.slow_call_rate);
                trip.then(|| self.trip(config, counts, now))
            }
            State::HalfOpen { in_flight, outcomes } => {
                *in_flight = in_flight.saturating_sub(1);
                outcomes.add(sample?);
                let outcomes = *outcomes;
                if outcomes.calls < config.half_open_calls.max(1) {
                    None
                } else if outcomes.exceeds(config.failure_rate, config.slow_call_rate) {
                    Some(self.trip(config, outcomes, now))
                } else {
                    self.consecutive_trips = 0;
                    self.window.clear();
                    Some(self.enter(State::Closed, outcomes, None))
                }
            }
        }
    }

    fn trip(&mut self, config: &BreakerConfig, counts: Counts, now: Instant) -> Transition {
        self.consecutive_trips = self.consecutive_trips.saturating_add(1);
        let factor = rand::rng().random_range(1.0 - JITTER..=1.0 + JITTER);
        let open_for = open_duration(config, self.consecutive_trips, factor);
        let until = now
            .checked_add(open_for)
            .or_else(|| now.checked_add(FAR_FUTURE))
            .unwrap_or(now);
        self.window.clear();
        self.enter(
            State::Open {
                until,
                tripped_on: counts,
            },
            counts,
            Some(open_for),
        )
    }

    fn enter(&mut self, state: State, counts: Counts, open_for: Option<Duration>) -> Transition {
        let from = self.state.kind();
        let to = state.kind();
        self.state = state;
        self.generation = self.generation.wrapping_add(1);
        Transition {
            from,
            to,
            counts,
            open_for,
            consecutive_trips: self.consecutive_trips,
        }
    }
}

/// `open_for * 2^(trips - 1)`, capped at `max_open_for`, then scaled by the jitter `factor` (0.8..=1.2).
pub(super) fn open_duration(config: &BreakerConfig, trips: u32, factor: f64) -> Duration {
    let doublings = trips.saturating_sub(1).min(31);
    let base = config
        .open_for
        .checked_mul(1_u32 << doublings)
        .map_or(config.max_open_for, |d| d.min(config.max_open_for));
    Duration::try_from_secs_f64(base.as_secs_f64() * factor).unwrap_or(base)
}
