//! Wire concerns: the JSON and path extractors, list parameters, field validation, timestamps,
//! envelopes and authentication.

pub mod auth;
pub mod envelope;
pub mod fields;
pub mod gate;
pub mod json;
pub mod list;
pub mod path;
pub mod principal_cache;
pub mod rate_limit;
pub mod time;
pub mod upload;
