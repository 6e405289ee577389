//! The bulkhead: at most `concurrency` calls in flight to one provider, so a slow vendor cannot take every task of
//! the gateway. A call over the limit is refused at once (`bulkhead-full`) rather than queued. A call stays in
//! flight until its response body ends or is dropped: the slot rides in the body ([`super::body::VendorBody`]), so
//! a body streamed back to the caller keeps its slot until it ends.

use std::sync::Arc;

use gatehouse_kit::outbound::UpstreamError;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub struct Bulkhead {
    permits: Arc<Semaphore>,
    limit: usize,
}

impl Bulkhead {
    pub fn new(limit: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(limit)),
            limit,
        }
    }

    /// A slot for one call, or `bulkhead-full` when every slot is taken.
    pub fn try_acquire(&self) -> Result<OwnedSemaphorePermit, UpstreamError> {
        Arc::clone(&self.permits)
            .try_acquire_owned()
            .map_err(|_| UpstreamError::BulkheadFull)
    }

    /// A handle that reads how many calls are in flight.
    pub fn gauge(&self) -> InFlight {
        InFlight {
            permits: Arc::clone(&self.permits),
            limit: self.limit,
        }
    }
}

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
