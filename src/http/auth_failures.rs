//! Failed authentications per client address (`AUTH_FAILURES_PER_MINUTE`), kept in memory by
//! each server process: a wrong key or token costs the address one failure; an address that
//! used up its failures gets 429 before its credential is even looked up.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use governor::Quota;
use governor::clock::{Clock, DefaultClock, Reference};
use governor::nanos::Nanos;

use super::rate_limit::{Bounded, MAX_TRACKED, ceil_secs};
use crate::AppState;
use crate::error::ApiError;

/// Failed authentications per client address: after `per_minute` failures (at once), one more
/// each `60 / per_minute` seconds; meanwhile the address gets 429 without a lookup.
pub struct AuthFailureLimiter<C: Clock = DefaultClock> {
    inner: Bounded<IpAddr, C>,
    /// Until when each address that used up its failures is refused (read on every request:
    /// readers do not wait for each other).
    blocked: RwLock<HashMap<IpAddr, C::Instant>>,
    interval: Duration,
    /// Whether the limiter is full (said once in the logs, not on every failure).
    saturated: AtomicBool,
}

impl AuthFailureLimiter {
    pub fn new(per_minute: NonZeroU32) -> Self {
        Self::with_clock(per_minute, DefaultClock::default())
    }
}

impl<C: Clock> AuthFailureLimiter<C> {
    pub fn with_clock(per_minute: NonZeroU32, clock: C) -> Self {
        let quota = Quota::per_minute(per_minute);
        Self {
            interval: quota.replenish_interval(),
            inner: Bounded::new(quota, clock),
            blocked: RwLock::new(HashMap::new()),
            saturated: AtomicBool::new(false),
        }
    }

    fn read_blocked(&self) -> RwLockReadGuard<'_, HashMap<IpAddr, C::Instant>> {
        self.blocked
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write_blocked(&self) -> RwLockWriteGuard<'_, HashMap<IpAddr, C::Instant>> {
        self.blocked
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// `Err(seconds to wait)` while `addr` has no failures left.
    pub fn admit(&self, addr: IpAddr) -> Result<(), u64> {
        let key = address_key(addr);
        let now = self.inner.now();
        match self.read_blocked().get(&key) {
            Some(until) if *until > now => Err(ceil_secs(until.duration_since(now).into()).max(1)),
            // An expired entry is forgotten when the map is next tidied.
            _ => Ok(()),
        }
    }

    /// Counts a failed authentication of `addr`; once its failures are used up, it is refused
    /// until the next one is allowed.
    pub fn failed(&self, addr: IpAddr) {
        let key = address_key(addr);
        if !self.inner.housekeeping() {
            // Beyond MAX_TRACKED addresses failing at once, new ones are not tracked: the
            // limiter must not grow without bound, nor refuse addresses it knows nothing of.
            if !self.saturated.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    "too many client addresses failing authentication to track them all"
                );
            }
            return;
        }
        self.saturated.store(false, Ordering::Relaxed);
        let now = self.inner.now();
        let until = match self.inner.limiter.check_key(&key) {
            // The last failure allowed: the next one is, at the latest, one interval away.
            Ok(snapshot) if snapshot.remaining_burst_capacity() == 0 => {
                now + Nanos::from(self.interval)
            }
            Ok(_) => return,
            Err(not_until) => not_until.earliest_possible(),
        };
        let mut blocked = self.write_blocked();
        if blocked.len() >= MAX_TRACKED {
            blocked.retain(|_, until| *until > now);
        }
        if blocked.len() < MAX_TRACKED {
            blocked.insert(key, until);
        }
    }
}

/// The unit an address is counted by: an IPv4 address, or the /64 network of an IPv6 address
/// (one host usually has a whole /64).
fn address_key(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
        },
    }
}

/// The client address of a request, when the server recorded it (tests driving the router
/// directly have none).
pub fn client_addr(req: &Request) -> Option<IpAddr> {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
}

/// Before authentication: the 429 of an address that used up its failed authentications.
pub fn refusal(state: &AppState, client: Option<IpAddr>) -> Option<Response> {
    let wait = state.auth_failures.as_deref()?.admit(client?).err()?;
    crate::metrics::rate_limited("auth_failures");
    let mut response = ApiError::TooManyRequests.into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(wait));
    Some(response)
}

/// After a failed authentication: counts it against the client's address.
pub fn count_failure(state: &AppState, client: Option<IpAddr>) {
    crate::metrics::auth_failed();
    if let (Some(limiter), Some(addr)) = (state.auth_failures.as_deref(), client) {
        limiter.failed(addr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;

    fn nz(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).unwrap()
    }

    #[test]
    fn an_address_is_refused_once_its_failures_are_used_up() {
        let clock = FakeRelativeClock::default();
        // Three failures a minute: one each 20 s.
        let limiter = AuthFailureLimiter::with_clock(nz(3), clock.clone());
        let addr: IpAddr = "203.0.113.7".parse().unwrap();
        let other: IpAddr = "203.0.113.8".parse().unwrap();
        for _ in 0..3 {
            assert_eq!(limiter.admit(addr), Ok(()));
            limiter.failed(addr);
        }
        assert_eq!(limiter.admit(addr), Err(20));
        assert_eq!(limiter.admit(other), Ok(()));
        clock.advance(Duration::from_secs(15));
        assert_eq!(limiter.admit(addr), Err(5));
        clock.advance(Duration::from_secs(5));
        // One more guess, then refused again.
        assert_eq!(limiter.admit(addr), Ok(()));
        limiter.failed(addr);
        assert_eq!(limiter.admit(addr), Err(20));
    }

    #[test]
    fn an_ipv6_host_is_counted_by_its_64_network() {
        let limiter = AuthFailureLimiter::with_clock(nz(1), FakeRelativeClock::default());
        limiter.failed("2001:db8:1:2::1".parse().unwrap());
        assert!(
            limiter
                .admit("2001:db8:1:2::ffff".parse().unwrap())
                .is_err()
        );
        assert!(limiter.admit("2001:db8:1:3::1".parse().unwrap()).is_ok());
        // IPv4 mapped into IPv6 is the IPv4 address.
        limiter.failed("192.0.2.1".parse().unwrap());
        assert!(limiter.admit("::ffff:192.0.2.1".parse().unwrap()).is_err());
    }

    #[test]
    fn memory_stays_bounded_when_many_addresses_fail() {
        let clock = FakeRelativeClock::default();
        let limiter = AuthFailureLimiter::with_clock(nz(60), clock.clone());
        let addr = |n: u32| IpAddr::V4(n.into());
        for n in 0..(MAX_TRACKED as u32 + 10) {
            limiter.failed(addr(n));
        }
        assert!(limiter.inner.limiter.len() <= MAX_TRACKED);
        // Once their failures are old news, the addresses are forgotten.
        clock.advance(Duration::from_secs(60));
        limiter.failed(addr(u32::MAX));
        assert!(
            limiter.inner.limiter.len() < 10,
            "{}",
            limiter.inner.limiter.len()
        );
    }
}
