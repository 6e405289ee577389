//! Outcome accounting for the circuit breaker: [`Counts`] (calls, failures, slow calls and their rates) and the
//! count-based sliding [`Window`] of the last N outcomes that the closed state judges, updated in O(1) per record.

use std::collections::VecDeque;

/// One recorded outcome: whether the call failed and whether it was slow (both may be true).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Sample {
    pub(super) failed: bool,
    pub(super) slow: bool,
}

/// Running totals over a set of outcomes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Counts {
    pub(super) calls: usize,
    pub(super) failures: usize,
    pub(super) slow: usize,
}

impl Counts {
    pub(super) fn add(&mut self, sample: Sample) {
        self.calls += 1;
        self.failures += usize::from(sample.failed);
        self.slow += usize::from(sample.slow);
    }

    fn remove(&mut self, sample: Sample) {
        self.calls = self.calls.saturating_sub(1);
        self.failures = self.failures.saturating_sub(usize::from(sample.failed));
        self.slow = self.slow.saturating_sub(usize::from(sample.slow));
    }

    /// Failures / calls, 0 when there are no calls.
    pub(super) fn failure_rate(&self) -> f64 {
        ratio(self.failures, self.calls)
    }

    /// Slow calls / calls, 0 when there are no calls.
    pub(super) fn slow_call_rate(&self) -> f64 {
        ratio(self.slow, self.calls)
    }

    /// Whether either rate reaches its threshold (the caller decides whether enough calls were seen).
    pub(super) fn exceeds(&self, failure_rate: f64, slow_call_rate: f64) -> bool {
        self.calls > 0 && (self.failure_rate() >= failure_rate || self.slow_call_rate() >= slow_call_rate)
    }
}

fn ratio(part: usize, whole: usize) -> f64 {
    if whole == 0 { 0.0 } else { part as f64 / whole as f64 }
}

/// Ring buffer of the last `capacity` outcomes with running counts. Storage grows with use (never preallocated to
/// `capacity`), so a large configured window costs memory only once that many calls have been recorded.
#[derive(Debug)]
pub(super) struct Window {
    capacity: usize,
    samples: VecDeque<Sample>,
    counts: Counts,
}

impl Window {
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            samples: VecDeque::new(),
            counts: Counts::default(),
        }
    }

    /// Adds an outcome, evicting the oldest one when the window is full.
    pub(super) fn push(&mut self, sample: Sample) {
        if self.samples.len() >= self.capacity
            && let Some(oldest) = self.samples.pop_front()
        {
            self.counts.remove(oldest);
        }
        self.samples.push_back(sample);
        self.counts.add(sample);
    }

    pub(super) fn clear(&mut self) {
        self.samples.clear();
        self.counts = Counts::default();
    }

    pub(super) fn counts(&self) -> Counts {
        self.counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: Sample = Sample {
        failed: false,
        slow: false,
    };
    const FAIL: Sample = Sample {
        failed: true,
        slow: false,
    };
    const SLOW_FAIL: Sample = Sample {
        failed: true,
        slow: true,
    };

    #[test]
    fn window_evicts_oldest_and_keeps_counts() {
        let mut window = Window::new(3);
        window.push(FAIL);
        window.push(SLOW_FAIL);
        window.push(OK);
        assert_eq!(
            window.counts(),
            Counts {
                calls: 3,
                failures: 2,
                slow: 1
            }
        );
        window.push(OK);
        assert_eq!(
            window.counts(),
            Counts {
                calls: 3,
                failures: 1,
                slow: 1
            }
        );
        window.push(OK);
        assert_eq!(
            window.counts(),
            Counts {
                calls: 3,
                failures: 0,
                slow: 0
            }
        );
        assert_eq!(window.counts().failure_rate(), 0.0);
        window.clear();
        assert_eq!(window.counts(), Counts::default());
        assert_eq!(window.counts().slow_call_rate(), 0.0);
    }

    #[test]
    fn counts_exceed_thresholds() {
        let mut counts = Counts::default();
        assert!(!counts.exceeds(0.5, 1.0), "no calls never exceed");
        counts.add(FAIL);
        counts.add(OK);
        assert!(counts.exceeds(0.5, 1.0));
        assert!(!counts.exceeds(0.6, 1.0));
        counts.add(SLOW_FAIL);
        assert!(counts.exceeds(1.0, 1.0 / 3.0));
    }
}
