//! `gatehouse sagas list|show|retry`: sagas for operators, as the admin API shows them (every caller's, newest
//! first), and retrying a `failed` one once its vendor can undo the step whose compensation failed (a running
//! gateway picks it up at its next poll).

use anyhow::Context;

use crate::config::Config;
use crate::operations::saga_json;
use crate::store::{self, SagaFilter, SagaRetried, SagaStatus};

#[derive(Debug, clap::Subcommand)]
pub enum SagasCommand {
    /// List sagas, newest first.
    List {
        /// The saga's name in `[[sagas]]`.
        #[arg(long)]
        name: Option<String>,
        #[arg(long, value_parser = status)]
        status: Option<SagaStatus>,
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one saga as JSON: input, steps (state, attempts, answers, errors), retries.
    Show { id: uuid::Uuid },
    /// Compensate a failed saga again, from the step whose compensation failed.
    Retry { id: uuid::Uuid },
}

fn status(text: &str) -> Result<SagaStatus, String> {
    SagaStatus::parse(text).ok_or_else(|| "expected running, compensating, completed, compensated or failed".into())
}

pub async fn run(config: &Config, command: SagasCommand) -> anyhow::Result<()> {
    match command {
        SagasCommand::List {
            name,
            status,
            limit,
            json,
        } => {
            let store = store::open_read_only(&config.store).await?;
            let filter = SagaFilter {
                name,
                status,
                limit,
                before: None,
            };
            let listed = store.list_sagas(filter).await.context("cannot list sagas");
            store.shutdown().await;
            let listed = listed?;
            if json {
                let views: Vec<_> = listed.iter().map(|s| saga_json(s, false)).collect();
                println!("{}", serde_json::to_string_pretty(&views)?);
                return Ok(());
            }
            println!(
                "{:<36}  {:<16}  {:<10}  {:<12}  {:<20}  STEPS",
                "ID", "SAGA", "CALLER", "STATUS", "UPDATED_AT"
            );
            for s in &listed {
                let steps: Vec<String> = s
                    .steps
                    .iter()
                    .map(|step| format!("{}={}", step.name, step.status.as_str()))
                    .collect();
                println!(
                    "{:<36}  {:<16}  {:<10}  {:<12}  {:<20}  {}",
                    s.id,
                    s.name,
                    s.caller,
                    s.status.as_str(),
                    crate::clock::rfc3339_from_ms(s.updated_at_ms),
                    steps.join(" ")
                );
            }
            eprintln!("{} saga(s)", listed.len());
            Ok(())
        }
        SagasCommand::Show { id } => {
            let store = store::open_read_only(&config.store).await?;
            let found = store.get_saga(id).await.context("cannot read the saga");
            store.shutdown().await;
            let saga = found?.with_context(|| format!("no saga {id}"))?;
            println!("{}", serde_json::to_string_pretty(&saga_json(&saga, true))?);
            Ok(())
        }
        SagasCommand::Retry { id } => {
            let store = store::open_for_maintenance(&config.store).await?;
            let retried = store.retry_saga(id, crate::clock::now_ms()).await;
            store.shutdown().await;
            match retried.context("cannot retry the saga")? {
                SagaRetried::Done(_) => {
                    println!("saga {id} compensates again");
                    Ok(())
                }
                SagaRetried::NotFailed(status) => {
                    anyhow::bail!("saga {id} is {}: only a failed saga can be retried", status.as_str())
                }
                SagaRetried::NotFound => anyhow::bail!("no saga {id}"),
            }
        }
    }
}
