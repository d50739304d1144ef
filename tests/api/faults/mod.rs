//! Faults that everyday production traffic meets first: concurrent writers, a stuck lock, a
//! frozen database, slow clients, ambiguous credentials, large attachments, dying workers.

mod attachments;
mod concurrency;
mod credentials;
mod frozen;
mod locks;
pub mod process;
mod slow_clients;
