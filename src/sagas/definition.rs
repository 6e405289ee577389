//! Saga definitions compiled from `[[sagas]]` against the configured providers, once at start-up (and by
//! `check-config`): each step's provider must take outbound calls, its method and path must be one of the provider's
//! domain routes, its templates must parse, read only earlier steps (a compensation: its own step too) and, where
//! the step's answer is an entity the adapter declares, only fields that entity has. Every failure names its key.
//!
//! At submission ([`Definition::check_input`]) the input must hold every field the templates read, and each step's
//! request must pass its adapter's validation, so bad input is refused before anything runs.

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::Method;
use gatehouse_kit::entity::Shape;

use bytes::Bytes;
use gatehouse_kit::outbound::DomainRequest;

use super::template::{Body, Missing, Ref, Root, Scope, Template};
use crate::config::{ConfigError, SagaCallConfig, SagaConfig};
use crate::providers::{Provider, Providers};

/// Every configured saga, by name.
#[derive(Default)]
pub struct Definitions(HashMap<String, Arc<Definition>>);

pub struct Definition {
    pub name: String,
    /// Caller names allowed to start it (`*`: every caller).
    pub callers: Vec<String>,
    pub steps: Vec<StepDefinition>,
}

pub struct StepDefinition {
    pub name: String,
    pub provider: Arc<Provider>,
    pub call: Call,
    pub compensate: Option<Call>,
}

/// One domain call of a step, its path and body templates parsed.
pub struct Call {
    pub method: Method,
    pub path: Template,
    pub body: Option<Body>,
}

impl Definitions {
    /// Compiles every saga of `sagas` against `providers`; the first problem is returned naming its key.
    pub fn build(sagas: &[SagaConfig], providers: &Providers) -> Result<Definitions, ConfigError> {
        let mut all = HashMap::new();
        for (i, saga) in sagas.iter().enumerate() {
            let mut steps: Vec<StepDefinition> = Vec::new();
            for (j, step) in saga.steps.iter().enumerate() {
                let key = format!("sagas[{i}].steps[{j}]");
                let provider = providers.get(&step.provider).ok_or_else(|| {
                    ConfigError::invalid(
                        format!("{key}.provider"),
                        format!("no provider {:?} is configured", step.provider),
                    )
                })?;
                if provider.outbound.is_none() {
                    return Err(ConfigError::invalid(
                        format!("{key}.provider"),
                        format!("provider {:?} has no base_url, so it takes no calls", step.provider),
                    ));
                }
                let call = compile(&format!("{key}.call"), provider, &step.call, &steps, None)?;
                let compensate = step
                    .compensate
                    .as_ref()
                    .map(|c| {
                        let own = Some((step.name.as_str(), provider.as_ref(), &call));
                        compile(&format!("{key}.compensate"), provider, c, &steps, own)
                    })
                    .transpose()?;
                steps.push(StepDefinition {
                    name: step.name.clone(),
                    provider: Arc::clone(provider),
                    call,
                    compensate,
                });
            }
            let definition = Definition {
                name: saga.name.clone(),
                callers: saga.callers.clone(),
                steps,
            };
            all.insert(saga.name.clone(), Arc::new(definition));
        }
        Ok(Definitions(all))
    }

    pub fn get(&self, name: &str) -> Option<&Arc<Definition>> {
        self.0.get(name)
    }
}

/// Compiles one call of a step; `earlier` are the steps before it, `own` (for a compensation) its step's name and
/// call, whose answer it may read.
fn compile(
    key: &str,
    provider: &Provider,
    call: &SagaCallConfig,
    earlier: &[StepDefinition],
    own: Option<(&str, &Provider, &Call)>,
) -> Result<Call, ConfigError> {
    let method = Method::from_bytes(call.method.to_ascii_uppercase().as_bytes())
        .ok()
        .filter(|m| [Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE].contains(m))
        .ok_or_else(|| ConfigError::invalid(format!("{key}.method"), "must be GET, POST, PUT, PATCH or DELETE"))?;
    if !call.path.starts_with('/') {
        return Err(ConfigError::invalid(
            format!("{key}.path"),
            "must start with '/' (it is relative to /v1/{provider})",
        ));
    }
    let path = Template::parse(&call.path).map_err(|e| ConfigError::invalid(format!("{key}.path"), e))?;
    let probe = path.stand_in("x");
    let route_path = probe.split_once('?').map_or(probe.as_str(), |(path, _)| path);
    crate::calls::route::match_route(provider, &method, route_path)
        .map_err(|e| ConfigError::invalid(key, format!("provider {:?}: {}", provider.name, e.detail())))?;
    if call.body.is_some() && (method == Method::GET || method == Method::DELETE) {
        return Err(ConfigError::invalid(
            format!("{key}.body"),
            format!("a {method} takes no body"),
        ));
    }
    let body = call
        .body
        .as_ref()
        .map(|b| Body::parse(b).map_err(|e| ConfigError::invalid(format!("{key}.body"), e)))
        .transpose()?;
    let refs = path.refs().chain(body.iter().flat_map(Body::refs));
    for r in refs {
        check_ref(key, r, earlier, own)?;
    }
    Ok(Call { method, path, body })
}

/// A step reference must name an earlier step (or, in a compensation, its own) and, when that step's answer is an
/// entity its adapter declares, one of the entity's fields.
fn check_ref(
    key: &str,
    r: &Ref,
    earlier: &[StepDefinition],
    own: Option<(&str, &Provider, &Call)>,
) -> Result<(), ConfigError> {
    let Root::Step(name) = &r.root else {
        return Ok(());
    };
    let found = earlier
        .iter()
        .find(|s| &s.name == name)
        .map(|s| (s.provider.as_ref(), &s.call))
        .or_else(|| {
            own.filter(|(own, ..)| own == name)
                .map(|(_, provider, call)| (provider, call))
        });
    let Some((provider, call)) = found else {
        let why = if own.is_some() {
            "is not this step or an earlier one"
        } else {
            "is not an earlier step"
        };
        return Err(ConfigError::invalid(
            key,
            format!("{{{}}}: step {name:?} {why}", r.text),
        ));
    };
    if call.method == Method::DELETE {
        return Err(ConfigError::invalid(
            key,
            format!("{{{}}}: step {name:?} is a DELETE, whose answer has no body", r.text),
        ));
    }
    let Some(fields) = answer_fields(provider, call) else {
        return Ok(());
    };
    let field = r.path.first().map(String::as_str).unwrap_or_default();
    if !fields.contains(&field) {
        return Err(ConfigError::invalid(
            key,
            format!(
                "{{{}}}: step {name:?} answers with no field {field:?} (it has {})",
                r.text,
                fields.join(", ")
            ),
        ));
    }
    Ok(())
}

/// The fields of the entity `call`'s answer carries, when its adapter declares one for that route.
fn answer_fields(provider: &Provider, call: &Call) -> Option<&'static [&'static str]> {
    let probe = call.path.stand_in("x");
    let path = probe.split_once('?').map_or(probe.as_str(), |(path, _)| path);
    let (route, _) = crate::calls::route::match_route(provider, &call.method, path).ok()?;
    provider.adapter.entities().iter().find_map(|spec| {
        spec.answers
            .iter()
            .any(|a| a.method == call.method && a.path == route.path && a.shape == Shape::One)
            .then_some(spec.fields)
    })
}

/// Why a step's request could not be made from its templates.
#[derive(Debug, Clone)]
pub enum RenderError {
    /// A placeholder has no value (an earlier step's answer lacks the field).
    Missing(Missing),
    /// The rendered path is no route of the provider (a value made it another path).
    Route(String),
}

impl StepDefinition {
    /// The domain request of the step's call in `scope`, carrying `key` for the vendor.
    pub fn request(&self, scope: &dyn Scope, key: Option<String>) -> Result<DomainRequest, RenderError> {
        render(&self.call, &self.provider, scope, key)
    }

    /// The domain request of the step's compensation, if it has one.
    pub fn compensation(&self, scope: &dyn Scope, key: Option<String>) -> Option<Result<DomainRequest, RenderError>> {
        Some(render(self.compensate.as_ref()?, &self.provider, scope, key))
    }
}

fn render(
    call: &Call,
    provider: &Provider,
    scope: &dyn Scope,
    key: Option<String>,
) -> Result<DomainRequest, RenderError> {
    let path = call
        .path
        .render_text(scope, gatehouse_kit::outbound::path_segment)
        .map_err(RenderError::Missing)?;
    let body = match &call.body {
        Some(body) => Bytes::from(body.render(scope).map_err(RenderError::Missing)?.to_string()),
        None => Bytes::new(),
    };
    crate::calls::Calls::resolve(provider, call.method.clone(), &path, body, key)
        .map_err(|e| RenderError::Route(e.detail().to_owned()))
}
