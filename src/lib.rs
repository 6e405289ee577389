//! Gatehouse: a resilient integration gateway. Map of the crate:
//!
//! - [`cli`]: the `gatehouse` commands; [`main`](../gatehouse/index.html) only calls [`cli::run`].
//! - [`config`]: TOML + environment configuration, validated once; secret references.
//! - [`telemetry`]: structured logs.
//! - [`startup`]: builds the application (store, providers, router) and serves it until a shutdown signal.
//! - [`serve`]: the accept loop (header-read timeout, connection cap, graceful drain).
//! - [`http`]: the HTTP API, one file per route family: handlers parse requests and write answers.
//! - [`calls`]: the orchestration of outbound calls (admission, idempotency keys, deferred commands, the adapter
//!   through the provider's policy stack), shared by the `/v1` and `/proxy` handlers and the command executor.
//! - [`read_model`]: the latest state of the entities adapters declare, kept from webhooks and answers, which
//!   single-entity reads fall back to when a vendor is down.
//! - [`problem`]: the stable problem types every failure is answered with (RFC 9457).
//! - [`correlation`]: the correlation id carried through the work done for a request.
//! - [`ingest`]: the webhook path behind the HTTP handler (verify → translate or quarantine → envelope → store),
//!   and the retranslation of quarantined events.
//! - [`adapters`]: the registry of every adapter crate (`adapters/*`), one line each.
//! - [`providers`]: each configured provider built into its adapter (from [`adapters`]) and webhook verifier.
//! - [`upstream`]: the outbound policy stack per provider (rate limit, breaker, bulkhead, deadline and retries).
//! - [`cluster`]: rate limits shared by every replica through Redis (`[cluster]`), with a local fallback.
//! - [`commands`]: the executor that runs deferred commands (`Prefer: respond-async`) in the background.
//! - [`sagas`]: operations across providers (`[[sagas]]`), run step by step by a durable executor and undone by
//!   their compensations when a step fails for good.
//! - [`prune`]: periodic deletion of expired idempotency keys and old finished commands.
//! - [`relay`]: delivers outbox events to each matching subscription's sink, at least once.
//! - [`worker`]: the claim-under-a-lease loop the relay and the command and saga executors share.
//! - [`envelope`]: the CloudEvents envelope of stored events.
//! - [`store`]: durable state (inbox + outbox, idempotency keys, commands) behind the `Store` trait; SQLite with a
//!   group-committing writer.
//! - [`metrics`]: the Prometheus recorder and the names of every exported metric.
//! - [`clock`]: wall-clock helpers.
//! - `fuzzing` (tests and feature `fuzzing`): the bodies of the cargo-fuzz targets in `fuzz/` and the replay of
//!   their corpora (docs/FUZZING.md).

pub mod adapters;
pub mod calls;
pub mod cli;
pub mod clock;
pub mod cluster;
pub mod commands;
pub mod config;
pub mod correlation;
pub mod envelope;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod http;
pub mod ingest;
pub mod metrics;
pub mod operations;
pub mod problem;
pub mod providers;
pub mod prune;
pub mod read_model;
pub mod relay;
pub mod sagas;
pub mod serve;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod upstream;
pub mod worker;
