//! The hub's runner. A single LISTEN connection hears new events (`ota_inbox_events`),
//! sequencer runs (`ota_inbox_events_sequenced`), the console's tables (`ota_inbox_console`)
//! and credential changes (`ota_inbox_principals`, which end the streams of a revoked key). On a new event it runs the sequencer; on numbered events it reads
//! them once and publishes them to the [`Hub`]. After a lost connection it catches up by id.
//!
//! Idle, it looks at the database once per `sweep` (a safety net for a notification lost with
//! its connection) and prunes hourly; everything else is woken by NOTIFY.

use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep, sleep_until};
use tokio_util::sync::CancellationToken;

use super::hub::{
    CONSOLE_CHANNEL, EVENTS_CHANNEL, Hint, Hub, PRINCIPALS_CHANNEL, SEQUENCED_CHANNEL,
};
use crate::db;

/// Events numbered by one sequencer run, and read by one query.
pub const BATCH: i64 = 1000;
/// How soon to try the sequencer again when another process held its lock.
const LOCK_RETRY: Duration = Duration::from_millis(20);
/// How soon to try again after a database error.
const ERROR_RETRY: Duration = Duration::from_secs(1);
/// Console hints of one kind are sent at most this often.
const HINT_EVERY: Duration = Duration::from_millis(250);
const PRUNE_FIRST: Duration = Duration::from_secs(300);
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
const PRUNE_BATCH: i64 = 5000;
const PRUNE_MAX_BATCHES: usize = 20;

/// Runs the hub on `listener` (already listening, a connection of `listen_pool`) until
/// `shutdown` is cancelled.
pub fn spawn(
    hub: Hub,
    pool: PgPool,
    listen_pool: PgPool,
    listener: PgListener,
    shutdown: CancellationToken,
) -> JoinHandle<()> {
    let (signals, received) = mpsc::unbounded_channel();
    let forward = tokio::spawn(forward(listen_pool, listener, signals));
    tokio::spawn(async move {
        let _forward = AbortOnDrop(forward);
        Loop::new(hub, pool).run(received, shutdown).await;
    })
}

/// What the listening connection heard.
#[derive(Debug)]
enum Signal {
    Inserted,
    /// A sequencer run numbered events up to this id.
    Sequenced(i64),
    Hint(Hint),
    /// A user's credentials changed (`None`: anyone's).
    Credentials(Option<uuid::Uuid>),
    /// The connection was lost and is back: notifications may have been missed.
    Reconnected,
}

/// Aborts a task when dropped.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Reads notifications and hands them to the hub's loop; reconnects after a lost connection.
/// A task of its own: reading is not cancellation-safe, so it is never raced in a `select!`.
async fn forward(
    listen_pool: PgPool,
    mut listener: PgListener,
    signals: mpsc::UnboundedSender<Signal>,
) {
    loop {
        let signal = match listener.try_recv().await {
            Ok(Some(notification)) => match notification.channel() {
                EVENTS_CHANNEL => Signal::Inserted,
                SEQUENCED_CHANNEL => match notification.payload().parse() {
                    Ok(last) => Signal::Sequenced(last),
                    Err(_) => Signal::Reconnected,
                },
                PRINCIPALS_CHANNEL => Signal::Credentials(notification.payload().parse().ok()),
                _ => match Hint::parse(notification.payload()) {
                    Some(hint) => Signal::Hint(hint),
                    None => continue,
                },
            },
            // Lost, and listening again (sqlx reconnects eagerly, LISTEN included, before it
            // answers): what was sent meanwhile is gone.
            Ok(None) => Signal::Reconnected,
            Err(sqlx::Error::PoolClosed) => return,
            Err(err) => {
                // Start over on a new connection, and say so once it listens.
                tracing::warn!(error = %err, "listening for events failed");
                drop(listener);
                listener = relisten(&listen_pool).await;
                Signal::Reconnected
            }
        };
        if signals.send(signal).is_err() {
            return;
        }
    }
}

/// A new listening connection, tried once a second until it listens.
async fn relisten(pool: &PgPool) -> PgListener {
    loop {
        sleep(ERROR_RETRY).await;
        match listen(pool).await {
            Ok(listener) => return listener,
            Err(err) => tracing::warn!(error = %err, "listening for events failed"),
        }
    }
}

/// A connection of `pool` listening on the hub's channels.
pub async fn listen(pool: &PgPool) -> sqlx::Result<PgListener> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener
        .listen_all([
            EVENTS_CHANNEL,
            SEQUENCED_CHANNEL,
            CONSOLE_CHANNEL,
            PRINCIPALS_CHANNEL,
        ])
        .await?;
    Ok(listener)
}

struct Loop {
    hub: Hub,
    pool: PgPool,
    /// Run the sequencer.
    sequence: bool,
    /// Read numbered events after the position.
    read: bool,
    /// When to try the sequencer again (its lock was held, or it failed).
    retry: Option<Instant>,
    /// Hints waiting to be sent, and when they may be.
    hints: Vec<Hint>,
    hints_at: Option<Instant>,
    hint_sent: Instant,
}

impl Loop {
    fn new(hub: Hub, pool: PgPool) -> Self {
        Self {
            hub,
            pool,
            sequence: false,
            read: false,
            retry: None,
            hints: Vec::new(),
            hints_at: None,
            hint_sent: Instant::now(),
        }
    }

    async fn run(mut self, mut signals: mpsc::UnboundedReceiver<Signal>, stop: CancellationToken) {
        let sweep_every = self.hub.config().sweep;
        let mut sweep = Instant::now() + sweep_every;
        let mut prune = Instant::now() + PRUNE_FIRST;
        loop {
            let far = Instant::now() + Duration::from_secs(3600);
            tokio::select! {
                () = stop.cancelled() => break,
                signal = signals.recv() => match signal {
                    Some(signal) => {
                        self.take(signal);
                        while let Ok(signal) = signals.try_recv() {
                            self.take(signal);
                        }
                    }
                    None => {
                        tracing::error!("the event listener stopped");
                        break;
                    }
                },
                () = sleep_until(self.retry.unwrap_or(far)), if self.retry.is_some() => {
                    self.retry = None;
                    self.sequence = true;
                }
                () = sleep_until(self.hints_at.unwrap_or(far)), if self.hints_at.is_some() => {
                    self.flush_hints();
                }
                // Numbers what a lost notification left waiting; its answer says whether
                // there is anything new to read.
                () = sleep_until(sweep) => self.sequence = true,
                () = sleep_until(prune) => {
                    self.prune().await;
                    prune = Instant::now() + PRUNE_EVERY;
                }
            }
            if self.sequence || self.read {
                sweep = Instant::now() + sweep_every;
            }
            self.work().await;
        }
        tracing::info!("event hub stopped");
    }

    fn take(&mut self, signal: Signal) {
        match signal {
            Signal::Inserted => self.sequence = true,
            Signal::Sequenced(last) => {
                if last > self.hub.position().unwrap_or(0) {
                    self.read = true;
                }
            }
            Signal::Hint(hint) => self.queue_hint(hint),
            Signal::Credentials(user) => self.hub.credentials_changed(user),
            Signal::Reconnected => {
                self.sequence = true;
                self.read = true;
                // A revocation, or a change of the console's tables, may have gone unheard.
                self.hub.credentials_changed(None);
                self.queue_hint(Hint::Outbox);
                self.queue_hint(Hint::WebhookDelivery);
            }
        }
    }

    fn queue_hint(&mut self, hint: Hint) {
        if !self.hints.contains(&hint) {
            self.hints.push(hint);
        }
        if self.hints_at.is_none() {
            self.hints_at = Some(self.hint_sent + HINT_EVERY);
        }
    }

    fn flush_hints(&mut self) {
        for hint in self.hints.drain(..) {
            self.hub.hint(hint);
        }
        self.hints_at = None;
        self.hint_sent = Instant::now();
    }

    /// Runs the sequencer and reads what it numbered, as flagged.
    async fn work(&mut self) {
        while self.sequence {
            self.sequence = false;
            match db::events::sequence(&self.pool, BATCH as i32).await {
                Ok(Some((last, numbered))) => {
                    if last > self.hub.position().unwrap_or(0) {
                        self.read = true;
                    }
                    // A full batch: more may wait.
                    self.sequence = numbered >= BATCH;
                }
                // Another process numbers what is there now, but its snapshot may predate
                // the commit that woke this hub: look again shortly.
                Ok(None) => self.retry = Some(Instant::now() + LOCK_RETRY),
                Err(err) => {
                    tracing::warn!(error = %err, "sequencing events failed");
                    self.retry = Some(Instant::now() + ERROR_RETRY);
                }
            }
        }
        if self.read {
            self.read = false;
            self.read_new().await;
        }
    }

    /// Reads and publishes every numbered event after the position.
    async fn read_new(&mut self) {
        loop {
            let after = self.hub.position().unwrap_or(0);
            match db::events::read_after(&self.pool, after, BATCH).await {
                Ok(events) => {
                    let full = events.len() as i64 >= BATCH;
                    self.hub.publish(events);
                    if !full {
                        return;
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %err, "reading new events failed");
                    self.read = true;
                    self.retry = Some(Instant::now() + ERROR_RETRY);
                    return;
                }
            }
        }
    }

    /// Deletes events past their retention (never one a webhook delivery still refers to),
    /// one-time tokens expired for a day and chat sessions past their idle limit.
    async fn prune(&self) {
        let config = self.hub.config();
        let older_than = i64::try_from(config.retention.as_secs()).unwrap_or(i64::MAX);
        for _ in 0..PRUNE_MAX_BATCHES {
            match db::events::prune(&self.pool, older_than, PRUNE_BATCH).await {
                Ok(deleted) if deleted > 0 => {
                    tracing::info!(deleted, "pruned old events");
                    if deleted < PRUNE_BATCH as u64 {
                        break;
                    }
                }
                Ok(_) => break,
                Err(err) => {
                    tracing::warn!(error = %err, "pruning events failed");
                    break;
                }
            }
        }
        if let Err(err) = db::one_time_tokens::prune(&self.pool).await {
            tracing::warn!(error = %err, "pruning one-time tokens failed");
        }
        let idle = i64::try_from(config.chat_session_idle.as_secs()).unwrap_or(i64::MAX);
        if let Err(err) = db::chat_sessions::prune(&self.pool, idle).await {
            tracing::warn!(error = %err, "pruning chat sessions failed");
        }
    }
}
