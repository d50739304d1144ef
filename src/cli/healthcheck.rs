//! `ota-inbox healthcheck`: for container health checks (the image has no curl).

use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;

use crate::config::BindAddr;

/// How long the check waits for an answer.
const TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Args)]
pub struct HealthcheckArgs {
    /// URL to check. Default: /ready of the server listening on BIND_ADDR (an unspecified
    /// address such as 0.0.0.0 is reached on loopback).
    #[arg(long)]
    pub url: Option<String>,

    /// The server's listen address.
    #[arg(long, env = "BIND_ADDR", default_value = "127.0.0.1:8080")]
    pub bind_addr: BindAddr,
}

/// The URL of `/ready` of a server listening on `addr`.
pub fn ready_url(addr: &BindAddr) -> String {
    let host = match addr.host() {
        "0.0.0.0" => "127.0.0.1".to_owned(),
        "::" => "[::1]".to_owned(),
        host if host.contains(':') => format!("[{host}]"),
        host => host.to_owned(),
    };
    format!("http://{host}:{}/ready", addr.port())
}

/// Exits 0 on a 200, else 1 with the reason.
pub async fn run(args: &HealthcheckArgs) -> anyhow::Result<()> {
    let url = args
        .url
        .clone()
        .unwrap_or_else(|| ready_url(&args.bind_addr));
    // The server's own health: asked directly, never through the proxies (HTTP_PROXY, ...)
    // that its webhooks may go through.
    let client = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .no_proxy()
        .build()
        .context("building the HTTP client")?;
    let response = client
        .get(&url)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    let status = response.status();
    if status != reqwest::StatusCode::OK {
        bail!("GET {url} answered {status}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_url_reaches_an_unspecified_address_on_loopback() {
        let url = |raw: &str| ready_url(&raw.parse().unwrap());
        assert_eq!(url("0.0.0.0:8080"), "http://127.0.0.1:8080/ready");
        assert_eq!(url("[::]:8080"), "http://[::1]:8080/ready");
        assert_eq!(url("[::1]:9000"), "http://[::1]:9000/ready");
        assert_eq!(url("localhost:8080"), "http://localhost:8080/ready");
        assert_eq!(url("10.0.0.5:80"), "http://10.0.0.5:80/ready");
    }
}
