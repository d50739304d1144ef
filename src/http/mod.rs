//! Wire concerns: the JSON and path extractors, list parameters, field validation, timestamps,
//! envelopes, authentication, the response cache and the announcement of writes, time limits,
//! reruns of rolled-back requests and the accept loop.

pub mod auth;
pub mod auth_failures;
pub mod changes;
pub mod compression;
pub mod cors;
pub mod deadline;
pub mod envelope;
pub mod fields;
pub mod gate;
pub mod json;
pub mod list;
pub mod path;
pub mod principal_cache;
pub mod rate_limit;
pub mod response_cache;
pub mod retry;
pub mod serve;
pub mod time;
pub mod upload;
pub mod writers;
