//! The open-loop run: requests sent at a fixed rate (half of nginx's saturated throughput), whatever the answers'
//! pace, over the same keep-alive connections, and each latency counted from the moment its request was due (so
//! time spent waiting for a free connection counts: no coordinated omission). Added latency at a rate every target
//! can sustain is what a caller sees in production, where a proxy is not run at saturation.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{AUTHORIZATION, HOST};
use hyper::http::HeaderValue;
use hyper::{Request, Uri};

use crate::common::connect;
use crate::load::Phase;
use crate::{CALLER_KEY, Expect, Target, acceptable};

type Sender = SendRequest<Empty<Bytes>>;

/// Sends `rate` requests a second to `target` for `duration` over `connections` connections.
pub async fn run_at(target: &Target, connections: usize, rate: f64, duration: Duration) -> Phase {
    assert!(
        rate.is_finite() && rate > 0.0,
        "an open-loop rate must be positive, not {rate}"
    );
    let uri: Uri = target.path.parse().expect("a valid path");
    let host = HeaderValue::from_str(&target.addr.to_string()).expect("a valid host");
    let auth = HeaderValue::from_str(&format!("Bearer {CALLER_KEY}")).expect("a valid header");
    let (free_tx, mut free) = tokio::sync::mpsc::unbounded_channel::<Sender>();
    for sender in connect(target.addr, connections).await {
        free_tx.send(sender).expect("the pool is open");
    }
    // Connections still usable: a failed one is dropped, and the run stops once none is left.
    let live = Rc::new(std::cell::Cell::new(connections));
    let results = Rc::new(RefCell::new((Vec::<u32>::new(), 0usize)));
    let interval = Duration::from_secs_f64(1.0 / rate);
    let total = (rate * duration.as_secs_f64()) as u64;
    let start = tokio::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..total {
        let due = start + interval.mul_f64(n as f64);
        tokio::time::sleep_until(due).await;
        let sender = loop {
            if live.get() == 0 {
                break None;
            }
            // Woken by a free connection, or now and then to see whether failures left none.
            tokio::select! {
                sender = free.recv() => break sender,
                () = tokio::time::sleep(Duration::from_millis(10)) => {}
            }
        };
        let Some(mut sender) = sender else {
            break;
        };
        let (uri, host, auth, results, free_tx, live) = (
            uri.clone(),
            host.clone(),
            auth.clone(),
            Rc::clone(&results),
            free_tx.clone(),
            Rc::clone(&live),
        );
        let expect = target.expect;
        tasks.spawn_local(async move {
            let mut request = Request::new(Empty::new());
            *request.uri_mut() = uri;
            request.headers_mut().insert(HOST, host);
            request.headers_mut().insert(AUTHORIZATION, auth);
            let ok = match sender.ready().await {
                Ok(()) => match sender.send_request(request).await {
                    Ok(response) => {
                        let status = response.status();
                        let body = response.into_body().collect().await.map(|b| b.to_bytes());
                        body.is_ok_and(|body| acceptable(expect, status, &body))
                    }
                    Err(_) => false,
                },
                Err(_) => false,
            };
            let mut results = results.borrow_mut();
            if ok {
                results
                    .0
                    .push(u32::try_from(due.elapsed().as_micros()).unwrap_or(u32::MAX));
                let _ = free_tx.send(sender);
            } else {
                // A failed connection is not reused; the pool shrinks, which the errors column shows.
                results.1 += 1;
                live.set(live.get() - 1);
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let (mut latencies_us, errors) = Rc::try_unwrap(results).expect("every request finished").into_inner();
    latencies_us.sort_unstable();
    Phase {
        elapsed: start.elapsed(),
        latencies_us,
        errors,
    }
}

/// Runs every proxying target (and `direct`) at `rate` for `duration`, prints the table, and returns the errors.
pub async fn measure(targets: &[Target], connections: usize, rate: f64, duration: Duration) -> usize {
    let mut phases = Vec::new();
    for target in targets.iter().filter(|t| t.expect == Expect::Echo) {
        let phase = run_at(target, connections, rate, duration).await;
        eprintln!(
            "  open loop {}: {:.0} req/s, p50 {:.3} ms, p99 {:.3} ms, errors {}",
            target.name,
            phase.rate(),
            phase.percentile_ms(0.5),
            phase.percentile_ms(0.99),
            phase.errors
        );
        phases.push((target.name, phase));
    }
    let direct = phases.iter().find(|(name, _)| *name == "direct").map(|(_, p)| p);
    println!(
        "\nopen loop: {rate:.0} req/s (half of nginx's saturated rate) for {} s over {connections} connections, \
         latency from each request's due time\n",
        duration.as_secs()
    );
    println!("| target | requests | req/s | p50 ms | p99 ms | max ms | added p50 ms | added p99 ms | errors |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (name, phase) in &phases {
        let added = |p: f64| {
            direct.map_or("–".to_owned(), |d| {
                format!("{:+.3}", phase.percentile_ms(p) - d.percentile_ms(p))
            })
        };
        println!(
            "| {name} | {} | {:.0} | {:.3} | {:.3} | {:.3} | {} | {} | {} |",
            phase.latencies_us.len(),
            phase.rate(),
            phase.percentile_ms(0.5),
            phase.percentile_ms(0.99),
            phase.percentile_ms(1.0),
            added(0.5),
            added(0.99),
            phase.errors
        );
    }
    if let (Some(d), Some((_, g))) = (direct, phases.iter().find(|(name, _)| *name == "gatehouse")) {
        let added = g.percentile_ms(0.99) - d.percentile_ms(0.99);
        println!(
            "\nGatehouse added p99 at half of nginx's rate: {added:+.3} ms (target ≤ 1 ms: {})",
            if added <= 1.0 { "met" } else { "missed" }
        );
    }
    phases.iter().map(|(_, p)| p.errors).sum()
}
