//! The principal cache: credential hash → [`Principal`], in memory, so that an authenticated
//! request in steady state reads no credential from the database.
//!
//! It is generic over credentials: anything presented as a secret and stored as its SHA-256
//! (API keys, chat-session tokens) resolves through [`PrincipalCache::get_or_load`] with the
//! loader of its own kind. Only found principals are kept; an unknown credential is read again
//! on every attempt.
//!
//! Every process follows the database: migration 0008's triggers NOTIFY [`CHANNEL`] at commit
//! with the id of the user whose principals changed (or `*` for all), and
//! [`PrincipalCache::listen`] forgets what they name. The cache is only trusted while that LISTEN
//! is connected: until it is (and from the moment it is lost) every lookup goes to the database
//! and nothing is kept; when it is back the cache starts empty. A generation counter closes the
//! race of a lookup that read the database before a change and would store its answer after the
//! change was announced. As a last resort against a connection that stalls without failing, no
//! entry is used for longer than [`MAX_AGE`].

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use sqlx::PgPool;
use sqlx::postgres::{PgListener, PgPoolOptions};
use uuid::Uuid;

use crate::http::auth::Principal;

/// The NOTIFY channel of principal changes (migration 0008).
pub const CHANNEL: &str = "ota_inbox_principals";
/// Default number of credentials kept (`PRINCIPAL_CACHE_SIZE`).
pub const DEFAULT_CAPACITY: usize = 10_000;
/// Longest an entry is used before it is read again, whatever the notifications say.
pub const MAX_AGE: Duration = Duration::from_secs(60);
/// Wait before reconnecting a lost LISTEN connection.
const RECONNECT_DELAY: Duration = Duration::from_secs(1);

/// SHA-256 of a presented credential.
pub type CredentialHash = [u8; 32];

/// Credential hash → principal, bounded, shared by every request of the process.
#[derive(Debug)]
pub struct PrincipalCache {
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<CredentialHash, Entry>,
    /// Moves on at every invalidation: a lookup stores its answer only if nothing moved it
    /// while the lookup read the database.
    generation: u64,
    /// Whether the LISTEN connection is up; the cache is bypassed while it is not.
    listening: bool,
}

#[derive(Debug)]
struct Entry {
    principal: Principal,
    loaded_at: Instant,
}

/// A permission to store the answer of one lookup, taken before the lookup.
#[derive(Debug, Clone, Copy)]
struct Ticket(u64);

impl PrincipalCache {
    /// An empty cache of at most `capacity` credentials (0 keeps none). It is bypassed until
    /// [`PrincipalCache::listen`] has connected.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // No code path panics while holding the lock; a poisoned map is still a valid map.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The principal of a credential: from memory when it is there and fresh, else from `load`
    /// (and kept for next time when nothing was invalidated meanwhile). `Ok(None)`: no such
    /// credential.
    pub async fn get_or_load<F, Fut, E>(
        &self,
        hash: &CredentialHash,
        load: F,
    ) -> Result<Option<Principal>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<Principal>, E>>,
    {
        let ticket = match self.lookup(hash) {
            Lookup::Hit(principal) => return Ok(Some(principal)),
            Lookup::Miss(ticket) => ticket,
        };
        let loaded = load().await?;
        if let (Some(principal), Some(ticket)) = (&loaded, ticket) {
            self.store(*hash, principal.clone(), ticket);
        }
        Ok(loaded)
    }

    /// A fresh cached principal, or the ticket to store one (none while bypassed).
    fn lookup(&self, hash: &CredentialHash) -> Lookup {
        let inner = self.lock();
        if !inner.listening || self.capacity == 0 {
            return Lookup::Miss(None);
        }
        match inner.entries.get(hash) {
            Some(entry) if entry.loaded_at.elapsed() < MAX_AGE => {
                Lookup::Hit(entry.principal.clone())
            }
            _ => Lookup::Miss(Some(Ticket(inner.generation))),
        }
    }

    /// Keeps a principal read under `ticket`, unless an invalidation came since.
    fn store(&self, hash: CredentialHash, principal: Principal, ticket: Ticket) {
        let mut inner = self.lock();
        if !inner.listening || inner.generation != ticket.0 || self.capacity == 0 {
            return;
        }
        if inner.entries.len() >= self.capacity && !inner.entries.contains_key(&hash) {
            inner
                .entries
                .retain(|_, entry| entry.loaded_at.elapsed() < MAX_AGE);
            while inner.entries.len() >= self.capacity {
                let Some(victim) = inner.entries.keys().next().copied() else {
                    break;
                };
                inner.entries.remove(&victim);
            }
        }
        inner.entries.insert(
            hash,
            Entry {
                principal,
                loaded_at: Instant::now(),
            },
        );
    }

    /// Forgets every principal of a user (its keys and sessions changed).
    pub fn forget_user(&self, user_id: Uuid) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner
            .entries
            .retain(|_, entry| entry.principal.user_id != user_id);
    }

    /// Forgets everything.
    pub fn clear(&self) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.entries.clear();
    }

    /// Applies one notification of [`CHANNEL`]: a user id, or anything else for all.
    pub fn apply(&self, payload: &str) {
        match payload.parse::<Uuid>() {
            Ok(user_id) => self.forget_user(user_id),
            Err(_) => self.clear(),
        }
    }

    /// Starts or stops trusting the cache; either way it starts over empty.
    fn set_listening(&self, listening: bool) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.entries.clear();
        inner.listening = listening;
    }

    /// Whether lookups are served from memory (the LISTEN connection is up).
    pub fn is_listening(&self) -> bool {
        self.lock().listening
    }

    /// Whether a credential's principal is held now.
    pub fn holds(&self, hash: &CredentialHash) -> bool {
        self.lock().entries.contains_key(hash)
    }

    /// Credentials held now.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether no credential is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Follows [`CHANNEL`] on a connection of its own (outside the request pool), reconnecting
    /// when it is lost; stops when the answered handle is dropped.
    pub fn listen(self: &Arc<Self>, pool: &PgPool) -> Listening {
        follow(self.clone(), pool, &[CHANNEL])
    }
}

impl Follower for PrincipalCache {
    const NAME: &'static str = "principal cache";

    fn set_listening(&self, listening: bool) {
        PrincipalCache::set_listening(self, listening);
    }

    fn apply(&self, payload: &str) {
        PrincipalCache::apply(self, payload);
    }
}

enum Lookup {
    Hit(Principal),
    Miss(Option<Ticket>),
}

/// A cache that is only trusted while it hears the database's notifications (see [`follow`]).
pub(crate) trait Follower: Send + Sync + 'static {
    /// Its name in the log.
    const NAME: &'static str;
    /// Starts (the LISTEN connection is up) or stops (it is lost) trusting what it holds.
    fn set_listening(&self, listening: bool);
    /// One notification, by its payload.
    fn apply(&self, payload: &str);
}

/// Follows `channels` for `follower` on a connection of its own (outside the request pool),
/// reconnecting when it is lost; stops when the answered handle is dropped.
pub(crate) fn follow<F: Follower>(
    follower: Arc<F>,
    pool: &PgPool,
    channels: &'static [&'static str],
) -> Listening {
    let options = (*pool.connect_options()).clone();
    // One connection that never expires: the pool only reconnects it when it is lost.
    let own = PgPoolOptions::new()
        .max_connections(1)
        .min_connections(0)
        .max_lifetime(None)
        .idle_timeout(None)
        .connect_lazy_with(options);
    Listening(tokio::spawn(async move {
        run(&*follower, own, channels).await;
    }))
}

async fn run<F: Follower>(follower: &F, pool: PgPool, channels: &[&str]) {
    let name = F::NAME;
    loop {
        match subscribe(&pool, channels).await {
            Ok(mut listener) => {
                follower.set_listening(true);
                tracing::debug!("{name}: following changes");
                loop {
                    match listener.try_recv().await {
                        Ok(Some(notification)) => follower.apply(notification.payload()),
                        Ok(None) => {
                            tracing::warn!("{name}: LISTEN connection lost");
                            break;
                        }
                        Err(err) => {
                            tracing::warn!(error = %err, "{name}: LISTEN failed");
                            break;
                        }
                    }
                }
                follower.set_listening(false);
            }
            Err(err) => {
                tracing::warn!(error = %err, "{name}: connecting to LISTEN failed");
            }
        }
        tokio::time::sleep(RECONNECT_DELAY).await;
    }
}

async fn subscribe(pool: &PgPool, channels: &[&str]) -> sqlx::Result<PgListener> {
    let mut listener = PgListener::connect_with(pool).await?;
    // A lost connection must be seen (and the cache dropped) before anything reconnects.
    listener.eager_reconnect(false);
    match channels {
        [channel] => listener.listen(channel).await?,
        _ => listener.listen_all(channels.iter().copied()).await?,
    }
    Ok(listener)
}

/// The task following the changes; dropping it stops the task.
#[derive(Debug)]
pub struct Listening(tokio::task::JoinHandle<()>);

impl Drop for Listening {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests;
