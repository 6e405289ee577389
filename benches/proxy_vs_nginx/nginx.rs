//! nginx: found (or installed with apt-get), configured as a keep-alive `proxy_pass` to the upstream, started.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::common::free_addr;
use crate::process::{Proc, command, patience, wait_for};

/// The nginx binary, installed from Debian's packages (`apt-get install nginx`) when none is found.
fn nginx_binary() -> PathBuf {
    let found = || {
        [
            "/usr/sbin/nginx",
            "/usr/local/sbin/nginx",
            "/usr/local/nginx/sbin/nginx",
        ]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
    };
    if let Some(path) = found() {
        return path;
    }
    eprintln!("nginx not found: installing Debian's nginx with apt-get");
    let install = || {
        Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends", "nginx"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !install() {
        let updated = Command::new("apt-get")
            .arg("update")
            .stdin(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(updated && install(), "could not install nginx with apt-get");
    }
    found().expect("nginx is installed")
}

/// The config; `single` runs one process (no master, one worker), as under valgrind, whose profile files a worker
/// that switched to another user could not write.
fn nginx_config(dir: &Path, listen: SocketAddr, upstream: SocketAddr, single: bool) -> String {
    let dir = dir.display();
    let processes = if single {
        "master_process off;\nworker_processes 1;"
    } else {
        "master_process on;\nworker_processes auto;"
    };
    format!(
        r#"daemon off;
{processes}
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log warn;

events {{
    worker_connections 4096;
}}

http {{
    access_log off;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    # Neither side closes a keep-alive connection after its default 1,000 requests.
    keepalive_requests 100000000;

    upstream fake {{
        server {upstream};
        keepalive 64;
        keepalive_requests 100000000;
    }}

    server {{
        listen {listen};
        location / {{
            proxy_pass http://fake;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Authorization "Bearer x";
        }}
    }}
}}
"#
    )
}

/// Starts nginx (under `wrapper`, e.g. valgrind, when given: then as one process) and waits until it answers.
pub fn start_nginx(dir: &Path, upstream: SocketAddr, wrapper: Option<&[String]>) -> (Proc, SocketAddr) {
    let binary = nginx_binary();
    let addr = free_addr();
    let config = dir.join("nginx.conf");
    std::fs::write(&config, nginx_config(dir, addr, upstream, wrapper.is_some())).expect("write the nginx config");
    let child = command(&binary, wrapper)
        .arg("-p")
        .arg(dir)
        .arg("-e")
        .arg(dir.join("nginx-error.log"))
        .arg("-c")
        .arg(&config)
        .stdin(Stdio::null())
        .spawn()
        .expect("start nginx");
    let mut nginx = Proc {
        name: "nginx",
        child,
        patience: patience(wrapper),
    };
    wait_for(&mut nginx, addr, "/echo");
    (nginx, addr)
}
