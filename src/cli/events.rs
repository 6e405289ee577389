//! `gatehouse events list`: the outbox, as a table or (with `--json`) a JSON array; `gatehouse events replay ID`:
//! an event queued again for delivery.

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
    /// Put an event back in the delivery queue of every subscription that wants it (a delivery still pending is
    /// left to its current attempt).
    Replay {
        /// The event's id.
        id: uuid::Uuid,
    },
}

pub async fn run(config: &Config, command: EventsCommand) -> anyhow::Result<()> {
    match command {
        EventsCommand::Replay { id } => {
            let store = store::open(&config.store.url, config.store.max_batch).await?;
            let replayed = replay(config, store.as_ref(), id).await;
            store.shutdown().await;
            let queued = replayed?;
            println!("event {id} queued again for {queued} subscription(s)");
            Ok(())
        }
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
                    after: None,
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

async fn replay(config: &Config, store: &dyn store::Store, id: uuid::Uuid) -> anyhow::Result<usize> {
    let event = store
        .get_event(id)
        .await
        .context("cannot read the event")?
        .with_context(|| format!("no event {id}"))?;
    let subscribers = crate::relay::route(&config.subscriptions, &event.summary.event_type);
    store
        .replay_event(id, subscribers, crate::clock::now_ms())
        .await
        .context("cannot queue the event")?
        .with_context(|| format!("no event {id}"))
}
