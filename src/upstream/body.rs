//! A vendor's response body as the gateway hands it on: every read must make progress within the provider's
//! timeout (a vendor stalling mid-body is cut off, not waited on forever), and the call's bulkhead slot rides in
//! the body, so a body streamed back to the caller keeps its slot until it ends, fails or is dropped.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::{Instant, Sleep};

/// Why a vendor's body ended early.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the vendor sent nothing for {0:?}")]
    Stalled(Duration),
    #[error(transparent)]
    Interrupted(#[from] hyper::Error),
}

pub struct VendorBody {
    inner: Incoming,
    idle: Duration,
    /// Armed only while a read waits; allocated at the first wait, reused after.
    timer: Option<Pin<Box<Sleep>>>,
    waiting: bool,
    slot: Option<OwnedSemaphorePermit>,
}

impl VendorBody {
    pub fn new(inner: Incoming, idle: Duration, slot: Option<OwnedSemaphorePermit>) -> Self {
        Self {
            inner,
            idle,
            timer: None,
            waiting: false,
            slot,
        }
    }
}

impl Body for VendorBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.waiting = false;
                if !matches!(frame, Some(Ok(_))) {
                    // The end, or a failure: the vendor is done with this call.
                    this.slot = None;
                }
                Poll::Ready(frame.map(|result| result.map_err(BodyError::from)))
            }
            Poll::Pending => {
                if !this.waiting {
                    this.waiting = true;
                    let deadline = Instant::now() + this.idle;
                    match &mut this.timer {
                        Some(timer) => timer.as_mut().reset(deadline),
                        None => this.timer = Some(Box::pin(tokio::time::sleep_until(deadline))),
                    }
                }
                let expired = this
                    .timer
                    .as_mut()
                    .is_some_and(|timer| timer.as_mut().poll(cx).is_ready());
                if expired {
                    this.waiting = false;
                    this.slot = None;
                    return Poll::Ready(Some(Err(BodyError::Stalled(this.idle))));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
