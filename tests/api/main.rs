//! Black-box tests of the gateway: the app on port 0 with a fresh SQLite store, driven over HTTP, and the
//! `gatehouse` binary itself for the CLI, signals and crash durability.

mod browser;
mod cli;
mod cluster_limits;
mod commands;
mod console;
mod console_browser;
mod durability;
mod helpers;
mod http_basics;
mod idempotency;
mod openapi;
mod outbound_admin;
mod outbound_breaker;
mod outbound_edges;
mod outbound_input;
mod outbound_limits;
mod outbound_proxy;
mod outbound_retries;
mod outbound_routes;
mod postgres;
mod quarantine;
mod relay;
mod relay_admin;
mod relay_nats;
mod replica_faults;
mod replicas;
mod retranslate;
mod server_limits;
mod store_faults;
mod webhook_input;
mod webhooks;
