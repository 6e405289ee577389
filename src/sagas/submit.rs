//! Starting a saga (`POST /v1/sagas/{name}`): the saga must exist (404) and allow the caller (403); the input must be
//! a JSON object holding every field the templates read, and each step's request must pass its adapter's
//! validation (400 naming the field or the step); then the saga is stored `running` (with its idempotency key's
//! answer, in one transaction), the executor woken, and the caller answered `202 {"id","status"}` with
//! `Location: /v1/sagas/{id}`. Nothing is stored when a check or the store fails.

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::Notify;
use uuid::Uuid;

use super::template::{Missing, Ref, Root, Scope};
use super::{Definition, Definitions, Progress};
use crate::calls::{Caller, Calls, idempotency};
use crate::problem::{ApiError, Problem};
use crate::store::{NewSaga, StepState, StoreError};

/// A caller's request to start a saga.
pub struct Submission<'a> {
    pub caller: &'a Caller,
    pub name: &'a str,
    pub body: Bytes,
    pub correlation_id: String,
    pub idempotency_key: Option<String>,
}

/// Checks, stores and answers a submission.
pub async fn start(calls: &Calls, definitions: &Definitions, wake: &Notify, submission: Submission<'_>) -> Response {
    let Submission {
        caller,
        name,
        body,
        correlation_id,
        idempotency_key,
    } = submission;
    let Some(definition) = definitions.get(name) else {
        return ApiError::new(Problem::NotFound, format!("no saga {name}")).into_response();
    };
    if !definition.callers.iter().any(|c| c == "*" || *c == caller.name) {
        let detail = format!("caller {} may not start saga {name}", caller.name);
        return ApiError::new(Problem::Forbidden, detail).into_response();
    }
    let input = match check_input(definition, &body).await {
        Ok(input) => input,
        Err(detail) => return ApiError::new(Problem::InvalidRequest, detail).into_response(),
    };
    let guard = match idempotency_key {
        Some(key) => {
            let fingerprint = idempotency::fingerprint(&Method::POST, &format!("/v1/sagas/{name}"), &body);
            match idempotency::claim(&calls.store, &calls.config.idempotency, &caller.name, key, fingerprint).await {
                Ok(guard) => Some(guard),
                Err(answer) => return answer,
            }
        }
        None => None,
    };
    let id = Uuid::now_v7();
    let location = format!("/v1/sagas/{id}");
    let answer = serde_json::to_vec(&json!({"id": id, "status": "running"})).unwrap_or_default();
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Ok(value) = HeaderValue::from_str(&location) {
        headers.insert(header::LOCATION, value);
    }
    let completion = guard
        .as_ref()
        .map(|g| g.completion(StatusCode::ACCEPTED, &headers, answer.clone().into()));
    let saga = NewSaga {
        id,
        name: definition.name.clone(),
        caller: caller.name.clone(),
        input,
        steps: definition.steps.iter().map(|s| StepState::pending(&s.name)).collect(),
        correlation_id,
        created_at_ms: crate::clock::now_ms(),
    };
    match calls.store.insert_saga(saga, completion).await {
        Ok(()) => {
            metrics::counter!(crate::metrics::SAGAS_STARTED, "saga" => definition.name.clone()).increment(1);
            wake.notify_one();
            (StatusCode::ACCEPTED, headers, answer).into_response()
        }
        Err(error) => {
            tracing::error!(%error, saga = %definition.name, "cannot store a saga");
            // An uncertain write may still store the saga (and the key's 202): the key must stay taken.
            if let Some(guard) = guard.filter(|_| !matches!(error, StoreError::Uncertain(_))) {
                guard.release().await;
            }
            ApiError::new(Problem::StoreUnavailable, "the saga cannot be stored right now")
                .retry_after(1)
                .into_response()
        }
    }
}

/// The input, when it holds what every template reads and every step's request passes its adapter's checks;
/// otherwise what is wrong with it. A step whose request reads earlier steps' answers is checked with stand-ins for
/// them (a string, then a number): refused under both, the input is at fault.
pub async fn check_input(definition: &Definition, body: &[u8]) -> Result<Value, String> {
    let input: Value =
        serde_json::from_slice(body).map_err(|e| format!("the body must be the saga's input as a JSON object: {e}"))?;
    if !input.is_object() {
        return Err("the body must be the saga's input as a JSON object".into());
    }
    for step in &definition.steps {
        let calls = std::iter::once(&step.call).chain(step.compensate.as_ref());
        for r in calls.flat_map(|c| c.path.refs().chain(c.body.iter().flat_map(|b| b.refs()))) {
            if r.root == Root::Input {
                let scope = Progress {
                    input: &input,
                    steps: &[],
                };
                super::template::lookup(&scope, r).map_err(|_| missing_field(r, &step.name))?;
            }
        }
    }
    for step in &definition.steps {
        let mut refused = None;
        for stand_in in [json!("stand-in"), json!(0)] {
            let scope = StandIns {
                input: &input,
                stand_in: &stand_in,
            };
            match step.validate(&scope).await {
                Ok(()) => {
                    refused = None;
                    break;
                }
                Err(reason) => refused = Some(reason),
            }
        }
        if let Some(reason) = refused {
            return Err(format!("step {}: {reason}", step.name));
        }
    }
    Ok(input)
}

fn missing_field(r: &Ref, step: &str) -> String {
    format!(
        "input field `{}` is missing or null (step {step} reads {{{}}})",
        r.path.join("."),
        r.text
    )
}

/// The input, with `stand_in` for every earlier step's answer field.
struct StandIns<'a> {
    input: &'a Value,
    stand_in: &'a Value,
}

impl Scope for StandIns<'_> {
    fn input(&self) -> &Value {
        self.input
    }

    fn step(&self, _: &str) -> Option<&Value> {
        None
    }

    fn stand_in(&self) -> Option<&Value> {
        Some(self.stand_in)
    }
}

impl super::definition::StepDefinition {
    /// Renders the step's call in `scope` and runs its adapter's validation.
    async fn validate(&self, scope: &dyn Scope) -> Result<(), String> {
        let request = self.request(scope, None).map_err(|e| e.to_string())?;
        self.provider
            .adapter
            .validate(&request)
            .await
            .map_err(|e| e.to_string())
    }
}

impl std::fmt::Display for super::definition::RenderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Missing(Missing(text)) => write!(f, "{{{text}}} has no value"),
            Self::Route(detail) => f.write_str(detail),
        }
    }
}
