//! `gatehouse events replay`: one event queued again (for every subscription that wants it, or one), or every dead
//! (or delivered) delivery matching filters, with a dry run that only counts. The same operations as the admin API
//! (`crate::operations`), on the store opened for maintenance beside a running gateway.

use crate::config::Config;
use crate::operations::{self, ReplayError};
use crate::store::{self, Finished, ReplayFilter};

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["id", "status"])))]
pub struct ReplayArgs {
    /// One event's id.
    id: Option<uuid::Uuid>,
    /// Every delivery in this state that matches the filters (bulk replay).
    #[arg(long, value_enum, conflicts_with = "id")]
    status: Option<ReplayStatus>,
    /// Only this subscription's delivery.
    #[arg(long)]
    subscription: Option<String>,
    #[arg(long, requires = "status")]
    provider: Option<String>,
    /// The full event type (`acme-crm.customer.updated`).
    #[arg(long = "type", requires = "status")]
    event_type: Option<String>,
    /// Events received at or after this RFC 3339 time.
    #[arg(long, value_parser = rfc3339, requires = "status")]
    since: Option<i64>,
    /// Events received before this RFC 3339 time.
    #[arg(long, value_parser = rfc3339, requires = "status")]
    until: Option<i64>,
    /// Only count what would be replayed.
    #[arg(long, requires = "status")]
    dry_run: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ReplayStatus {
    Dead,
    Delivered,
}

/// An RFC 3339 time as unix milliseconds, for clap.
pub fn rfc3339(text: &str) -> Result<i64, String> {
    crate::clock::ms_from_rfc3339(text)
        .ok_or_else(|| format!("{text:?} is not an RFC 3339 time (2026-11-30T12:00:00Z)"))
}

pub async fn run(config: &Config, args: ReplayArgs) -> anyhow::Result<()> {
    let store = store::open_for_maintenance(&config.store).await?;
    let outcome = replay(config, store.as_ref(), args).await;
    store.shutdown().await;
    outcome
}

async fn replay(config: &Config, store: &dyn store::Store, args: ReplayArgs) -> anyhow::Result<()> {
    let subscriptions = &config.subscriptions;
    if let Some(id) = args.id {
        let queued = operations::replay_event(store, subscriptions, id, args.subscription.as_deref())
            .await
            .map_err(explain)?;
        println!("event {id} queued again for {queued} subscription(s)");
        return Ok(());
    }
    let state = match args.status {
        Some(ReplayStatus::Delivered) => Finished::Delivered,
        _ => Finished::Dead,
    };
    let filter = ReplayFilter {
        state,
        provider: args.provider,
        event_type: args.event_type,
        since_ms: args.since,
        until_ms: args.until,
    };
    let replayed =
        operations::replay_matching(store, subscriptions, args.subscription.as_deref(), filter, args.dry_run)
            .await
            .map_err(explain)?;
    if args.dry_run {
        println!(
            "{} {} deliveries match (dry run: nothing queued)",
            replayed.matched,
            state.as_str()
        );
    } else {
        println!(
            "{} of {} matching {} deliveries queued again",
            replayed.queued,
            replayed.matched,
            state.as_str()
        );
    }
    Ok(())
}

fn explain(error: ReplayError) -> anyhow::Error {
    match error {
        ReplayError::Quarantined(id) => {
            anyhow::anyhow!("event {id} is quarantined: run `gatehouse events retranslate {id}` first")
        }
        ReplayError::Store(error) => anyhow::Error::new(error).context("cannot replay"),
        other => anyhow::anyhow!(other),
    }
}
