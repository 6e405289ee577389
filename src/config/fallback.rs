//! Configuration of the read-model fallback, per provider (`fallback = { read_model = true, max_stale = "24h" }`)
//! with per-route overrides (`[providers.NAME.fallback.routes."/customers/{id}"]`): whether the provider's
//! entities are kept, and how old a stored copy a single-entity read may answer with when the vendor fails.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::ConfigError;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FallbackConfig {
    /// Keep the entities the provider's adapter declares (from its webhooks and from answers to `/v1` calls), and
    /// answer its single-entity reads from them when the vendor fails for a vendor-side reason.
    #[serde(default)]
    pub read_model: bool,
    /// The oldest stored copy a fallback (or `Cache-Control: only-if-cached`) may answer with.
    #[serde(with = "humantime_serde", default = "default_max_stale")]
    pub max_stale: Duration,
    /// Overrides by the adapter's route path (`"/customers/{id}"`, one of its single-entity reads).
    #[serde(default)]
    pub routes: BTreeMap<String, RouteFallback>,
}

impl Default for FallbackConfig {
    fn default() -> Self {
        Self {
            read_model: false,
            max_stale: default_max_stale(),
            routes: BTreeMap::new(),
        }
    }
}

/// One route's override of its provider's [`FallbackConfig`]: what it leaves out is the provider's.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteFallback {
    pub read_model: Option<bool>,
    #[serde(with = "humantime_serde::option", default)]
    pub max_stale: Option<Duration>,
}

/// Whether and how one single-entity read may be answered from the read model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadFallback {
    pub enabled: bool,
    pub max_stale: Duration,
}

fn default_max_stale() -> Duration {
    Duration::from_secs(24 * 3600)
}

impl FallbackConfig {
    /// The fallback of the read at route `path`, the route's override applied.
    pub fn for_route(&self, path: &str) -> ReadFallback {
        let route = self.routes.get(path);
        ReadFallback {
            enabled: route.and_then(|r| r.read_model).unwrap_or(self.read_model),
            max_stale: route.and_then(|r| r.max_stale).unwrap_or(self.max_stale),
        }
    }

    /// Whether the provider's entities are kept at all: for the provider, or for one of its routes.
    pub fn keeps_entities(&self) -> bool {
        self.read_model || self.routes.values().any(|r| r.read_model == Some(true))
    }

    pub(super) fn check(&self, key: &str) -> Result<(), ConfigError> {
        let routes = self
            .routes
            .iter()
            .map(|(path, r)| (format!("{key}.routes.\"{path}\""), r.max_stale));
        for (key, max_stale) in std::iter::once((key.to_owned(), Some(self.max_stale))).chain(routes) {
            if max_stale.is_some_and(|d| d.is_zero()) {
                return Err(ConfigError::invalid(
                    format!("{key}.max_stale"),
                    "must be more than zero (set read_model = false to answer only from the vendor)",
                ));
            }
        }
        Ok(())
    }
}
