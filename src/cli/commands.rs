//! `gatehouse commands list|show|cancel`: deferred commands for operators, as the admin API shows them (every
//! caller's, newest first), and cancelling a pending one that no executor is running.

use anyhow::Context;

use crate::config::Config;
use crate::operations::command_json;
use crate::store::{self, Cancelled, CommandFilter, CommandStatus};

#[derive(Debug, clap::Subcommand)]
pub enum CommandsCommand {
    /// List deferred commands, newest first.
    List {
        #[arg(long, value_parser = status)]
        status: Option<CommandStatus>,
        #[arg(long)]
        provider: Option<String>,
        /// The caller that submitted it (its name in `[[callers]]`).
        #[arg(long)]
        caller: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one command as JSON: request, attempts, last error and response.
    Show { id: uuid::Uuid },
    /// Cancel a pending command (not one an executor is attempting right now); its cancellation is announced as a
    /// `gatehouse.command.cancelled` event.
    Cancel { id: uuid::Uuid },
}

fn status(text: &str) -> Result<CommandStatus, String> {
    CommandStatus::parse(text).ok_or_else(|| "expected pending, succeeded, failed or cancelled".into())
}

pub async fn run(config: &Config, command: CommandsCommand) -> anyhow::Result<()> {
    match command {
        CommandsCommand::List {
            status,
            provider,
            caller,
            limit,
            json,
        } => {
            let store = store::open_read_only(&config.store).await?;
            let filter = CommandFilter {
                status,
                provider,
                caller,
                limit,
                before: None,
            };
            let listed = store.list_commands(filter).await.context("cannot list commands");
            store.shutdown().await;
            let listed = listed?;
            if json {
                let views: Vec<_> = listed.iter().map(|c| command_json(c, false)).collect();
                println!("{}", serde_json::to_string_pretty(&views)?);
                return Ok(());
            }
            println!(
                "{:<36}  {:<10}  {:<10}  {:<9}  {:>8}  {:<20}  REQUEST",
                "ID", "PROVIDER", "CALLER", "STATUS", "ATTEMPTS", "CREATED_AT"
            );
            for c in &listed {
                println!(
                    "{:<36}  {:<10}  {:<10}  {:<9}  {:>8}  {:<20}  {} {}",
                    c.id,
                    c.provider,
                    c.caller,
                    c.status.as_str(),
                    c.attempts,
                    crate::clock::rfc3339_from_ms(c.created_at_ms),
                    c.method,
                    c.path
                );
            }
            eprintln!("{} command(s)", listed.len());
            Ok(())
        }
        CommandsCommand::Show { id } => {
            let store = store::open_read_only(&config.store).await?;
            let found = store.get_command(id).await.context("cannot read the command");
            store.shutdown().await;
            let command = found?.with_context(|| format!("no command {id}"))?;
            println!("{}", serde_json::to_string_pretty(&command_json(&command, true))?);
            Ok(())
        }
        CommandsCommand::Cancel { id } => {
            let store = store::open_for_maintenance(&config.store).await?;
            let cancelled = crate::operations::cancel_command(store.as_ref(), &config.subscriptions, None, id).await;
            store.shutdown().await;
            match cancelled.context("cannot cancel the command")? {
                Cancelled::Done(_) => {
                    println!("command {id} cancelled");
                    Ok(())
                }
                Cancelled::Finished(status) => {
                    anyhow::bail!(
                        "command {id} is {}: only a pending command can be cancelled",
                        status.as_str()
                    )
                }
                Cancelled::Running => {
                    anyhow::bail!("command {id} is being attempted right now; try again once the attempt ends")
                }
                Cancelled::NotFound => anyhow::bail!("no command {id}"),
            }
        }
    }
}
