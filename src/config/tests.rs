//! Tests of config loading and validation.

use super::*;

fn load(text: &str) -> Result<Config, ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gatehouse.toml");
    std::fs::write(&path, text).unwrap();
    Config::load(&path)
}

#[test]
fn defaults_fill_what_the_file_leaves_out() {
    let config = load("").unwrap();
    assert_eq!(config.server.listen.port(), 8080);
    assert_eq!(config.server.max_body_bytes, 1 << 20);
    assert_eq!(&*config.store.url, "sqlite://data/gatehouse.db");
}

#[test]
fn durations_are_strings() {
    let config =
        load("[server]\nshutdown_grace = \"250ms\"\n[providers.x.webhook]\nsecrets=[\"env:X\"]\ntolerance = \"5m\"\n")
            .unwrap();
    assert_eq!(config.server.shutdown_grace, Duration::from_millis(250));
    assert_eq!(
        config.providers["x"].webhook.as_ref().unwrap().tolerance,
        Duration::from_secs(300)
    );
}

#[test]
fn errors_name_the_bad_key() {
    let err = load("[server]\nmax_body_bytes = \"lots\"\n").unwrap_err().to_string();
    assert!(err.contains("server.max_body_bytes"), "{err}");
    let err = load("[server]\nlisten_typo = 1\n").unwrap_err().to_string();
    assert!(err.contains("listen_typo"), "{err}");
    let err = load("[store]\nurl = \"mysql://x\"\n").unwrap_err().to_string();
    assert!(err.contains("store.url"), "{err}");
    let err = load("[providers.\"Bad Name\"]\n").unwrap_err().to_string();
    assert!(err.contains("providers.Bad Name"), "{err}");
}

#[test]
fn errors_quote_no_values() {
    for (text, key) in [
        (
            "[providers.x.webhook]\nsecrets = \"whsec_TOPSECRETVALUE\"\n",
            "providers.x.webhook.secrets",
        ),
        ("[server]\nlisten = \"whsec_TOPSECRETVALUE\"\n", "server.listen"),
        ("[providers.x.webhook]\nsecrets = [whsec_TOPSECRETVALUE]\n", "line 2"),
    ] {
        let err = load(text).unwrap_err().to_string();
        assert!(!err.contains("TOPSECRET"), "{err}");
        assert!(err.contains(key), "{key} in {err}");
        assert!(!err.contains("default."), "{err}");
    }
}

#[test]
fn text_loads_like_a_file() {
    let text = "[server]\nmax_body_bytes = 7\n";
    assert_eq!(Config::from_toml_str(text).unwrap().server.max_body_bytes, 7);
    assert_eq!(load(text).unwrap().server.max_body_bytes, 7);
    let err = Config::from_toml_str("[server]\nmax_body_bytes = 0\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("server.max_body_bytes"), "{err}");
    let err = Config::from_toml_str("[server\n").unwrap_err().to_string();
    assert!(err.contains("line 1"), "{err}");
}

#[test]
fn missing_file_is_an_error() {
    let err = Config::load(Path::new("/nonexistent/gatehouse.toml")).unwrap_err();
    assert!(matches!(err, ConfigError::Missing(_)));
}

#[test]
fn literal_secrets_are_listed_and_redacted_in_output() {
    let config = load("[providers.x.webhook]\nsecrets = [\"env:A\", \"sup3rs3cret\"]\n").unwrap();
    assert_eq!(config.literal_secrets(), vec!["providers.x.webhook.secrets[1]"]);
    let printed = toml::to_string(&config).unwrap();
    assert!(!printed.contains("sup3rs3cret"), "{printed}");
    assert!(printed.contains("env:A"), "{printed}");
    assert!(!format!("{config:?}").contains("sup3rs3cret"));
}

#[test]
fn idempotency_locks_and_command_leases_outlast_every_outbound_call() {
    let config = load("").unwrap();
    assert_eq!(config.idempotency.keep_for, Duration::from_secs(86_400));
    assert_eq!(config.commands.max_attempts, 10);
    let provider = "[providers.v]\nbase_url = \"http://127.0.0.1:1\"\ntimeout = \"130s\"\n";
    let err = load(provider).unwrap_err().to_string();
    assert!(err.starts_with("idempotency.lock_for"), "{err}");
    let err = load(&format!("{provider}[idempotency]\nlock_for = \"5m\"\n"))
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("commands.lease"), "{err}");
    load(&format!(
        "{provider}[idempotency]\nlock_for = \"5m\"\n[commands]\nlease = \"3m\"\n"
    ))
    .unwrap();
    // A webhook-only provider's timeout is never used, so it bounds nothing.
    load("[providers.w]\ntimeout = \"10m\"\n[providers.w.webhook]\nsecrets = [\"env:W\"]\n").unwrap();
    let err = load("[idempotency]\nkeep_for = \"30s\"\n").unwrap_err().to_string();
    assert!(err.starts_with("idempotency.keep_for"), "{err}");
    let err = load("[commands]\nmax_attempts = 0\n").unwrap_err().to_string();
    assert!(err.starts_with("commands.max_attempts"), "{err}");
}

#[test]
fn the_gateways_own_names_are_reserved() {
    for name in ["commands", "gatehouse"] {
        let err = load(&format!("[providers.{name}]\n")).unwrap_err().to_string();
        assert!(err.contains("reserved"), "{err}");
    }
    let err = load(&format!(
        "[[callers]]\nname = \"{}\"\nkey_sha256 = \"{}\"\nproviders = []\n",
        "c".repeat(65),
        "a".repeat(64)
    ))
    .unwrap_err()
    .to_string();
    assert!(err.starts_with("callers[0].name"), "{err}");
}

#[test]
fn nats_sinks_have_defaults_and_checked_keys() {
    let subscription = |sink: &str| format!("[[subscriptions]]\nname = \"s\"\nevents = [\"*\"]\nsink = {{ {sink} }}\n");
    let config = load(&subscription(r#"type = "nats", url = "nats://127.0.0.1:4222""#)).unwrap();
    let SinkConfig::Nats {
        url,
        subject_prefix,
        stream,
        timeout,
    } = &config.subscriptions[0].sink
    else {
        panic!("not a nats sink: {:?}", config.subscriptions[0].sink);
    };
    assert_eq!(url, "nats://127.0.0.1:4222");
    assert_eq!(subject_prefix, "gatehouse");
    assert_eq!(stream, "GATEHOUSE");
    assert_eq!(*timeout, Duration::from_secs(10));
    load(&subscription(
        r#"type = "nats", url = "tls://nats.internal", subject_prefix = "org.events", stream = "ORG_EVENTS", timeout = "2s""#,
    ))
    .unwrap();
    for (sink, key) in [
        (r#"type = "nats", url = "http://127.0.0.1:4222""#, "url"),
        (r#"type = "nats", url = "nats://user:pass@127.0.0.1""#, "url"),
        (r#"type = "nats", url = "nats://""#, "url"),
        (r#"type = "nats", url = "127.0.0.1:4222""#, "url"),
        (
            r#"type = "nats", url = "nats://h", subject_prefix = """#,
            "subject_prefix",
        ),
        (
            r#"type = "nats", url = "nats://h", subject_prefix = "a..b""#,
            "subject_prefix",
        ),
        (
            r#"type = "nats", url = "nats://h", subject_prefix = "a.""#,
            "subject_prefix",
        ),
        (
            r#"type = "nats", url = "nats://h", subject_prefix = "a b""#,
            "subject_prefix",
        ),
        (
            r#"type = "nats", url = "nats://h", subject_prefix = "a.*""#,
            "subject_prefix",
        ),
        (
            r#"type = "nats", url = "nats://h", subject_prefix = "a.>""#,
            "subject_prefix",
        ),
        (r#"type = "nats", url = "nats://h", stream = "A.B""#, "stream"),
        (r#"type = "nats", url = "nats://h", stream = "A B""#, "stream"),
        (r#"type = "nats", url = "nats://h", stream = """#, "stream"),
        (r#"type = "nats", url = "nats://h", stream = "A*""#, "stream"),
        (r#"type = "nats", url = "nats://h", timeout = "0s""#, "timeout"),
        (r#"type = "nats", url = "nats://h", timeout = "60s""#, "timeout"),
    ] {
        let err = load(&subscription(sink)).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("subscriptions[0].sink.{key}:")),
            "{sink}: {err}"
        );
    }
    let err = load(&subscription(r#"type = "nats", url = "nats://h", subjects = "x""#))
        .unwrap_err()
        .to_string();
    assert!(err.contains("subjects"), "{err}");
}

#[test]
fn each_subscription_gets_its_own_share_of_relay_concurrency() {
    let subscription = |name: &str, extra: &str| {
        format!("[[subscriptions]]\nname = \"{name}\"\nevents = [\"*\"]\nsink = {{ type = \"log\" }}\n{extra}\n")
    };
    let slots = |config: &Config| -> Vec<usize> {
        let of = config.subscriptions.len();
        config
            .subscriptions
            .iter()
            .map(|s| s.slots(&config.relay, of))
            .collect()
    };
    // One subscription has the whole of [relay] concurrency (64 by default).
    assert_eq!(slots(&load(&subscription("a", "")).unwrap()), [64]);
    // Several split it equally, rounded down.
    let three = subscription("a", "") + &subscription("b", "") + &subscription("c", "");
    assert_eq!(slots(&load(&three).unwrap()), [21, 21, 21]);
    // Never below one each.
    let config = load(&format!("[relay]\nconcurrency = 2\n{three}")).unwrap();
    assert_eq!(slots(&config), [1, 1, 1]);
    // A subscription's own concurrency replaces its share; the others' shares stay as they were.
    let config = load(&(subscription("a", "concurrency = 5") + &subscription("b", ""))).unwrap();
    assert_eq!(slots(&config), [5, 32]);
    for bad in ["concurrency = 0", "concurrency = 4097"] {
        let err = load(&(subscription("a", "") + &subscription("b", bad)))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("subscriptions[1].concurrency:"), "{bad}: {err}");
    }
    let err = load(&subscription("a", "concurrency = \"many\""))
        .unwrap_err()
        .to_string();
    assert!(err.contains("concurrency"), "{err}");
}

#[test]
fn admin_listen_must_differ_from_listen() {
    let config = load("[server]\nlisten = \"127.0.0.1:8080\"\nadmin_listen = \"127.0.0.1:9090\"\n").unwrap();
    assert_eq!(config.server.admin_listen, Some("127.0.0.1:9090".parse().unwrap()));
    assert!(load("").unwrap().server.admin_listen.is_none());
    let err = load("[server]\nlisten = \"127.0.0.1:8080\"\nadmin_listen = \"127.0.0.1:8080\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("server.admin_listen"), "{err}");
}

#[test]
fn the_per_core_runtime_is_for_sqlite_without_a_cluster() {
    let shared = Config::from_toml_str("").unwrap();
    assert_eq!(shared.server.runtime, super::Runtime::Shared, "the default");
    let per_core = Config::from_toml_str("[server]\nruntime = \"per-core\"\n").unwrap();
    assert_eq!(per_core.server.runtime, super::Runtime::PerCore);
    for refused in [
        "[server]\nruntime = \"per-core\"\n[store]\nurl = \"postgres://gh@127.0.0.1:5432/gh\"\n",
        "[server]\nruntime = \"per-core\"\n[cluster]\nredis_url = \"redis://127.0.0.1:6379/0\"\n",
    ] {
        let error = Config::from_toml_str(refused).unwrap_err().to_string();
        assert!(error.contains("server.runtime"), "{error}");
    }
    let error = Config::from_toml_str("[server]\nruntime = \"threads\"\n")
        .unwrap_err()
        .to_string();
    assert!(error.contains("runtime"), "{error}");
}
