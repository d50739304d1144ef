//! Integration tests: the real router over a real PostgreSQL, one database per test.

mod admin;
mod attachments;
mod auth;
mod bad_input;
mod embedded;
mod errors;
mod faults;
mod gates;
mod golden;
mod messages;
mod provisioning;
mod support;
mod threads;
mod webhooks;
