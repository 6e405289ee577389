//! Admission of an outbound call, after the edge authenticated its caller: the provider is known and takes
//! outbound calls (404), the caller may call it (403), and the caller's rate limit has room (429). Shared by `/v1`
//! and `/proxy`.

use std::sync::Arc;

use crate::problem::{ApiError, Problem};
use crate::providers::{Provider, Providers};
use crate::upstream::ProviderClient;
use crate::upstream::rate_limit::{CallerLimits, Decision};

/// An internal service the edge authenticated (`[[callers]]`), with the providers it may call.
#[derive(Debug, Clone)]
pub struct Caller {
    pub name: String,
    /// The name as the access log records it (shared, so recording it copies nothing).
    logged_name: Arc<str>,
    all_providers: bool,
    providers: Vec<String>,
}

impl Caller {
    /// A caller allowed `providers` (`"*"`: every one).
    pub fn new(name: &str, providers: &[String]) -> Self {
        Self {
            name: name.to_owned(),
            logged_name: Arc::from(name),
            all_providers: providers.iter().any(|p| p == "*"),
            providers: providers.to_vec(),
        }
    }

    pub fn may_call(&self, provider: &str) -> bool {
        self.all_providers || self.providers.iter().any(|p| p == provider)
    }

    pub fn logged_name(&self) -> &Arc<str> {
        &self.logged_name
    }
}

/// A call that passed admission: who may call what, and the caller's rate-limit state for its headers.
pub struct Admitted<'a> {
    pub caller: &'a Caller,
    pub provider: &'a Arc<Provider>,
    pub client: &'a ProviderClient,
    pub limit: Option<Decision>,
}

/// A refusal, with the caller's rate-limit state when it was taken (its headers go on the refusal too).
pub struct Refused {
    pub error: ApiError,
    pub limit: Option<Decision>,
}

/// Provider known with a `base_url` (404) → caller allowed (403) → caller rate limit (429).
pub async fn admit<'a>(
    providers: &'a Providers,
    caller_limits: &CallerLimits,
    caller: &'a Caller,
    name: &str,
) -> Result<Admitted<'a>, Box<Refused>> {
    let refused = |error| Box::new(Refused { error, limit: None });
    let found = providers.get(name).and_then(|p| p.outbound.as_ref().map(|c| (p, c)));
    let Some((provider, client)) = found else {
        let detail = format!("no provider {name:?} takes outbound calls");
        return Err(refused(ApiError::new(Problem::UnknownProvider, detail)));
    };
    if !caller.may_call(name) {
        let detail = format!("caller {} may not call {name}", caller.name);
        return Err(refused(ApiError::new(Problem::Forbidden, detail)));
    }
    let limit = caller_limits.check(&caller.name).await;
    if let Some(decision) = limit.as_ref().filter(|d| !d.allowed) {
        metrics::counter!(crate::metrics::RATE_LIMITED, "scope" => "caller", "name" => caller.name.clone())
            .increment(1);
        let error = ApiError::new(Problem::RateLimited, "this caller's rate limit is exhausted")
            .retry_after(decision.retry_after);
        return Err(Box::new(Refused { error, limit }));
    }
    Ok(Admitted {
        caller,
        provider,
        client,
        limit,
    })
}
