//! `gatehouse events list`: the outbox, as a table or (with `--json`) a JSON array.

use anyhow::Context;

use crate::config::Config;
use crate::store::{self, EventFilter, EventStatus};

#[derive(Debug, clap::Subcommand)]
pub enum EventsCommand {
    /// List outbox events, oldest first.
    List {
        #[arg(long, value_enum)]
        status: Option<EventStatus>,
        #[arg(long)]
        provider: Option<String>,
        /// At most this many events.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(config: &Config, command: EventsCommand) -> anyhow::Result<()> {
    match command {
        EventsCommand::List {
            status,
            provider,
            limit,
            json,
        } => {
            let store = store::open_read_only(&config.store.url).await?;
            let events = store
                .list_events(EventFilter {
                    status,
                    provider,
                    limit,
                })
                .await
                .context("cannot list events")?;
            store.shutdown().await;
            if json {
                println!("{}", serde_json::to_string_pretty(&events)?);
                return Ok(());
            }
            println!(
                "{:<36}  {:<10}  {:<9}  {:<20}  {:<34}  SUBJECT",
                "ID", "PROVIDER", "STATUS", "RECEIVED_AT", "TYPE"
            );
            for e in &events {
                println!(
                    "{:<36}  {:<10}  {:<9}  {:<20}  {:<34}  {}",
                    e.id,
                    e.provider,
                    e.status.as_str(),
                    e.received_at,
                    e.event_type,
                    e.subject.as_deref().unwrap_or("-")
                );
            }
            eprintln!("{} event(s)", events.len());
            Ok(())
        }
    }
}
