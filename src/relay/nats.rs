//! The `nats` sink: publishes each event's stored CloudEvents envelope on JetStream to
//! `<subject_prefix>.<provider>.<type>` with `Nats-Msg-Id` = the event id, so the stream's duplicate window drops a
//! redelivery, and counts it delivered once the stream's PubAck arrives (a PubAck for a duplicate too).
//!
//! It owns the NATS connection and the stream's existence. Nothing is contacted at start-up: the first delivery
//! connects (a failure is a failed attempt, retried by the relay, and the next delivery tries again), and async-nats
//! then keeps the connection, reconnecting on its own after a loss. The stream (subjects `<subject_prefix>.>`) is
//! created if missing, once per connection, and again if a publish finds it gone.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_nats::jetstream::context::{Context, PublishErrorKind};
use async_nats::jetstream::{self, stream};
use async_nats::{ConnectOptions, Event, HeaderMap};
use bytes::Bytes;
use tokio::sync::OnceCell;

use super::sink::Attempt;
use crate::store::Delivery;

pub struct NatsSink {
    url: String,
    subject_prefix: String,
    stream: String,
    timeout: Duration,
    /// The JetStream context on the connection, made by the first delivery that succeeds in connecting.
    jetstream: OnceCell<Context>,
    /// Whether the stream is known to exist.
    stream_ready: AtomicBool,
}

impl NatsSink {
    /// A sink that will connect to `url` on its first delivery (the config is validated beforehand).
    pub fn new(url: &str, subject_prefix: &str, stream: &str, timeout: Duration) -> NatsSink {
        NatsSink {
            url: url.to_owned(),
            subject_prefix: subject_prefix.to_owned(),
            stream: stream.to_owned(),
            timeout,
            jetstream: OnceCell::new(),
            stream_ready: AtomicBool::new(false),
        }
    }

    /// One attempt: connected, the stream ensured, published and acknowledged within `timeout`, or failed (every
    /// failure here is worth retrying: NATS down, no PubAck, the stream missing or refusing).
    pub async fn deliver(&self, delivery: &Delivery) -> Attempt {
        match tokio::time::timeout(self.timeout, self.publish(delivery)).await {
            Ok(Ok(())) => Attempt::Delivered,
            Ok(Err(error)) => Attempt::Failed { error, after: None },
            Err(_) => Attempt::Failed {
                error: format!("no PubAck from NATS within {:?}", self.timeout),
                after: None,
            },
        }
    }

    async fn publish(&self, delivery: &Delivery) -> Result<(), String> {
        let jetstream = self.jetstream.get_or_try_init(|| self.connect()).await?;
        if !self.stream_ready.load(Ordering::Acquire) {
            self.ensure_stream(jetstream).await?;
        }
        let subject = subject(&self.subject_prefix, &delivery.provider, &delivery.event_type);
        let mut headers = HeaderMap::new();
        headers.insert(
            async_nats::header::NATS_MESSAGE_ID,
            delivery.event_id.to_string().as_str(),
        );
        headers.insert("Content-Type", "application/cloudevents+json");
        let payload = Bytes::from(delivery.envelope.clone());
        let published = jetstream
            .publish_with_headers(subject.clone(), headers, payload)
            .await
            .map_err(|error| format!("cannot publish to NATS subject {subject}: {error}"))?;
        match published.await {
            Ok(ack) => {
                if ack.duplicate {
                    tracing::debug!(event = %delivery.event_id, stream = %ack.stream, sequence = ack.sequence,
                        "NATS already had this event (Nats-Msg-Id duplicate); counted as delivered");
                }
                Ok(())
            }
            Err(error) if error.kind() == PublishErrorKind::StreamNotFound => {
                // Deleted, or its subjects changed, since we ensured it: checked again on the next attempt.
                self.stream_ready.store(false, Ordering::Release);
                Err(format!(
                    "no PubAck for NATS subject {subject}: no JetStream stream captures it (the sink's stream {} \
                     should; it is checked, and its subjects extended, on the next attempt): {error}",
                    self.stream
                ))
            }
            Err(error) => Err(format!("no PubAck for NATS subject {subject}: {error}")),
        }
    }

    async fn connect(&self) -> Result<Context, String> {
        let url = self.url.clone();
        let client = ConnectOptions::new()
            .name("gatehouse")
            .connection_timeout(self.timeout)
            .event_callback(move |event| {
                let url = url.clone();
                async move {
                    match event {
                        Event::Connected => tracing::info!(%url, "connected to NATS"),
                        Event::Disconnected => tracing::warn!(%url, "lost the NATS connection; reconnecting"),
                        other => tracing::warn!(%url, event = %other, "NATS connection event"),
                    }
                }
            })
            .connect(self.url.as_str())
            .await
            .map_err(|error| format!("cannot connect to NATS at {}: {error}", self.url))?;
        let mut context = jetstream::new(client);
        context.set_timeout(self.timeout);
        Ok(context)
    }

    /// Creates the stream if it is missing. An existing stream of that name that does not capture
    /// `<subject_prefix>.>` (made by an earlier deployment, or before `subject_prefix` changed) gets the prefix added
    /// to its subjects, so publishes do not fall into nothing; if the server refuses that, the error names the stream
    /// and what it captures.
    async fn ensure_stream(&self, jetstream: &Context) -> Result<(), String> {
        let wanted = format!("{}.>", self.subject_prefix);
        let config = stream::Config {
            name: self.stream.clone(),
            subjects: vec![wanted.clone()],
            ..Default::default()
        };
        let mut found = jetstream
            .get_or_create_stream(config)
            .await
            .map_err(|error| format!("cannot get or create the JetStream stream {}: {error}", self.stream))?;
        let mut config = found.cached_info().config.clone();
        if !config.subjects.iter().any(|pattern| covers(pattern, &wanted)) {
            let before = config.subjects.join(", ");
            config.subjects.push(wanted.clone());
            jetstream.update_stream(&config).await.map_err(|error| {
                format!(
                    "the JetStream stream {} captures [{before}], not {wanted}, and adding {wanted} to it failed: \
                     {error}",
                    self.stream
                )
            })?;
            tracing::warn!(stream = %self.stream, subjects = %before, added = %wanted,
                "the JetStream stream did not capture this sink's subjects; added them");
            found
                .info()
                .await
                .map_err(|error| format!("cannot read the stream {}: {error}", self.stream))?;
        }
        self.stream_ready.store(true, Ordering::Release);
        Ok(())
    }
}

/// Whether the subject filter `pattern` matches every subject `filter` matches (both may hold the wildcards `*`,
/// one token, and `>`, one or more trailing tokens).
fn covers(pattern: &str, filter: &str) -> bool {
    let mut wanted = filter.split('.');
    for token in pattern.split('.') {
        let Some(other) = wanted.next() else {
            return false;
        };
        match token {
            ">" => return true,
            "*" if other != ">" => {}
            literal if literal == other => {}
            _ => return false,
        }
    }
    wanted.next().is_none()
}

/// `<prefix>.<provider>.<type>`, where `<type>` is the event type without its `<provider>.` prefix (its dots
/// separate subject tokens). Each token is made safe for NATS: whitespace, control characters and the wildcards `*`
/// and `>` become `_`, and an empty token is `_`.
pub fn subject(prefix: &str, provider: &str, event_type: &str) -> String {
    let kind = event_type
        .strip_prefix(provider)
        .and_then(|rest| rest.strip_prefix('.'))
        .unwrap_or(event_type);
    let mut subject = String::with_capacity(prefix.len() + provider.len() + kind.len() + 2);
    subject.push_str(prefix);
    subject.push('.');
    push_token(&mut subject, &provider.replace('.', "_"));
    for token in kind.split('.') {
        subject.push('.');
        push_token(&mut subject, token);
    }
    subject
}

fn push_token(subject: &mut String, token: &str) {
    if token.is_empty() {
        subject.push('_');
        return;
    }
    subject.extend(token.chars().map(|c| {
        if c.is_whitespace() || c.is_control() || c == '*' || c == '>' {
            '_'
        } else {
            c
        }
    }));
}

#[cfg(test)]
mod tests {
    use super::{covers, subject};

    #[test]
    fn stream_subjects_cover_the_prefix_or_not() {
        for pattern in ["gatehouse.>", ">", "*.>", "gatehouse.>"] {
            assert!(covers(pattern, "gatehouse.>"), "{pattern}");
        }
        for pattern in ["other.>", "gatehouse.*", "gatehouse", "gatehouse.x.>", "*"] {
            assert!(!covers(pattern, "gatehouse.>"), "{pattern}");
        }
        assert!(covers("org.*.>", "org.events.>"));
        assert!(!covers("org.*", "org.events.>"));
    }

    #[test]
    fn subjects_are_prefix_provider_and_type() {
        assert_eq!(
            subject("gatehouse", "stripe", "stripe.payment_intent.succeeded"),
            "gatehouse.stripe.payment_intent.succeeded"
        );
        assert_eq!(
            subject("org.events", "acme-crm", "acme-crm.customer.updated"),
            "org.events.acme-crm.customer.updated"
        );
        // A type without the provider's prefix is kept whole.
        assert_eq!(subject("g", "billing", "invoice.paid"), "g.billing.invoice.paid");
        assert_eq!(subject("g", "billing", "billingx.paid"), "g.billing.billingx.paid");
    }

    #[test]
    fn tokens_lose_spaces_wildcards_and_emptiness() {
        assert_eq!(subject("g", "gen", "gen.a b.*.>"), "g.gen.a_b._._");
        assert_eq!(
            subject("g", "gen", "gen.tab\there.new\nline"),
            "g.gen.tab_here.new_line"
        );
        assert_eq!(subject("g", "gen", "gen..x."), "g.gen._.x._");
        assert_eq!(subject("g", "gen", "gen"), "g.gen.gen");
        assert_eq!(subject("g", "a.b", "a.b.x"), "g.a_b.x");
        assert_eq!(subject("g", "gen", "gen."), "g.gen._");
    }
}
