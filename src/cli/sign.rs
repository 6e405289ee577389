//! `gatehouse sign`: the headers a provider would send for a body, signed with the provider's first configured
//! secret or with `--key` (the private key of an asymmetric scheme), one `Name: value` per line (use with
//! `curl -H @file`). For Twilio, which signs the URL, the query string to send it with goes to stderr.

use std::path::PathBuf;

use anyhow::Context;
use gatehouse_kit::signature::SignRequest;

use crate::config::{Config, SecretRef};
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
    /// Sign with this key instead of the provider's first secret: `env:NAME`, `file:PATH` or the value. Needed for
    /// asymmetric schemes, whose config holds only public keys: SendGrid's private key (base64 PKCS#8 DER), a
    /// Standard Webhooks `whsk_...` key for `v1a`.
    #[arg(long)]
    key: Option<String>,
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
    let own_key = match &args.key {
        Some(text) => Some(
            verifier
                .scheme
                .signing_key(&SecretRef::parse(text).resolve("--key")?)
                .map_err(|e| anyhow::anyhow!("--key: {e}"))?,
        ),
        None => None,
    };
    let key = match &own_key {
        Some(key) => key,
        None => verifier.keys.first().context("the provider has no secret")?,
    };
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
    if headers.is_empty() {
        anyhow::bail!(
            "the {} scheme cannot sign with this key (a public key verifies only): pass --key with the private key",
            verifier.scheme.name()
        );
    }
    if let Some(query) = verifier.scheme.signed_query(&body) {
        eprintln!("send it to the public URL with the query string: ?{query}");
    }
    // A JSON body's type, unless the scheme set one itself (Twilio signs forms and JSON differently).
    let typed = headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("content-type"));
    if !typed && serde_json::from_slice::<serde_json::Value>(&body).is_ok() {
        println!("Content-Type: application/json");
    }
    for (name, value) in headers {
        println!("{name}: {value}");
    }
    Ok(())
}
