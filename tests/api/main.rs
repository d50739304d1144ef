//! Integration tests: the real router over a real PostgreSQL, one database per test.

mod admin;
mod auth;
mod embedded;
mod errors;
mod provisioning;
// The cluster's watchdog is left running on purpose: it outlives the test process.
#[allow(clippy::zombie_processes)]
mod support;
mod webhooks;
