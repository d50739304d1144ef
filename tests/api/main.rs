//! Integration tests: the real router over a real PostgreSQL, one database per test.

mod admin;
mod auth;
mod embedded;
mod errors;
mod gates;
mod golden;
mod provisioning;
mod support;
