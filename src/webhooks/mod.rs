//! Webhooks (§10): the write model, the delivery worker and its outbound HTTP client.
//!
//! Events are rows of `events`, written in the transaction of the change that causes them; a
//! trigger (migration 0004) turns each into one delivery per matching webhook in that same
//! transaction and NOTIFYs [`CHANNEL`]. The [`Worker`] claims due deliveries with
//! `FOR UPDATE SKIP LOCKED` and a lease, POSTs them, and records every attempt.

pub mod attempt;
pub mod client;
pub mod envelope;
pub mod form;
pub mod http1;
pub mod in_flight;
pub mod listen;
pub mod mask;
pub mod scan;
pub mod signing;
pub mod views;
pub mod worker;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::OnceCell;

pub use client::Outbound;
pub use worker::{Worker, WorkerConfig};

/// The NOTIFY channel of new deliveries.
pub const CHANNEL: &str = "ota_inbox_webhooks";
/// Default limit of one delivery attempt.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default number of attempts in flight per server process.
pub const DEFAULT_CONCURRENCY: usize = 32;

/// The client of `POST /api/v1/webhooks/test`, built on first use.
#[derive(Debug, Clone)]
pub struct TestClient {
    timeout: Duration,
    client: Arc<OnceCell<Outbound>>,
}

impl TestClient {
    pub fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            client: Arc::new(OnceCell::new()),
        }
    }

    pub async fn get(&self) -> anyhow::Result<&Outbound> {
        self.client
            .get_or_try_init(|| async { Outbound::new(self.timeout) })
            .await
    }
}
