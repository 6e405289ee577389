//! The gateway as a child process (started with a bench config, killed if the bench panics, stopped with
//! SIGTERM), waiting for its `/readyz`, its group-commit statistics, and a closed-loop load phase: a fixed list of
//! requests shared by keep-alive connections, each sending its next request once the previous answer's body is
//! read.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, StatusCode};

pub type Req = Request<Full<Bytes>>;

/// Kills the server if the bench panics before its orderly shutdown.
pub struct Server(pub Child);

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

impl Server {
    /// Runs `gatehouse <command>` (`serve`, `relay`) on `config`, listening on `listen` when given, logging warnings
    /// only.
    ///
    /// `BENCH_SERVER_WRAPPER` runs the server under a command (`valgrind --tool=callgrind
    /// --callgrind-out-file=/tmp/cg.out`, say: instructions counted per function, repeatably on a noisy machine);
    /// `BENCH_SERVER_LOG` sets its log filter (default `warn`).
    pub fn spawn(config: &Path, command: &str, listen: Option<SocketAddr>) -> Server {
        let binary = env!("CARGO_BIN_EXE_gatehouse");
        let wrapper = std::env::var("BENCH_SERVER_WRAPPER").unwrap_or_default();
        let mut words = wrapper.split_whitespace();
        let mut process = match words.next() {
            Some(program) => {
                let mut process = Command::new(program);
                process.args(words).arg(binary);
                process
            }
            None => Command::new(binary),
        };
        process
            .arg("--config")
            .arg(config)
            .arg(command)
            .env(
                "GATEHOUSE_LOG",
                std::env::var("BENCH_SERVER_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::null());
        if let Some(addr) = listen {
            process.env("GATEHOUSE__SERVER__LISTEN", addr.to_string());
        }
        Server(
            process
                .spawn()
                .unwrap_or_else(|e| panic!("start `gatehouse {command}`: {e}")),
        )
    }

    /// `gatehouse serve` on `config` at a free port, once ready.
    pub fn serve(config: &Path) -> (Server, SocketAddr) {
        let addr = super::free_addr();
        let mut server = Server::spawn(config, "serve", Some(addr));
        wait_ready(&mut server, addr);
        (server, addr)
    }

    /// Sends SIGTERM and waits (up to 30 s; 5 min under a wrapper) for the exit status.
    pub fn terminate(&mut self) -> ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed: {status}");
        let polls = if std::env::var_os("BENCH_SERVER_WRAPPER").is_some() {
            15_000
        } else {
            1500
        };
        (0..polls)
            .find_map(|_| {
                std::thread::sleep(Duration::from_millis(20));
                self.0.try_wait().expect("wait for the server")
            })
            .expect("the server stops after SIGTERM")
    }
}

/// The writer's group commits so far: how many, their mean size and mean duration (ms), from `/metrics`.
pub fn commit_stats(addr: SocketAddr) -> Option<(f64, f64, f64)> {
    let (_, metrics) = super::get(addr, "/metrics", "", None)?;
    let value = |name: &str| {
        metrics
            .lines()
            .find_map(|line| line.strip_prefix(name)?.trim().parse::<f64>().ok())
    };
    let count = value("gatehouse_store_commit_batch_size_count")?;
    let batch = value("gatehouse_store_commit_batch_size_sum")? / count;
    let seconds =
        value("gatehouse_store_commit_duration_seconds_sum")? / value("gatehouse_store_commit_duration_seconds_count")?;
    Some((count, batch, seconds * 1000.0))
}

/// Waits (up to 2 min) until `GET /readyz` on `addr` answers 200; panics if the server exits first.
pub fn wait_ready(server: &mut Server, addr: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok(Some(status)) = server.0.try_wait() {
            panic!("gatehouse serve exited before it was ready: {status}");
        }
        if super::get(addr, "/readyz", "", None).is_some_and(|(status, _)| status == 200) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "gatehouse was not ready on {addr} within 2 min"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// What one phase produced.
pub struct Phase {
    pub elapsed: Duration,
    pub latencies_us: Vec<u64>,
    pub errors: usize,
}

impl Phase {
    pub fn rate(&self) -> f64 {
        self.latencies_us.len() as f64 / self.elapsed.as_secs_f64()
    }

    /// The `p` percentile in milliseconds (sorts the latencies).
    pub fn percentile_ms(&mut self, p: f64) -> f64 {
        self.latencies_us.sort_unstable();
        super::percentile(&self.latencies_us, p).map_or(f64::NAN, |us| us as f64 / 1000.0)
    }
}

/// Sends every request over `senders`, each connection taking the next one until none are left; an answer whose
/// status is not `expected` counts as an error (the first three are printed).
pub async fn run_phase(senders: &mut Vec<SendRequest<Full<Bytes>>>, requests: Vec<Req>, expected: StatusCode) -> Phase {
    let total = requests.len();
    let queue: Rc<Vec<RefCell<Option<Req>>>> = Rc::new(requests.into_iter().map(|r| RefCell::new(Some(r))).collect());
    let next = Rc::new(Cell::new(0usize));
    let started = Instant::now();
    let workers: Vec<_> = senders
        .drain(..)
        .map(|mut sender| {
            let (queue, next) = (Rc::clone(&queue), Rc::clone(&next));
            tokio::task::spawn_local(async move {
                let mut latencies = Vec::with_capacity(total / 32);
                let mut errors = 0usize;
                loop {
                    let index = next.get();
                    if index >= queue.len() {
                        break;
                    }
                    next.set(index + 1);
                    let request = queue[index].borrow_mut().take().expect("each request is sent once");
                    sender.ready().await.expect("the connection stays open");
                    let sent = Instant::now();
                    let response = sender.send_request(request).await.expect("the server answers");
                    let status = response.status();
                    let body = response
                        .into_body()
                        .collect()
                        .await
                        .expect("the response body is readable");
                    latencies.push(sent.elapsed().as_micros() as u64);
                    if status != expected {
                        errors += 1;
                        if errors <= 3 {
                            eprintln!("unexpected {status}: {}", String::from_utf8_lossy(&body.to_bytes()));
                        }
                    }
                }
                (sender, latencies, errors)
            })
        })
        .collect();
    let (mut latencies_us, mut errors) = (Vec::with_capacity(total), 0);
    for worker in workers {
        let (sender, latencies, failed) = worker.await.expect("a load worker panicked");
        senders.push(sender);
        latencies_us.extend(latencies);
        errors += failed;
    }
    Phase {
        elapsed: started.elapsed(),
        latencies_us,
        errors,
    }
}
