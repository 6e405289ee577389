//! `gatehouse health`: asks a running gateway whether it is ready (`GET /readyz`) and exits 0 when it answers 2xx,
//! 1 otherwise. The container image's `HEALTHCHECK` runs it (slim images have no curl). Without `--url` it probes
//! the config's `server.listen` on this machine (an unspecified address such as `0.0.0.0` becomes loopback).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::config::Config;

#[derive(Debug, clap::Args)]
pub struct HealthArgs {
    /// The URL to probe (http only); default: `/readyz` on the config's `server.listen`.
    #[arg(long)]
    pub url: Option<String>,
    /// How long to wait for the answer.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub timeout: Duration,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime_serde::re::humantime::parse_duration(text).map_err(|e| e.to_string())
}

pub async fn run(config: &Path, args: &HealthArgs) -> anyhow::Result<()> {
    let url = match &args.url {
        Some(url) => url.clone(),
        None => {
            let config = Config::load(config)
                .with_context(|| format!("invalid configuration in {} (or pass --url)", config.display()))?;
            readyz_url(config.server.listen)
        }
    };
    let uri: http::Uri = url.parse().with_context(|| format!("not a URL: {url}"))?;
    anyhow::ensure!(
        uri.scheme_str() == Some("http") && uri.host().is_some(),
        "--url must be an http:// URL (the probe runs beside the gateway): {url}"
    );
    let client: Client<HttpConnector, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    let response = tokio::time::timeout(args.timeout, client.get(uri))
        .await
        .map_err(|_| anyhow::anyhow!("{url} did not answer within {:?}", args.timeout))?
        .with_context(|| format!("cannot reach {url}"))?;
    let status = response.status();
    anyhow::ensure!(status.is_success(), "not ready: {url} answered {status}");
    println!("ready: {url} answered {status}");
    Ok(())
}

/// `http://HOST:PORT/readyz` for a listen address, with an unspecified address replaced by loopback.
fn readyz_url(listen: SocketAddr) -> String {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}/readyz", SocketAddr::new(ip, listen.port()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn probes_loopback_for_an_unspecified_address() {
        let url = |addr: &str| super::readyz_url(addr.parse().unwrap());
        assert_eq!(url("0.0.0.0:8080"), "http://127.0.0.1:8080/readyz");
        assert_eq!(url("[::]:8080"), "http://[::1]:8080/readyz");
        assert_eq!(url("10.1.2.3:9000"), "http://10.1.2.3:9000/readyz");
    }
}
