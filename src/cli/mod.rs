//! The `gatehouse` command line (SPEC §1): argument parsing and one small function per command.

mod commands;
mod events;
mod health;
mod replay;
mod sagas;
mod sign;

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Parser, Subcommand};
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::providers::Providers;
use crate::startup::{Application, shutdown_signal};
use crate::store;

#[derive(Debug, Parser)]
#[command(name = "gatehouse", version, about = "A resilient integration gateway")]
pub struct Cli {
    /// The configuration file.
    #[arg(
        long,
        global = true,
        env = "GATEHOUSE_CONFIG",
        default_value = "config/gatehouse.toml"
    )]
    pub config: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server and the outbox relay (applies store migrations first).
    Serve,
    /// Run the outbox relay alone, for relays apart from the HTTP tier (applies store migrations first).
    Relay,
    /// Validate the config and print it, every secret redacted; exits 1 naming the bad key.
    CheckConfig,
    /// Apply store migrations.
    Migrate,
    /// Read an API key or token on stdin and print its hex SHA-256, for the config.
    HashKey,
    /// Print the headers a provider would send for a body, signed with its configured secret (for curl tests).
    Sign(sign::SignArgs),
    /// Inspect the outbox, and replay or retranslate events.
    #[command(subcommand)]
    Events(events::EventsCommand),
    /// Inspect and cancel deferred commands.
    #[command(subcommand)]
    Commands(commands::CommandsCommand),
    /// Inspect sagas, and retry a failed one.
    #[command(subcommand)]
    Sagas(sagas::SagasCommand),
    /// Probe a running gateway's readiness (`/readyz`): exit 0 when ready, 1 otherwise (the container's HEALTHCHECK).
    Health(health::HealthArgs),
}

/// Parses the command line (clap answers bad arguments itself, exit status 2) and runs the command; the binary
/// reports an error with [`describe`] and exit status 1.
pub fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    crate::telemetry::init();
    match cli.command {
        Command::Serve => runtime(true)?.block_on(serve(&cli.config)),
        Command::Relay => runtime(true)?.block_on(relay(&cli.config)),
        Command::CheckConfig => check_config(&cli.config),
        Command::Migrate => runtime(false)?.block_on(migrate(&cli.config)),
        Command::HashKey => hash_key(),
        Command::Sign(args) => sign::run(&load(&cli.config)?, &args),
        Command::Events(command) => runtime(false)?.block_on(events::run(&load(&cli.config)?, command)),
        Command::Commands(command) => runtime(false)?.block_on(commands::run(&load(&cli.config)?, command)),
        Command::Sagas(command) => runtime(false)?.block_on(sagas::run(&load(&cli.config)?, command)),
        Command::Health(args) => runtime(false)?.block_on(health::run(&cli.config, &args)),
    }
}

/// An error as the user sees it: `error: ` and the message with its causes, on one line. Never a backtrace, whatever
/// `RUST_BACKTRACE` says (anyhow's `Debug` would print one).
pub fn describe(error: &anyhow::Error) -> String {
    format!("error: {error:#}")
}

fn runtime(multi_thread: bool) -> anyhow::Result<tokio::runtime::Runtime> {
    let mut builder = if multi_thread {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    builder.enable_all().build().context("cannot start the async runtime")
}

fn load(path: &Path) -> anyhow::Result<Config> {
    Config::load(path).with_context(|| format!("invalid configuration in {}", path.display()))
}

async fn serve(path: &Path) -> anyhow::Result<()> {
    let app = Application::build(load(path)?, None).await?;
    app.run_until_stopped(shutdown_signal()).await
}

async fn relay(path: &Path) -> anyhow::Result<()> {
    let config = load(path)?;
    let store = store::open(&config.store).await.context("cannot open the store")?;
    store.migrate().await.context("cannot migrate the store")?;
    let wake = std::sync::Arc::new(tokio::sync::Notify::new());
    store.watch(store::Wakes {
        relay: std::sync::Arc::clone(&wake),
        commands: std::sync::Arc::new(tokio::sync::Notify::new()),
        sagas: std::sync::Arc::new(tokio::sync::Notify::new()),
    });
    let relay = crate::relay::Relay::build(&config, std::sync::Arc::clone(&store), wake)
        .with_context(|| format!("invalid configuration in {}", path.display()))?;
    anyhow::ensure!(
        !config.subscriptions.is_empty(),
        "no [[subscriptions]] configured: nothing to relay"
    );
    let stop = tokio_util::sync::CancellationToken::new();
    let trigger = stop.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        trigger.cancel();
    });
    tracing::info!(subscriptions = config.subscriptions.len(), "relay running");
    relay.run(stop, config.server.shutdown_grace).await;
    store.shutdown().await;
    tracing::info!("relay stopped");
    Ok(())
}

fn check_config(path: &Path) -> anyhow::Result<()> {
    let config = load(path)?;
    let providers =
        Providers::build(&config).with_context(|| format!("invalid configuration in {}", path.display()))?;
    crate::sagas::Definitions::build(&config.sagas, &providers)
        .with_context(|| format!("invalid configuration in {}", path.display()))?;
    crate::relay::Relay::check(&config).with_context(|| format!("invalid configuration in {}", path.display()))?;
    for key in config.literal_secrets() {
        eprintln!("warning: {key} is a literal secret; use \"env:NAME\" or \"file:PATH\" in shared configs");
    }
    for warning in crate::providers::warnings(&config) {
        eprintln!("warning: {warning}");
    }
    if let Some(warning) = crate::config::exposed_development_credentials(&config) {
        eprintln!("warning: {warning}");
    }
    print!("{}", toml::to_string(&config).context("cannot print the config")?);
    eprintln!("config OK: {}", path.display());
    Ok(())
}

async fn migrate(path: &Path) -> anyhow::Result<()> {
    let config = load(path)?;
    let store = store::open_for_maintenance(&config.store).await?;
    store.migrate().await?;
    store.shutdown().await;
    eprintln!("store migrated: {}", config.store.url);
    Ok(())
}

fn hash_key() -> anyhow::Result<()> {
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .context("cannot read the key from stdin")?;
    let key = input.trim_end_matches(['\r', '\n']);
    anyhow::ensure!(!key.is_empty(), "no key on stdin");
    println!("{}", hex::encode(Sha256::digest(key.as_bytes())));
    Ok(())
}
