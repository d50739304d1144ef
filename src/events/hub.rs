//! The hub: one per process. A single LISTEN connection hears new events
//! (`ota_inbox_events`), sequencer runs (`ota_inbox_events_sequenced`) and the console's
//! tables (`ota_inbox_console`). On a new event it runs the sequencer; on numbered events it
//! reads them once and broadcasts them in-process, where each stream filters what its reader
//! may see. A stream that falls behind, and the hub after a lost connection, catch up from the
//! database by id, so nobody misses an event.
//!
//! Idle, the hub looks at the database once per `sweep` (a safety net for a notification lost
//! with its connection) and prunes hourly; everything else is woken by NOTIFY.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgListener, PgPoolOptions};
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep, sleep_until};
use tokio_util::sync::CancellationToken;

use crate::db;
use crate::db::events::StreamEvent;

/// NOTIFY channel of new events (a trigger on `events`).
pub const EVENTS_CHANNEL: &str = "ota_inbox_events";
/// NOTIFY channel of sequencer runs (payload: the new last stream id).
pub const SEQUENCED_CHANNEL: &str = "ota_inbox_events_sequenced";
/// NOTIFY channel of the console's tables (payload: `outbox` or `webhook_delivery`).
pub const CONSOLE_CHANNEL: &str = "ota_inbox_console";

/// Events numbered by one sequencer run, and read by one query.
const BATCH: i64 = 1000;
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

/// How the hub and its streams run.
#[derive(Debug, Clone)]
pub struct HubConfig {
    /// Interval of the keep-alive comments of a stream.
    pub keep_alive: Duration,
    /// How often an open stream checks that its credential still holds (and keeps a chat
    /// session alive).
    pub recheck: Duration,
    /// Longest time between two looks at the database when no notification comes.
    pub sweep: Duration,
    /// How long events are kept (at least seven days).
    pub retention: Duration,
    /// Idle limit of chat sessions, for pruning dead ones.
    pub chat_session_idle: Duration,
    /// Events a stream may fall behind before it catches up from the database.
    pub capacity: usize,
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            keep_alive: Duration::from_secs(15),
            recheck: Duration::from_secs(60),
            sweep: Duration::from_secs(30),
            retention: Duration::from_secs(7 * 24 * 3600),
            chat_session_idle: Duration::from_secs(12 * 3600),
            capacity: 4096,
        }
    }
}

/// An event as streams send it: the row and its payload, serialised once.
#[derive(Debug)]
pub struct Published {
    pub event: StreamEvent,
    pub data: String,
}

impl Published {
    pub fn new(event: StreamEvent) -> Self {
        let data = event.payload.to_string();
        Self { event, data }
    }
}

/// The console's id-less wake-ups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hint {
    Outbox,
    WebhookDelivery,
}

impl Hint {
    pub fn name(self) -> &'static str {
        match self {
            Hint::Outbox => "outbox",
            Hint::WebhookDelivery => "webhook_delivery",
        }
    }

    fn parse(payload: &str) -> Option<Self> {
        match payload {
            "outbox" => Some(Hint::Outbox),
            "webhook_delivery" => Some(Hint::WebhookDelivery),
            _ => None,
        }
    }
}

/// The handle of a process's hub: cheap to clone, shared by every stream.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

struct Inner {
    config: HubConfig,
    /// The last stream id published; `None` until the hub runs.
    position: Mutex<Option<i64>>,
    events: broadcast::Sender<Arc<Published>>,
    hints: broadcast::Sender<Hint>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("position", &*self.position())
            .finish_non_exhaustive()
    }
}

impl Hub {
    /// A hub that does not run yet (see [`Hub::start`]).
    pub fn new(config: HubConfig) -> Self {
        let (events, _) = broadcast::channel(config.capacity.max(16));
        let (hints, _) = broadcast::channel(64);
        Self {
            inner: Arc::new(Inner {
                config,
                position: Mutex::new(None),
                events,
                hints,
            }),
        }
    }

    pub fn config(&self) -> &HubConfig {
        &self.inner.config
    }

    fn position(&self) -> MutexGuard<'_, Option<i64>> {
        self.inner
            .position
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A receiver of everything published from now on, and the last id published before it
    /// (taken together, so nothing falls between). `None` while the hub is not running.
    pub fn subscribe(&self) -> Option<(broadcast::Receiver<Arc<Published>>, i64)> {
        let position = self.position();
        position.map(|last| (self.inner.events.subscribe(), last))
    }

    /// A receiver of the console's hints.
    pub fn hints(&self) -> broadcast::Receiver<Hint> {
        self.inner.hints.subscribe()
    }

    /// Publishes events in stream order; ids at or below the position are not sent again.
    fn publish(&self, events: Vec<StreamEvent>) -> i64 {
        let mut position = self.position();
        let mut last = position.unwrap_or(0);
        for event in events {
            if event.seq <= last {
                continue;
            }
            last = event.seq;
            // No receiver is not an error.
            let _ = self.inner.events.send(Arc::new(Published::new(event)));
        }
        *position = Some(last);
        last
    }

    /// Starts the hub: listens, sequences what waits, reads the position, then runs until
    /// `shutdown` is cancelled. Answers once streams can subscribe.
    pub async fn start(
        &self,
        pool: PgPool,
        shutdown: CancellationToken,
    ) -> anyhow::Result<JoinHandle<()>> {
        // The listening connection has a pool of its own: it never takes one from the API.
        let listen_pool = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(5))
            .connect_lazy_with((*pool.connect_options()).clone());
        let mut listener = PgListener::connect_with(&listen_pool).await?;
        listener
            .listen_all([EVENTS_CHANNEL, SEQUENCED_CHANNEL, CONSOLE_CHANNEL])
            .await?;
        // Listening first: whatever commits from now on is heard.
        db::events::sequence(&pool, BATCH as i32).await?;
        let last = db::events::last_id(&pool).await?;
        {
            let mut position = self.position();
            *position = Some(position.unwrap_or(0).max(last));
        }
        let (signals, received) = mpsc::unbounded_channel();
        let forward = tokio::spawn(forward(listener, signals));
        let hub = self.clone();
        Ok(tokio::spawn(async move {
            let _forward = AbortOnDrop(forward);
            Loop::new(hub, pool).run(received, shutdown).await;
        }))
    }
}

/// What the listening connection heard.
#[derive(Debug)]
enum Signal {
    Inserted,
    /// A sequencer run numbered events up to this id.
    Sequenced(i64),
    Hint(Hint),
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
async fn forward(mut listener: PgListener, signals: mpsc::UnboundedSender<Signal>) {
    loop {
        let signal = match listener.try_recv().await {
            Ok(Some(notification)) => match notification.channel() {
                EVENTS_CHANNEL => Signal::Inserted,
                SEQUENCED_CHANNEL => match notification.payload().parse() {
                    Ok(last) => Signal::Sequenced(last),
                    Err(_) => Signal::Reconnected,
                },
                _ => match Hint::parse(notification.payload()) {
                    Some(hint) => Signal::Hint(hint),
                    None => continue,
                },
            },
            // Lost and (eagerly) reconnected: what was sent meanwhile is gone.
            Ok(None) => Signal::Reconnected,
            Err(sqlx::Error::PoolClosed) => return,
            Err(err) => {
                tracing::warn!(error = %err, "listening for events failed");
                sleep(ERROR_RETRY).await;
                Signal::Reconnected
            }
        };
        if signals.send(signal).is_err() {
            return;
        }
    }
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
            Signal::Hint(hint) => {
                if !self.hints.contains(&hint) {
                    self.hints.push(hint);
                }
                if self.hints_at.is_none() {
                    self.hints_at = Some(self.hint_sent + HINT_EVERY);
                }
            }
            Signal::Reconnected => {
                self.sequence = true;
                self.read = true;
            }
        }
    }

    fn flush_hints(&mut self) {
        for hint in self.hints.drain(..) {
            let _ = self.hub.inner.hints.send(hint);
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
