//! The child processes (nginx, Gatehouse): stopped with SIGTERM when the bench ends, waited for until ready.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use crate::get;

/// The command that starts `program`: itself, or under `wrapper` (valgrind) when given.
pub fn command(program: &Path, wrapper: Option<&[String]>) -> Command {
    match wrapper {
        Some([first, rest @ ..]) => {
            let mut command = Command::new(first);
            command.args(rest).arg(program);
            command
        }
        _ => Command::new(program),
    }
}

/// How long a server may take to start or stop: valgrind slows both down.
pub fn patience(wrapper: Option<&[String]>) -> Duration {
    Duration::from_secs(if wrapper.is_some() { 300 } else { 30 })
}

/// A child process stopped with SIGTERM when the bench ends (or panics): nginx's master stops its workers then.
pub struct Proc {
    pub name: &'static str,
    pub child: Child,
    /// How long it may take to start or to stop (much longer under valgrind).
    pub patience: Duration,
}

impl Proc {
    /// SIGTERM, then the exit status (SIGKILL after `patience`).
    pub fn stop(&mut self) -> std::process::ExitStatus {
        if let Ok(Some(status)) = self.child.try_wait() {
            return status;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + self.patience;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!(
            "{} did not stop within {:?} of SIGTERM; killing it",
            self.name, self.patience
        );
        let _ = self.child.kill();
        self.child.wait().expect("wait for a killed child")
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}

pub fn wait_for(server: &mut Proc, addr: SocketAddr, path: &str) {
    let deadline = Instant::now() + server.patience;
    loop {
        if let Ok(Some(status)) = server.child.try_wait() {
            panic!("{} exited before it was ready: {status}", server.name);
        }
        if get(addr, path).is_some_and(|(status, _)| status == 200) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} did not answer 200 to GET {path} on {addr} within {:?}",
            server.name,
            server.patience
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
