//! The markdown tables of the results and the verdicts against the project's targets.

use crate::Expect;
use crate::load::{Outcome, Settings};

/// A round during which other work took more than this much CPU (% of one core) counts as disturbed.
const DISTURBED: f64 = 15.0;

pub fn report(settings: &Settings, outcomes: &[Outcome]) {
    let find = |name: &str| outcomes.iter().find(|o| o.name == name);
    let (direct, nginx, gatehouse, breaker) = (find("direct"), find("nginx"), find("gatehouse"), find("open breaker"));
    let signed = |v: Option<f64>| v.map_or("–".to_owned(), |v| format!("{v:+.3}"));
    let per_round = |o: &Outcome| {
        o.rounds
            .iter()
            .map(|&(rate, rest)| format!("{rate:.0}{}", if rest > DISTURBED { "*" } else { "" }))
            .collect::<Vec<_>>()
            .join(" / ")
    };
    println!(
        "\noutbound passthrough: {} keep-alive connections; {} rounds of {} s per target after a {} s warm-up\n",
        settings.connections,
        settings.rounds,
        settings.slice.as_secs(),
        settings.warmup.as_secs()
    );
    println!(
        "| target | requests | req/s | per round | p50 ms | p90 ms | p99 ms | max ms | added p50 ms | added p99 ms \
         | × nginx | errors |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for o in outcomes.iter().filter(|o| o.expect == Expect::Echo) {
        let run = &o.loaded;
        let added = |p: f64| direct.map(|d| run.percentile_ms(p) - d.loaded.percentile_ms(p));
        let ratio = nginx.map_or("–".to_owned(), |n| format!("{:.2}", run.rate() / n.loaded.rate()));
        println!(
            "| {} | {} | {:.0} | {} | {:.3} | {:.3} | {:.3} | {:.3} | {} | {} | {ratio} | {} |",
            o.name,
            run.latencies_us.len(),
            run.rate(),
            per_round(o),
            run.percentile_ms(0.5),
            run.percentile_ms(0.9),
            run.percentile_ms(0.99),
            run.percentile_ms(1.0),
            signed(added(0.5)),
            signed(added(0.99)),
            run.errors
        );
    }
    if let Some(b) = breaker {
        let run = &b.loaded;
        println!("\nopen breaker: `circuit-open` 503s (after caller auth, caller and provider rate limits):\n");
        println!("| requests | req/s | per round | p50 ms | p99 ms | errors |");
        println!("|---:|---:|---:|---:|---:|---:|");
        println!(
            "| {} | {:.0} | {} | {:.3} | {:.3} | {} |",
            run.latencies_us.len(),
            run.rate(),
            per_round(b),
            run.percentile_ms(0.5),
            run.percentile_ms(0.99),
            run.errors
        );
    }
    println!("\n(* a round during which other work took more than {DISTURBED:.0} % of a core)");
    if outcomes.iter().any(|o| o.idle.is_some()) {
        println!(
            "\none connection, one request at a time ({} s each):\n",
            settings.idle.as_secs()
        );
        println!("| target | req/s | p50 ms | p99 ms | added p50 ms | added p99 ms |");
        println!("|---|---:|---:|---:|---:|---:|");
        let direct_idle = direct.and_then(|d| d.idle.as_ref());
        for o in outcomes {
            let Some(run) = &o.idle else { continue };
            let added = |p: f64| direct_idle.map(|d| run.percentile_ms(p) - d.percentile_ms(p));
            println!(
                "| {} | {:.0} | {:.3} | {:.3} | {} | {} |",
                o.name,
                run.rate(),
                run.percentile_ms(0.5),
                run.percentile_ms(0.99),
                signed(added(0.5)),
                signed(added(0.99))
            );
        }
    }
    println!(
        "\nCPU during the measured rounds, % of one core (the machine has {} cores; µs = CPU time per request):\n",
        cores()
    );
    println!(
        "| target | load generator | upstream | proxy | proxy µs/req | rest | whole machine | of which softirq | steal |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for o in outcomes {
        let c = o.cpu;
        let per_request = c.proxy / 100.0 / o.loaded.rate() * 1e6;
        println!(
            "| {} | {:.0} | {:.0} | {:.0} | {:.1} | {:.0} | {:.0} | {:.0} | {:.0} |",
            o.name,
            c.loadgen,
            c.upstream,
            c.proxy,
            per_request,
            c.rest(),
            c.machine,
            c.softirq,
            c.steal
        );
    }
    for o in outcomes.iter().filter(|o| o.cpu.rest() > DISTURBED) {
        println!(
            "\nwarning: {:.0} % of a core went to other work during the {} rounds (other builds?): its figures are low",
            o.cpu.rest(),
            o.name
        );
    }

    println!("\ntargets:");
    let verdict = |met: bool| if met { "met" } else { "MISSED" };
    if let (Some(g), Some(n)) = (gatehouse, nginx) {
        let ratio = g.loaded.rate() / n.loaded.rate();
        println!(
            "  throughput gatehouse / nginx = {ratio:.2} (target ≥ 0.90): {}",
            verdict(ratio >= 0.9)
        );
        let quiet = |o: &Outcome| {
            let rates: Vec<f64> = o.rounds.iter().filter(|r| r.1 <= DISTURBED).map(|r| r.0).collect();
            (!rates.is_empty()).then(|| (rates.iter().sum::<f64>() / rates.len() as f64, rates.len()))
        };
        if let (Some((g_rate, g_n)), Some((n_rate, n_n))) = (quiet(g), quiet(n)) {
            println!(
                "  the same over undisturbed rounds only ({g_n} of gatehouse, {n_n} of nginx, mean req/s): {:.2}",
                g_rate / n_rate
            );
        }
    }
    if let (Some(g), Some(d)) = (gatehouse, direct) {
        let added = g.loaded.percentile_ms(0.99) - d.loaded.percentile_ms(0.99);
        println!(
            "  p99 added over direct at {} connections = {added:.3} ms (target ≤ 1 ms): {}",
            settings.connections,
            verdict(added <= 1.0)
        );
        if let (Some(gi), Some(di)) = (&g.idle, &d.idle) {
            let added = gi.percentile_ms(0.99) - di.percentile_ms(0.99);
            println!(
                "  p99 added over direct, one connection = {added:.3} ms (target ≤ 1 ms): {}",
                verdict(added <= 1.0)
            );
        }
    }
    if let Some(b) = breaker {
        let rate = b.loaded.rate();
        println!(
            "  open breaker = {rate:.0} req/s (target ≥ 50,000): {}",
            verdict(rate >= 50_000.0)
        );
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
