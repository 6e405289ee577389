//! The provider registry: each `[providers.NAME]` built into its adapter and, for webhooks, its verifier (scheme,
//! prepared keys, tolerance) and, with a `base_url`, its outbound policy stack and route table. Adapters come
//! from the registry in [`crate::adapters`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use gatehouse_kit::descriptor::Settings;
use gatehouse_kit::signature::{Encoding, HmacScheme, KeyKind, SigningKey, TwilioScheme};
use gatehouse_kit::{Adapter, Scheme};
use secrecy::ExposeSecret;

use crate::config::{Config, ConfigError, FallbackConfig, ProviderConfig, WebhookConfig};
use crate::upstream::ProviderClient;

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
    let Some(descriptor) = crate::adapters::find(adapter_name) else {
        let which = if provider.adapter.is_some() {
            format!("{key}.adapter")
        } else {
            key.to_owned()
        };
        return Err(ConfigError::invalid(
            which,
            format!(
                "unknown adapter {adapter_name:?}; set `adapter` to one of: {}",
                crate::adapters::names().join(", ")
            ),
        ));
    };
    let webhook = provider.webhook.as_ref();
    let mut settings = Settings::new(webhook.is_some());
    for (setting, value) in webhook.map(WebhookConfig::adapter_settings).unwrap_or_default() {
        if !descriptor.settings.contains(&setting) {
            let owners: Vec<&str> = crate::adapters::REGISTRY
                .iter()
                .filter(|d| d.settings.contains(&setting))
                .map(|d| d.name)
                .collect();
            return Err(ConfigError::invalid(
                format!("{key}.webhook.{setting}"),
                format!("a setting of the {} adapter only", owners.join(", ")),
            ));
        }
        settings = settings.with(setting, value);
    }
    (descriptor.build)(&settings).map_err(|e| {
        let at = if e.key.is_empty() {
            format!("{key}.webhook")
        } else {
            format!("{key}.webhook.{}", e.key)
        };
        ConfigError::invalid(at, e.message)
    })
}

fn build_verifier(key: &str, adapter: &dyn Adapter, webhook: &WebhookConfig) -> Result<WebhookVerifier, ConfigError> {
    let scheme = build_scheme(key, adapter, webhook)?;
    let kinds = scheme.key_kinds();
    let name = scheme.name();
    if !kinds.takes_secrets() && !webhook.secrets.is_empty() {
        return Err(ConfigError::invalid(
            format!("{key}.secrets"),
            format!("the {name} scheme verifies with public_keys, not secrets"),
        ));
    }
    if !kinds.takes_public_keys() && !webhook.public_keys.is_empty() {
        return Err(ConfigError::invalid(
            format!("{key}.public_keys"),
            format!("the {name} scheme verifies with secrets, not public keys"),
        ));
    }
    if webhook.secrets.is_empty() && webhook.public_keys.is_empty() {
        let (field, what) = match (kinds.takes_secrets(), kinds.takes_public_keys()) {
            (true, true) => (
                "secrets",
                "at least one secret (v1) or public key (public_keys, v1a) is required",
            ),
            (false, _) => ("public_keys", "at least one public key is required"),
            (true, false) => ("secrets", "at least one secret is required"),
        };
        return Err(ConfigError::invalid(format!("{key}.{field}"), what));
    }
    let mut keys = Vec::with_capacity(webhook.secrets.len() + webhook.public_keys.len());
    for (i, secret) in webhook.secrets.iter().enumerate() {
        let secret_key = format!("{key}.secrets[{i}]");
        let secret = secret.resolve(&secret_key)?;
        let prepared = scheme
            .signing_key(&secret)
            .map_err(|e| ConfigError::invalid(&secret_key, e.to_string()))?;
        if prepared.kind() == KeyKind::PrivateKey {
            return Err(ConfigError::invalid(
                &secret_key,
                "is a private key, which only signs: configure its public key in public_keys",
            ));
        }
        keys.push(prepared);
    }
    for (i, public) in webhook.public_keys.iter().enumerate() {
        let public_key = format!("{key}.public_keys[{i}]");
        let text = public.resolve(&public_key)?;
        let prepared = scheme
            .public_key(text.expose_secret().trim())
            .map_err(|e| ConfigError::invalid(&public_key, e.to_string()))?;
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
    if webhook.public_url.is_some() && scheme_name(adapter, webhook) != Some("twilio") {
        return Err(ConfigError::invalid(
            format!("{key}.public_url"),
            "applies to scheme = \"twilio\" only",
        ));
    }
    let scheme = match scheme_name(adapter, webhook) {
        Some("twilio") => {
            let url = webhook.public_url.as_deref().ok_or_else(|| {
                ConfigError::invalid(
                    format!("{key}.public_url"),
                    "the twilio scheme needs the exact URL Twilio is configured to call",
                )
            })?;
            Scheme::Twilio(TwilioScheme::new(url).map_err(|e| ConfigError::invalid(format!("{key}.public_url"), e))?)
        }
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
        None => {
            return Err(ConfigError::invalid(
                format!("{key}.scheme"),
                format!(
                    "the {} adapter has no default scheme; choose one of: {}",
                    adapter.name(),
                    Scheme::NAMES.join(", ")
                ),
            ));
        }
    };
    if hmac_keys.contains(&true) {
        return Err(ConfigError::invalid(
            key,
            "header, prefix, encoding, signed_content and timestamp_header apply to scheme = \"hmac\" only",
        ));
    }
    Ok(scheme)
}

/// The scheme a provider's webhooks are verified with: the configured one, else its adapter's default.
fn scheme_name<'a>(adapter: &dyn Adapter, webhook: &'a WebhookConfig) -> Option<&'a str> {
    webhook.scheme.as_deref().or(adapter.default_scheme())
}
