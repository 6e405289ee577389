//! `gatehouse events list`: the outbox, filtered, as a table or (with `--json`) a JSON array; `gatehouse events show
//! ID`: one event with its envelope, raw body and deliveries; `gatehouse events replay` (see [`super::replay`]);
//! `gatehouse events retranslate (ID | --provider P)`: quarantined events translated again by the (fixed) adapter.

use anyhow::Context;

use crate::config::Config;
use crate::ingest::Ingest;
use crate::ingest::quarantine::Retranslated;
use crate::providers::Providers;
use crate::store::{self, EventFilter, EventStatus};

#[derive(Debug, clap::Subcommand)]
pub enum EventsCommand {
    /// List outbox events, oldest first (`--newest-first` for the latest).
    List {
        /// With `--subscription`, that subscription's delivery state.
        #[arg(long, value_enum)]
        status: Option<EventStatus>,
        #[arg(long)]
        provider: Option<String>,
        /// The full event type (`acme-crm.customer.updated`).
        #[arg(long = "type")]
        event_type: Option<String>,
        /// Only events delivered (or to deliver) to this subscription.
        #[arg(long)]
        subscription: Option<String>,
        /// The vendor's own event id.
        #[arg(long)]
        provider_event_id: Option<String>,
        /// Received at or after this RFC 3339 time.
        #[arg(long, value_parser = super::replay::rfc3339)]
        since: Option<i64>,
        /// Received before this RFC 3339 time.
        #[arg(long, value_parser = super::replay::rfc3339)]
        until: Option<i64>,
        #[arg(long)]
        newest_first: bool,
        /// At most this many events.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one event as JSON: envelope, raw body, and each subscription's delivery with every attempt.
    Show {
        /// The event's id.
        id: uuid::Uuid,
    },
    /// Put events back in the delivery queue: one event (for every subscription that wants it, or
    /// `--subscription`'s only), or every dead delivery matching the filters (`--status dead`).
    Replay(super::replay::ReplayArgs),
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
                read_model: None,
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
        EventsCommand::Replay(args) => super::replay::run(config, args).await,
        EventsCommand::Show { id } => {
            let store = store::open_read_only(&config.store).await?;
            let event = store.get_event(id).await.context("cannot read the event");
            store.shutdown().await;
            let event = event?.with_context(|| format!("no event {id}"))?;
            println!("{}", serde_json::to_string_pretty(&event)?);
            Ok(())
        }
        EventsCommand::List {
            status,
            provider,
            event_type,
            subscription,
            provider_event_id,
            since,
            until,
            newest_first,
            limit,
            json,
        } => {
            let store = store::open_read_only(&config.store).await?;
            let events = store
                .list_events(EventFilter {
                    status,
                    provider,
                    event_type,
                    subscription,
                    provider_event_id,
                    since_ms: since,
                    until_ms: until,
                    newest_first,
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
