//! `ota-inbox serve` (and `ota-inbox` alone): the server, with its start-up banner.

use crate::config::Config;
use crate::server::{self, Banner};

/// Serves until SIGTERM or Ctrl-C.
pub async fn run(config: Config) -> anyhow::Result<()> {
    server::run(config, print_banner).await
}

/// The start-up banner on stdout: where to reach the server and with what.
fn print_banner(banner: &Banner) {
    println!("ota-inbox is listening on {}", banner.url);
    if let Some(dir) = &banner.embedded_dir {
        println!("  embedded PostgreSQL: {}", dir.display());
    }
    if let Some(key) = &banner.demo_api_key {
        println!("  demo API key:  {key}");
    }
    if let Some(token) = &banner.generated_admin_token {
        println!("  admin token:   {token}");
    } else if !banner.admin_api {
        println!("  admin API:     off (set ADMIN_TOKEN to turn it on)");
    }
    println!("  metrics:       {}", banner.metrics_url);
    println!(
        "  try: curl -s -H \"user-api-key: $KEY\" {}/api/v1/properties",
        banner.url
    );
}
