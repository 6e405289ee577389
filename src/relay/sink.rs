//! The sinks a subscription delivers to: `http` (a signed `POST` of the CloudEvents envelope), `nats` (a JetStream
//! publish, in [`super::nats`]) and `log`. A sink answers how an attempt went; the relay decides about retries.

use std::time::Duration;

use bytes::Bytes;
use gatehouse_kit::Scheme;
use gatehouse_kit::outbound::ErrorTags;
use gatehouse_kit::signature::{SignRequest, SigningKey};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use http_body_util::BodyExt;

use super::nats::NatsSink;
use crate::config::{ConfigError, SinkConfig};
use crate::store::Delivery;
use crate::upstream::Call;
use crate::upstream::client::HttpClient;

/// How one attempt went.
#[derive(Debug, PartialEq, Eq)]
pub enum Attempt {
    Delivered,
    /// Worth retrying (408, 429, 5xx, network errors, timeouts), not before `after` if the sink said so.
    Failed {
        error: String,
        after: Option<Duration>,
    },
    /// Refused for good (other 4xx).
    Refused {
        error: String,
    },
}

pub enum Sink {
    Http(Box<HttpSink>),
    Nats(Box<NatsSink>),
    Log,
}

pub struct HttpSink {
    client: HttpClient,
    path_and_query: String,
    key: SigningKey,
    timeout: Duration,
}

impl Sink {
    pub fn build(key: &str, config: &SinkConfig) -> Result<Sink, ConfigError> {
        Ok(match config {
            SinkConfig::Log => Sink::Log,
            SinkConfig::Nats {
                url,
                subject_prefix,
                stream,
                timeout,
            } => Sink::Nats(Box::new(NatsSink::new(url, subject_prefix, stream, *timeout))),
            SinkConfig::Http { url, secret, timeout } => {
                let invalid = || ConfigError::invalid(format!("{key}.url"), "expected an http(s) URL with a host");
                let parsed = url::Url::parse(url).map_err(|_| invalid())?;
                let origin = parsed.origin().ascii_serialization();
                let path_and_query = match parsed.query() {
                    Some(query) => format!("{}?{query}", parsed.path()),
                    None => parsed.path().to_owned(),
                };
                let client = HttpClient::build(key, &origin, None, *timeout, 4096)?;
                let secret = secret.resolve(&format!("{key}.secret"))?;
                let signing = Scheme::StandardWebhooks
                    .signing_key(&secret)
                    .map_err(|e| ConfigError::invalid(format!("{key}.secret"), e.to_string()))?;
                Sink::Http(Box::new(HttpSink {
                    client,
                    path_and_query,
                    key: signing,
                    timeout: *timeout,
                }))
            }
        })
    }

    pub async fn deliver(&self, delivery: &Delivery) -> Attempt {
        match self {
            Sink::Log => {
                tracing::info!(
                    target: "gatehouse::relay::log",
                    subscription = %delivery.subscription,
                    event_id = %delivery.event_id,
                    envelope = %String::from_utf8_lossy(&delivery.envelope),
                    "event delivered to the log"
                );
                Attempt::Delivered
            }
            Sink::Nats(nats) => nats.deliver(delivery).await,
            Sink::Http(http) => {
                let HttpSink {
                    client,
                    path_and_query,
                    key,
                    timeout,
                } = http.as_ref();
                let call = signed_post(key, path_and_query, delivery);
                let response = match tokio::time::timeout(*timeout, client.send(call)).await {
                    Ok(Ok(response)) => response,
                    Ok(Err(error)) => {
                        return Attempt::Failed {
                            error: error.to_string(),
                            after: None,
                        };
                    }
                    Err(_) => {
                        return Attempt::Failed {
                            error: format!("no answer within {timeout:?}"),
                            after: None,
                        };
                    }
                };
                // The status decides; the body is only drained (briefly, and never counted against the attempt)
                // so that a short one frees its connection for reuse.
                let attempt = classify(
                    response.status(),
                    gatehouse_kit::outbound::parse_retry_after(response.headers()),
                );
                let _ = tokio::time::timeout(DRAIN_FOR, discard(response.into_body(), ANSWER_READ_LIMIT)).await;
                attempt
            }
        }
    }
}

/// The envelope as a `POST`, signed with Standard Webhooks headers (`webhook-id` = the event id).
fn signed_post(key: &SigningKey, path_and_query: &str, delivery: &Delivery) -> Call {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/cloudevents+json"),
    );
    let id = delivery.event_id.to_string();
    let signed = Scheme::StandardWebhooks.sign(
        key,
        SignRequest {
            body: &delivery.envelope,
            timestamp: crate::clock::now_secs(),
            message_id: &id,
        },
    );
    for (name, value) in signed {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            headers.insert(name, value);
        }
    }
    Call {
        method: Method::POST,
        path_and_query: path_and_query.to_owned(),
        headers,
        body: Bytes::from(delivery.envelope.clone()),
        retryable: true,
        correlation_id: None,
        traceparent: None,
    }
}

/// How much of a consumer's answer the relay reads: only the status matters, so the body is read just far enough
/// for a short one to free its connection for reuse.
const ANSWER_READ_LIMIT: usize = 16 * 1024;
/// How long the relay waits for that much of the answer's body before dropping it (and its connection).
const DRAIN_FOR: Duration = Duration::from_millis(500);

/// Reads and drops at most `limit` bytes of `body`. A longer (or endless) body is dropped unread, which closes its
/// connection instead of holding its bytes in memory.
async fn discard<B: http_body::Body + Unpin>(mut body: B, limit: usize) {
    let mut read = 0usize;
    while read <= limit {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    read = read.saturating_add(bytes::Buf::remaining(data));
                }
            }
            Some(Err(_)) | None => return,
        }
    }
}

/// A sink's answer by the kit's [`ErrorTags`] for its status: retryable (5xx, 408, 429) is a failed attempt, any
/// other failure a refusal.
fn classify(status: StatusCode, after: Option<Duration>) -> Attempt {
    match ErrorTags::of_status(status) {
        None => Attempt::Delivered,
        Some(tags) if tags.retryable() => Attempt::Failed {
            error: format!("the sink answered {status}"),
            after,
        },
        Some(_) => Attempt::Refused {
            error: format!("the sink answered {status}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_endless_answer_is_not_read_to_its_end() {
        use std::pin::Pin;
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::task::{Context, Poll};

        /// A body that never ends, counting the bytes handed out.
        struct Endless(Arc<AtomicUsize>);
        impl http_body::Body for Endless {
            type Data = Bytes;
            type Error = std::convert::Infallible;
            fn poll_frame(
                self: Pin<&mut Self>,
                _: &mut Context<'_>,
            ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
                self.0.fetch_add(1024, Ordering::Relaxed);
                Poll::Ready(Some(Ok(http_body::Frame::data(Bytes::from_static(&[b'x'; 1024])))))
            }
        }
        let handed_out = Arc::new(AtomicUsize::new(0));
        discard(Endless(Arc::clone(&handed_out)), ANSWER_READ_LIMIT).await;
        let read = handed_out.load(Ordering::Relaxed);
        assert!(read <= ANSWER_READ_LIMIT + 1024, "read {read} bytes");
        // A short answer is read to its end (so its connection can be reused).
        discard(http_body_util::Full::new(Bytes::from_static(b"ok")), ANSWER_READ_LIMIT).await;
    }

    #[test]
    fn statuses_are_delivered_retried_or_refused() {
        assert_eq!(classify(StatusCode::NO_CONTENT, None), Attempt::Delivered);
        for retried in [408, 429, 500, 503] {
            let status = StatusCode::from_u16(retried).unwrap();
            assert!(matches!(classify(status, None), Attempt::Failed { .. }), "{retried}");
        }
        for refused in [400, 401, 404, 410, 422] {
            let status = StatusCode::from_u16(refused).unwrap();
            assert!(matches!(classify(status, None), Attempt::Refused { .. }), "{refused}");
        }
    }
}
