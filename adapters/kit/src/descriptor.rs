//! [`Descriptor`]: what each adapter crate exports so that the gateway can list it in its one registry table
//! (`src/adapters.rs`): the name config writes in `adapter = "..."`, the adapter's own `[providers.X.webhook]`
//! settings, and how to build it from them. Everything else the gateway needs (default scheme, routes, entities)
//! the built [`Adapter`] answers itself.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::Adapter;

/// One adapter crate's entry in the gateway's registry: `pub const DESCRIPTOR: Descriptor = ...` in its `lib.rs`.
#[derive(Clone, Copy)]
pub struct Descriptor {
    /// The name config writes in `adapter = "..."` (and the default when a provider is named after its adapter).
    pub name: &'static str,
    /// The keys of `[providers.X.webhook]` this adapter reads for itself (the generic adapter's `event_id`,
    /// `event_type`, `subject`); any other adapter given one of them is a config error.
    pub settings: &'static [&'static str],
    /// Builds the adapter for one provider from the settings present.
    pub build: fn(&Settings) -> Result<Arc<dyn Adapter>, SettingsError>,
}

impl std::fmt::Debug for Descriptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Descriptor")
            .field("name", &self.name)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Descriptor {
    /// A descriptor for an adapter without settings, built with `build`.
    pub const fn plain(name: &'static str, build: fn(&Settings) -> Result<Arc<dyn Adapter>, SettingsError>) -> Self {
        Self {
            name,
            settings: &[],
            build,
        }
    }
}

/// The adapter's own settings of one provider, as written (only keys from [`Descriptor::settings`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    /// Whether the provider has a `[webhook]` table at all.
    pub has_webhook: bool,
    values: BTreeMap<String, String>,
}

impl Settings {
    pub fn new(has_webhook: bool) -> Self {
        Self {
            has_webhook,
            values: BTreeMap::new(),
        }
    }

    /// Adds `key = value`.
    pub fn with(mut self, key: &str, value: &str) -> Self {
        self.values.insert(key.to_owned(), value.to_owned());
        self
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }
}

/// A setting an adapter cannot use: the key (relative to `[providers.X.webhook]`, or empty for the table itself)
/// and why. Never carries a secret (adapter settings are not secrets).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct SettingsError {
    pub key: String,
    pub message: String,
}

impl SettingsError {
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// The `build` of an adapter that takes no settings: `Descriptor::plain("github", built::<Github>)`.
pub fn built<A: Adapter + Default>(_: &Settings) -> Result<Arc<dyn Adapter>, SettingsError> {
    Ok(Arc::new(A::default()))
}
