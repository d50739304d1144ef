//! Announcing writes: what this process changed is forgotten by its response cache before the
//! answer goes out, and told to every other process just after the commit, by a NOTIFY of its
//! own (never from inside the writing transaction: a NOTIFY there makes PostgreSQL commit
//! notifying transactions one at a time).
//!
//! [`announce_writes`] wraps every write of `/api/v1` (its user) and `/admin` (everyone, or the
//! user its handler names with [`for_user`]). A
//! request that is dropped before its answer (the client went away, or `REQUEST_TIMEOUT`) may
//! still have a statement running in PostgreSQL, which may commit after: it is announced when
//! dropped and once more after `DATABASE_STATEMENT_TIMEOUT`, by when that statement has ended.
//!
//! The NOTIFYs are sent by one task per process ([`Announcer::spawn`]), which sends everything
//! announced while the previous NOTIFY was on its way, or in the [`SPACING`] after it, in one
//! statement, so that a burst of writes costs a handful of NOTIFYs. The same statement wakes
//! the event sequencers and the console's live view, whose triggers no longer NOTIFY from inside
//! the writes (migration 0010).

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::AppState;
use crate::events::hub::{CONSOLE_CHANNEL, EVENTS_CHANNEL};
use crate::http::auth::Principal;
use crate::http::response_cache::{Affected, ResponseCache};

/// The NOTIFY channel of data changes: a user id, or `*` for everyone.
pub const CHANNEL: &str = "ota_inbox_changes";
/// Wait before sending again after a failed NOTIFY.
const RETRY_DELAY: Duration = Duration::from_millis(200);
/// Least time between two NOTIFY statements: under a burst of writes, each statement carries
/// what was announced meanwhile (every process that hears one runs its event sequencer once).
const SPACING: Duration = Duration::from_millis(5);

/// This process's announcements of its writes.
#[derive(Debug)]
pub struct Announcer {
    responses: Arc<ResponseCache>,
    pending: Mutex<Pending>,
    wake: Notify,
    /// How long a dropped request's statement may still run (the statement timeout).
    statement_timeout: Duration,
    /// Second announcements of dropped requests still waiting: at the end, everyone is
    /// announced in their place.
    delayed: AtomicUsize,
    /// Ends the sending task, after its last NOTIFY ([`Announcer::finish`]).
    stop: CancellationToken,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

#[derive(Debug, Default)]
struct Pending {
    affected: HashSet<Affected>,
}

impl Announcer {
    pub fn new(responses: Arc<ResponseCache>, statement_timeout: Duration) -> Arc<Self> {
        Arc::new(Self {
            responses,
            pending: Mutex::new(Pending::default()),
            wake: Notify::new(),
            statement_timeout,
            delayed: AtomicUsize::new(0),
            stop: CancellationToken::new(),
            task: Mutex::new(None),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A write of `affected` has ended here: forgotten now in this process, told to the others
    /// by the next NOTIFY.
    pub fn announce(&self, affected: Affected) {
        self.responses.invalidate(affected);
        let mut pending = self.lock();
        if pending.affected.contains(&Affected::Everyone) {
            return;
        }
        if affected == Affected::Everyone {
            pending.affected.clear();
        }
        pending.affected.insert(affected);
        drop(pending);
        self.wake.notify_one();
    }

    /// Announces now and again once a statement started before now must have ended.
    fn announce_twice(self: &Arc<Self>, affected: Affected) {
        self.announce(affected);
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // No runtime to wait in (dropped outside one): nothing may be kept for anyone.
            self.announce(Affected::Everyone);
            return;
        };
        let announcer = self.clone();
        announcer.delayed.fetch_add(1, Ordering::SeqCst);
        runtime.spawn(async move {
            tokio::time::sleep(announcer.statement_timeout + Duration::from_secs(1)).await;
            announcer.announce(affected);
            announcer.delayed.fetch_sub(1, Ordering::SeqCst);
        });
    }

    /// Starts sending the NOTIFYs, on a connection of its own to `pool`'s database (a busy
    /// request pool must not hold them back), until [`Announcer::finish`].
    pub fn spawn(self: &Arc<Self>, pool: &PgPool) {
        let own = PgPoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .acquire_timeout(Duration::from_secs(5))
            .connect_lazy_with((*pool.connect_options()).clone());
        let announcer = self.clone();
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = announcer.wake.notified() => {}
                    () = announcer.stop.cancelled() => break,
                }
                while !announcer.send(&own).await {
                    tokio::select! {
                        () = tokio::time::sleep(RETRY_DELAY) => {}
                        () = announcer.stop.cancelled() => break,
                    }
                }
                tokio::select! {
                    () = tokio::time::sleep(SPACING) => {}
                    () = announcer.stop.cancelled() => {}
                }
            }
            // What the last requests wrote, and everyone for the dropped requests whose second
            // announcement would come too late.
            if announcer.delayed.load(Ordering::SeqCst) > 0 {
                announcer.announce(Affected::Everyone);
            }
            announcer.send(&own).await;
            own.close().await;
        });
        *self.task_slot() = Some(task);
    }

    fn task_slot(&self) -> MutexGuard<'_, Option<tokio::task::JoinHandle<()>>> {
        self.task.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends what is still pending and stops: called once the server answers no more requests.
    pub async fn finish(&self) {
        self.stop.cancel();
        let task = self.task_slot().take();
        if let Some(mut task) = task
            && tokio::time::timeout(Duration::from_secs(5), &mut task)
                .await
                .is_err()
        {
            task.abort();
            tracing::warn!("the last changes could not be announced to the other processes");
        }
    }

    /// Sends what is pending in one statement; false (and kept pending) when it failed.
    async fn send(&self, pool: &PgPool) -> bool {
        let payloads: Vec<String> = {
            let mut pending = self.lock();
            pending.affected.drain().map(Affected::payload).collect()
        };
        if payloads.is_empty() {
            return true;
        }
        let sent = notify(pool, &payloads).await;
        match sent {
            Ok(_) => true,
            Err(err) => {
                tracing::warn!(error = %err, "announcing changes to the other processes failed");
                let mut pending = self.lock();
                for payload in &payloads {
                    pending.affected.insert(Affected::parse(payload));
                }
                false
            }
        }
    }
}

/// The NOTIFYs of changes to `payloads` (user ids, or `*`), with a wake-up of the event
/// sequencers and the console for the events and outbox records the writes may have made
/// (migration 0010), in one statement.
async fn notify(pool: &PgPool, payloads: &[String]) -> sqlx::Result<()> {
    let mut channels = vec![CHANNEL; payloads.len()];
    let mut sent: Vec<&str> = payloads.iter().map(String::as_str).collect();
    channels.extend([EVENTS_CHANNEL, CONSOLE_CHANNEL]);
    sent.extend(["", "outbox"]);
    sqlx::query(
        "select pg_notify(channel, payload) from unnest($1::text[], $2::text[]) \
         as n (channel, payload)",
    )
    .bind(&channels)
    .bind(&sent)
    .execute(pool)
    .await
    .map(drop)
}

/// Announces a write made outside any server process (a command of the binary), to every
/// running server.
pub async fn announce_from_outside(pool: &PgPool, user_id: uuid::Uuid) -> sqlx::Result<()> {
    notify(pool, &[Affected::User(user_id).payload()]).await
}

/// Tags an answer of `/admin` with the one user its write changed, so that only that user's
/// answers are dropped (an untagged write of `/admin` is announced for everyone).
pub fn for_user(mut response: Response, user_id: uuid::Uuid) -> Response {
    response.extensions_mut().insert(Affected::User(user_id));
    response
}

/// Announces a write when it ends, or twice when it is dropped before its answer.
struct Guard {
    announcer: Arc<Announcer>,
    affected: Affected,
    answered: bool,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if self.answered {
            self.announcer.announce(self.affected);
        } else {
            self.announcer.announce_twice(self.affected);
        }
    }
}

/// Whether a request may change data (everything but GET, HEAD and OPTIONS).
fn writes(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Middleware of `/api/v1`, inside authentication: announces every write of the caller's user.
pub async fn announce_writes(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let affected = match req.extensions().get::<Principal>() {
        Some(principal) => Affected::User(principal.user_id),
        None => Affected::Everyone,
    };
    run(&state, affected, req, next).await
}

/// Middleware of `/admin`, inside its token check: a write there may touch any user's data.
pub async fn announce_admin_writes(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    run(&state, Affected::Everyone, req, next).await
}

async fn run(state: &AppState, affected: Affected, req: Request, next: Next) -> Response {
    if !writes(req.method()) {
        return next.run(req).await;
    }
    let mut guard = Guard {
        announcer: state.announcer.clone(),
        affected,
        answered: false,
    };
    let response = next.run(req).await;
    if let Some(tagged) = response.extensions().get::<Affected>() {
        guard.affected = *tagged;
    }
    guard.answered = true;
    drop(guard);
    response
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    fn announcer() -> (Arc<ResponseCache>, Arc<Announcer>) {
        let cache = Arc::new(ResponseCache::new(1 << 20));
        cache.set_listening(true);
        let announcer = Announcer::new(cache.clone(), Duration::from_secs(5));
        (cache, announcer)
    }

    #[tokio::test(start_paused = true)]
    async fn an_answered_write_is_announced_once_a_dropped_one_again_after_the_statement_timeout() {
        let (cache, announcer) = announcer();
        let user = Uuid::new_v4();
        let stamp = || cache.ticket(user).unwrap();

        let start = stamp();
        drop(Guard {
            announcer: announcer.clone(),
            affected: Affected::User(user),
            answered: true,
        });
        assert_eq!(stamp(), start + 1);
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(stamp(), start + 1);

        drop(Guard {
            announcer: announcer.clone(),
            affected: Affected::User(user),
            answered: false,
        });
        assert_eq!(stamp(), start + 2, "at once");
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(
            stamp(),
            start + 2,
            "not before its statement may have ended"
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(stamp(), start + 3, "and again after");
    }

    #[test]
    fn everyone_covers_every_user_until_sent() {
        let (_, announcer) = announcer();
        let user = Uuid::new_v4();
        announcer.announce(Affected::User(user));
        announcer.announce(Affected::Everyone);
        announcer.announce(Affected::User(Uuid::new_v4()));
        let pending = announcer.lock().affected.clone();
        assert_eq!(pending, HashSet::from([Affected::Everyone]));
    }

    #[test]
    fn only_reads_are_not_writes() {
        for method in [Method::GET, Method::HEAD, Method::OPTIONS] {
            assert!(!writes(&method), "{method}");
        }
        for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            assert!(writes(&method), "{method}");
        }
    }
}
