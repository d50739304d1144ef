//! The worker's wake-up call: a LISTEN on [`super::CHANNEL`], which the `events` trigger
//! NOTIFYs at commit.

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::Notify;
use tokio::time::sleep;

/// Aborts the listening task when the loop ends, however it ends.
pub struct AbortOnDrop(pub tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Forwards the NOTIFYs of new deliveries to the loop; reconnects when the connection drops
/// (and wakes the loop then, since notifications sent meanwhile are lost).
pub async fn listen(pool: PgPool, wake: Arc<Notify>) {
    loop {
        match PgListener::connect_with(&pool).await {
            Ok(mut listener) => match listener.listen(super::CHANNEL).await {
                Ok(()) => {
                    wake.notify_one();
                    loop {
                        match listener.try_recv().await {
                            Ok(_) => wake.notify_one(),
                            Err(err) => {
                                tracing::warn!(error = %err, "listening for webhook events failed");
                                break;
                            }
                        }
                    }
                }
                Err(err) => tracing::warn!(error = %err, "LISTEN for webhook events failed"),
            },
            Err(err) => {
                tracing::warn!(error = %err, "connecting to listen for webhook events failed")
            }
        }
        sleep(Duration::from_secs(1)).await;
    }
}
