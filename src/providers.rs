//! The provider registry: each `[providers.NAME]` built into its adapter and, for webhooks, its verifier (scheme,
//! prepared keys, tolerance) and, with a `base_url`, its outbound policy stack and route table. The list of
//! adapters is the one exhaustive `match` in [`build_adapter`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use gatehouse_kit::signature::{Encoding, HmacScheme, SigningKey};
use gatehouse_kit::{Adapter, Scheme};

use crate::config::{Config, ConfigError, FallbackConfig, ProviderConfig, WebhookConfig};
use crate::upstream::ProviderClient;

/// Every adapter name `adapter = "..."` accepts.
pub const ADAPTERS: &[&str] = &["acme-crm", "stripe", "github", "shopify", "slack", "generic"];

pub struct Provider {
    pub name: String,
    pub adapter: Arc<dyn Adapter>,
    pub webhook: Option<WebhookVerifier>,
    /// The vendor API behind its policy stack; `None` without a `base_url`.
    pub outbound: Option<ProviderClient>,
    /// The adapter's domain routes: path pattern → indexes into `adapter.routes()` (one per method).
    pub routes: matchit::Router<Vec<usize>>,
    /// Whether the read model keeps this provider's entities, and when it answers for the vendor.
    pub fallback: FallbackConfig,
}

/// How a provider's webhooks are verified. Holds prepared keys; no `Debug` derive shows them.
pub struct WebhookVerifier {
    pub scheme: Scheme,
    pub keys: Vec<SigningKey>,
    pub tolerance: Duration,
}

#[derive(Default)]
pub struct Providers(HashMap<String, Arc<Provider>>);

impl Providers {
    /// Builds every configured provider, resolving secrets; the first problem is returned naming its key. Rate
    /// limits are this process's own (see [`Self::build_with_cluster`]).
    pub fn build(config: &Config) -> Result<Providers, ConfigError> {
        Self::build_with_cluster(config, None)
    }

    /// [`Self::build`], with every provider's rate limit shared through `cluster` when there is one.
    pub fn build_with_cluster(
        config: &Config,
        cluster: Option<&Arc<crate::cluster::Cluster>>,
    ) -> Result<Providers, ConfigError> {
        let mut providers = HashMap::new();
        for (name, provider) in &config.providers {
            let key = format!("providers.{name}");
            let adapter = build_adapter(&key, name, provider)?;
            let webhook = match &provider.webhook {
                Some(webhook) => {
                    let verifier = build_verifier(&format!("{key}.webhook"), adapter.as_ref(), webhook)?;
                    check_id_is_signed(&format!("{key}.webhook"), &verifier.scheme, webhook)?;
                    Some(verifier)
                }
                None => None,
            };
            let outbound = ProviderClient::build(name, provider, cluster)?;
            let routes = route_table(&key, adapter.as_ref())?;
            check_fallback(&format!("{key}.fallback"), adapter.as_ref(), &provider.fallback)?;
            providers.insert(
                name.clone(),
                Arc::new(Provider {
                    name: name.clone(),
                    adapter,
                    webhook,
                    outbound,
                    routes,
                    fallback: provider.fallback.clone(),
                }),
            );
        }
        Ok(Providers(providers))
    }

    pub fn get(&self, name: &str) -> Option<&Arc<Provider>> {
        self.0.get(name)
    }

    /// Every provider, by name.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Provider>> {
        let mut all: Vec<_> = self.0.values().collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all.into_iter()
    }
}

/// Warnings about a config that works but is weaker than it looks: a `generic` provider whose event id comes from
/// a header its scheme does not sign (whoever captures one webhook can resend it under new ids, each stored anew).
pub fn warnings(config: &Config) -> Vec<String> {
    let mut warnings = Vec::new();
    for (name, provider) in &config.providers {
        let Some(webhook) = &provider.webhook else { continue };
        let Some(header) = id_header(webhook) else { continue };
        let signs_an_id = webhook
            .scheme
            .as_deref()
            .and_then(Scheme::from_name)
            .is_some_and(|scheme| !scheme.signed_id_headers().is_empty());
        if !signs_an_id {
            warnings.push(format!(
                "providers.{name}.webhook.event_id reads header {header}, which the {} scheme does not sign: a \
                 captured webhook can be resent under new ids; prefer a JSON pointer into the signed body",
                webhook.scheme.as_deref().unwrap_or("configured")
            ));
        }
    }
    warnings
}

/// The header a `generic` provider reads its event id from, if it reads it from a header.
fn id_header(webhook: &WebhookConfig) -> Option<String> {
    match gatehouse_generic::Locator::parse(webhook.event_id.as_deref()?) {
        Ok(gatehouse_generic::Locator::Header(header)) => Some(header),
        _ => None,
    }
}

/// A scheme that signs a message id (Standard Webhooks, Svix) must be the source of a header-located event id: any
/// other header is unsigned, and a replay could carry any id there.
fn check_id_is_signed(key: &str, scheme: &Scheme, webhook: &WebhookConfig) -> Result<(), ConfigError> {
    let signed = scheme.signed_id_headers();
    match id_header(webhook) {
        Some(header) if !signed.is_empty() && !signed.iter().any(|s| s.eq_ignore_ascii_case(&header)) => {
            Err(ConfigError::invalid(
                format!("{key}.event_id"),
                format!(
                    "header {header} is not signed by the {} scheme; read the event id from header:{}, which is",
                    scheme.name(),
                    signed[0]
                ),
            ))
        }
        _ => Ok(()),
    }
}

/// A read-model fallback needs entities declared by the adapter, and a route override must name one of their
/// single-entity reads.
fn check_fallback(key: &str, adapter: &dyn Adapter, fallback: &FallbackConfig) -> Result<(), ConfigError> {
    let reads: Vec<&str> = adapter.entities().iter().map(|e| e.read).collect();
    if fallback.keeps_entities() && reads.is_empty() {
        return Err(ConfigError::invalid(
            format!("{key}.read_model"),
            format!("the {} adapter declares no entities to keep", adapter.name()),
        ));
    }
    if let Some(path) = fallback.routes.keys().find(|path| !reads.contains(&path.as_str())) {
        return Err(ConfigError::invalid(
            format!("{key}.routes"),
            format!(
                "{path:?} is not a single-entity read of the {} adapter (those are: {})",
                adapter.name(),
                reads.join(", ")
            ),
        ));
    }
    Ok(())
}

fn route_table(key: &str, adapter: &dyn Adapter) -> Result<matchit::Router<Vec<usize>>, ConfigError> {
    let mut by_path: HashMap<&str, Vec<usize>> = HashMap::new();
    for (index, route) in adapter.routes().iter().enumerate() {
        by_path.entry(route.path).or_default().push(index);
    }
    let mut router = matchit::Router::new();
    for (path, indexes) in by_path {
        router.insert(path, indexes).map_err(|e| {
            ConfigError::invalid(key, format!("the {} adapter declares a bad route: {e}", adapter.name()))
        })?;
    }
    Ok(router)
}

fn build_adapter(key: &str, name: &str, provider: &ProviderConfig) -> Result<Arc<dyn Adapter>, ConfigError> {
    let adapter_name = provider.adapter.as_deref().unwrap_or(name);
    let webhook = provider.webhook.as_ref();
    let generic_keys = webhook.is_some_and(|w| w.event_id.is_some() || w.event_type.is_some() || w.subject.is_some());
    if generic_keys && adapter_name != "generic" {
        return Err(ConfigError::invalid(
            format!("{key}.webhook"),
            "event_id, event_type and subject are settings of the generic adapter only",
        ));
    }
    Ok(match adapter_name {
        "acme-crm" => Arc::new(gatehouse_acme_crm::AcmeCrm::new()),
        "stripe" => Arc::new(gatehouse_stripe::Stripe::new()),
        "github" => Arc::new(gatehouse_github::Github::new()),
        "shopify" => Arc::new(gatehouse_shopify::Shopify::new()),
        "slack" => Arc::new(gatehouse_slack::Slack::new()),
        "generic" => Arc::new(build_generic(&format!("{key}.webhook"), webhook)?),
        other => {
            let which = if provider.adapter.is_some() {
                format!("{key}.adapter")
            } else {
                key.to_owned()
            };
            return Err(ConfigError::invalid(
                which,
                format!(
                    "unknown adapter {other:?}; set `adapter` to one of: {}",
                    ADAPTERS.join(", ")
                ),
            ));
        }
    })
}

fn build_generic(key: &str, webhook: Option<&WebhookConfig>) -> Result<gatehouse_generic::Generic, ConfigError> {
    use gatehouse_generic::Locator;
    let Some(webhook) = webhook else {
        return Err(ConfigError::invalid(key, "the generic adapter needs a [webhook] table"));
    };
    let locate = |field: &str, value: Option<&String>| -> Result<Option<Locator>, ConfigError> {
        value
            .map(|v| Locator::parse(v).map_err(|e| ConfigError::invalid(format!("{key}.{field}"), e)))
            .transpose()
    };
    let required = |field: &str, value: Option<&String>| -> Result<Locator, ConfigError> {
        locate(field, value)?.ok_or_else(|| {
            ConfigError::invalid(
                format!("{key}.{field}"),
                "required by the generic adapter (\"header:NAME\" or a JSON pointer like \"/id\")",
            )
        })
    };
    Ok(gatehouse_generic::Generic::new(
        required("event_id", webhook.event_id.as_ref())?,
        required("event_type", webhook.event_type.as_ref())?,
        locate("subject", webhook.subject.as_ref())?,
    ))
}

fn build_verifier(key: &str, adapter: &dyn Adapter, webhook: &WebhookConfig) -> Result<WebhookVerifier, ConfigError> {
    let scheme = build_scheme(key, adapter, webhook)?;
    if webhook.secrets.is_empty() {
        return Err(ConfigError::invalid(
            format!("{key}.secrets"),
            "at least one secret is required",
        ));
    }
    let mut keys = Vec::with_capacity(webhook.secrets.len());
    for (i, secret) in webhook.secrets.iter().enumerate() {
        let secret_key = format!("{key}.secrets[{i}]");
        let secret = secret.resolve(&secret_key)?;
        let prepared = scheme
            .signing_key(&secret)
            .map_err(|e| ConfigError::invalid(&secret_key, e.to_string()))?;
        keys.push(prepared);
    }
    if scheme.signs_timestamp() && webhook.tolerance.is_zero() {
        return Err(ConfigError::invalid(
            format!("{key}.tolerance"),
            "must be more than zero",
        ));
    }
    Ok(WebhookVerifier {
        scheme,
        keys,
        tolerance: webhook.tolerance,
    })
}

fn build_scheme(key: &str, adapter: &dyn Adapter, webhook: &WebhookConfig) -> Result<Scheme, ConfigError> {
    let hmac_keys = [
        webhook.header.is_some(),
        webhook.prefix.is_some(),
        webhook.encoding.is_some(),
        webhook.signed_content.is_some(),
        webhook.timestamp_header.is_some(),
    ];
    let scheme = match webhook.scheme.as_deref() {
        Some("hmac") => {
            let header = webhook.header.as_deref().ok_or_else(|| {
                ConfigError::invalid(
                    format!("{key}.header"),
                    "the hmac scheme needs the signature header's name",
                )
            })?;
            let encoding = match webhook.encoding.as_deref() {
                None => Encoding::Hex,
                Some(name) => Encoding::from_name(name)
                    .ok_or_else(|| ConfigError::invalid(format!("{key}.encoding"), "expected \"hex\" or \"base64\""))?,
            };
            let hmac = HmacScheme::new(
                header,
                webhook.prefix.clone().unwrap_or_default(),
                encoding,
                webhook.signed_content.as_deref().unwrap_or("{body}"),
                webhook.timestamp_header.clone(),
            )
            .map_err(|e| ConfigError::invalid(key, e))?;
            return Ok(Scheme::Hmac(hmac));
        }
        Some(name) => Scheme::from_name(name).ok_or_else(|| {
            ConfigError::invalid(
                format!("{key}.scheme"),
                format!("unknown scheme {name:?}; expected one of: {}", Scheme::NAMES.join(", ")),
            )
        })?,
        None => adapter.default_scheme().ok_or_else(|| {
            ConfigError::invalid(
                format!("{key}.scheme"),
                format!(
                    "the {} adapter has no default scheme; choose one of: {}",
                    adapter.name(),
                    Scheme::NAMES.join(", ")
                ),
            )
        })?,
    };
    if hmac_keys.contains(&true) {
        return Err(ConfigError::invalid(
            key,
            "header, prefix, encoding, signed_content and timestamp_header apply to scheme = \"hmac\" only",
        ));
    }
    Ok(scheme)
}
