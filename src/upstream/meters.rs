//! A provider's outbound request metrics as registered handles: the request counter by route and outcome, and the
//! duration histogram by route. Registering a labelled metric builds its key and looks it up in the recorder's
//! registry (a few thousand instructions); each label set is registered once, on first use, and its handle kept.

use std::sync::RwLock;
use std::time::Instant;

use metrics::{Counter, Histogram, SharedString};

/// The handles of one provider, found by their `&'static str` labels.
pub struct Meters {
    provider: SharedString,
    counters: RwLock<Vec<(&'static str, &'static str, Counter)>>,
    histograms: RwLock<Vec<(&'static str, Histogram)>>,
}

impl Meters {
    pub fn new(provider: SharedString) -> Self {
        Self {
            provider,
            counters: RwLock::default(),
            histograms: RwLock::default(),
        }
    }

    /// Counts a request by `route` and `outcome` and times it from `started`.
    pub fn record(&self, route: &'static str, outcome: &'static str, started: Instant) {
        self.histogram(route).record(started.elapsed().as_secs_f64());
        self.counter(route, outcome).increment(1);
    }

    fn counter(&self, route: &'static str, outcome: &'static str) -> Counter {
        let found = |counters: &[(&str, &str, Counter)]| {
            counters
                .iter()
                .find(|(r, o, _)| *r == route && *o == outcome)
                .map(|(_, _, counter)| counter.clone())
        };
        if let Some(counter) = found(&self.counters.read().unwrap_or_else(|p| p.into_inner())) {
            return counter;
        }
        let mut counters = self.counters.write().unwrap_or_else(|p| p.into_inner());
        if let Some(counter) = found(&counters) {
            return counter;
        }
        let counter = metrics::counter!(crate::metrics::UPSTREAM_REQUESTS, "provider" => self.provider.clone(),
            "route" => route, "outcome" => outcome);
        counters.push((route, outcome, counter.clone()));
        counter
    }

    fn histogram(&self, route: &'static str) -> Histogram {
        let found = |histograms: &[(&str, Histogram)]| {
            histograms
                .iter()
                .find(|(r, _)| *r == route)
                .map(|(_, histogram)| histogram.clone())
        };
        if let Some(histogram) = found(&self.histograms.read().unwrap_or_else(|p| p.into_inner())) {
            return histogram;
        }
        let mut histograms = self.histograms.write().unwrap_or_else(|p| p.into_inner());
        if let Some(histogram) = found(&histograms) {
            return histogram;
        }
        let histogram = metrics::histogram!(crate::metrics::UPSTREAM_SECONDS, "provider" => self.provider.clone(),
            "route" => route);
        histograms.push((route, histogram.clone()));
        histogram
    }
}
