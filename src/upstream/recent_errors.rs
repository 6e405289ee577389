//! The last vendor-call failures of one provider (the calls its breaker counts as failures, and vendor bodies that
//! could not be read), with their time, for `GET /admin/providers` (`outbound.recent_errors`, newest first). The
//! text is the gateway's own description (status, connect error, timeout): never a body, header or credential.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};

/// How many failures a provider keeps.
pub const KEPT: usize = 10;

/// One failed call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecentError {
    /// When it failed, in Unix milliseconds.
    pub at_ms: i64,
    pub error: String,
}

/// A provider's last [`KEPT`] failures.
#[derive(Debug, Default)]
pub struct RecentErrors(Mutex<VecDeque<RecentError>>);

impl RecentErrors {
    /// Keeps `error`, forgetting the oldest beyond [`KEPT`].
    pub fn record(&self, error: String) {
        let entry = RecentError {
            at_ms: crate::clock::now_ms(),
            error,
        };
        let mut entries = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        entries.push_front(entry);
        entries.truncate(KEPT);
    }

    /// The failures kept, newest first.
    pub fn newest_first(&self) -> Vec<RecentError> {
        let entries = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        entries.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_ten_newest_first() {
        let errors = RecentErrors::default();
        for i in 0..15 {
            errors.record(format!("failure {i}"));
        }
        let kept: Vec<String> = errors.newest_first().into_iter().map(|e| e.error).collect();
        assert_eq!(kept.len(), KEPT);
        assert_eq!(kept[0], "failure 14");
        assert_eq!(kept[9], "failure 5");
    }
}
