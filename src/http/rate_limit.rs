//! The per-credential rate limit (`RATE_LIMIT_PER_MINUTE`, `RATE_LIMIT_BURST`), kept in memory
//! by each server process (GCRA, from `governor`): every response of a limited route says
//! `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` (IETF draft); a request beyond
//! the quota gets 429 with `Retry-After`. The failed-authentication limit per client address
//! ([`super::auth_failures`]) shares [`Bounded`].
//!
//! Memory stays bounded: keys whose state is back to "fresh" are forgotten, and at most
//! [`MAX_TRACKED`] credentials or addresses are tracked at once.

use std::hash::Hash;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};
use uuid::Uuid;

use crate::AppState;
use crate::error::ApiError;
use crate::http::auth::Principal;
use crate::http::retry::Rerun;

/// Most credentials or addresses tracked at once by one limiter.
pub const MAX_TRACKED: usize = 100_000;
/// Housekeeping (forgetting fresh keys) runs at most once every this many checks.
const HOUSEKEEPING_EVERY: u32 = 1024;

const RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
const RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
const RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");
const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");

type Keyed<K, C> = RateLimiter<K, DashMapStateStore<K>, C, StateInformationMiddleware>;

/// A keyed GCRA limiter that forgets keys back at their fresh state when it grows.
pub(super) struct Bounded<K: Hash + Eq + Clone, C: Clock> {
    pub(super) limiter: Keyed<K, C>,
    checks: AtomicU32,
}

impl<K: Hash + Eq + Clone, C: Clock> Bounded<K, C> {
    pub(super) fn new(quota: Quota, clock: C) -> Self {
        Self {
            limiter: RateLimiter::dashmap_with_clock(quota, clock)
                .with_middleware::<StateInformationMiddleware>(),
            checks: AtomicU32::new(0),
        }
    }

    /// Forgets fresh keys every so often, or at once when the limiter is full; answers whether
    /// there is room for a key it does not track yet.
    pub(super) fn housekeeping(&self) -> bool {
        let due = self
            .checks
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(HOUSEKEEPING_EVERY);
        if due || self.limiter.len() >= MAX_TRACKED {
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
        }
        self.limiter.len() < MAX_TRACKED
    }

    pub(super) fn now(&self) -> C::Instant {
        self.limiter.clock().now()
    }
}

/// Whole seconds, rounded up.
pub(super) fn ceil_secs(duration: Duration) -> u64 {
    duration.as_nanos().div_ceil(1_000_000_000) as u64
}

/// What the per-credential limiter decided, with what the headers say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// `RateLimit-Limit`: the burst, the most requests the credential can make at once.
    pub limit: u32,
    /// `RateLimit-Remaining`: requests it may still make at once.
    pub remaining: u32,
    /// `RateLimit-Reset`: seconds until the whole burst is available again.
    pub reset: u64,
    /// `Retry-After` of a refusal: seconds until the next request is allowed.
    pub retry_after: u64,
}

/// The per-credential limit: `per_minute` requests a minute on average, up to `burst` at once.
pub struct KeyLimiter<C: Clock = DefaultClock> {
    inner: Bounded<Uuid, C>,
    per_minute: u32,
    burst: u32,
    interval: Duration,
}

impl KeyLimiter {
    /// `burst` defaults to `per_minute` (a whole minute's quota at once, then paced).
    pub fn new(per_minute: NonZeroU32, burst: Option<NonZeroU32>) -> Self {
        Self::with_clock(per_minute, burst, DefaultClock::default())
    }
}

impl<C: Clock> KeyLimiter<C> {
    pub fn with_clock(per_minute: NonZeroU32, burst: Option<NonZeroU32>, clock: C) -> Self {
        let burst = burst.unwrap_or(per_minute);
        let quota = Quota::per_minute(per_minute).allow_burst(burst);
        Self {
            interval: quota.replenish_interval(),
            inner: Bounded::new(quota, clock),
            per_minute: per_minute.get(),
            burst: burst.get(),
        }
    }

    /// Counts a request of the credential `key`.
    pub fn check(&self, key: Uuid) -> Decision {
        // Every credential that reaches this point was authenticated: there are only as many as
        // there are live keys and sessions, so there is always room.
        self.inner.housekeeping();
        let refused = |retry: Duration| Decision {
            allowed: false,
            limit: self.burst,
            remaining: 0,
            reset: ceil_secs(retry + self.interval * (self.burst - 1)),
            retry_after: ceil_secs(retry).max(1),
        };
        match self.inner.limiter.check_key(&key) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                Decision {
                    allowed: true,
                    limit: self.burst,
                    remaining,
                    // An upper bound, within one replenish interval.
                    reset: ceil_secs(self.interval * (self.burst - remaining)),
                    retry_after: 0,
                }
            }
            Err(not_until) => refused(not_until.wait_time_from(self.inner.now())),
        }
    }

    /// `RateLimit-Policy`: `<per minute>;w=60;burst=<burst>`.
    fn policy(&self) -> String {
        format!("{};w=60;burst={}", self.per_minute, self.burst)
    }

    fn set_headers(&self, headers: &mut HeaderMap, decision: &Decision) {
        headers.insert(RATELIMIT_LIMIT, HeaderValue::from(decision.limit));
        headers.insert(RATELIMIT_REMAINING, HeaderValue::from(decision.remaining));
        headers.insert(RATELIMIT_RESET, HeaderValue::from(decision.reset));
        if let Ok(policy) = HeaderValue::from_str(&self.policy()) {
            headers.insert(RATELIMIT_POLICY, policy);
        }
        if !decision.allowed {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(decision.retry_after));
        }
    }
}

/// Middleware after authentication: RateLimit headers on every response, 429 beyond the quota.
pub async fn limit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(limiter) = state.rate_limit.as_deref() else {
        return next.run(req).await;
    };
    let Some(key_id) = req.extensions().get::<Principal>().map(|p| p.key_id) else {
        return next.run(req).await;
    };
    // A request run again after a rolled-back transaction was counted on its first run.
    if req.extensions().get::<Rerun>().is_some() {
        return next.run(req).await;
    }
    let decision = limiter.check(key_id);
    let mut response = if decision.allowed {
        next.run(req).await
    } else {
        crate::metrics::rate_limited("credential");
        ApiError::TooManyRequests.into_response()
    };
    limiter.set_headers(response.headers_mut(), &decision);
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;

    fn nz(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).unwrap()
    }

    #[test]
    fn a_key_gets_its_burst_then_one_request_per_interval() {
        let clock = FakeRelativeClock::default();
        // 60 a minute: one a second, up to 3 at once.
        let limiter = KeyLimiter::with_clock(nz(60), Some(nz(3)), clock.clone());
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let remaining: Vec<u32> = (0..3).map(|_| limiter.check(a).remaining).collect();
        assert_eq!(remaining, vec![2, 1, 0]);
        let refused = limiter.check(a);
        assert!(!refused.allowed);
        assert_eq!((refused.retry_after, refused.reset), (1, 3));
        // Another key is counted apart.
        assert!(limiter.check(b).allowed);
        // One interval later, exactly one more request.
        clock.advance(Duration::from_secs(1));
        let again = limiter.check(a);
        assert!(again.allowed);
        assert_eq!((again.remaining, again.reset), (0, 3));
        assert!(!limiter.check(a).allowed);
        // The whole burst comes back after burst × interval.
        clock.advance(Duration::from_secs(3));
        let rested = limiter.check(a);
        assert_eq!(
            (rested.allowed, rested.remaining, rested.reset),
            (true, 2, 1)
        );
    }

    #[test]
    fn the_default_burst_is_the_per_minute_quota_and_the_wait_is_smooth() {
        let clock = FakeRelativeClock::default();
        let limiter = KeyLimiter::with_clock(nz(6), None, clock.clone());
        let key = Uuid::new_v4();
        for expected in (0..6).rev() {
            let decision = limiter.check(key);
            assert!(decision.allowed);
            assert_eq!((decision.limit, decision.remaining), (6, expected));
        }
        let refused = limiter.check(key);
        assert_eq!((refused.allowed, refused.retry_after), (false, 10));
        // Not a fixed window: after 10 s, one request, not six.
        clock.advance(Duration::from_secs(4));
        assert_eq!(limiter.check(key).retry_after, 6);
        clock.advance(Duration::from_secs(6));
        assert!(limiter.check(key).allowed);
        assert!(!limiter.check(key).allowed);
        assert_eq!(limiter.policy(), "6;w=60;burst=6");
    }
}
