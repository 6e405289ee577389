//! The saga executor: claims due sagas under a lease ([`crate::worker`]'s loop, as the command executor does) and
//! drives each as far as it can go: the next pending step's call or, once compensating, the last completed step's
//! compensation, each through its provider's adapter and policy stack ([`Calls::invoke`]) with a stable vendor
//! idempotency key ([`super::vendor_key`]), its state checkpointed after each one.
//!
//! Failures are judged as commands' are ([`after_failure`]): an open breaker or a full bulkhead waits without
//! spending an attempt; a transient failure retries with backoff until `commands.max_attempts`; a refusal of the
//! request, or attempts spent, fails the step and starts compensation (a step's call) or fails the saga for a person
//! to resolve (a compensation; a vendor's 404 to one means already undone, and counts as done). The final state is
//! committed with its `gatehouse.saga.*` event. A crash anywhere leaves the saga leased to nobody once the lease
//! lapses; the next claim re-sends the interrupted call with the same key, so the vendor acts once.

use std::sync::Arc;
use std::time::Duration;

use gatehouse_kit::outbound::{DomainResponse, OutboundError};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{Definition, Definitions, Progress, outcome};
use crate::calls::{Calls, Origin};
use crate::commands::{Next, after_failure};
use crate::config::{CommandsConfig, SubscriptionConfig};
use crate::store::{SagaRecord, SagaStatus, SagaUpdate, StepStatus, Store};

pub struct SagaExecutor {
    store: Arc<dyn Store>,
    calls: Arc<Calls>,
    definitions: Arc<Definitions>,
    config: CommandsConfig,
    owner: String,
    wake: Arc<Notify>,
    /// Where the `gatehouse.saga.*` events go, and the relay to wake for them.
    subscriptions: Vec<SubscriptionConfig>,
    relay_wake: Arc<Notify>,
}

/// What a saga needs next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Call(usize),
    Compensate(usize),
    Finish(SagaStatus),
}

/// Running: the first pending step, or completed. Compensating: the last completed step that has a compensation,
/// or compensated.
fn next_action(saga: &SagaRecord, definition: &Definition) -> Action {
    match saga.status {
        SagaStatus::Running => saga
            .steps
            .iter()
            .position(|s| s.status == StepStatus::Pending)
            .map_or(Action::Finish(SagaStatus::Completed), Action::Call),
        SagaStatus::Compensating => saga
            .steps
            .iter()
            .zip(&definition.steps)
            .rposition(|(state, step)| state.status == StepStatus::Completed && step.compensate.is_some())
            .map_or(Action::Finish(SagaStatus::Compensated), Action::Compensate),
        status => Action::Finish(status),
    }
}

impl SagaExecutor {
    pub fn new(
        calls: Arc<Calls>,
        definitions: Arc<Definitions>,
        config: CommandsConfig,
        wake: Arc<Notify>,
        subscriptions: Vec<SubscriptionConfig>,
        relay_wake: Arc<Notify>,
    ) -> Arc<Self> {
        Arc::new(Self {
            store: Arc::clone(&calls.store),
            calls,
            definitions,
            config,
            owner: format!("sagas-{}", Uuid::now_v7()),
            wake,
            subscriptions,
            relay_wake,
        })
    }

    /// Runs until `stop`: claims what is due whenever a saga arrives, a slot frees up, or `poll_every` passes; then
    /// waits up to `grace` for the sagas still running (an unfinished one carries on after its lease).
    pub async fn run(self: Arc<Self>, stop: CancellationToken, grace: Duration) {
        // A claim is a write: with sagas running, claim once an eighth of the slots (up to 32) are free.
        let pace = crate::worker::Pace {
            concurrency: self.config.concurrency,
            batch: (self.config.concurrency / 8).clamp(1, 32),
            poll_every: self.config.poll_every,
            gather: Duration::ZERO,
        };
        let (owner, wake) = (self.owner.clone(), Arc::clone(&self.wake));
        crate::worker::run(self, &owner, pace, wake, stop, grace).await;
    }

    /// Drives `saga` until it waits (a retry, an open breaker), ends, or its lease is lost.
    async fn drive(&self, mut saga: SagaRecord, claimant: String) {
        let Some(definition) = self.definitions.get(&saga.name).filter(|d| fits(d, &saga)) else {
            tracing::error!(saga = %saga.id, name = %saga.name,
                "saga has no matching [[sagas]] definition in this gateway's config; it waits for one");
            let later = crate::clock::now_ms().saturating_add(millis(self.config.max_delay));
            self.checkpoint(&saga, &claimant, later, false).await;
            return;
        };
        loop {
            let action = next_action(&saga, definition);
            let (index, compensating) = match action {
                Action::Finish(status) => return self.finish(saga, status, &claimant).await,
                Action::Call(i) => (i, false),
                Action::Compensate(i) => (i, true),
            };
            let result = self.attempt(definition, &saga, index, compensating).await;
            let label = match self.apply(&mut saga, definition, index, compensating, result) {
                Applied::Progress(label) => label,
                Applied::Wait { at, label } => {
                    self.count(&saga, index, compensating, label);
                    self.checkpoint(&saga, &claimant, at, false).await;
                    return;
                }
            };
            self.count(&saga, index, compensating, label);
            // The last call's checkpoint is the final one, written with the event.
            if !matches!(next_action(&saga, definition), Action::Finish(_)) {
                let now = crate::clock::now_ms();
                if !self.checkpoint(&saga, &claimant, now, true).await {
                    return;
                }
            }
        }
    }

    /// One vendor attempt of step `index`'s call or compensation.
    async fn attempt(
        &self,
        definition: &Definition,
        saga: &SagaRecord,
        index: usize,
        compensating: bool,
    ) -> Result<DomainResponse, OutboundError> {
        let step = &definition.steps[index];
        let scope = Progress {
            input: &saga.input,
            steps: &saga.steps,
        };
        let key = Some(super::vendor_key(saga.id, &step.name, compensating, saga.retries));
        let request = if compensating {
            step.compensation(&scope, key)
                .unwrap_or_else(|| Err(super::definition::RenderError::Route("no compensation".into())))
        } else {
            step.request(&scope, key)
        };
        let request = request.map_err(|e| OutboundError::InvalidRequest(format!("step {}: {e}", step.name)))?;
        let correlation_id = http::HeaderValue::from_str(&saga.correlation_id)
            .map_err(|_| OutboundError::InvalidRequest("the stored correlation id is not a header value".into()))?;
        let origin = Origin {
            correlation_id,
            traceparent: None,
        };
        self.calls.invoke(&step.provider, request, origin).await
    }

    /// Records an attempt's result in the saga's state.
    fn apply(
        &self,
        saga: &mut SagaRecord,
        definition: &Definition,
        index: usize,
        compensating: bool,
        result: Result<DomainResponse, OutboundError>,
    ) -> Applied {
        let now = crate::clock::now_ms();
        let (id, name) = (saga.id, saga.name.clone());
        let step = &mut saga.steps[index];
        let attempts = if compensating {
            &mut step.compensation_attempts
        } else {
            &mut step.attempts
        };
        let error = match result {
            Ok(answer) => {
                *attempts = attempts.saturating_add(1);
                if compensating {
                    step.status = StepStatus::Compensated;
                    return Applied::Progress("compensated");
                }
                step.status = StepStatus::Completed;
                step.result = Some(answer.body);
                return Applied::Progress("completed");
            }
            // A compensation that finds its target gone: already undone (by an earlier attempt whose answer was
            // lost, or by someone else).
            Err(OutboundError::NotFound(_)) if compensating => {
                *attempts = attempts.saturating_add(1);
                step.status = StepStatus::Compensated;
                return Applied::Progress("compensated");
            }
            Err(error) => error,
        };
        let message = error.to_string();
        let next = after_failure(&error, attempts.saturating_add(1), &self.config);
        if !matches!(next, Next::Wait(_)) {
            *attempts = attempts.saturating_add(1);
        }
        if compensating {
            step.compensation_error = Some(message.clone());
        } else {
            step.error = Some(message.clone());
        }
        let (step_name, attempt) = (step.name.clone(), *attempts);
        let what = if compensating { "compensation" } else { "step" };
        match next {
            Next::Wait(wait) => {
                tracing::info!(saga = %id, %name, step = %step_name, error = %message, "saga {what} waits for its provider");
                Applied::Wait {
                    at: now.saturating_add(millis(wait)),
                    label: "deferred",
                }
            }
            Next::Retry(delay) => {
                tracing::warn!(saga = %id, %name, step = %step_name, attempt, error = %message,
                    retry_in_ms = millis(delay), "saga {what} attempt failed; it will be retried");
                Applied::Wait {
                    at: now.saturating_add(millis(delay)),
                    label: "retry",
                }
            }
            Next::GiveUp if compensating => {
                step.status = StepStatus::CompensationFailed;
                saga.status = SagaStatus::Failed;
                tracing::warn!(saga = %id, %name, step = %step_name, attempt, error = %message,
                    "saga compensation failed for good; the saga needs a person (POST /admin/sagas/{{id}}/retry)");
                Applied::Progress("failed")
            }
            Next::GiveUp => {
                step.status = StepStatus::Failed;
                saga.status = SagaStatus::Compensating;
                let undo = definition.steps[..index].iter().any(|s| s.compensate.is_some());
                tracing::warn!(saga = %id, %name, step = %step_name, attempt, error = %message, undo,
                    "saga step failed; compensating the completed steps");
                Applied::Progress("failed")
            }
        }
    }

    /// Writes the saga's state; `hold` keeps the lease (the executor carries on at once), otherwise the saga waits
    /// until `next_attempt_ms`. Whether the lease still held.
    async fn checkpoint(&self, saga: &SagaRecord, claimant: &str, next_attempt_ms: i64, hold: bool) -> bool {
        let now = crate::clock::now_ms();
        let update = SagaUpdate {
            status: saga.status,
            steps: saga.steps.clone(),
            next_attempt_ms,
            lease_until_ms: if hold {
                now.saturating_add(millis(self.config.lease))
            } else {
                0
            },
            event: None,
        };
        self.write(saga, claimant, now, update).await
    }

    /// Commits the final state with its event.
    async fn finish(&self, mut saga: SagaRecord, status: SagaStatus, claimant: &str) {
        saga.status = status;
        let mut event = outcome::announcement(&saga, status);
        event.deliver_to = crate::relay::route(&self.subscriptions, &event.event_type);
        let announced = !event.deliver_to.is_empty();
        let now = crate::clock::now_ms();
        let update = SagaUpdate {
            status,
            steps: saga.steps.clone(),
            next_attempt_ms: now,
            lease_until_ms: 0,
            event: Some(Box::new(event)),
        };
        if self.write(&saga, claimant, now, update).await {
            metrics::counter!(crate::metrics::SAGAS_FINISHED, "saga" => saga.name.clone(), "status" => status.as_str())
                .increment(1);
            match status {
                SagaStatus::Failed => tracing::warn!(saga = %saga.id, name = %saga.name, "saga failed"),
                _ => tracing::info!(saga = %saga.id, name = %saga.name, status = status.as_str(), "saga finished"),
            }
            if announced {
                self.relay_wake.notify_one();
            }
        }
    }

    async fn write(&self, saga: &SagaRecord, claimant: &str, now: i64, update: SagaUpdate) -> bool {
        match self.store.update_saga(saga.id, claimant.to_owned(), now, update).await {
            Ok(true) => true,
            Ok(false) => {
                tracing::warn!(saga = %saga.id, "saga claim lost before its progress was recorded");
                false
            }
            Err(error) => {
                tracing::error!(%error, saga = %saga.id, "cannot record a saga's progress; it carries on after its lease");
                false
            }
        }
    }

    fn count(&self, saga: &SagaRecord, index: usize, compensating: bool, outcome: &'static str) {
        let step = saga.steps.get(index).map(|s| s.name.clone()).unwrap_or_default();
        let action = if compensating { "compensate" } else { "call" };
        metrics::counter!(crate::metrics::SAGA_STEPS, "saga" => saga.name.clone(), "step" => step,
            "action" => action, "outcome" => outcome)
        .increment(1);
    }
}

/// How an attempt left the saga: carry on (with the metric's outcome), or wait until `at`.
enum Applied {
    Progress(&'static str),
    Wait { at: i64, label: &'static str },
}

/// Whether the stored steps are the definition's (config may have changed since the saga started).
fn fits(definition: &Definition, saga: &SagaRecord) -> bool {
    saga.steps.len() == definition.steps.len()
        && saga
            .steps
            .iter()
            .zip(&definition.steps)
            .all(|(state, step)| state.name == step.name)
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

#[async_trait::async_trait]
impl crate::worker::Leased for SagaExecutor {
    type Item = SagaRecord;
    const WHAT: &'static str = "sagas";

    async fn claim(&self, claimant: String, limit: usize) -> Result<Vec<SagaRecord>, crate::store::StoreError> {
        let lease = millis(self.config.lease);
        self.store
            .claim_sagas(claimant, crate::clock::now_ms(), lease, limit)
            .await
    }

    async fn run_one(&self, saga: SagaRecord, claimant: String) {
        self.drive(saga, claimant).await;
    }
}
