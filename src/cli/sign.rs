//! `gatehouse sign`: the headers a provider would send for a body, signed with the provider's first configured
//! secret, one `Name: value` per line (use with `curl -H @file`).

use std::path::PathBuf;

use anyhow::Context;
use gatehouse_kit::signature::SignRequest;

use crate::config::Config;
use crate::providers::Providers;

#[derive(Debug, clap::Args)]
pub struct SignArgs {
    /// The provider, as named in `[providers.NAME]`.
    #[arg(long)]
    provider: String,
    /// The file holding the exact body to send.
    #[arg(long)]
    body: PathBuf,
    /// The message id for schemes that carry one (default: a new `msg_<uuid>`).
    #[arg(long)]
    id: Option<String>,
    /// The Unix timestamp to sign (default: now).
    #[arg(long)]
    timestamp: Option<u64>,
}

pub fn run(config: &Config, args: &SignArgs) -> anyhow::Result<()> {
    let providers = Providers::build(config).context("invalid configuration")?;
    let provider = providers
        .get(&args.provider)
        .with_context(|| format!("no provider {:?} in the config", args.provider))?;
    let verifier = provider
        .webhook
        .as_ref()
        .with_context(|| format!("provider {:?} has no [webhook] table", args.provider))?;
    let key = verifier.keys.first().context("the provider has no secret")?;
    let body = std::fs::read(&args.body).with_context(|| format!("cannot read {}", args.body.display()))?;
    let message_id = args
        .id
        .clone()
        .unwrap_or_else(|| format!("msg_{}", uuid::Uuid::now_v7().simple()));
    let headers = verifier.scheme.sign(
        key,
        SignRequest {
            body: &body,
            timestamp: args.timestamp.unwrap_or_else(crate::clock::now_secs),
            message_id: &message_id,
        },
    );
    if serde_json::from_slice::<serde_json::Value>(&body).is_ok() {
        println!("Content-Type: application/json");
    }
    for (name, value) in headers {
        println!("{name}: {value}");
    }
    Ok(())
}
