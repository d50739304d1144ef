//! The hub: one per process, the handle every stream subscribes to. Its runner (see
//! [`super::runner`]) hears new events through LISTEN, has them numbered, reads them once and
//! publishes them here; each stream filters what its reader may see. A stream that falls
//! behind catches up from the database by id, so nobody misses an event.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::runner;
use crate::db;
use crate::db::events::StreamEvent;

/// NOTIFY channel of new events (sent after their commit by the process that wrote them, see
/// [`crate::http::changes`]).
pub const EVENTS_CHANNEL: &str = "ota_inbox_events";
/// NOTIFY channel of sequencer runs (payload: the new last stream id).
pub const SEQUENCED_CHANNEL: &str = "ota_inbox_events_sequenced";
/// NOTIFY channel of the console's tables (payload: `outbox` or `webhook_delivery`).
pub const CONSOLE_CHANNEL: &str = "ota_inbox_console";
/// NOTIFY channel of credential changes (migration 0008; payload: a user id, or `*`).
pub const PRINCIPALS_CHANNEL: &str = crate::http::principal_cache::CHANNEL;

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
    /// How long an unused chat session lives (its credential check and its pruning).
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

    pub(super) fn parse(payload: &str) -> Option<Self> {
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
    /// Users whose credentials changed (`None`: anyone's), so that their streams check their
    /// credential at once.
    credentials: broadcast::Sender<Option<Uuid>>,
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
        let (credentials, _) = broadcast::channel(64);
        Self {
            inner: Arc::new(Inner {
                config,
                position: Mutex::new(None),
                events,
                hints,
                credentials,
            }),
        }
    }

    pub fn config(&self) -> &HubConfig {
        &self.inner.config
    }

    pub(super) fn position(&self) -> MutexGuard<'_, Option<i64>> {
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

    /// A receiver of credential changes: the user whose keys or sessions may have changed, or
    /// `None` when anyone's may have (a truncate, a lost LISTEN connection).
    pub fn credential_changes(&self) -> broadcast::Receiver<Option<Uuid>> {
        self.inner.credentials.subscribe()
    }

    /// Tells the streams that a user's credentials changed.
    pub(super) fn credentials_changed(&self, user: Option<Uuid>) {
        let _ = self.inner.credentials.send(user);
    }

    /// Sends a console hint to the admin streams.
    pub(super) fn hint(&self, hint: Hint) {
        let _ = self.inner.hints.send(hint);
    }

    /// Publishes events in stream order; ids at or below the position are not sent again.
    pub(super) fn publish(&self, events: Vec<StreamEvent>) -> i64 {
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
        let listener = runner::listen(&listen_pool).await?;
        // Listening first: whatever commits from now on is heard.
        db::events::sequence(&pool, runner::BATCH as i32).await?;
        let last = db::events::last_id(&pool).await?;
        {
            let mut position = self.position();
            *position = Some(position.unwrap_or(0).max(last));
        }
        Ok(runner::spawn(
            self.clone(),
            pool,
            listen_pool,
            listener,
            shutdown,
        ))
    }
}
