//! The breaker's tuning: [`BreakerConfig`], its defaults (SPEC §2 `circuit_breaker`) and its validation.

use std::time::Duration;

/// Tuning of one breaker; `[providers.*].circuit_breaker` in the configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct BreakerConfig {
    /// Count-based sliding window: the last `window` outcomes are judged.
    pub window: usize,
    /// No decision before this many outcomes are in the window.
    pub min_calls: usize,
    /// Open when failures / calls >= this, in (0, 1].
    pub failure_rate: f64,
    /// A call taking at least this long is slow.
    pub slow_call: Duration,
    /// Open when slow calls / calls >= this, in (0, 1].
    pub slow_call_rate: f64,
    /// Open duration after the first trip; doubles with each consecutive trip.
    pub open_for: Duration,
    /// Cap of the growing open duration (before jitter).
    pub max_open_for: Duration,
    /// Half-open probes: at most this many at once, and this many outcomes decide close vs. re-open.
    pub half_open_calls: usize,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        let open_for = Duration::from_secs(30);
        Self {
            window: 50,
            min_calls: 20,
            failure_rate: 0.5,
            slow_call: Duration::from_secs(5),
            slow_call_rate: 1.0,
            open_for,
            max_open_for: open_for * 10,
            half_open_calls: 3,
        }
    }
}

impl BreakerConfig {
    /// Checks every field and the rules between them; the message names the offending field.
    pub fn validate(&self) -> Result<(), String> {
        if self.window == 0 {
            return Err("window must be at least 1".into());
        }
        if self.min_calls == 0 || self.min_calls > self.window {
            return Err(format!(
                "min_calls must be between 1 and window ({}), got {}",
                self.window, self.min_calls
            ));
        }
        for (field, rate) in [
            ("failure_rate", self.failure_rate),
            ("slow_call_rate", self.slow_call_rate),
        ] {
            // Written so that NaN fails too.
            if !(rate > 0.0 && rate <= 1.0) {
                return Err(format!("{field} must be in (0, 1], got {rate}"));
            }
        }
        if self.half_open_calls == 0 {
            return Err("half_open_calls must be at least 1".into());
        }
        for (field, duration) in [
            ("slow_call", self.slow_call),
            ("open_for", self.open_for),
            ("max_open_for", self.max_open_for),
        ] {
            if duration.is_zero() {
                return Err(format!("{field} must be greater than zero"));
            }
        }
        if self.max_open_for < self.open_for {
            return Err(format!(
                "max_open_for ({:?}) must be at least open_for ({:?})",
                self.max_open_for, self.open_for
            ));
        }
        Ok(())
    }
}
