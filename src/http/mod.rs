//! Wire concerns: the JSON and path extractors, list parameters, field validation, timestamps,
//! envelopes, authentication, time limits, reruns of rolled-back requests and the accept loop.

pub mod auth;
pub mod auth_failures;
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
pub mod retry;
pub mod serve;
pub mod time;
pub mod upload;
pub mod writers;
