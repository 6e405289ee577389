//! The load generator: keep-alive connections each sending `GET`s one after another for a fixed time, every answer
//! checked; and the schedule over all targets (warm-up, rounds in turn, one-connection runs).

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{AUTHORIZATION, HOST};
use hyper::http::HeaderValue;
use hyper::{Request, Uri};

use crate::common::{connect, percentile};
use crate::cpu::{Cpu, CpuSpent, cpu_between, sample};
use crate::{CALLER_KEY, Expect, Target, acceptable};

type Sender = SendRequest<Empty<Bytes>>;

/// What one timed run (or several, absorbed) produced.
#[derive(Default)]
pub struct Phase {
    pub elapsed: Duration,
    pub latencies_us: Vec<u32>,
    pub errors: usize,
}

impl Phase {
    /// Adds `other`'s requests and time to this one (latencies are sorted again by whoever reads them).
    fn absorb(&mut self, other: Phase) {
        self.elapsed += other.elapsed;
        self.latencies_us.extend(other.latencies_us);
        self.errors += other.errors;
    }

    pub fn rate(&self) -> f64 {
        self.latencies_us.len() as f64 / self.elapsed.as_secs_f64()
    }

    pub fn percentile_ms(&self, p: f64) -> f64 {
        percentile(&self.latencies_us, p).map_or(f64::NAN, |us| f64::from(us) / 1000.0)
    }
}

/// One target's results.
pub struct Outcome {
    pub name: &'static str,
    pub expect: Expect,
    /// Every measured round together (the warm-up's errors included).
    pub loaded: Phase,
    /// req/s of each round, and the CPU other work took meanwhile (% of one core).
    pub rounds: Vec<(f64, f64)>,
    pub cpu: Cpu,
    /// The one-connection run.
    pub idle: Option<Phase>,
}

/// Every connection sends `GET path` one request after another until `duration` is over.
pub async fn run_for(senders: &mut Vec<Sender>, target: &Target, duration: Duration) -> Phase {
    let uri: Uri = target.path.parse().expect("a valid path");
    let host = HeaderValue::from_str(&target.addr.to_string()).expect("a valid host");
    let auth = HeaderValue::from_str(&format!("Bearer {CALLER_KEY}")).expect("a valid header");
    let expect = target.expect;
    let reported = Rc::new(Cell::new(0usize));
    let started = Instant::now();
    let end = started + duration;
    let workers: Vec<_> = senders
        .drain(..)
        .map(|mut sender| {
            let (uri, host, auth, reported) = (uri.clone(), host.clone(), auth.clone(), Rc::clone(&reported));
            tokio::task::spawn_local(async move {
                let mut latencies = Vec::with_capacity(65_536);
                let mut errors = 0usize;
                let mut report = |what: String| {
                    errors += 1;
                    if reported.get() < 5 {
                        reported.set(reported.get() + 1);
                        eprintln!("unexpected answer: {what}");
                    }
                };
                while Instant::now() < end {
                    let mut request = Request::new(Empty::new());
                    *request.uri_mut() = uri.clone();
                    request.headers_mut().insert(HOST, host.clone());
                    request.headers_mut().insert(AUTHORIZATION, auth.clone());
                    if let Err(e) = sender.ready().await {
                        report(format!("connection closed: {e}"));
                        break;
                    }
                    let sent = Instant::now();
                    let response = match sender.send_request(request).await {
                        Ok(response) => response,
                        Err(e) => {
                            report(format!("request failed: {e}"));
                            break;
                        }
                    };
                    let status = response.status();
                    let body = match response.into_body().collect().await {
                        Ok(body) => body.to_bytes(),
                        Err(e) => {
                            report(format!("body failed: {e}"));
                            break;
                        }
                    };
                    latencies.push(u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX));
                    if !acceptable(expect, status, &body) {
                        report(format!("{status} {}", String::from_utf8_lossy(&body)));
                    }
                }
                (sender, latencies, errors)
            })
        })
        .collect();
    let mut phase = Phase::default();
    for worker in workers {
        let (sender, latencies, failed) = worker.await.expect("a load worker panicked");
        senders.push(sender);
        phase.latencies_us.extend(latencies);
        phase.errors += failed;
    }
    phase.elapsed = started.elapsed();
    phase.latencies_us.sort_unstable();
    phase
}

pub struct Settings {
    pub connections: usize,
    pub warmup: Duration,
    pub rounds: usize,
    pub slice: Duration,
    pub idle: Duration,
    pub upstream_tid: u32,
    pub loadgen_tid: u32,
}

/// A target being measured: its open connections and what its slices measured so far.
struct Slot<'a> {
    target: &'a Target,
    senders: Vec<Sender>,
    loaded: Phase,
    rounds: Vec<(f64, f64)>,
    spent: CpuSpent,
}

/// Warms every target up, then measures them in turn, `rounds` times (so a disturbance, such as another process
/// taking CPU for a while, falls on every target rather than on one), then runs the one-connection latency runs.
pub async fn measure_all(targets: &[Target], settings: &Settings) -> Vec<Outcome> {
    let mut slots = Vec::new();
    for target in targets {
        let mut senders = connect(target.addr, settings.connections).await;
        let warm = run_for(&mut senders, target, settings.warmup).await;
        eprintln!(
            "{}: {} connections to {}{}, warm-up {:.0} req/s",
            target.name,
            settings.connections,
            target.addr,
            target.path,
            warm.rate()
        );
        let loaded = Phase {
            errors: warm.errors,
            ..Phase::default()
        };
        slots.push(Slot {
            target,
            senders,
            loaded,
            rounds: Vec::new(),
            spent: CpuSpent::default(),
        });
    }
    for round in 1..=settings.rounds {
        for slot in &mut slots {
            // Fresh connections for every slice: servers may close keep-alive connections left idle while the
            // other targets were measured (Gatehouse does after `server.header_read_timeout`, 10 s by default).
            drop(std::mem::take(&mut slot.senders));
            slot.senders = connect(slot.target.addr, settings.connections).await;
            let before = sample(settings, &(slot.target.proxy_pids)());
            let phase = run_for(&mut slot.senders, slot.target, settings.slice).await;
            let after = sample(settings, &(slot.target.proxy_pids)());
            slot.spent.add(&before, &after);
            let rest = cpu_between(&before, &after).rest();
            eprintln!(
                "  round {round} {}: {:.0} req/s, p50 {:.3} ms, p99 {:.3} ms, errors {}, CPU rest {rest:.0} %",
                slot.target.name,
                phase.rate(),
                phase.percentile_ms(0.5),
                phase.percentile_ms(0.99),
                phase.errors,
            );
            slot.rounds.push((phase.rate(), rest));
            slot.loaded.absorb(phase);
        }
    }
    let mut outcomes = Vec::new();
    for mut slot in slots {
        drop(std::mem::take(&mut slot.senders));
        slot.loaded.latencies_us.sort_unstable();
        let idle = if settings.idle.is_zero() {
            None
        } else {
            let mut single = connect(slot.target.addr, 1).await;
            Some(run_for(&mut single, slot.target, settings.idle).await)
        };
        outcomes.push(Outcome {
            name: slot.target.name,
            expect: slot.target.expect,
            loaded: slot.loaded,
            rounds: slot.rounds,
            cpu: slot.spent.cpu(),
            idle,
        });
    }
    outcomes
}
