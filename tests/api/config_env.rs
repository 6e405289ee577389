//! Environment overrides of providers whose name holds `-`: `GATEHOUSE__PROVIDERS__ACME_CRM__...` reaches
//! `acme-crm`; a name that could mean two providers is refused.

use crate::cli::gatehouse;
use crate::helpers::*;

#[test]
fn an_underscore_reaches_a_hyphenated_provider() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("g.toml");
    let vendor = provider_toml("acme-crm", "acme-crm", "http://127.0.0.1:9100", "timeout = \"5s\"");
    std::fs::write(&config, test_config_toml(&dir.path().join("g.db")) + &vendor).unwrap();
    let output = gatehouse(&config, &["check-config"])
        .env("GATEHOUSE__PROVIDERS__ACME_CRM__TIMEOUT", "7s")
        .env("GATEHOUSE__PROVIDERS__ACME_CRM__BASE_URL", "http://127.0.0.1:9200")
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert!(output.status.success(), "{stderr}");
    let (_, provider) = stdout.split_once("[providers.acme-crm]\n").expect("the provider");
    let provider = provider.split("\n[").next().unwrap_or_default();
    assert!(provider.contains("timeout = \"7s\""), "{provider}");
    assert!(provider.contains("base_url = \"http://127.0.0.1:9200\""), "{provider}");
    assert!(!stdout.contains("[providers.acme_crm"), "no second provider: {stdout}");
}

#[test]
fn a_name_that_could_mean_two_providers_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("g.toml");
    let vendors = provider_toml("acme-crm", "acme-crm", "http://127.0.0.1:9100", "")
        + &provider_toml("acme_crm", "acme-crm", "http://127.0.0.1:9101", "");
    std::fs::write(&config, test_config_toml(&dir.path().join("g.db")) + &vendors).unwrap();
    let output = gatehouse(&config, &["check-config"])
        .env("GATEHOUSE__PROVIDERS__ACME_CRM__TIMEOUT", "7s")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("acme-crm, acme_crm"), "{stderr}");
    // Without the override both providers are fine.
    let output = gatehouse(&config, &["check-config"]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
}
