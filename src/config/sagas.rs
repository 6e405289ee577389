//! `[[sagas]]`: business operations across several providers, each an ordered list of domain calls with the call
//! that undoes it. This is the config's shape and the checks that need nothing but the config (names, callers);
//! templates, providers and routes are checked where the definitions are compiled ([`crate::sagas::Definitions`]).

use serde::{Deserialize, Serialize};

use super::{CallerConfig, ConfigError};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SagaConfig {
    /// Started with `POST /v1/sagas/{name}`.
    pub name: String,
    /// The callers (`[[callers]] name`) allowed to start it; `["*"]` for every caller.
    pub callers: Vec<String>,
    pub steps: Vec<SagaStepConfig>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SagaStepConfig {
    /// Names the step in templates (`{steps.NAME.id}`) and in the saga's state.
    pub name: String,
    /// The provider whose domain route the step calls.
    pub provider: String,
    pub call: SagaCallConfig,
    /// The call that undoes this step once it completed, when a later step fails for good.
    pub compensate: Option<SagaCallConfig>,
}

/// One domain call: `path` is relative to `/v1/{provider}`; `body` is JSON (TOML tables and arrays), its strings
/// templates.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SagaCallConfig {
    pub method: String,
    pub path: String,
    pub body: Option<serde_json::Value>,
}

/// Longest saga or step name: a step's vendor idempotency key (`saga-<uuid>-<step>-undo`) must stay short.
const MAX_NAME: usize = 64;

/// Checks names (unique, plain) and callers (known) of every saga.
pub(super) fn validate(sagas: &[SagaConfig], callers: &[CallerConfig]) -> Result<(), ConfigError> {
    let mut names = std::collections::HashSet::new();
    for (i, saga) in sagas.iter().enumerate() {
        let key = format!("sagas[{i}]");
        check_name(&format!("{key}.name"), &saga.name)?;
        if !names.insert(saga.name.as_str()) {
            return Err(ConfigError::invalid(
                format!("{key}.name"),
                format!("saga {:?} is defined twice", saga.name),
            ));
        }
        if saga.callers.is_empty() {
            return Err(ConfigError::invalid(
                format!("{key}.callers"),
                "must list the callers allowed to start it, or \"*\"",
            ));
        }
        for (j, caller) in saga.callers.iter().enumerate() {
            if caller != "*" && !callers.iter().any(|c| &c.name == caller) {
                return Err(ConfigError::invalid(
                    format!("{key}.callers[{j}]"),
                    format!("no caller named {caller:?} in [[callers]]"),
                ));
            }
        }
        if saga.steps.is_empty() {
            return Err(ConfigError::invalid(
                format!("{key}.steps"),
                "must have at least one step",
            ));
        }
        let mut steps = std::collections::HashSet::new();
        for (j, step) in saga.steps.iter().enumerate() {
            let step_key = format!("{key}.steps[{j}].name");
            check_name(&step_key, &step.name)?;
            if !steps.insert(step.name.as_str()) {
                return Err(ConfigError::invalid(
                    step_key,
                    format!("step {:?} appears twice", step.name),
                ));
            }
        }
    }
    Ok(())
}

fn check_name(key: &str, name: &str) -> Result<(), ConfigError> {
    let plain = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if name.is_empty() || name.len() > MAX_NAME || !plain {
        return Err(ConfigError::invalid(
            key,
            format!("{name:?} must be 1 to {MAX_NAME} letters, digits, '-' or '_'"),
        ));
    }
    Ok(())
}
