//! Integration tests: the real router over a real PostgreSQL, one database per test.

mod admin;
mod attachments;
mod auth;
mod bad_input;
mod bookings;
mod embedded;
mod errors;
mod faults;
mod gates;
mod golden;
mod idle;
mod live;
mod messages;
mod openapi;
mod ops;
mod principal_cache;
mod process;
mod provisioning;
mod response_cache;
mod round_trips;
mod support;
mod thread_fields;
mod threads;
mod webhooks;
