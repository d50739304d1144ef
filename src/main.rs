//! The `ota-inbox` binary: settings, logs, then the server.

use std::process::ExitCode;

use clap::Parser;
use ota_inbox::config::Config;
use ota_inbox::server::{self, Banner};

fn main() -> ExitCode {
    // A malformed .env is an error; a missing one is not.
    if let Err(err) = dotenvy::dotenv()
        && !err.not_found()
    {
        eprintln!("error: could not read .env: {err}");
        return ExitCode::from(2);
    }
    let config = Config::parse();
    server::init_tracing(config.log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: could not start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(server::run(config, print_banner)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
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
    }
    println!(
        "  try: curl -s -H \"user-api-key: $KEY\" {}/api/v1/properties",
        banner.url
    );
}
