//! Time limits of a request. The server's own work on a request is bounded by
//! `REQUEST_TIMEOUT` (answered 503 with `Retry-After`): the only bound that also holds when the
//! database stops answering altogether, which no server-side timeout can catch. The client's
//! sending of a body is bounded by `BODY_READ_TIMEOUT` (answered 408); the request's clock stands
//! still meanwhile, so a slow upload is not mistaken for a slow database.
//!
//! Cutting a request drops its future: a transaction it held is rolled back, and a connection
//! caught mid-statement is drained (or closed when that fails) before the pool hands it out again.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::watch;
use tokio::time::{Instant, sleep_until};

use crate::error::ApiError;

/// The two limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The server's work on one request, body reading excluded.
    pub request: Duration,
    /// Reading one request body.
    pub body_read: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            request: Duration::from_secs(10),
            body_read: Duration::from_secs(30),
        }
    }
}

/// The clock of one request, in its extensions: lets the body reader stop it.
#[derive(Debug, Clone)]
pub struct Clock {
    /// When the request runs out of time; `None` while its body is being read.
    deadline: Arc<watch::Sender<Option<Instant>>>,
    /// What was left when the clock was stopped.
    stopped_with: Arc<Mutex<Option<Duration>>>,
    limits: Limits,
}

impl Clock {
    fn start(limits: Limits) -> Self {
        let (deadline, _) = watch::channel(Some(Instant::now() + limits.request));
        Self {
            deadline: Arc::new(deadline),
            stopped_with: Arc::new(Mutex::new(None)),
            limits,
        }
    }

    fn stop(&self) {
        let now = Instant::now();
        let left = self
            .deadline
            .borrow()
            .map(|deadline| deadline.saturating_duration_since(now));
        if let Ok(mut stopped) = self.stopped_with.lock() {
            *stopped = left;
        }
        self.deadline.send_replace(None);
    }

    fn restart(&self) {
        let left = self
            .stopped_with
            .lock()
            .ok()
            .and_then(|mut stopped| stopped.take())
            .unwrap_or(self.limits.request);
        self.deadline.send_replace(Some(Instant::now() + left));
    }

    /// What is left of the request's time (`None` while its clock is stopped).
    pub fn left(&self) -> Option<Duration> {
        let now = Instant::now();
        self.deadline
            .borrow()
            .map(|deadline| deadline.saturating_duration_since(now))
    }

    /// Runs `read` (reading the body) within `BODY_READ_TIMEOUT`, the request's clock stopped.
    pub async fn reading_body<T>(&self, read: impl Future<Output = T>) -> Result<T, ApiError> {
        self.stop();
        let read = tokio::time::timeout(self.limits.body_read, read).await;
        self.restart();
        read.map_err(|_| ApiError::RequestTimeout)
    }
}

/// Runs `work`, which has a time limit of its own (an outbound call), with the request's clock
/// stopped when there is one.
pub async fn excluding<T>(clock: Option<&Clock>, work: impl Future<Output = T>) -> T {
    let Some(clock) = clock else {
        return work.await;
    };
    clock.stop();
    let done = work.await;
    clock.restart();
    done
}

/// Reads a body within the request's body limit when it has a [`Clock`], else as it comes.
pub async fn read_body<T>(
    clock: Option<Clock>,
    read: impl Future<Output = T>,
) -> Result<T, ApiError> {
    match clock {
        Some(clock) => clock.reading_body(read).await,
        None => Ok(read.await),
    }
}

/// Middleware: runs the request against its clock; out of time, answers 503.
pub async fn limit(State(limits): State<Limits>, mut req: Request, next: Next) -> Response {
    let clock = Clock::start(limits);
    let mut deadline = clock.deadline.subscribe();
    req.extensions_mut().insert(clock.clone());
    let run = next.run(req);
    tokio::pin!(run);
    loop {
        let current = *deadline.borrow_and_update();
        tokio::select! {
            response = &mut run => return response,
            // The sender lives in `clock`, here: `changed` cannot fail while this loop runs.
            _ = deadline.changed() => {}
            () = sleep_until_some(current) => {
                if deadline.borrow().is_some_and(|d| d <= Instant::now()) {
                    return ApiError::TimedOut("request_timeout").into_response();
                }
            }
        }
    }
}

async fn sleep_until_some(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(request_ms: u64, body_ms: u64) -> Limits {
        Limits {
            request: Duration::from_millis(request_ms),
            body_read: Duration::from_millis(body_ms),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn reading_the_body_stops_the_request_clock() {
        let clock = Clock::start(limits(1000, 5000));
        tokio::time::advance(Duration::from_millis(400)).await;
        let before = Instant::now();
        let read = clock
            .reading_body(tokio::time::sleep(Duration::from_secs(3)))
            .await;
        assert!(read.is_ok());
        // 600 ms were left when the body began; they are left after it.
        let deadline = clock.deadline.borrow().unwrap();
        assert_eq!(
            deadline - before,
            Duration::from_secs(3) + Duration::from_millis(600)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_slower_than_its_limit_is_a_408() {
        let clock = Clock::start(limits(1000, 500));
        let read = clock
            .reading_body(tokio::time::sleep(Duration::from_secs(3)))
            .await;
        assert!(matches!(read, Err(ApiError::RequestTimeout)));
        assert!(clock.deadline.borrow().is_some(), "the clock runs again");
    }
}
