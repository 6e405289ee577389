//! Black-box tests of the gateway: the app on port 0 with a fresh SQLite store, driven over HTTP, and the
//! `gatehouse` binary itself for the CLI, signals and crash durability.

mod cli;
mod durability;
mod helpers;
mod http_basics;
mod server_limits;
mod webhook_input;
mod webhooks;
