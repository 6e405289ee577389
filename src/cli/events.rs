//! `gatehouse events list`: the outbox, as a table or (with `--json`) a JSON array; `gatehouse events replay ID`:
//! an event queued again for delivery; `gatehouse events retranslate (ID | --provider P)`: quarantined events
//! translated again by the (fixed) adapter.

use anyhow::Context;

use crate::config::Config;
use crate::ingest::Ingest;
use crate::ingest::quarantine::Retranslated;
use crate::providers::Providers;
use crate::store::{self, EventFilter, EventStatus, Replayed};

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
    /// Run the provider's adapter again on quarantined events' stored bytes (after fixing the adapter or the
    /// provider's config): translated, each becomes an ordinary event under its id and is delivered; still
    /// unreadable, it stays quarantined with the new error.
    #[command(group(clap::ArgGroup::new("which").required(true).args(["id", "provider"])))]
    Retranslate {
        /// One quarantined event's id.
        id: Option<uuid::Uuid>,
        /// Every quarantined event of this provider.
        #[arg(long)]
        provider: Option<String>,
    },
}

pub async fn run(config: &Config, command: EventsCommand) -> anyhow::Result<()> {
    match command {
        EventsCommand::Retranslate { id, provider } => {
            let providers = Providers::build(config).context("invalid configuration")?;
            let store = store::open_for_maintenance(&config.store).await?;
            let ingest = Ingest {
                store: store.as_ref(),
                subscriptions: &config.subscriptions,
                relay_wake: None,
            };
            let (outcomes, error) = match (id, provider) {
                (Some(id), _) => match ingest.retranslate(&providers, id).await {
                    Ok(one) => (vec![one], None),
                    Err(error) => (Vec::new(), Some(error)),
                },
                (None, Some(provider)) => ingest.retranslate_provider(&providers, &provider).await,
                (None, None) => (Vec::new(), None),
            };
            store.shutdown().await;
            report(&outcomes);
            match error {
                Some(error) => Err(error).context("retranslation stopped"),
                None => Ok(()),
            }
        }
        EventsCommand::Replay { id } => {
            let store = store::open_for_maintenance(&config.store).await?;
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
            let store = store::open_read_only(&config.store).await?;
            let events = store
                .list_events(EventFilter {
                    status,
                    provider,
                    limit,
                    ..EventFilter::default()
                })
                .await
                .context("cannot list events")?;
            store.shutdown().await;
            if json {
                println!("{}", serde_json::to_string_pretty(&events)?);
                return Ok(());
            }
            println!(
                "{:<36}  {:<10}  {:<11}  {:<20}  {:<34}  SUBJECT",
                "ID", "PROVIDER", "STATUS", "RECEIVED_AT", "TYPE"
            );
            for e in &events {
                println!(
                    "{:<36}  {:<10}  {:<11}  {:<20}  {:<34}  {}",
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

/// One line per retranslated event, then the totals.
fn report(outcomes: &[Retranslated]) {
    let mut translated = 0;
    let mut still = 0;
    for outcome in outcomes {
        match (&outcome.error, outcome.duplicate_of, outcome.retranslated) {
            (_, _, false) => println!(
                "{}: not quarantined (status {}); left as it is",
                outcome.id,
                outcome.status.as_str()
            ),
            (Some(error), _, true) => {
                still += 1;
                println!("{}: still quarantined: {error}", outcome.id);
            }
            (None, Some(first), true) => {
                translated += 1;
                println!(
                    "{}: translated, a duplicate of event {first}: not delivered",
                    outcome.id
                );
            }
            (None, None, true) => {
                translated += 1;
                println!("{}: translated, now {}", outcome.id, outcome.status.as_str());
            }
        }
    }
    eprintln!("{translated} translated, {still} still quarantined");
}

async fn replay(config: &Config, store: &dyn store::Store, id: uuid::Uuid) -> anyhow::Result<usize> {
    let event = store
        .get_event(id)
        .await
        .context("cannot read the event")?
        .with_context(|| format!("no event {id}"))?;
    let subscribers = crate::relay::route(&config.subscriptions, &event.summary.event_type);
    match store
        .replay_event(id, subscribers, crate::clock::now_ms())
        .await
        .context("cannot queue the event")?
    {
        Replayed::Queued(queued) => Ok(queued),
        Replayed::NoSuchEvent => anyhow::bail!("no event {id}"),
        Replayed::Quarantined => {
            anyhow::bail!("event {id} is quarantined: run `gatehouse events retranslate {id}` first")
        }
    }
}
