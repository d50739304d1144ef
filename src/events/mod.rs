//! Live events (§13): the hub that turns NOTIFYs into an in-process broadcast, the SSE streams
//! and the pull feed. Events are rows of `events` (see [`crate::db::events`]), numbered after
//! commit by the sequencer so that stream ids only ever grow and a reader never misses one.

pub mod feed;
pub mod hub;
pub mod runner;
pub mod stream;

pub use hub::{Hint, Hub, HubConfig};
