//! Sagas survive `kill -9` of the real binary at each stage — mid-step (the vendor acted, the answer is lost),
//! between steps (a step waiting for its retry), mid-compensation — and end correctly after a restart, each vendor
//! acting at most once per key (the fakes deduplicate by `Idempotency-Key` and count effects). Also the CLI's
//! `sagas list|show|retry` and the config errors `check-config` reports for bad sagas.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::Value;

use crate::cli::gatehouse;
use crate::durability::{Server, start, terminate};
use crate::helpers::*;
use crate::saga_vendors::Vendors;
use crate::sagas::{CHECKOUT, input};

/// The test config with `crm` and `pay` on `vendor` (2 s timeouts), a 3 s lease, fast retries.
fn config(dir: &std::path::Path, vendor: &str) -> std::path::PathBuf {
    let settings = "retry = { max_attempts = 1 }\ntimeout = \"2s\"";
    let toml = test_config_toml(&dir.join("g.db"))
        + &provider_toml("crm", "acme-crm", vendor, settings)
        + &provider_toml("pay", "stripe", vendor, settings)
        + &callers_toml(&["crm", "pay"], None)
        + "\n[commands]\nlease = \"3s\"\nbase_delay = \"100ms\"\nmax_delay = \"300ms\"\npoll_every = \"100ms\"\nmax_attempts = 50\n"
        + CHECKOUT;
    let path = dir.join("g.toml");
    std::fs::write(&path, toml).unwrap();
    path
}

async fn begin(server: &Server) -> String {
    let response = reqwest::Client::new()
        .post(format!("{}/v1/sagas/checkout", server.addr))
        .bearer_auth(CALLER_KEY)
        .json(&input())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn until(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..400 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

async fn finished(server: &Server, id: &str) -> Value {
    let client = reqwest::Client::new();
    for _ in 0..300 {
        let saga: Value = client
            .get(format!("{}/v1/sagas/{id}", server.addr))
            .bearer_auth(CALLER_KEY)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if ["completed", "compensated", "failed"].contains(&saga["status"].as_str().unwrap_or_default()) {
            return saga;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("saga {id} did not finish");
}

fn kill(server: &mut Server) {
    server.child.kill().unwrap(); // SIGKILL
    server.child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_step_the_saga_resumes_and_the_vendor_acts_once() {
    let vendors = Arc::new(Vendors::default());
    vendors.slow_payments.store(true, Ordering::SeqCst);
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &vendors.start().await);
    let mut server = start(&config).await;
    let id = begin(&server).await;
    until("the payment to reach stripe", || {
        vendors.received("/v1/payment_intents")
    })
    .await;
    kill(&mut server);
    vendors.slow_payments.store(false, Ordering::SeqCst);

    let mut server = start(&config).await;
    let saga = finished(&server, &id).await;
    assert_eq!(saga["status"], "completed", "{saga}");
    assert!(
        saga["steps"][1]["result"]["id"].as_str().unwrap().starts_with("pi_"),
        "{saga}"
    );
    let keys = vendors.keys_of("/v1/payment_intents");
    assert_eq!(keys.len(), 2, "sent again after the restart");
    assert!(
        keys.iter()
            .all(|k| k.as_deref() == Some(format!("saga-{id}-payment").as_str())),
        "{keys:?}"
    );
    assert_eq!(
        vendors.keys_of("/customers").len(),
        1,
        "the checkpointed step is not sent again"
    );
    assert_eq!(vendors.most_effects(), 1);
    terminate(&mut server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_between_steps_the_saga_resumes_where_it_was() {
    let vendors = Arc::new(Vendors::default());
    vendors.failing_payments.store(true, Ordering::SeqCst);
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &vendors.start().await);
    let mut server = start(&config).await;
    let id = begin(&server).await;
    // The customer exists; the payment failed twice and waits for its next attempt.
    until("two payment attempts", || {
        vendors.keys_of("/v1/payment_intents").len() >= 2
    })
    .await;
    kill(&mut server);
    vendors.failing_payments.store(false, Ordering::SeqCst);

    let mut server = start(&config).await;
    let saga = finished(&server, &id).await;
    assert_eq!(saga["status"], "completed", "{saga}");
    assert!(saga["steps"][1]["attempts"].as_u64().unwrap() >= 2, "{saga}");
    assert_eq!(vendors.keys_of("/customers").len(), 1);
    assert_eq!(vendors.most_effects(), 1);
    terminate(&mut server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_compensation_the_saga_ends_compensated() {
    let vendors = Arc::new(Vendors::default());
    vendors.declining_payments.store(true, Ordering::SeqCst);
    vendors.slow_deletes.store(true, Ordering::SeqCst);
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &vendors.start().await);
    let mut server = start(&config).await;
    let id = begin(&server).await;
    until("the customer's deletion", || vendors.received("/customers/cus_1")).await;
    kill(&mut server);

    let mut server = start(&config).await;
    let saga = finished(&server, &id).await;
    // The deletion went through before the kill; its retry finds the customer gone (404): done.
    assert_eq!(saga["status"], "compensated", "{saga}");
    assert_eq!(vendors.keys_of("/customers/cus_1").len(), 2);
    assert_eq!(vendors.most_effects(), 1);
    terminate(&mut server);

    // The CLI shows it, like the admin API.
    let output = gatehouse(&config, &["sagas", "list", "--status", "compensated"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let table = String::from_utf8(output.stdout).unwrap();
    assert!(
        table.contains(&id) && table.contains("customer=compensated payment=failed"),
        "{table}"
    );
    let output = gatehouse(&config, &["sagas", "show", &id]).output().unwrap();
    let shown: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(shown["input"], input());
    let output = gatehouse(&config, &["sagas", "retry", &id]).output().unwrap();
    assert!(!output.status.success());
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(
        error.contains("is compensated: only a failed saga can be retried"),
        "{error}"
    );
}

/// `check-config` names the key and what is wrong, for every kind of bad saga.
#[test]
fn check_config_names_what_is_wrong_with_a_saga() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "provider = \"crm\"",
            "provider = \"nope\"",
            "sagas[0].steps[0].provider: no provider \"nope\"",
        ),
        (
            "path = \"/customers\", body",
            "path = \"/customer\", body",
            "sagas[0].steps[0].call: provider \"crm\"",
        ),
        ("{input.email}", "{input}", "sagas[0].steps[0].call.body"),
        (
            "customer_id = \"{steps.customer.id}\"",
            "customer_id = \"{steps.buyer.id}\"",
            "sagas[0].steps[1].call: {steps.buyer.id}: step \"buyer\" is not an earlier step",
        ),
        (
            "customer_id = \"{steps.customer.id}\"",
            "customer_id = \"{steps.customer.iban}\"",
            "step \"customer\" answers with no field \"iban\"",
        ),
        (
            "{ name = \"{input.name}\"",
            "{ name = \"{steps.payment.id}\"",
            "sagas[0].steps[0].call: {steps.payment.id}: step \"payment\" is not an earlier step",
        ),
        (
            "callers = [\"svc\"]",
            "callers = [\"ghost\"]",
            "sagas[0].callers[0]: no caller named \"ghost\"",
        ),
        (
            "method = \"DELETE\"",
            "method = \"TRACE\"",
            "sagas[0].steps[0].compensate.method",
        ),
    ];
    for (from, to, expected) in cases {
        let config = dir.path().join("bad.toml");
        let toml = test_config_toml(&dir.path().join("g.db"))
            + &provider_toml("crm", "acme-crm", "http://127.0.0.1:9", "")
            + &provider_toml("pay", "stripe", "http://127.0.0.1:9", "")
            + &callers_toml(&["crm", "pay"], None)
            + &CHECKOUT.replacen(from, to, 1);
        assert!(CHECKOUT.contains(from), "{from}");
        std::fs::write(&config, toml).unwrap();
        let output = gatehouse(&config, &["check-config"]).output().unwrap();
        let error = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{to}: {error}");
        assert!(error.contains(expected), "{to}: expected {expected:?} in {error}");
    }
}
