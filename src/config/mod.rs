//! Configuration: the TOML file layered with `GATEHOUSE__SECTION__KEY` environment overrides, parsed once at start
//! into these types and validated (cross-field rules included) before anything runs.
//!
//! Secrets are [`SecretRef`]s (`env:`/`file:`/literal) and are resolved by whoever builds the component that needs
//! them ([`crate::providers`]), so errors name the config key and never the secret.

mod cluster;
mod development;
mod env;
mod fallback;
mod mutations;
mod outbound;
mod redact;
mod retention;
mod sagas;
mod secret;
mod server;
mod subscriptions;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Format, Toml};
use serde::{Deserialize, Serialize};

pub use cluster::{ClusterConfig, RedisUrl};
pub use development::exposed_development_credentials;
pub use fallback::{FallbackConfig, ReadFallback, RouteFallback};
pub use mutations::{CommandsConfig, IdempotencyConfig};
pub use outbound::{
    AdminConfig, BasicCredentials, BreakerSettings, CallerConfig, Credentials, RateLimitConfig, RetryConfig,
};
pub use redact::{CapabilityUrl, DatabaseUrl, KeyDigest};
pub use retention::RetentionConfig;
pub use sagas::{SagaCallConfig, SagaConfig, SagaStepConfig};
pub use secret::SecretRef;
pub use server::{Runtime, ServerConfig, StoreConfig};
pub use subscriptions::{DeliveryRetry, RelayConfig, SinkConfig, SubscriptionConfig, glob_matches};

/// A configuration that cannot be used, naming the key at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {0} does not exist")]
    Missing(PathBuf),
    #[error("{0}")]
    Parse(String),
    #[error("{key}: {message}")]
    Invalid { key: String, message: String },
}

impl ConfigError {
    pub fn invalid(key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError::Invalid {
            key: key.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub store: StoreConfig,
    pub admin: Option<AdminConfig>,
    #[serde(default)]
    pub callers: Vec<CallerConfig>,
    #[serde(default)]
    pub providers: BTreeMap<String, ProviderConfig>,
    #[serde(default)]
    pub idempotency: IdempotencyConfig,
    #[serde(default)]
    pub commands: CommandsConfig,
    #[serde(default)]
    pub subscriptions: Vec<SubscriptionConfig>,
    #[serde(default)]
    pub relay: RelayConfig,
    #[serde(default)]
    pub retention: RetentionConfig,
    /// Rate limits shared by every replica through Redis; absent, each replica keeps its own.
    pub cluster: Option<ClusterConfig>,
    /// Operations across providers, run to the end or undone (`POST /v1/sagas/{name}`).
    #[serde(default)]
    pub sagas: Vec<SagaConfig>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// The adapter crate serving this provider; defaults to the provider's own name.
    pub adapter: Option<String>,
    /// The vendor API's root; outbound routes (`/v1/NAME/...`, `/proxy/NAME/...`) need it.
    pub base_url: Option<String>,
    pub credentials: Option<Credentials>,
    /// The deadline of one outbound call, retries included, until the vendor's response headers.
    #[serde(with = "humantime_serde", default = "outbound::default_timeout")]
    pub timeout: Duration,
    /// Bulkhead: the most calls in flight to this vendor; more are refused at once.
    #[serde(default = "outbound::default_concurrency")]
    pub concurrency: usize,
    pub rate_limit: Option<RateLimitConfig>,
    #[serde(default)]
    pub retry: RetryConfig,
    #[serde(default)]
    pub circuit_breaker: BreakerSettings,
    /// Answers from the read model when the vendor fails (`fallback = { read_model = true, max_stale = "24h" }`).
    #[serde(default)]
    pub fallback: FallbackConfig,
    pub webhook: Option<WebhookConfig>,
}

impl Default for ProviderConfig {
    fn default() -> Self {
        Self {
            adapter: None,
            base_url: None,
            credentials: None,
            timeout: outbound::default_timeout(),
            concurrency: outbound::default_concurrency(),
            rate_limit: None,
            retry: RetryConfig::default(),
            circuit_breaker: BreakerSettings::default(),
            fallback: FallbackConfig::default(),
            webhook: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Signature scheme; defaults to the adapter's.
    pub scheme: Option<String>,
    /// Every secret that may have signed a webhook (rotation): any may match.
    #[serde(default)]
    pub secrets: Vec<SecretRef>,
    /// Asymmetric schemes (`sendgrid`, `standard-webhooks` `v1a`): every public key that may verify a webhook,
    /// as the vendor shows it (SendGrid's base64 DER key, `whpk_<base64>`); `env:`/`file:` references or literals.
    #[serde(default)]
    pub public_keys: Vec<SecretRef>,
    /// `twilio` scheme: the exact URL Twilio is configured to call (it signs it).
    pub public_url: Option<String>,
    /// Allowed clock distance for schemes that sign a timestamp.
    #[serde(with = "humantime_serde", default = "default_tolerance")]
    pub tolerance: Duration,
    /// `hmac` scheme: the header holding the signature.
    pub header: Option<String>,
    /// `hmac` scheme: text before the signature in the header, e.g. `sha256=`.
    pub prefix: Option<String>,
    /// `hmac` scheme: `hex` (default) or `base64`.
    pub encoding: Option<String>,
    /// `hmac` scheme: what is signed, from `{body}` and `{timestamp}`; default `{body}`.
    pub signed_content: Option<String>,
    /// `hmac` scheme: the header holding the signed timestamp, when `signed_content` uses `{timestamp}`.
    pub timestamp_header: Option<String>,
    /// `generic` adapter: where the event id is: `header:NAME` or a JSON pointer such as `/id`.
    pub event_id: Option<String>,
    /// `generic` adapter: where the event type is.
    pub event_type: Option<String>,
    /// `generic` adapter: where the subject (ordering key) is; optional.
    pub subject: Option<String>,
}

impl WebhookConfig {
    /// The adapter-specific settings present (`event_id`, `event_type`, `subject`), by key, for the adapter's
    /// [`gatehouse_kit::Descriptor`].
    pub fn adapter_settings(&self) -> Vec<(&'static str, &str)> {
        [
            ("event_id", &self.event_id),
            ("event_type", &self.event_type),
            ("subject", &self.subject),
        ]
        .into_iter()
        .filter_map(|(key, value)| value.as_deref().map(|value| (key, value)))
        .collect()
    }
}

fn default_tolerance() -> Duration {
    Duration::from_secs(300)
}

/// Provider names the gateway keeps for itself.
const RESERVED_NAMES: &[&str] = &["commands", "sagas", "gatehouse"];

impl Config {
    /// Reads `path` (which must exist) and applies `GATEHOUSE__…` environment overrides, then validates.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        if !path.exists() {
            return Err(ConfigError::Missing(path.to_owned()));
        }
        Self::from_toml(Toml::file_exact(path))
    }

    /// Like [`Self::load`] with the TOML given as text (for the fuzzer and tests): the same overrides, parsing and
    /// validation.
    pub fn from_toml_str(text: &str) -> Result<Config, ConfigError> {
        Self::from_toml(Toml::string(text))
    }

    /// The TOML layered with `GATEHOUSE__…` environment overrides (provider names resolved as [`env`] describes),
    /// extracted and validated.
    fn from_toml(toml: figment::providers::Data<Toml>) -> Result<Config, ConfigError> {
        let file = Figment::new().merge(toml);
        let file_providers = match file.find_value("providers") {
            Ok(figment::value::Value::Dict(_, providers)) => providers.into_keys().collect(),
            _ => std::collections::BTreeSet::new(),
        };
        let config: Config = file
            .merge(env::overrides(&file_providers)?)
            .extract()
            .map_err(|e| ConfigError::Parse(figment_message(e)))?;
        config.validate()?;
        Ok(config)
    }

    /// `server.runtime = "per-core"` only with the SQLite store and without `[cluster]`: a PostgreSQL or Redis
    /// connection is driven by a task of the runtime that opened it, and one opened on a per-core runtime would
    /// stop with it while the background workers still use it.
    fn check_runtime(&self) -> Result<(), ConfigError> {
        if self.server.runtime != Runtime::PerCore {
            return Ok(());
        }
        let postgres = matches!(
            crate::store::StoreUrl::parse(&self.store.url),
            Ok(crate::store::StoreUrl::Postgres(_))
        );
        if postgres || self.cluster.is_some() {
            return Err(ConfigError::invalid(
                "server.runtime",
                "\"per-core\" serves with the SQLite store and without [cluster] only; use \"shared\"",
            ));
        }
        Ok(())
    }

    /// Rules serde cannot express. Secrets, schemes and adapters are checked when [`crate::providers`] builds them.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.server.check()?;
        if self.server.max_body_bytes == 0 {
            return Err(ConfigError::invalid("server.max_body_bytes", "must be at least 1"));
        }
        self.store.check()?;
        self.check_runtime()?;
        self.validate_callers()?;
        if let Some(admin) = &self.admin {
            outbound::check_sha256_hex("admin.token_sha256", &admin.token_sha256)?;
        }
        for (name, provider) in &self.providers {
            let key = format!("providers.{name}");
            if let Some(limit) = &provider.rate_limit {
                outbound::check_rate_limit(&format!("{key}.rate_limit"), limit)?;
            }
            outbound::check_retry(&format!("{key}.retry"), &provider.retry)?;
            provider.fallback.check(&format!("{key}.fallback"))?;
            if provider.timeout.is_zero() {
                return Err(ConfigError::invalid(format!("{key}.timeout"), "must be more than zero"));
            }
            if !(1..=100_000).contains(&provider.concurrency) {
                return Err(ConfigError::invalid(
                    format!("{key}.concurrency"),
                    "must be between 1 and 100000",
                ));
            }
        }
        for name in self.providers.keys() {
            let valid = !name.is_empty()
                && name.len() <= 64
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
            if !valid {
                return Err(ConfigError::invalid(
                    format!("providers.{name}"),
                    "provider names are 1-64 characters of a-z, 0-9, '-' and '_'",
                ));
            }
            if RESERVED_NAMES.contains(&name.as_str()) {
                return Err(ConfigError::invalid(
                    format!("providers.{name}"),
                    "is reserved (`/v1/commands`, `/v1/sagas` and `gatehouse.*` event types are the gateway's own)",
                ));
            }
        }
        let longest_timeout = self
            .providers
            .values()
            .filter(|p| p.base_url.is_some())
            .map(|p| p.timeout)
            .max()
            .unwrap_or_default();
        mutations::check(&self.idempotency, &self.commands, longest_timeout)?;
        subscriptions::check(&self.subscriptions, &self.relay)?;
        retention::check(&self.retention)?;
        sagas::validate(&self.sagas, &self.callers)?;
        if let Some(cluster) = &self.cluster {
            cluster.check(self)?;
        }
        Ok(())
    }

    fn validate_callers(&self) -> Result<(), ConfigError> {
        let mut names = std::collections::HashSet::new();
        let mut keys = std::collections::HashSet::new();
        for (i, caller) in self.callers.iter().enumerate() {
            let key = format!("callers[{i}]");
            let plain = caller.name.len() <= 64
                && !caller.name.is_empty()
                && caller
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
            if !plain || !names.insert(caller.name.as_str()) {
                return Err(ConfigError::invalid(
                    format!("{key}.name"),
                    "must be unique, 1-64 characters of A-Z, a-z, 0-9, '.', '_' and '-'",
                ));
            }
            outbound::check_sha256_hex(&format!("{key}.key_sha256"), &caller.key_sha256)?;
            if !keys.insert(caller.key_sha256.to_ascii_lowercase()) {
                return Err(ConfigError::invalid(
                    format!("{key}.key_sha256"),
                    "two callers share this key",
                ));
            }
            for provider in &caller.providers {
                if provider != "*" && !self.providers.contains_key(provider) {
                    return Err(ConfigError::invalid(
                        format!("{key}.providers"),
                        format!("no provider {provider:?} is configured"),
                    ));
                }
            }
            if let Some(limit) = &caller.rate_limit {
                outbound::check_rate_limit(&format!("{key}.rate_limit"), limit)?;
            }
        }
        Ok(())
    }

    /// Every literal secret, by key, for `check-config`'s warnings.
    pub fn literal_secrets(&self) -> Vec<String> {
        let mut keys = Vec::new();
        for (name, provider) in &self.providers {
            let literal = match &provider.credentials {
                Some(Credentials::Bearer { bearer }) => bearer.is_literal(),
                Some(Credentials::Header { value, .. }) => value.is_literal(),
                Some(Credentials::Basic { basic }) => basic.password.is_literal(),
                None => false,
            };
            if literal {
                keys.push(format!("providers.{name}.credentials"));
            }
            if let Some(webhook) = &provider.webhook {
                for (i, secret) in webhook.secrets.iter().enumerate() {
                    if secret.is_literal() {
                        keys.push(format!("providers.{name}.webhook.secrets[{i}]"));
                    }
                }
            }
        }
        for (i, subscription) in self.subscriptions.iter().enumerate() {
            if let SinkConfig::Http { secret, .. } = &subscription.sink
                && secret.is_literal()
            {
                keys.push(format!("subscriptions[{i}].sink.secret"));
            }
        }
        keys
    }
}

/// Figment's errors, rebuilt so they name the key as written in the file (`server.listen`) and never quote a value:
/// a misplaced secret must not end up on a terminal or in a log. TOML syntax errors keep their position and reason
/// but lose the quoted source line.
fn figment_message(error: figment::Error) -> String {
    use figment::error::{Actual, Kind};
    let redact = |actual: &Actual| match actual {
        Actual::Str(_) => "a string".to_owned(),
        Actual::Bytes(_) => "bytes".to_owned(),
        Actual::Char(_) => "a character".to_owned(),
        other => other.to_string(),
    };
    error
        .into_iter()
        .map(|e| {
            let what = match &e.kind {
                Kind::InvalidType(actual, expected) => {
                    format!("invalid type: found {}, expected {expected}", redact(actual))
                }
                Kind::InvalidValue(actual, expected) => {
                    format!("invalid value: found {}, expected {expected}", redact(actual))
                }
                Kind::Message(message) => message
                    .lines()
                    .filter(|line| !line.contains('|'))
                    .map(str::trim)
                    .filter(|line| !line.is_empty())
                    .collect::<Vec<_>>()
                    .join(": "),
                other => other.to_string(),
            };
            let source = e
                .metadata
                .as_ref()
                .map(|m| match &m.source {
                    Some(source) => format!(" (in {source})"),
                    None => format!(" (in {})", m.name),
                })
                .unwrap_or_default();
            if e.path.is_empty() {
                format!("{what}{source}")
            } else {
                format!("{}: {what}{source}", e.path.join("."))
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests;
