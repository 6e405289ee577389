//! The `gatehouse` binary's commands: check-config, hash-key, sign (round-tripped through a live server),
//! migrate and events list.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use crate::helpers::*;

pub fn gatehouse(config: &std::path::Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    command
        .arg("--config")
        .arg(config)
        .args(args)
        .env("GATEHOUSE_LOG", "warn");
    command
}

fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn check_config_accepts_the_shipped_default_and_redacts_its_secret() {
    let default = concat!(env!("CARGO_MANIFEST_DIR"), "/config/gatehouse.toml");
    let output = gatehouse(default.as_ref(), &["check-config"]).output().unwrap();
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stdout.contains("[providers.acme-crm.webhook]"), "{stdout}");
    assert!(
        !stdout.contains("Z2F0ZWhvdXNl"),
        "the literal secret is redacted: {stdout}"
    );
    assert!(stderr.contains("literal secret"), "{stderr}");
}

#[test]
fn check_config_redacts_capability_urls_and_key_digests() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.toml");
    let digest = key_sha256("some-caller-key");
    let admin = key_sha256("some-admin-token");
    std::fs::write(
        &path,
        format!(
            r#"
[store]
url = "sqlite://{db}"
[admin]
token_sha256 = "{admin}"
[[callers]]
name = "svc"
key_sha256 = "{digest}"
providers = []
[[subscriptions]]
name = "slack"
events = ["*"]
sink = {{ type = "http", url = "https://hooks.example.com/services/T0/B0/capability-token?sig=query-token", secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" }}
"#,
            db = dir.path().join("g.db").display()
        ),
    )
    .unwrap();
    let output = gatehouse(&path, &["check-config"]).output().unwrap();
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stderr}");
    for secret in [
        "capability-token",
        "query-token",
        "services/T0",
        digest.as_str(),
        admin.as_str(),
    ] {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "{secret} printed: {stdout}"
        );
    }
    assert!(stdout.contains("https://hooks.example.com/[redacted]"), "{stdout}");
}

#[test]
fn check_config_names_the_bad_key_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("[server]\nmax_body_bytes = -1\n", "server.max_body_bytes"),
        (
            "[server]\nruntime = \"per-core\"\n[store]\nurl = \"postgres://gh@127.0.0.1:5432/gh\"\n",
            "server.runtime",
        ),
        ("[providers.x]\nadapter = \"nope\"\n", "providers.x.adapter"),
        (
            "[providers.stripe.webhook]\nsecrets = [\"env:GATEHOUSE_TEST_UNSET_VAR\"]\n",
            "GATEHOUSE_TEST_UNSET_VAR",
        ),
        (
            "[providers.stripe.webhook]\nsecrets = []\n",
            "providers.stripe.webhook.secrets",
        ),
        (
            "[providers.stripe.webhook]\nscheme = \"rot13\"\nsecrets = [\"env:HOME\"]\n",
            "providers.stripe.webhook.scheme",
        ),
        (
            "[providers.acme-crm.webhook]\nsecrets = [\"whsec_%%%\"]\n",
            "providers.acme-crm.webhook.secrets[0]",
        ),
        (
            "[providers.g]\nadapter = \"generic\"\n[providers.g.webhook]\nscheme = \"github\"\nsecrets = [\"env:HOME\"]\nevent_type = \"/t\"\n",
            "providers.g.webhook.event_id",
        ),
        (
            // standard-webhooks signs webhook-id: an id from any other header is unsigned.
            "[providers.g]\nadapter = \"generic\"\n[providers.g.webhook]\nscheme = \"standard-webhooks\"\nsecrets = [\"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"]\nevent_id = \"header:X-Event-Id\"\nevent_type = \"/t\"\n",
            "providers.g.webhook.event_id",
        ),
    ];
    for (toml, key) in cases {
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, toml).unwrap();
        let output = gatehouse(&path, &["check-config"]).output().unwrap();
        let (_, stderr) = text(&output);
        assert_eq!(output.status.code(), Some(1), "{toml}");
        assert!(stderr.contains(key), "expected {key} in: {stderr}");
    }
}

#[test]
fn check_config_warns_about_event_ids_from_unsigned_headers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.toml");
    let toml = "[providers.g]\nadapter = \"generic\"\n[providers.g.webhook]\nscheme = \"github\"\nsecrets = [\"env:HOME\"]\nevent_id = \"header:X-Delivery\"\nevent_type = \"/t\"\n";
    std::fs::write(&path, toml).unwrap();
    let output = gatehouse(&path, &["check-config"]).output().unwrap();
    let (_, stderr) = text(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("providers.g.webhook.event_id reads header X-Delivery"),
        "{stderr}"
    );
    for signed in ["svix-id", "webhook-id"] {
        let toml = format!(
            "[providers.g]\nadapter = \"generic\"\n[providers.g.webhook]\nscheme = \"svix\"\nsecrets = [\"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"]\nevent_id = \"header:{signed}\"\nevent_type = \"/t\"\n"
        );
        std::fs::write(&path, toml).unwrap();
        let output = gatehouse(&path, &["check-config"]).output().unwrap();
        let (_, stderr) = text(&output);
        assert!(output.status.success(), "{signed}: {stderr}");
        assert!(!stderr.contains("event_id reads header"), "{stderr}");
    }
}

#[test]
fn environment_overrides_config_keys() {
    let default = concat!(env!("CARGO_MANIFEST_DIR"), "/config/gatehouse.toml");
    let output = gatehouse(default.as_ref(), &["check-config"])
        .env("GATEHOUSE__SERVER__MAX_BODY_BYTES", "4096")
        .env("GATEHOUSE__STORE__URL", "sqlite:///tmp/elsewhere.db")
        .output()
        .unwrap();
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stdout.contains("max_body_bytes = 4096"), "{stdout}");
    assert!(stdout.contains("sqlite:///tmp/elsewhere.db"), "{stdout}");
}

#[test]
fn hash_key_prints_the_sha256_of_stdin() {
    let mut child = gatehouse("unused.toml".as_ref(), &["hash-key"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"abc\n").unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8(output.stdout).unwrap().trim(),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

#[tokio::test]
async fn signed_headers_are_accepted_and_events_list_shows_the_event() {
    let app = spawn_app().await;
    let body_path = app.config_path.with_file_name("event.json");
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/examples/acme-customer-updated.json"),
        &body_path,
    )
    .unwrap();
    let output = gatehouse(&app.config_path, &["sign", "--provider", "acme-crm", "--body"])
        .arg(&body_path)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stderr}");
    let headers: Vec<(String, String)> = stdout
        .lines()
        .filter_map(|l| l.split_once(": "))
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect();
    assert!(headers.iter().any(|(n, _)| n == "webhook-signature"), "{stdout}");
    let body = std::fs::read(&body_path).unwrap();
    let response = app.post_webhook("acme-crm", &headers, &body).await;
    assert_eq!(response.status(), 200);
    let reply: serde_json::Value = response.json().await.unwrap();

    let output = gatehouse(
        &app.config_path,
        &[
            "events",
            "list",
            "--json",
            "--status",
            "delivered",
            "--provider",
            "acme-crm",
        ],
    )
    .output()
    .unwrap();
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stderr}");
    let events: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let event = &events[0];
    assert_eq!(event["id"], reply["id"]);
    for field in [
        "provider",
        "type",
        "subject",
        "providereventid",
        "status",
        "received_at",
    ] {
        assert!(event[field].is_string(), "{field} in {event}");
    }
    assert_eq!(event["type"], "acme-crm.customer.updated");
    assert_eq!(
        event["status"], "delivered",
        "no subscription wants it: nothing left to deliver"
    );

    let output = gatehouse(&app.config_path, &["events", "list", "--provider", "stripe", "--json"])
        .output()
        .unwrap();
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&output.stdout).unwrap(),
        serde_json::json!([])
    );
    let output = gatehouse(&app.config_path, &["events", "list"]).output().unwrap();
    assert!(String::from_utf8_lossy(&output.stdout).contains("acme-crm.customer.updated"));
    app.stop().await;
}

#[test]
fn migrate_creates_the_database_and_events_list_reads_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("g.toml");
    std::fs::write(
        &config,
        format!("[store]\nurl = \"sqlite://{}/nested/g.db\"\n", dir.path().display()),
    )
    .unwrap();
    let output = gatehouse(&config, &["events", "list"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1), "an unmigrated store is an error");
    assert!(text(&output).1.contains("gatehouse migrate"), "{}", text(&output).1);
    assert!(gatehouse(&config, &["migrate"]).status().unwrap().success());
    assert!(
        gatehouse(&config, &["migrate"]).status().unwrap().success(),
        "migrate is idempotent"
    );
    let output = gatehouse(&config, &["events", "list", "--json"]).output().unwrap();
    assert!(output.status.success());
}

/// `gatehouse sign` for the schemes issue 15 added: SendGrid's config holds only a public key, so signing needs
/// `--key` with the private key (refused without it); Twilio's JSON bodies are signed over a query string printed
/// on stderr. Both round-trip through a live server.
#[tokio::test]
async fn sign_takes_a_private_key_and_prints_twilios_query() {
    use gatehouse_kit::testing::{TEST_SENDGRID_PRIVATE_KEY, TEST_SENDGRID_PUBLIC_KEY};
    let toml = format!(
        "[providers.sendgrid.webhook]\npublic_keys = [\"{TEST_SENDGRID_PUBLIC_KEY}\"]\n\
         [providers.twilio.webhook]\npublic_url = \"https://hooks.example.com/webhooks/twilio\"\nsecrets = [\"tok\"]\n"
    );
    let app = spawn_app_with(&toml).await;
    let dir = tempfile::tempdir().unwrap();
    let body_path = dir.path().join("body.json");
    let headers_of = |stdout: &str| -> Vec<(String, String)> {
        stdout
            .lines()
            .filter_map(|l| l.split_once(": "))
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .collect()
    };

    let body = r#"[{"sg_event_id":"e1","event":"open"},{"sg_event_id":"e2","event":"click"}]"#;
    std::fs::write(&body_path, body).unwrap();
    let sign = |provider: &str, key: Option<&str>| {
        let mut command = gatehouse(&app.config_path, &["sign", "--provider", provider, "--body"]);
        command
            .arg(&body_path)
            .env("SENDGRID_PRIVATE", TEST_SENDGRID_PRIVATE_KEY);
        if let Some(key) = key {
            command.args(["--key", key]);
        }
        command.output().unwrap()
    };
    let refused = sign("sendgrid", None);
    let (_, stderr) = text(&refused);
    assert!(!refused.status.success() && stderr.contains("--key"), "{stderr}");
    let signed = sign("sendgrid", Some("env:SENDGRID_PRIVATE"));
    let (stdout, stderr) = text(&signed);
    assert!(signed.status.success(), "{stderr}");
    assert!(!stdout.contains(TEST_SENDGRID_PRIVATE_KEY) && !stderr.contains(TEST_SENDGRID_PRIVATE_KEY));
    let response = app
        .post_webhook("sendgrid", &headers_of(&stdout), body.as_bytes())
        .await;
    assert_eq!(response.status(), 200);
    let answer: serde_json::Value = response.json().await.unwrap();
    assert_eq!(answer["events"].as_array().map(Vec::len), Some(2), "{answer}");

    let body = r#"{"MessageSid":"SM1","MessageStatus":"sent"}"#;
    std::fs::write(&body_path, body).unwrap();
    let signed = sign("twilio", None);
    let (stdout, stderr) = text(&signed);
    assert!(signed.status.success(), "{stderr}");
    let query = stderr.split_once('?').map(|(_, q)| q.trim()).unwrap_or_default();
    assert!(query.starts_with("bodySHA256="), "{stderr}");
    let mut request = app
        .client
        .post(format!("{}/webhooks/twilio?{query}", app.addr))
        .body(body);
    for (name, value) in headers_of(&stdout) {
        request = request.header(name, value);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    app.stop().await;
}
