//! The child processes (nginx, Gatehouse): stopped with SIGTERM when the bench ends, waited for until ready.

use std::net::SocketAddr;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use crate::get;

/// A child process stopped with SIGTERM when the bench ends (or panics): nginx's master stops its workers then.
pub struct Proc {
    pub name: &'static str,
    pub child: Child,
}

impl Proc {
    /// SIGTERM, then the exit status (SIGKILL after 30 s).
    pub fn stop(&mut self) -> std::process::ExitStatus {
        if let Ok(Some(status)) = self.child.try_wait() {
            return status;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        for _ in 0..1500 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("{} did not stop within 30 s of SIGTERM; killing it", self.name);
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
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(Some(status)) = server.child.try_wait() {
            panic!("{} exited before it was ready: {status}", server.name);
        }
        if get(addr, path).is_some_and(|(status, _)| status == 200) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} did not answer 200 to GET {path} on {addr} within 30s",
            server.name
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
