//! The bulkhead: at most `concurrency` calls in flight to one provider, so a slow vendor cannot take every task of
//! the gateway. A call over the limit is refused at once (`bulkhead-full`) rather than queued. A call stays in
//! flight until its response is dropped: the permit rides in the response's extensions ([`Permit`]), so a body
//! streamed back to the caller keeps its slot until it ends.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use gatehouse_kit::outbound::UpstreamError;
use tokio::sync::Semaphore;
use tower::ServiceExt;

use super::{Call, CallService};

#[derive(Clone)]
pub struct Bulkhead {
    inner: CallService,
    permits: Arc<Semaphore>,
    limit: usize,
}

impl Bulkhead {
    pub fn new(inner: CallService, limit: usize) -> Self {
        Self {
            inner,
            permits: Arc::new(Semaphore::new(limit)),
            limit,
        }
    }

    /// A handle that reads how many calls are in flight.
    pub fn gauge(&self) -> InFlight {
        InFlight {
            permits: Arc::clone(&self.permits),
            limit: self.limit,
        }
    }
}

/// A bulkhead slot, released when the last copy is dropped (with the response, or with the body stream that took it).
#[derive(Clone)]
pub struct Permit(#[allow(dead_code)] Arc<tokio::sync::OwnedSemaphorePermit>);

#[derive(Clone)]
pub struct InFlight {
    permits: Arc<Semaphore>,
    limit: usize,
}

impl InFlight {
    pub fn in_flight(&self) -> usize {
        self.limit.saturating_sub(self.permits.available_permits())
    }

    pub fn limit(&self) -> usize {
        self.limit
    }
}

impl tower::Service<Call> for Bulkhead {
    type Response = reqwest::Response;
    type Error = UpstreamError;
    type Future = Pin<Box<dyn Future<Output = Result<reqwest::Response, UpstreamError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), UpstreamError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, call: Call) -> Self::Future {
        let permit = Arc::clone(&self.permits).try_acquire_owned();
        let inner = self.inner.clone();
        Box::pin(async move {
            let permit = permit.map_err(|_| UpstreamError::BulkheadFull)?;
            let mut response = inner.oneshot(call).await?;
            response.extensions_mut().insert(Permit(Arc::new(permit)));
            Ok(response)
        })
    }
}
