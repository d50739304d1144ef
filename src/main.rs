//! The `ota-inbox` binary: read `.env`, parse the command line, run the command.

use std::process::ExitCode;

use clap::Parser;
use ota_inbox::cli::{self, Cli};

/// mimalloc: small, short-lived allocations (headers, JSON) are most of what a request does.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // A malformed .env is an error; a missing one is not.
    if let Err(err) = dotenvy::dotenv()
        && !err.not_found()
    {
        eprintln!("error: could not read .env: {err}");
        return ExitCode::from(2);
    }
    cli::run(Cli::parse())
}
