//! An optional per-key rate limit (`RATE_LIMIT_PER_MINUTE`): a fixed one-minute window per API
//! key, kept in memory (each server process counts on its own).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

use crate::AppState;
use crate::error::ApiError;
use crate::http::auth::Principal;
use crate::http::retry::Rerun;

const WINDOW: Duration = Duration::from_secs(60);

#[derive(Debug)]
pub struct RateLimiter {
    per_window: u32,
    windows: Mutex<HashMap<Uuid, (Instant, u32)>>,
}

impl RateLimiter {
    pub fn per_minute(per_window: u32) -> Self {
        Self {
            per_window,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a request of `key`; `Err(seconds to wait)` once the window is used up.
    pub fn check(&self, key: Uuid, now: Instant) -> Result<(), u64> {
        let mut windows = self
            .windows
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if windows.len() > 100_000 {
            windows.retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
        }
        let (start, count) = windows.entry(key).or_insert((now, 0));
        if now.duration_since(*start) >= WINDOW {
            *start = now;
            *count = 0;
        }
        if *count >= self.per_window {
            let wait = WINDOW.saturating_sub(now.duration_since(*start));
            return Err(wait.as_secs().max(1));
        }
        *count += 1;
        Ok(())
    }
}

/// Middleware after authentication: 429 with `Retry-After` once a key's window is used up.
pub async fn limit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    // A request run again after a rolled-back transaction was counted on its first run.
    let rerun = req.extensions().get::<Rerun>().is_some();
    if let (Some(limiter), Some(principal), false) = (
        &state.rate_limit,
        req.extensions().get::<Principal>(),
        rerun,
    ) && let Err(wait) = limiter.check(principal.key_id, Instant::now())
    {
        let mut response = ApiError::TooManyRequests.into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(wait));
        return response;
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_gets_its_quota_per_window_and_others_are_unaffected() {
        let limiter = RateLimiter::per_minute(2);
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let t0 = Instant::now();
        assert!(limiter.check(a, t0).is_ok());
        assert!(limiter.check(a, t0).is_ok());
        assert_eq!(limiter.check(a, t0 + Duration::from_secs(15)), Err(45));
        assert!(limiter.check(b, t0).is_ok());
        assert!(limiter.check(a, t0 + WINDOW).is_ok());
    }
}
