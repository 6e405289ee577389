//! The container as documented: `config/container.toml` passes `check-config` with exactly the environment the
//! README's `docker run` gives it; the Dockerfile has what that needs (CA certificates, a data directory its user
//! owns, a HEALTHCHECK); `gatehouse health` probes readiness; and a gateway whose vendors are all `http` starts
//! without any CA store (TLS roots are loaded only for `https` providers).

use std::process::Stdio;
use std::time::Duration;

use crate::cli::gatehouse;
use crate::helpers::*;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The `-e NAME=VALUE` / `--env NAME=VALUE` pairs of the `docker run` command in the README's container section.
fn readme_docker_env() -> Vec<(String, String)> {
    let readme = std::fs::read_to_string(format!("{ROOT}/README.md")).unwrap();
    let (_, section) = readme
        .split_once("## Running in a container")
        .expect("the README's container section");
    let section = section.split("\n## ").next().unwrap_or_default();
    let command = section
        .replace("\\\n", " ")
        .lines()
        .find(|line| line.trim_start().starts_with("docker run"))
        .expect("a docker run command")
        .to_owned();
    let words: Vec<&str> = command.split_whitespace().collect();
    let mut env = Vec::new();
    for pair in words.windows(2) {
        if matches!(pair[0], "-e" | "--env") {
            let (name, value) = pair[1]
                .split_once('=')
                .unwrap_or_else(|| panic!("{} needs a value in the README", pair[1]));
            env.push((name.to_owned(), value.to_owned()));
        }
    }
    env
}

fn check_container_config(env: &[(String, String)]) -> std::process::Output {
    let mut command = gatehouse(format!("{ROOT}/config/container.toml").as_ref(), &["check-config"]);
    command.env_clear().envs(env.iter().map(|(k, v)| (k, v)));
    command.output().unwrap()
}

#[test]
fn the_container_config_passes_with_exactly_the_readmes_environment() {
    let env = readme_docker_env();
    assert!(
        !env.is_empty(),
        "the README's docker run passes the variables the config needs"
    );
    let output = check_container_config(&env);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "check-config with {env:?}: {stderr}");
    assert!(!stderr.contains("warning"), "{stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("admin_listen = \"0.0.0.0:9090\""), "{stdout}");
    // Each variable is needed: without it, check-config names it.
    for (name, _) in &env {
        let without: Vec<_> = env.iter().filter(|(n, _)| n != name).cloned().collect();
        let output = check_container_config(&without);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{name} is not needed: {stderr}");
        assert!(stderr.contains(name.as_str()), "{stderr}");
    }
}

#[test]
fn the_image_has_ca_certificates_a_writable_data_directory_and_a_healthcheck() {
    let dockerfile = std::fs::read_to_string(format!("{ROOT}/Dockerfile")).unwrap();
    let runtime = dockerfile.split("FROM debian").nth(1).expect("a runtime stage");
    assert!(runtime.contains("ca-certificates"), "{runtime}");
    assert!(
        runtime.contains("install -d -o gatehouse -g gatehouse") && runtime.contains("/var/lib/gatehouse/data"),
        "{runtime}"
    );
    let healthcheck = runtime
        .lines()
        .find(|l| l.starts_with("HEALTHCHECK"))
        .expect("a HEALTHCHECK");
    assert!(healthcheck.contains("\"gatehouse\", \"health\""), "{healthcheck}");
    let container = std::fs::read_to_string(format!("{ROOT}/config/container.toml")).unwrap();
    assert!(
        container.contains("url = \"sqlite:///var/lib/gatehouse/data/"),
        "the store is in the data directory"
    );
}

/// A free port on loopback (bound and released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `gatehouse serve` on `config` at `port` with `env`; waits until `/readyz` answers 200.
async fn serve(config: &std::path::Path, port: u16, env: &[(&str, &str)]) -> std::process::Child {
    let mut child = gatehouse(config, &["serve"])
        .env("GATEHOUSE__SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    for _ in 0..200 {
        let ready = client.get(format!("http://127.0.0.1:{port}/readyz")).send().await;
        if ready.is_ok_and(|r| r.status() == 200) {
            return child;
        }
        if let Ok(Some(status)) = child.try_wait() {
            let output = child.wait_with_output().unwrap();
            panic!(
                "gatehouse exited with {status}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("gatehouse did not become ready");
}

const NO_CA_STORE: [(&str, &str); 2] = [
    ("SSL_CERT_FILE", "/nonexistent/ca.pem"),
    ("SSL_CERT_DIR", "/nonexistent"),
];

#[tokio::test]
async fn http_vendors_need_no_ca_store_and_health_reports_readiness() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("g.toml");
    let vendor = provider_toml("crm", "acme-crm", "http://127.0.0.1:9", "");
    std::fs::write(&config, test_config_toml(&dir.path().join("g.db")) + &vendor).unwrap();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut server = serve(&config, port, &NO_CA_STORE).await;

    // `health` with the URL, and with the address from the config.
    let url = format!("http://{listen}/readyz");
    let probe = gatehouse(&config, &["health", "--url", &url]).output().unwrap();
    assert!(probe.status.success(), "{}", String::from_utf8_lossy(&probe.stderr));
    let probe = gatehouse(&config, &["health"])
        .env("GATEHOUSE__SERVER__LISTEN", &listen)
        .output()
        .unwrap();
    assert!(probe.status.success(), "{}", String::from_utf8_lossy(&probe.stderr));

    let _ = std::process::Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status();
    let exit = server.wait().unwrap();
    assert_eq!(exit.code(), Some(0));
    let probe = gatehouse(&config, &["health", "--url", &url, "--timeout", "2s"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&probe.stderr);
    assert_eq!(probe.status.code(), Some(1), "{stderr}");
    assert!(stderr.starts_with("error: cannot reach"), "{stderr}");
}

#[test]
fn an_https_vendor_without_a_ca_store_is_a_clear_start_up_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("g.toml");
    let vendor = provider_toml("crm", "acme-crm", "https://api.example.com", "");
    std::fs::write(&config, test_config_toml(&dir.path().join("g.db")) + &vendor).unwrap();
    let output = gatehouse(&config, &["check-config"])
        .envs(NO_CA_STORE)
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("providers.crm: cannot set up TLS"), "{stderr}");
    assert!(!stderr.contains("backtrace"), "{stderr}");
}
