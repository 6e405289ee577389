//! Tower glue for the circuit breaker: [`BreakerLayer`] wraps a service in [`Breaker`], which takes a permit before
//! each call (refusing with `S::Error::from(Rejected)` without calling the inner service), times the call on tokio's
//! clock, classifies the result and records it.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::time::Instant;
use tower::{Layer, Service};

use super::{CircuitBreaker, Outcome, Rejected};

/// Wraps services in a [`Breaker`] sharing one [`CircuitBreaker`]; `classify` turns a call's result into an
/// [`Outcome`] (only provider faults should be failures: connect errors, timeouts, 5xx, 429 — never caller 4xx).
#[derive(Clone)]
pub struct BreakerLayer<C> {
    breaker: Arc<CircuitBreaker>,
    classify: C,
}

impl<C: Clone> BreakerLayer<C> {
    pub fn new(breaker: Arc<CircuitBreaker>, classify: C) -> Self {
        Self { breaker, classify }
    }
}

impl<C> fmt::Debug for BreakerLayer<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BreakerLayer")
            .field("breaker", &self.breaker)
            .finish_non_exhaustive()
    }
}

impl<S, C: Clone> Layer<S> for BreakerLayer<C> {
    type Service = Breaker<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        Breaker {
            inner,
            breaker: Arc::clone(&self.breaker),
            classify: self.classify.clone(),
        }
    }
}

/// A service guarded by a circuit breaker; built by [`BreakerLayer`].
#[derive(Clone)]
pub struct Breaker<S, C> {
    inner: S,
    breaker: Arc<CircuitBreaker>,
    classify: C,
}

impl<S, C> Breaker<S, C> {
    /// The shared breaker (for its state and snapshot).
    pub fn breaker(&self) -> &Arc<CircuitBreaker> {
        &self.breaker
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: fmt::Debug, C> fmt::Debug for Breaker<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Breaker")
            .field("inner", &self.inner)
            .field("breaker", &self.breaker)
            .finish_non_exhaustive()
    }
}

impl<S, C, Req> Service<Req> for Breaker<S, C>
where
    S: Service<Req> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: From<Rejected>,
    S::Response: Send,
    Req: Send + 'static,
    C: Fn(&Result<S::Response, S::Error>) -> Outcome + Clone + Send + Sync + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        // The service that was polled ready is the one to call (or to release, when the call is refused); a fresh
        // clone takes its place for the next poll_ready.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let permit = match self.breaker.try_acquire() {
            Ok(permit) => permit,
            Err(rejected) => {
                drop(inner);
                // Built inside the future, so `S::Error` need not be `Send`.
                return Box::pin(async move { Err(S::Error::from(rejected)) });
            }
        };
        let classify = self.classify.clone();
        Box::pin(async move {
            let started = Instant::now();
            let result = inner.call(req).await;
            permit.record(classify(&result), started.elapsed());
            result
        })
    }
}
