//! The per-provider circuit breaker: a resilience4j-style state machine (count-based sliding window, minimum calls,
//! failure-rate and slow-call thresholds, a jittered open duration that grows with consecutive trips, at most N
//! half-open probes that decide close vs. re-open) on tokio's clock, so tests drive it with `tokio::time::pause()`.
//!
//! [`CircuitBreaker`] owns the state; callers take a [`Permit`] per call and [`Permit::record`] its [`Outcome`].
//! Transitions are lazy (an elapsed open period becomes half-open on the next [`CircuitBreaker::try_acquire`]; there
//! is no background task), logged, and exported as metrics. The tower glue ([`BreakerLayer`], [`Breaker`]) lives in
//! `layer`, the state machine in `machine`, outcome accounting in `window`, the tuning in `config`.

mod config;
mod layer;
mod machine;
#[cfg(test)]
mod tests;
mod window;

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

pub use config::BreakerConfig;
pub use layer::{Breaker, BreakerLayer};
use machine::{Inner, State, Transition};
use window::Sample;

/// Breaker transitions, by `provider`, `from` and `to` state.
pub const TRANSITIONS: &str = "gatehouse_breaker_transitions_total";
/// Current breaker state by `provider`: 0 closed, 1 open, 2 half-open.
pub const STATE: &str = "gatehouse_breaker_state";
/// Calls refused by an open (or saturated half-open) breaker, by `provider`.
pub const REJECTIONS: &str = "gatehouse_breaker_rejections_total";

/// Where a breaker stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BreakerState {
    /// Calls flow; outcomes fill the sliding window.
    Closed,
    /// Calls are refused until the open period ends.
    Open,
    /// A few probes test the provider; their outcomes decide.
    HalfOpen,
}

impl BreakerState {
    /// `closed`, `open` or `half_open`, as `/admin/providers` and logs spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }

    /// Value of the state gauge.
    fn gauge_value(self) -> f64 {
        match self {
            Self::Closed => 0.0,
            Self::Open => 1.0,
            Self::HalfOpen => 2.0,
        }
    }
}

impl fmt::Display for BreakerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the classifier says of a finished call. Slowness is judged separately, from the elapsed time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    Success,
    Failure,
    /// The call says nothing about the provider (the gateway refused it itself, e.g. the bulkhead was full): nothing
    /// is recorded and a half-open probe slot is freed, as when the permit is dropped.
    Ignored,
}

/// A call refused by the breaker; answered as 503 `circuit-open` with `Retry-After`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejected {
    /// Time left in the open period (or a short pause when the half-open probe slots are taken).
    pub retry_after: Duration,
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "circuit open; retry after {:?}", self.retry_after)
    }
}

impl std::error::Error for Rejected {}

/// A point-in-time view of a breaker, for `/admin/providers`.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub state: BreakerState,
    /// Outcomes being judged: the sliding window when closed, the outcomes that tripped the breaker when open, the
    /// probe outcomes recorded so far when half-open.
    pub calls: usize,
    /// Failures / calls over those outcomes (0 when there are none).
    pub failure_rate: f64,
    /// Slow calls / calls over those outcomes (0 when there are none).
    pub slow_call_rate: f64,
    /// Time left in the open period (`Some(ZERO)` once it has elapsed but no call has arrived to move on).
    pub open_remaining: Option<Duration>,
    /// Half-open probes admitted and not yet finished.
    pub half_open_in_flight: usize,
    /// Trips since the breaker last closed (drives the growing open duration).
    pub consecutive_trips: u32,
}

/// One provider's breaker; share it as `Arc<CircuitBreaker>`.
pub struct CircuitBreaker {
    shared: Arc<Shared>,
}

impl fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("name", &self.shared.name)
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

impl CircuitBreaker {
    /// A closed breaker for the provider `name` (used in logs and metric labels). The configuration should have
    /// passed [`BreakerConfig::validate`]; an invalid one is logged and clamped where needed, never a panic.
    pub fn new(name: impl Into<String>, config: BreakerConfig) -> Self {
        let name: Arc<str> = Arc::from(name.into());
        if let Err(error) = config.validate() {
            tracing::warn!(provider = %name, %error, "circuit breaker built from an invalid configuration");
        }
        metrics::gauge!(STATE, "provider" => Arc::clone(&name)).set(BreakerState::Closed.gauge_value());
        let inner = Inner::new(config.window);
        Self {
            shared: Arc::new(Shared {
                name,
                config,
                inner: Mutex::new(inner),
            }),
        }
    }

    /// The provider name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The configuration in force.
    pub fn config(&self) -> &BreakerConfig {
        &self.shared.config
    }

    /// Admits a call (a [`Permit`] to record its outcome with) or refuses it with the time to wait.
    pub fn try_acquire(&self) -> Result<Permit, Rejected> {
        let now = Instant::now();
        let (admitted, transition) = self.shared.lock().acquire(&self.shared.config, now);
        if let Some(transition) = transition {
            self.shared.announce(&transition);
        }
        match admitted {
            Ok(generation) => Ok(Permit {
                shared: Arc::clone(&self.shared),
                generation,
                settled: false,
            }),
            Err(rejected) => {
                metrics::counter!(REJECTIONS, "provider" => Arc::clone(&self.shared.name)).increment(1);
                Err(rejected)
            }
        }
    }

    /// The current state. An open period that has elapsed still reads `Open` until the next call moves it on.
    pub fn state(&self) -> BreakerState {
        self.shared.lock().state.kind()
    }

    /// State and recent outcome rates.
    pub fn snapshot(&self) -> Snapshot {
        let now = Instant::now();
        let inner = self.shared.lock();
        let (state, counts, open_remaining, half_open_in_flight) = match &inner.state {
            State::Closed => (BreakerState::Closed, inner.window.counts(), None, 0),
            State::Open { until, tripped_on } => (
                BreakerState::Open,
                *tripped_on,
                Some(until.saturating_duration_since(now)),
                0,
            ),
            State::HalfOpen { in_flight, outcomes } => (BreakerState::HalfOpen, *outcomes, None, *in_flight),
        };
        Snapshot {
            state,
            calls: counts.calls,
            failure_rate: counts.failure_rate(),
            slow_call_rate: counts.slow_call_rate(),
            open_remaining,
            half_open_in_flight,
            consecutive_trips: inner.consecutive_trips,
        }
    }
}

/// Admission to one call. Record its outcome with [`Permit::record`]; dropping it unrecorded (a cancelled call)
/// records nothing but frees its half-open probe slot. A permit from an earlier state (the breaker has moved on
/// since) is ignored.
#[must_use = "record the call's outcome with Permit::record"]
pub struct Permit {
    shared: Arc<Shared>,
    generation: u64,
    settled: bool,
}

impl fmt::Debug for Permit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("breaker", &self.shared.name)
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

impl Permit {
    /// Records the finished call: `outcome` from the classifier, and slow if `elapsed >= slow_call`.
    /// [`Outcome::Ignored`] records nothing, like dropping the permit.
    pub fn record(mut self, outcome: Outcome, elapsed: Duration) {
        self.settled = true;
        let failed = match outcome {
            Outcome::Success => false,
            Outcome::Failure => true,
            Outcome::Ignored => {
                self.shared.settle(self.generation, None);
                return;
            }
        };
        let sample = Sample {
            failed,
            slow: elapsed >= self.shared.config.slow_call,
        };
        self.shared.settle(self.generation, Some(sample));
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if !self.settled {
            self.shared.settle(self.generation, None);
        }
    }
}

/// What a [`CircuitBreaker`] and its permits share.
struct Shared {
    name: Arc<str>,
    config: BreakerConfig,
    inner: Mutex<Inner>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Applies a finished (`Some`) or abandoned (`None`) call of `generation`.
    fn settle(&self, generation: u64, sample: Option<Sample>) {
        let now = Instant::now();
        let transition = self.lock().settle(&self.config, generation, sample, now);
        if let Some(transition) = transition {
            self.announce(&transition);
        }
    }

    /// Why the breaker moved, in words, for its log line.
    fn reason(&self, t: &Transition) -> String {
        let config = &self.config;
        let (failure_rate, slow_call_rate) = (t.counts.failure_rate(), t.counts.slow_call_rate());
        let rates = || {
            if failure_rate >= config.failure_rate {
                format!(
                    "failure rate {failure_rate:.2} reached {:.2} over {} calls",
                    config.failure_rate, t.counts.calls
                )
            } else {
                format!(
                    "slow-call rate {slow_call_rate:.2} reached {:.2} over {} calls",
                    config.slow_call_rate, t.counts.calls
                )
            }
        };
        match (t.from, t.to) {
            (BreakerState::HalfOpen, BreakerState::Open) => format!("half-open probes failed: {}", rates()),
            (_, BreakerState::Open) => rates(),
            (_, BreakerState::HalfOpen) => format!(
                "open period elapsed; up to {} probe calls decide",
                config.half_open_calls.max(1)
            ),
            (_, BreakerState::Closed) => format!(
                "{} half-open probes passed (failure rate {failure_rate:.2}, slow-call rate {slow_call_rate:.2})",
                t.counts.calls
            ),
        }
    }

    /// Logs (at `warn`, every transition) and exports a transition (outside the lock).
    fn announce(&self, t: &Transition) {
        let name = &self.name;
        let (from, to) = (t.from.as_str(), t.to.as_str());
        metrics::counter!(TRANSITIONS, "provider" => Arc::clone(name), "from" => from, "to" => to).increment(1);
        metrics::gauge!(STATE, "provider" => Arc::clone(name)).set(t.to.gauge_value());
        let (calls, failure_rate, slow_call_rate) =
            (t.counts.calls, t.counts.failure_rate(), t.counts.slow_call_rate());
        let reason = self.reason(t);
        tracing::warn!(
            provider = %name, from, to, %reason, calls, failure_rate, slow_call_rate, open_for = ?t.open_for,
            consecutive_trips = t.consecutive_trips, "circuit breaker {to}"
        );
    }
}
