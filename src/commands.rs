//! The deferred-command executor: claims due commands from the store under a lease, runs each through its
//! provider's adapter and policy stack (rate limits, breaker, bulkhead, retries) with a stable vendor idempotency
//! key, and records the outcome together with a `gatehouse.command.succeeded|failed` event in the outbox.
//!
//! A vendor's refusal of the request itself (its validation errors, not-found) fails a command at once; transient
//! failures (timeouts, connect errors, 5xx, unreadable answers, 401/403 on the gateway's credentials, rate limits
//! with their `Retry-After`) retry with jittered backoff up to `commands.max_attempts`; an open breaker or a full
//! bulkhead, which refuse before any vendor call, make it wait without spending an attempt, so a command sent while
//! a vendor is down runs once it recovers.

use std::sync::Arc;
use std::time::Duration;

use gatehouse_kit::outbound::{DomainResponse, OutboundError, UpstreamError};
use serde_json::json;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::calls::problems::outbound_problem;
use crate::calls::{Calls, Origin};
use crate::config::{CommandsConfig, SubscriptionConfig};
use crate::envelope::Envelope;
use crate::store::{CommandRecord, CommandStatus, CommandUpdate, NewEvent, Store};
use crate::upstream::full_jitter;

/// Event types announcing a finished command.
pub const SUCCEEDED: &str = "gatehouse.command.succeeded";
pub const FAILED: &str = "gatehouse.command.failed";
pub const CANCELLED: &str = "gatehouse.command.cancelled";

pub struct Executor {
    store: Arc<dyn Store>,
    /// The orchestration a command runs through, as a `/v1` call does.
    calls: Arc<Calls>,
    config: CommandsConfig,
    /// This executor's name on its claims.
    owner: String,
    wake: Arc<Notify>,
    /// Where the `gatehouse.command.*` events go, and the relay to wake for them.
    subscriptions: Vec<SubscriptionConfig>,
    relay_wake: Arc<Notify>,
}

impl Executor {
    pub fn new(
        calls: Arc<Calls>,
        config: CommandsConfig,
        wake: Arc<Notify>,
        subscriptions: Vec<SubscriptionConfig>,
        relay_wake: Arc<Notify>,
    ) -> Arc<Self> {
        Arc::new(Self {
            store: Arc::clone(&calls.store),
            calls,
            config,
            owner: format!("executor-{}", Uuid::now_v7()),
            wake,
            subscriptions,
            relay_wake,
        })
    }

    /// Runs until `stop`: claims what is due whenever a command arrives, a slot frees up, or `poll_every` passes;
    /// then waits up to `grace` for the commands still running (an unfinished one runs again after its lease).
    pub async fn run(self: Arc<Self>, stop: CancellationToken, grace: Duration) {
        let pace = crate::worker::Pace {
            concurrency: self.config.concurrency,
            batch: 1,
            poll_every: self.config.poll_every,
            gather: Duration::ZERO,
        };
        let (owner, wake) = (self.owner.clone(), Arc::clone(&self.wake));
        crate::worker::run(self, &owner, pace, wake, stop, grace).await;
    }

    async fn execute(&self, command: CommandRecord, claimant: String) {
        let result = self.attempt(&command).await;
        let mut update = self.decide(&command, result);
        let mut announced = false;
        if let CommandUpdate::Finish { event, .. } = &mut update {
            event.deliver_to = crate::relay::route(&self.subscriptions, &event.event_type);
            announced = !event.deliver_to.is_empty();
        }
        let label = match &update {
            CommandUpdate::Finish { status, .. } => status.as_str(),
            CommandUpdate::Retry { counted: true, .. } => "retry",
            CommandUpdate::Retry { counted: false, .. } => "deferred",
        };
        metrics::counter!(crate::metrics::COMMAND_ATTEMPTS, "provider" => command.provider.clone(), "outcome" => label)
            .increment(1);
        log_outcome(&command, &update);
        let now = crate::clock::now_ms();
        match self.store.update_command(command.id, claimant, now, update).await {
            Ok(true) => {
                if announced {
                    self.relay_wake.notify_one();
                }
            }
            Ok(false) => tracing::warn!(command = %command.id, "command claim lost before its outcome was recorded"),
            Err(error) => {
                tracing::error!(%error, command = %command.id, "cannot record a command's outcome; it runs again")
            }
        }
    }

    /// One vendor attempt through the provider's adapter and policy stack, resolved and run as a `/v1` call is.
    async fn attempt(&self, command: &CommandRecord) -> Result<DomainResponse, OutboundError> {
        let gone = || OutboundError::InvalidRequest(format!("provider {} takes no outbound calls", command.provider));
        let provider = self.calls.providers.get(&command.provider).ok_or_else(gone)?;
        let method = http::Method::from_bytes(command.method.as_bytes())
            .map_err(|_| OutboundError::InvalidRequest(format!("unknown method {}", command.method)))?;
        let key = Some(command.vendor_key.clone());
        let request = Calls::resolve(provider, method, &command.path, command.body.clone(), key)
            .map_err(|e| OutboundError::InvalidRequest(e.detail().to_owned()))?;
        let correlation_id = http::HeaderValue::from_str(&command.correlation_id)
            .map_err(|_| OutboundError::InvalidRequest("the stored correlation id is not a header value".into()))?;
        let origin = Origin {
            correlation_id,
            traceparent: None,
        };
        self.calls.invoke(provider, request, origin).await
    }

    fn decide(&self, command: &CommandRecord, result: Result<DomainResponse, OutboundError>) -> CommandUpdate {
        let now = crate::clock::now_ms();
        let error = match result {
            Ok(answer) => {
                let response = json!({"status": answer.status.as_u16(), "body": answer.body});
                return finish(command, CommandStatus::Succeeded, response, None);
            }
            Err(error) => error,
        };
        let attempts = command.attempts.saturating_add(1);
        match after_failure(&error, attempts, &self.config) {
            Next::Wait(wait) => {
                return CommandUpdate::Retry {
                    next_attempt_ms: now.saturating_add(millis(wait)),
                    counted: false,
                    error: error.to_string(),
                };
            }
            Next::Retry(delay) => {
                return CommandUpdate::Retry {
                    next_attempt_ms: now.saturating_add(millis(delay)),
                    counted: true,
                    error: error.to_string(),
                };
            }
            Next::GiveUp => {}
        }
        let message = error.to_string();
        let problem = outbound_problem(error);
        let response = json!({
            "status": problem.problem().status().as_u16(),
            "body": problem.to_json(&command.correlation_id),
        });
        finish(command, CommandStatus::Failed, response, Some(message))
    }
}

/// What a failed vendor attempt means for work the gateway retries in the background (a deferred command, a saga's
/// step or compensation): the one place an outbound failure's kind decides between waiting, retrying and giving up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// The gateway refused before any vendor call (an open breaker, a full bulkhead): try again after this,
    /// without spending an attempt.
    Wait(Duration),
    /// A transient failure with attempts left: try again after this (jittered backoff, at least a rate limit's
    /// `Retry-After` up to `max_delay`).
    Retry(Duration),
    /// A refusal of the request itself, or the last attempt spent.
    GiveUp,
}

/// [`Next`] for `error` after `attempts` vendor attempts (this one included).
///
/// A rate limit (the provider's or the vendor's own 429) counts, so a vendor that always answers 429 cannot keep
/// work forever; its Retry-After is honoured up to `max_delay` (a vendor asking for a year must not park it that
/// long).
pub fn after_failure(error: &OutboundError, attempts: u32, config: &CommandsConfig) -> Next {
    match error {
        OutboundError::Upstream(UpstreamError::CircuitOpen { retry_after }) => {
            return Next::Wait((*retry_after).clamp(config.base_delay, config.max_delay));
        }
        OutboundError::Upstream(UpstreamError::BulkheadFull) => return Next::Wait(config.base_delay),
        _ => {}
    }
    let at_least = match error {
        OutboundError::Upstream(UpstreamError::RateLimited { retry_after }) => (*retry_after).min(config.max_delay),
        _ => Duration::ZERO,
    };
    let transient = error.tags().retryable();
    if transient && attempts < config.max_attempts {
        Next::Retry(full_jitter(config.base_delay, config.max_delay, attempts).max(at_least))
    } else {
        Next::GiveUp
    }
}

/// Logs a failed attempt (`warn`: it retries), a final failure (`warn`) and a wait the gateway's own refusal (open
/// breaker, full bulkhead) imposed (`info`: no attempt spent), with the command's ids.
fn log_outcome(command: &CommandRecord, update: &CommandUpdate) {
    let attempt = command.attempts.saturating_add(1);
    let (id, provider, caller) = (&command.id, &command.provider, &command.caller);
    match update {
        CommandUpdate::Retry {
            counted: true,
            error,
            next_attempt_ms,
        } => {
            let retry_in_ms = next_attempt_ms.saturating_sub(crate::clock::now_ms()).max(0);
            tracing::warn!(
                command = %id, %provider, %caller, attempt, %error, retry_in_ms,
                "deferred command attempt failed; it will be retried"
            );
        }
        CommandUpdate::Retry {
            counted: false, error, ..
        } => {
            tracing::info!(command = %id, %provider, %caller, %error, "deferred command waits for its provider");
        }
        CommandUpdate::Finish {
            status: CommandStatus::Failed,
            error,
            ..
        } => {
            let error = error.as_deref().unwrap_or("unknown error");
            tracing::warn!(command = %id, %provider, %caller, attempt, %error, "deferred command failed");
        }
        CommandUpdate::Finish { .. } => {}
    }
}

/// The final update, with the event announcing it.
fn finish(
    command: &CommandRecord,
    status: CommandStatus,
    response: serde_json::Value,
    error: Option<String>,
) -> CommandUpdate {
    let attempts = command.attempts.saturating_add(1);
    CommandUpdate::Finish {
        event: Box::new(announcement(command, status, attempts, &response)),
        status,
        response,
        error,
    }
}

/// The `gatehouse.command.*` event announcing that `command` ended as `status` after `attempts` vendor attempts
/// (its deliveries still to be routed: `deliver_to` is empty).
pub fn announcement(
    command: &CommandRecord,
    status: CommandStatus,
    attempts: u32,
    response: &serde_json::Value,
) -> NewEvent {
    let event_type = match status {
        CommandStatus::Succeeded => SUCCEEDED,
        CommandStatus::Cancelled => CANCELLED,
        CommandStatus::Failed | CommandStatus::Pending => FAILED,
    };
    let id = Uuid::now_v7();
    let now = crate::clock::now_ms();
    let subject = command.id.to_string();
    let provider_event_id = format!("command/{}", command.id);
    let data = json!({
        "id": command.id,
        "status": status,
        "provider": command.provider,
        "caller": command.caller,
        "method": command.method,
        "path": command.path,
        "attempts": attempts,
        "response": response,
    });
    let envelope = Envelope {
        specversion: Envelope::SPEC_VERSION,
        id,
        source: "gatehouse/commands".into(),
        event_type,
        time: crate::clock::rfc3339_from_ms(now),
        subject: Some(&subject),
        datacontenttype: Envelope::CONTENT_TYPE,
        data: &data,
        providereventid: &provider_event_id,
        correlationid: &command.correlation_id,
        causationid: None,
    };
    let envelope = serde_json::to_vec(&envelope).unwrap_or_default();
    NewEvent {
        id,
        provider: "gatehouse".into(),
        provider_event_id,
        event_type: event_type.into(),
        subject: Some(subject),
        correlation_id: command.correlation_id.clone(),
        received_at_ms: now,
        envelope,
        raw_body: bytes::Bytes::new(),
        deliver_to: Vec::new(),
        quarantine: None,
        entity: None,
    }
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

#[async_trait::async_trait]
impl crate::worker::Leased for Executor {
    type Item = CommandRecord;
    const WHAT: &'static str = "deferred commands";

    async fn claim(&self, claimant: String, limit: usize) -> Result<Vec<CommandRecord>, crate::store::StoreError> {
        let lease = millis(self.config.lease);
        self.store
            .claim_commands(claimant, crate::clock::now_ms(), lease, limit)
            .await
    }

    async fn run_one(&self, command: CommandRecord, claimant: String) {
        self.execute(command, claimant).await;
    }
}
