//! CPU accounting from `/proc`: the load generator's and the upstream's threads, the proxy's processes, the machine.

use std::time::Instant;

use crate::load::Settings;

/// Linux's `USER_HZ`: the unit of utime/stime in `/proc/.../stat`.
const TICKS_PER_SECOND: f64 = 100.0;

/// CPU use during a run, in % of one core.
#[derive(Default, Clone, Copy)]
pub struct Cpu {
    pub loadgen: f64,
    pub upstream: f64,
    pub proxy: f64,
    /// The whole machine (all processes and the kernel), in % of one core; `nproc` × 100 is all of it.
    pub machine: f64,
    /// Of `machine`: time in softirq (loopback TCP), wherever it was charged.
    pub softirq: f64,
    /// Time the hypervisor took from this guest (not in `machine`).
    pub steal: f64,
}

impl Cpu {
    /// What the three processes above do not account for: kernel threads, other processes (builds…).
    pub fn rest(&self) -> f64 {
        self.machine - self.loadgen - self.upstream - self.proxy
    }
}

/// `pid` and its child processes (nginx's workers).
pub fn with_children(pid: u32) -> Vec<u32> {
    let mut pids = vec![pid];
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(child) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            let parent = std::fs::read_to_string(entry.path().join("stat"))
                .ok()
                .and_then(|stat| stat_field(&stat, 4));
            if parent == Some(u64::from(pid)) {
                pids.push(child);
            }
        }
    }
    pids
}

/// The `n`th (1-based) space-separated field of a `/proc/.../stat` line, counted after the command name.
fn stat_field(stat: &str, n: usize) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 2..];
    after_name.split(' ').nth(n - 3)?.parse().ok()
}

/// utime + stime of a `/proc/.../stat` file, in ticks.
fn cpu_ticks(path: &str) -> u64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|stat| Some(stat_field(&stat, 14)? + stat_field(&stat, 15)?))
        .unwrap_or(0)
}

/// Ticks of the whole machine (`/proc/stat` line `cpu`): busy (all but idle, iowait and steal), softirq, steal.
fn machine_ticks() -> [u64; 3] {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = stat.lines().find(|l| l.starts_with("cpu ")) else {
        return [0; 3];
    };
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let fields: Vec<u64> = line.split_whitespace().skip(1).filter_map(|f| f.parse().ok()).collect();
    let field = |i: usize| fields.get(i).copied().unwrap_or(0);
    [[0, 1, 2, 5, 6].iter().map(|&i| field(i)).sum(), field(6), field(7)]
}

/// This thread's id, from `/proc/thread-self` (→ `PID/task/TID`).
pub fn thread_id() -> u32 {
    std::fs::read_link("/proc/thread-self")
        .ok()
        .and_then(|p| p.file_name()?.to_str()?.parse().ok())
        .expect("read /proc/thread-self")
}

/// CPU counters at one instant: load generator thread, upstream thread, proxy processes, machine (busy, softirq,
/// steal).
pub struct CpuSample {
    at: Instant,
    ticks: [u64; 6],
}

pub fn sample(settings: &Settings, proxy_pids: &[u32]) -> CpuSample {
    let own = std::process::id();
    let [machine, softirq, steal] = machine_ticks();
    CpuSample {
        at: Instant::now(),
        ticks: [
            cpu_ticks(&format!("/proc/{own}/task/{}/stat", settings.loadgen_tid)),
            cpu_ticks(&format!("/proc/{own}/task/{}/stat", settings.upstream_tid)),
            proxy_pids
                .iter()
                .map(|pid| cpu_ticks(&format!("/proc/{pid}/stat")))
                .sum(),
            machine,
            softirq,
            steal,
        ],
    }
}

/// CPU ticks spent during a target's measured slices, summed.
#[derive(Default)]
pub struct CpuSpent {
    seconds: f64,
    ticks: [u64; 6],
}

impl CpuSpent {
    pub fn add(&mut self, start: &CpuSample, end: &CpuSample) {
        self.seconds += (end.at - start.at).as_secs_f64();
        for (total, (s, e)) in self.ticks.iter_mut().zip(start.ticks.iter().zip(&end.ticks)) {
            *total += e.saturating_sub(*s);
        }
    }

    pub fn cpu(&self) -> Cpu {
        let pct = |i: usize| self.ticks[i] as f64 / TICKS_PER_SECOND / self.seconds.max(1e-9) * 100.0;
        Cpu {
            loadgen: pct(0),
            upstream: pct(1),
            proxy: pct(2),
            machine: pct(3),
            softirq: pct(4),
            steal: pct(5),
        }
    }
}

pub fn cpu_between(start: &CpuSample, end: &CpuSample) -> Cpu {
    let mut spent = CpuSpent::default();
    spent.add(start, end);
    spent.cpu()
}
