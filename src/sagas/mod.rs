//! Sagas: one business operation across several providers, run to the end or undone. A saga is defined in config
//! (`[[sagas]]`: ordered steps, each a domain call with the call that undoes it), compiled once against the
//! providers ([`definition`]), started by a caller with its input ([`submit`]: checked, stored with its
//! idempotency key's answer, answered 202) and run by a durable executor ([`executor`]) under a lease through the
//! same orchestration as `/v1` calls ([`crate::calls::Calls::invoke`]). A step that fails for good makes the
//! executor undo the completed steps, last first; the final state is committed with its `gatehouse.saga.*` event
//! ([`outcome`]). Templates ([`template`]) read the input and earlier steps' answers.

pub mod definition;
pub mod executor;
pub mod outcome;
pub mod submit;
pub mod template;

use serde_json::Value;
use uuid::Uuid;

pub use definition::{Definition, Definitions};
pub use executor::SagaExecutor;

use crate::store::{StepState, StepStatus};

/// A saga's templates' scope: its input and the answers of its completed steps.
pub struct Progress<'a> {
    pub input: &'a Value,
    pub steps: &'a [StepState],
}

impl template::Scope for Progress<'_> {
    fn input(&self) -> &Value {
        self.input
    }

    fn step(&self, name: &str) -> Option<&Value> {
        self.steps
            .iter()
            .find(|s| s.name == name && s.status != StepStatus::Pending && s.status != StepStatus::Failed)
            .and_then(|s| s.result.as_ref())
    }
}

/// The idempotency key a step's call (or its compensation) sends to its vendor: the same on every attempt, so a
/// call retried after a lost answer or a crash acts once. An operator's retry of a failed saga (`retries` > 0)
/// compensates under a new key: the vendor may have kept its refusal of the old one.
pub fn vendor_key(saga: Uuid, step: &str, compensation: bool, retries: u32) -> String {
    match (compensation, retries) {
        (false, _) => format!("saga-{saga}-{step}"),
        (true, 0) => format!("saga-{saga}-{step}-undo"),
        (true, n) => format!("saga-{saga}-{step}-undo-{n}"),
    }
}
