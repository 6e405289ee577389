//! User errors on the binary: a bad or missing config, a missing secret or bad arguments print a message (one line,
//! `error: ...` with its causes) and exit 1 (clap's message and 2 for arguments), never a Rust backtrace, even with
//! `RUST_BACKTRACE=1`.

use std::process::Output;

use crate::cli::gatehouse;

fn run(config: &std::path::Path, args: &[&str]) -> Output {
    gatehouse(config, args)
        .env("RUST_BACKTRACE", "1")
        .env("RUST_LIB_BACKTRACE", "1")
        .output()
        .unwrap()
}

/// Exit status 1 and one `error:` line on stderr containing `needle`, without a backtrace.
fn assert_user_error(output: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    assert!(stderr.contains(needle), "{needle} in {stderr}");
    for noise in ["backtrace", "Backtrace", "Caused by", "panicked", "src/"] {
        assert!(!stderr.contains(noise), "{noise} in {stderr}");
    }
}

#[test]
fn config_errors_are_one_line_without_a_backtrace() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.toml");
    for command in [&["check-config"][..], &["serve"], &["migrate"], &["events", "list"]] {
        assert_user_error(&run(&missing, command), "does not exist");
    }
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[server]\nmax_body_bytes = \"lots\"\n").unwrap();
    assert_user_error(&run(&bad, &["serve"]), "server.max_body_bytes");
    std::fs::write(&bad, "[server\n").unwrap();
    assert_user_error(&run(&bad, &["check-config"]), "invalid configuration");
    let unset = "[providers.stripe.webhook]\nsecrets = [\"env:GATEHOUSE_TEST_UNSET_SECRET\"]\n";
    std::fs::write(
        &bad,
        format!(
            "[store]\nurl = \"sqlite://{}\"\n{unset}",
            dir.path().join("g.db").display()
        ),
    )
    .unwrap();
    assert_user_error(&run(&bad, &["serve"]), "GATEHOUSE_TEST_UNSET_SECRET");
}

#[test]
fn bad_arguments_get_clap_messages_and_status_2() {
    let config = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/config/gatehouse.toml"));
    for args in [
        &["--no-such-flag"][..],
        &["no-such-command"],
        &["health", "--timeout", "soon"],
    ] {
        let output = run(config, args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.starts_with("error: "), "{stderr}");
        assert!(stderr.contains("Usage:") || stderr.contains("try '--help'"), "{stderr}");
        assert!(!stderr.contains("backtrace"), "{stderr}");
    }
}
