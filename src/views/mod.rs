//! The wire shape of each resource: small serde structs that mirror the documentation, one
//! file per resource group.

mod accounts;
mod bookings;
mod console;
mod messages;
mod threads;

pub use accounts::*;
pub use bookings::*;
pub use console::*;
pub use messages::*;
pub use threads::*;
