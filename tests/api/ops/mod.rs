//! Running the server: metrics, rate limits, the CLI and its processes, the index and the
//! small things a new user meets first.

mod cors_compression;
pub mod metrics;
mod process;
mod rate_limits;
mod small_things;
