//! A provider's outbound request metrics as registered handles: the request counter by route and outcome, and the
//! duration histogram by route. Registering a labelled metric builds its key and looks it up in the recorder's
//! registry (a few thousand instructions); each label set is registered once, on first use, and its handle kept.

use std::sync::RwLock;
use std::time::Instant;

use metrics::{Counter, Histogram, SharedString};

/// The handles of one provider, found by their `&'static str` labels.
pub struct Meters {
    provider: SharedString,
    counters: RwLock<Vec<((&'static str, &'static str), Counter)>>,
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
        let histogram = kept(&self.histograms, route, || {
            metrics::histogram!(crate::metrics::UPSTREAM_SECONDS, "provider" => self.provider.clone(),
                "route" => route)
        });
        histogram.record(started.elapsed().as_secs_f64());
        let counter = kept(&self.counters, (route, outcome), || {
            metrics::counter!(crate::metrics::UPSTREAM_REQUESTS, "provider" => self.provider.clone(),
                "route" => route, "outcome" => outcome)
        });
        counter.increment(1);
    }
}

/// The handle kept for `labels`, registered with `register` the first time.
fn kept<L: PartialEq + Copy, H: Clone>(handles: &RwLock<Vec<(L, H)>>, labels: L, register: impl FnOnce() -> H) -> H {
    let find = |handles: &[(L, H)]| handles.iter().find(|(l, _)| *l == labels).map(|(_, h)| h.clone());
    if let Some(handle) = find(&handles.read().unwrap_or_else(|p| p.into_inner())) {
        return handle;
    }
    let mut handles = handles.write().unwrap_or_else(|p| p.into_inner());
    if let Some(handle) = find(&handles) {
        return handle;
    }
    let handle = register();
    handles.push((labels, handle.clone()));
    handle
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_label_set_is_registered_once() {
        let meters = Meters::new(SharedString::const_str("crm"));
        let started = Instant::now();
        meters.record("proxy", "200", started);
        meters.record("proxy", "200", started);
        meters.record("proxy", "503", started);
        meters.record("/customers", "200", started);
        let counters: Vec<_> = meters
            .counters
            .read()
            .unwrap()
            .iter()
            .map(|(labels, _)| *labels)
            .collect();
        assert_eq!(counters, [("proxy", "200"), ("proxy", "503"), ("/customers", "200")]);
        assert_eq!(meters.histograms.read().unwrap().len(), 2);
    }
}
