//! The response cache: the answers of the Messages API's reads, in memory, so that a client
//! polling a list or a thread that has not changed is answered without the database.
//!
//! What is kept: a `200` to a `GET` of one of [`CACHED_PATHS`], whole (headers and body, before
//! compression), under the credential that asked (its hash: keys of one user with different
//! scopes, and chat sessions, each have their own) and the path with its query string, exactly
//! as sent.
//!
//! When it is thrown away: every entry is stamped with its user's *generation*, read before the
//! handler ran; an entry is only used while the generation is unchanged. The generation moves on
//!
//! - at the end of every write this process serves (any `POST`, `PUT`, `PATCH` or `DELETE` of
//!   `/api/v1` moves its user's, a write of `/admin` the user its handler names, else
//!   everyone's), before the answer goes out,
//!   and once more a statement timeout later if the request was dropped without an answer (its
//!   statement may still commit) — see [`crate::http::changes`];
//! - when another process announces a write on [`crate::http::changes::CHANNEL`] (NOTIFY, sent
//!   just after that process's commit), or a principal change on the principal cache's channel
//!   (scope, revocation, the Messages app);
//! - for everyone when the LISTEN connection comes back after a loss.
//!
//! While the LISTEN connection is down the cache is bypassed, as the principal cache is. So this
//! process never answers from memory what its own writes changed, and answers what another
//! process changed at most one NOTIFY's delivery late. Data changed in the database by hand is
//! not seen until that user's next write or [`MAX_AGE`]; `NOTIFY ota_inbox_changes` with a user
//! id (or `*`) tells every process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sqlx::PgPool;
use uuid::Uuid;

use crate::AppState;
use crate::http::auth::{Credential, Principal};
use crate::http::changes;
use crate::http::principal_cache::{self, Listening};

/// Default memory for kept answers (`RESPONSE_CACHE_MB`), in bytes.
pub const DEFAULT_CAPACITY_BYTES: u64 = 64 * 1024 * 1024;
/// Longest an answer is used, whatever the notifications say.
pub const MAX_AGE: Duration = Duration::from_secs(10);
/// Users whose own changes are counted apart; beyond, everyone's answers are dropped at once.
const MAX_USER_GENERATIONS: usize = 65_536;
/// Larger answers are not kept.
const MAX_ENTRY_BYTES: usize = 1024 * 1024;

/// The routes (as matched) whose answers are kept: reads that depend only on the database's
/// messaging data and the principal.
pub const CACHED_PATHS: &[&str] = &[
    "/api/v1/message_threads",
    "/api/v1/message_threads/{id}",
    "/api/v1/message_threads/{id}/messages",
    "/api/v1/bookings/{id}/messages",
    "/api/v1/properties",
    "/api/v1/properties/{id}",
    "/api/v1/bookings",
    "/api/v1/bookings/{id}",
];

type Key = ([u8; 32], String);

/// A kept answer.
struct Entry {
    /// Who it was read for, as the request saw them: a request whose principal changed since
    /// (a scope, the Messages app) does not use it, even before the change is announced.
    principal: Principal,
    stamp: u64,
    stored_at: Instant,
    headers: HeaderMap,
    body: Bytes,
}

/// Answers by credential and URL, with the generations that say whether they still hold.
pub struct ResponseCache {
    entries: Option<quick_cache::sync::Cache<Key, Arc<Entry>, Weight>>,
    generations: Mutex<Generations>,
}

impl std::fmt::Debug for ResponseCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseCache")
            .field("enabled", &self.entries.is_some())
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default)]
struct Generations {
    /// Moves on when everything changed (a write of `/admin`, `*`, a LISTEN back).
    everyone: u64,
    /// Moves on when one user's data changed. Both only grow, so their sum only changes when
    /// one of them moved: the sum is the stamp.
    users: HashMap<Uuid, u64>,
    /// Whether the LISTEN connection is up; the cache is bypassed while it is not.
    listening: bool,
}

impl Generations {
    /// Everyone's change: every stamp moves above every stamp handed out before, and the
    /// users' counters start over (so that they stay few).
    fn rebase(&mut self) {
        let highest = self.users.values().copied().max().unwrap_or(0);
        self.everyone += highest + 1;
        self.users.clear();
    }

    fn stamp(&self, user_id: Uuid) -> u64 {
        self.everyone + self.users.get(&user_id).copied().unwrap_or(0)
    }
}

#[derive(Clone)]
struct Weight;

impl quick_cache::Weighter<Key, Arc<Entry>> for Weight {
    fn weight(&self, key: &Key, entry: &Arc<Entry>) -> u64 {
        let headers: usize = entry
            .headers
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len() + 32)
            .sum();
        (key.1.len() + headers + entry.body.len() + 128) as u64
    }
}

/// What is affected by a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Affected {
    User(Uuid),
    Everyone,
}

impl Affected {
    /// The NOTIFY payload naming it: a user id, or `*`.
    pub fn payload(self) -> String {
        match self {
            Affected::User(id) => id.to_string(),
            Affected::Everyone => "*".to_owned(),
        }
    }

    /// Reads a payload: a user id, anything else is everyone.
    pub fn parse(payload: &str) -> Self {
        payload
            .parse::<Uuid>()
            .map_or(Affected::Everyone, Affected::User)
    }
}

impl ResponseCache {
    /// A cache of about `capacity_bytes` (0 keeps nothing). Bypassed until
    /// [`ResponseCache::listen`] has connected.
    pub fn new(capacity_bytes: u64) -> Self {
        let entries = (capacity_bytes > 0).then(|| {
            // quick_cache wants an estimate of the number of entries: a page is a few KiB.
            let estimated = usize::try_from(capacity_bytes / 4096)
                .unwrap_or(usize::MAX)
                .max(16);
            quick_cache::sync::Cache::with_weighter(estimated, capacity_bytes, Weight)
        });
        Self {
            entries,
            generations: Mutex::new(Generations::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Generations> {
        // No code path panics while holding the lock; poisoned counters are still counters.
        self.generations.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether answers are used now (a capacity above 0 and the LISTEN connection up).
    pub fn is_listening(&self) -> bool {
        self.entries.is_some() && self.lock().listening
    }

    /// Marks a change: answers of `affected` read before now are not used again.
    pub fn invalidate(&self, affected: Affected) {
        if self.entries.is_none() {
            return;
        }
        let mut generations = self.lock();
        let everyone = match affected {
            Affected::User(id) => {
                *generations.users.entry(id).or_insert(0) += 1;
                generations.users.len() > MAX_USER_GENERATIONS
            }
            Affected::Everyone => true,
        };
        if everyone {
            generations.rebase();
        }
        drop(generations);
        if everyone && let Some(entries) = &self.entries {
            entries.clear();
        }
    }

    /// Starts or stops trusting the cache; either way it starts over empty.
    pub(crate) fn set_listening(&self, listening: bool) {
        let clear = || {
            if let Some(entries) = &self.entries {
                entries.clear();
            }
        };
        // Emptied before the flag moves (and after: a store may have slipped in).
        clear();
        let mut generations = self.lock();
        generations.rebase();
        generations.listening = listening;
        drop(generations);
        clear();
    }

    /// The stamp an answer read now for `user_id` must carry, or `None` while bypassed.
    pub(crate) fn ticket(&self, user_id: Uuid) -> Option<u64> {
        self.entries.as_ref()?;
        let generations = self.lock();
        generations.listening.then(|| generations.stamp(user_id))
    }

    fn get(&self, key: &Key, principal: &Principal, ticket: u64) -> Option<Arc<Entry>> {
        let entry = self.entries.as_ref()?.get(key)?;
        (entry.principal == *principal
            && entry.stamp == ticket
            && entry.stored_at.elapsed() < MAX_AGE)
            .then_some(entry)
    }

    fn put(&self, key: Key, entry: Arc<Entry>) {
        if let Some(entries) = &self.entries {
            entries.insert(key, entry);
        }
    }

    /// Answers held now (stale ones included until they are replaced or evicted).
    pub fn len(&self) -> usize {
        self.entries.as_ref().map_or(0, |entries| entries.len())
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Follows [`changes::CHANNEL`] and the principal cache's channel on a connection of its
    /// own, reconnecting when it is lost; stops when the answered handle is dropped.
    pub fn listen(self: &Arc<Self>, pool: &PgPool) -> Listening {
        principal_cache::follow(
            self.clone(),
            pool,
            &[changes::CHANNEL, principal_cache::CHANNEL],
        )
    }
}

impl principal_cache::Follower for ResponseCache {
    const NAME: &'static str = "response cache";

    fn set_listening(&self, listening: bool) {
        ResponseCache::set_listening(self, listening);
    }

    fn apply(&self, payload: &str) {
        self.invalidate(Affected::parse(payload));
    }
}

/// Middleware of `/api/v1`, inside authentication: answers a `GET` of [`CACHED_PATHS`] from
/// memory when its answer still holds, and keeps a `200` for next time.
pub async fn serve_cached(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let cache = &state.responses;
    if req.method() != Method::GET {
        return next.run(req).await;
    }
    let cacheable = req
        .extensions()
        .get::<MatchedPath>()
        .is_some_and(|path| CACHED_PATHS.contains(&path.as_str()));
    let (Some(principal), Some(credential)) = (
        req.extensions().get::<Principal>(),
        req.extensions().get::<Credential>(),
    ) else {
        return next.run(req).await;
    };
    let Some(ticket) = cacheable.then(|| cache.ticket(principal.user_id)).flatten() else {
        return next.run(req).await;
    };
    let hash = match credential {
        Credential::ApiKey(hash) | Credential::ChatSession(hash) => *hash,
    };
    let url = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.uri().path().to_owned(), |pq| pq.as_str().to_owned());
    let key = (hash, url);
    if let Some(entry) = cache.get(&key, principal, ticket) {
        crate::metrics::response_cache(true);
        let mut response = Body::from(entry.body.clone()).into_response();
        *response.headers_mut() = entry.headers.clone();
        return response;
    }
    crate::metrics::response_cache(false);
    // Kept with the answer; cloned on a miss only.
    let principal = principal.clone();

    let response = next.run(req).await;
    if response.status() != StatusCode::OK {
        return response;
    }
    let (parts, body) = response.into_parts();
    // Pages are built in memory, so their size is known; anything else is passed on as it is.
    let small = http_body::Body::size_hint(&body)
        .upper()
        .is_some_and(|bytes| bytes <= MAX_ENTRY_BYTES as u64);
    if !small {
        return Response::from_parts(parts, body);
    }
    let body = match axum::body::to_bytes(body, MAX_ENTRY_BYTES).await {
        Ok(body) => body,
        Err(err) => {
            return crate::error::ApiError::Internal(anyhow::anyhow!("reading an answer: {err}"))
                .into_response();
        }
    };
    cache.put(
        key,
        Arc::new(Entry {
            principal,
            stamp: ticket,
            stored_at: Instant::now(),
            headers: parts.headers.clone(),
            body: body.clone(),
        }),
    );
    Response::from_parts(parts, Body::from(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listening(capacity: u64) -> ResponseCache {
        let cache = ResponseCache::new(capacity);
        cache.set_listening(true);
        cache
    }

    fn principal(user_id: Uuid) -> Principal {
        Principal {
            key_id: Uuid::from_u128(1),
            user_id,
            scope: crate::http::auth::Scope::All,
            messages_app_everywhere: true,
        }
    }

    fn entry(user_id: Uuid, stamp: u64) -> Arc<Entry> {
        Arc::new(Entry {
            principal: principal(user_id),
            stamp,
            stored_at: Instant::now(),
            headers: HeaderMap::new(),
            body: Bytes::from_static(b"{}"),
        })
    }

    /// Whether `/a` is answered from memory for `user`'s principal now.
    fn served(cache: &ResponseCache, user: Uuid) -> bool {
        cache
            .get(&key("/a"), &principal(user), cache.ticket(user).unwrap())
            .is_some()
    }

    fn key(url: &str) -> Key {
        ([7; 32], url.to_owned())
    }

    #[test]
    fn an_answer_holds_until_its_user_or_everyone_changes() {
        let cache = listening(1 << 20);
        let (alice, bob) = (Uuid::new_v4(), Uuid::new_v4());
        let ticket = cache.ticket(alice).unwrap();
        cache.put(key("/a"), entry(alice, ticket));
        assert!(served(&cache, alice));

        // Another user's change leaves it; its own user's change ends it.
        cache.invalidate(Affected::User(bob));
        assert!(served(&cache, alice));
        cache.invalidate(Affected::User(alice));
        assert!(!served(&cache, alice));

        let ticket = cache.ticket(alice).unwrap();
        cache.put(key("/a"), entry(alice, ticket));
        cache.invalidate(Affected::Everyone);
        assert!(!served(&cache, alice));
    }

    #[test]
    fn an_answer_read_before_a_change_is_never_used_after_it() {
        let cache = listening(1 << 20);
        let alice = Uuid::new_v4();
        // The handler read the database under this ticket; the write committed meanwhile.
        let ticket = cache.ticket(alice).unwrap();
        cache.invalidate(Affected::User(alice));
        cache.put(key("/a"), entry(alice, ticket));
        assert!(!served(&cache, alice));
    }

    #[test]
    fn nothing_is_used_while_the_listen_connection_is_down_nor_kept_across_it() {
        let cache = listening(1 << 20);
        let alice = Uuid::new_v4();
        let ticket = cache.ticket(alice).unwrap();
        cache.put(key("/a"), entry(alice, ticket));
        cache.set_listening(false);
        assert_eq!(cache.ticket(alice), None);
        cache.set_listening(true);
        assert!(!served(&cache, alice));
        assert!(cache.is_empty());
    }

    #[test]
    fn an_entry_of_another_user_under_the_same_key_is_not_served() {
        let cache = listening(1 << 20);
        let (alice, bob) = (Uuid::new_v4(), Uuid::new_v4());
        let ticket = cache.ticket(alice).unwrap();
        cache.put(key("/a"), entry(alice, ticket));
        assert!(!served(&cache, bob));
    }

    #[test]
    fn an_entry_read_with_another_scope_or_app_state_is_not_served() {
        let cache = listening(1 << 20);
        let alice = Uuid::new_v4();
        let ticket = cache.ticket(alice).unwrap();
        cache.put(key("/a"), entry(alice, ticket));
        let mut uninstalled = principal(alice);
        uninstalled.messages_app_everywhere = false;
        assert!(cache.get(&key("/a"), &uninstalled, ticket).is_none());
        let mut scoped = principal(alice);
        scoped.scope = crate::http::auth::Scope::Listed(vec![Uuid::new_v4()]);
        assert!(cache.get(&key("/a"), &scoped, ticket).is_none());
        assert!(cache.get(&key("/a"), &principal(alice), ticket).is_some());
    }

    #[test]
    fn stamps_never_come_back_when_the_users_counters_start_over() {
        let cache = listening(1 << 20);
        let (alice, bob) = (Uuid::new_v4(), Uuid::new_v4());
        for _ in 0..5 {
            cache.invalidate(Affected::User(alice));
        }
        let seen = [cache.ticket(alice).unwrap(), cache.ticket(bob).unwrap()];
        cache.invalidate(Affected::Everyone);
        assert!(cache.lock().users.is_empty());
        for user in [alice, bob] {
            assert!(seen.iter().all(|old| cache.ticket(user).unwrap() > *old));
        }
    }

    #[test]
    fn a_zero_capacity_keeps_nothing() {
        let cache = ResponseCache::new(0);
        cache.set_listening(true);
        assert!(!cache.is_listening());
        assert_eq!(cache.ticket(Uuid::new_v4()), None);
    }

    #[test]
    fn payloads_name_a_user_or_everyone() {
        let id = Uuid::new_v4();
        assert_eq!(Affected::parse(&id.to_string()), Affected::User(id));
        assert_eq!(Affected::parse("*"), Affected::Everyone);
        assert_eq!(Affected::parse("junk"), Affected::Everyone);
        assert_eq!(
            Affected::parse(&Affected::User(id).payload()),
            Affected::User(id)
        );
    }
}
