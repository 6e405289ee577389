//! Tests of the breaker's metrics (captured by a small thread-local recorder; the test runtime is single-threaded) and
//! of its `warn` log line per transition.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use metrics::{Counter, CounterFn, Gauge, GaugeFn, Histogram, Key, KeyName, Metadata, SharedString, Unit};
use tokio::time::advance;

use super::super::*;
use super::{config, record, trip};

/// Counter totals and gauge values by `name{label=value,...}`.
#[derive(Default)]
struct Captured {
    counters: Mutex<HashMap<String, u64>>,
    gauges: Mutex<HashMap<String, f64>>,
}

impl Captured {
    fn counter(&self, key: &str) -> u64 {
        self.counters.lock().unwrap().get(key).copied().unwrap_or(0)
    }

    fn gauge(&self, key: &str) -> Option<f64> {
        self.gauges.lock().unwrap().get(key).copied()
    }
}

struct Handle {
    key: String,
    captured: Arc<Captured>,
}

impl CounterFn for Handle {
    fn increment(&self, value: u64) {
        *self
            .captured
            .counters
            .lock()
            .unwrap()
            .entry(self.key.clone())
            .or_default() += value;
    }

    fn absolute(&self, value: u64) {
        self.captured.counters.lock().unwrap().insert(self.key.clone(), value);
    }
}

impl GaugeFn for Handle {
    fn increment(&self, value: f64) {
        *self
            .captured
            .gauges
            .lock()
            .unwrap()
            .entry(self.key.clone())
            .or_default() += value;
    }

    fn decrement(&self, value: f64) {
        GaugeFn::increment(self, -value);
    }

    fn set(&self, value: f64) {
        self.captured.gauges.lock().unwrap().insert(self.key.clone(), value);
    }
}

struct Recorder(Arc<Captured>);

impl Recorder {
    fn handle(&self, key: &Key) -> Arc<Handle> {
        let labels: Vec<String> = key.labels().map(|l| format!("{}={}", l.key(), l.value())).collect();
        Arc::new(Handle {
            key: format!("{}{{{}}}", key.name(), labels.join(",")),
            captured: Arc::clone(&self.0),
        })
    }
}

impl metrics::Recorder for Recorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(self.handle(key))
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(self.handle(key))
    }

    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

#[tokio::test(start_paused = true)]
async fn transitions_and_rejections_are_exported() {
    let captured = Arc::new(Captured::default());
    let recorder = Recorder(Arc::clone(&captured));
    let _guard = metrics::set_default_local_recorder(&recorder);
    let state = "gatehouse_breaker_state{provider=acme}";
    let transition = |from: &str, to: &str| {
        captured.counter(&format!(
            "gatehouse_breaker_transitions_total{{provider=acme,from={from},to={to}}}"
        ))
    };

    let breaker = CircuitBreaker::new("acme", config());
    assert_eq!(captured.gauge(state), Some(0.0));
    trip(&breaker);
    assert_eq!((transition("closed", "open"), captured.gauge(state)), (1, Some(1.0)));
    assert!(breaker.try_acquire().is_err());
    assert!(breaker.try_acquire().is_err());
    assert_eq!(captured.counter("gatehouse_breaker_rejections_total{provider=acme}"), 2);

    advance(breaker.snapshot().open_remaining.unwrap()).await;
    let probes = [breaker.try_acquire().unwrap(), breaker.try_acquire().unwrap()];
    assert_eq!((transition("open", "half_open"), captured.gauge(state)), (1, Some(2.0)));
    for probe in probes {
        probe.record(Outcome::Failure, super::FAST);
    }
    assert_eq!((transition("half_open", "open"), captured.gauge(state)), (1, Some(1.0)));

    advance(breaker.snapshot().open_remaining.unwrap()).await;
    record(&breaker, Outcome::Success, 2);
    assert_eq!(
        (transition("open", "half_open"), transition("half_open", "closed")),
        (2, 1)
    );
    assert_eq!(captured.gauge(state), Some(0.0));
    assert_eq!(captured.counter("gatehouse_breaker_rejections_total{provider=acme}"), 2);
}

/// Log lines, as text.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Lines {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn every_transition_is_a_warning_with_its_reason() {
    let lines = Lines::default();
    let writer = lines.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing::Level::WARN)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let breaker = CircuitBreaker::new("acme", config());
    trip(&breaker);
    advance(breaker.snapshot().open_remaining.unwrap()).await;
    let probes = [breaker.try_acquire().unwrap(), breaker.try_acquire().unwrap()];
    for probe in probes {
        probe.record(Outcome::Failure, super::FAST);
    }
    advance(breaker.snapshot().open_remaining.unwrap()).await;
    record(&breaker, Outcome::Success, 2);

    let text = String::from_utf8_lossy(&lines.0.lock().unwrap()).into_owned();
    let warnings: Vec<&str> = text.lines().filter(|l| l.contains("WARN")).collect();
    let expected = [
        (
            "from=\"closed\" to=\"open\"",
            "reason=failure rate 1.00 reached 0.50 over 5 calls",
        ),
        (
            "from=\"open\" to=\"half_open\"",
            "reason=open period elapsed; up to 2 probe calls decide",
        ),
        (
            "from=\"half_open\" to=\"open\"",
            "reason=half-open probes failed: failure rate 1.00 reached 0.50 over 2 calls",
        ),
        ("from=\"open\" to=\"half_open\"", "reason=open period elapsed"),
        ("from=\"half_open\" to=\"closed\"", "reason=2 half-open probes passed"),
    ];
    assert_eq!(warnings.len(), expected.len(), "{text}");
    for (line, (states, reason)) in warnings.iter().zip(expected) {
        assert!(
            line.contains("provider=acme") && line.contains(states) && line.contains(reason),
            "{line}"
        );
    }
}
