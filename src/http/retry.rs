//! Runs a request again when PostgreSQL rolled its transaction back for a deadlock or a
//! serialization failure ([`ApiError::Contention`](crate::error::ApiError::Contention) marks such
//! answers with [`Retryable`]). Nothing of the failed run was committed (handlers commit once, at
//! the end), so a new run is the same request against a database that has moved on. After
//! [`MAX_RUNS`] the client gets the 503 with `Retry-After`.
//!
//! A request whose pooled connection turned out to be closed by PostgreSQL
//! ([`Reconnect`]) runs once more at once, testing every idle connection it takes (see
//! [`crate::db::pool_options`]).
//!
//! The body is kept while the handler reads it (up to [`REPLAY_LIMIT`]), so a run can send it
//! again; a request whose body was larger is not run again.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use http_body::{Frame, SizeHint};

use crate::error::{Reconnect, Retryable};

/// In the extensions of a request that runs again: its run number (2 or more). The rate limit
/// does not count it twice.
#[derive(Debug, Clone, Copy)]
pub struct Rerun(pub u32);

/// Runs of one request, the first included.
pub const MAX_RUNS: u32 = 3;
/// Largest body kept for another run.
pub const REPLAY_LIMIT: usize = 1024 * 1024;

/// Middleware: see the module documentation.
pub async fn retry(req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    let mut body = Body::new(body);
    let mut run = 1;
    // Runs that ended in a rollback (deadlock, serialization), and whether a run was repeated
    // for a connection found closed.
    let mut rolled_back = 0;
    let mut reconnected = false;
    loop {
        let tape = Arc::new(Mutex::new(Tape::default()));
        let recorded = Body::new(Recording {
            inner: Some(body),
            tape: tape.clone(),
        });
        let run_once = next
            .clone()
            .run(Request::from_parts(parts.clone(), recorded));
        let response = if reconnected {
            crate::db::with_tested_connections(run_once).await
        } else {
            run_once.await
        };
        let reconnect = !reconnected && response.extensions().get::<Reconnect>().is_some();
        let contention =
            response.extensions().get::<Retryable>().is_some() && rolled_back + 1 < MAX_RUNS;
        if !reconnect && !contention {
            return response;
        }
        // The handler is done with the body by now: the recording gave back what was unread.
        let replay = tape.lock().ok().and_then(|mut tape| tape.replay());
        let Some(replay) = replay else {
            return response;
        };
        if reconnect {
            // At once: the statement never reached a live session.
            tracing::info!(run, "running the request again on another connection");
            reconnected = true;
        } else {
            tracing::info!(
                run,
                "running the request again after a rolled-back transaction"
            );
            rolled_back += 1;
            tokio::time::sleep(backoff(rolled_back)).await;
        }
        body = replay;
        run += 1;
        parts.extensions.insert(Rerun(run));
    }
}

/// A short pause, longer after each run, with jitter so that the two sides of a deadlock do not
/// meet again at once.
fn backoff(run: u32) -> Duration {
    let base = 20u64 << run.min(6);
    Duration::from_millis(base / 2 + rand::random_range(0..=base))
}

/// What a run read of the body, and what it left unread.
#[derive(Default)]
struct Tape {
    chunks: Vec<Bytes>,
    size: usize,
    /// Past the limit, or a frame that cannot be replayed: the body cannot be sent again.
    spoiled: bool,
    /// The unread rest of the body, handed back when the run dropped it.
    rest: Option<Body>,
}

impl Tape {
    fn replay(&mut self) -> Option<Body> {
        if self.spoiled {
            return None;
        }
        Some(Body::new(Replay {
            chunks: std::mem::take(&mut self.chunks).into(),
            rest: self.rest.take(),
        }))
    }
}

/// The body as a run sees it: read through, noted on the tape.
struct Recording {
    inner: Option<Body>,
    tape: Arc<Mutex<Tape>>,
}

impl Recording {
    fn note(&self, frame: Option<&Result<Frame<Bytes>, axum::Error>>) {
        let Ok(mut tape) = self.tape.lock() else {
            return;
        };
        match frame {
            None => {}
            Some(Ok(frame)) => match frame.data_ref() {
                Some(data) if !tape.spoiled && tape.size + data.len() <= REPLAY_LIMIT => {
                    tape.size += data.len();
                    tape.chunks.push(data.clone());
                }
                _ => {
                    tape.spoiled = true;
                    tape.chunks.clear();
                }
            },
            Some(Err(_)) => {
                tape.spoiled = true;
                tape.chunks.clear();
            }
        }
    }
}

impl http_body::Body for Recording {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let Some(inner) = self.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let polled = Pin::new(inner).poll_frame(cx);
        if let Poll::Ready(frame) = &polled {
            self.note(frame.as_ref());
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(|b| b.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map(|b| b.size_hint())
            .unwrap_or_else(|| SizeHint::with_exact(0))
    }
}

impl Drop for Recording {
    fn drop(&mut self) {
        if let Ok(mut tape) = self.tape.lock() {
            tape.rest = self.inner.take();
        }
    }
}

/// A body sent again: what the last run read, then what it left.
struct Replay {
    chunks: VecDeque<Bytes>,
    rest: Option<Body>,
}

impl http_body::Body for Replay {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        if let Some(chunk) = self.chunks.pop_front() {
            return Poll::Ready(Some(Ok(Frame::data(chunk))));
        }
        match self.rest.as_mut() {
            Some(rest) => Pin::new(rest).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.chunks.is_empty() && self.rest.as_ref().is_none_or(|b| b.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        let kept: u64 = self.chunks.iter().map(|c| c.len() as u64).sum();
        let rest = self
            .rest
            .as_ref()
            .map(|b| b.size_hint())
            .unwrap_or_else(|| SizeHint::with_exact(0));
        let mut hint = SizeHint::new();
        hint.set_lower(kept + rest.lower());
        if let Some(upper) = rest.upper() {
            hint.set_upper(kept + upper);
        }
        hint
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    use axum::routing::post;
    use http_body_util::BodyExt;
    use std::sync::atomic::{AtomicU32, Ordering};
    use tower::ServiceExt;

    use crate::error::ApiError;

    /// A route that fails with a deadlock `failures` times, then echoes the body it read.
    fn flaky(failures: u32) -> (Router, Arc<AtomicU32>) {
        let runs = Arc::new(AtomicU32::new(0));
        let counter = runs.clone();
        let router = Router::new()
            .route(
                "/",
                post(move |body: Bytes| {
                    let counter = counter.clone();
                    async move {
                        if counter.fetch_add(1, Ordering::SeqCst) < failures {
                            ApiError::Contention(sqlx::Error::PoolTimedOut).into_response()
                        } else {
                            body.into_response()
                        }
                    }
                }),
            )
            .layer(axum::middleware::from_fn(retry));
        (router, runs)
    }

    async fn send(router: Router, body: Body) -> (StatusCode, Bytes) {
        let request = Request::post("/").body(body).unwrap();
        let response = router.oneshot(request).await.unwrap();
        let status = response.status();
        (
            status,
            response.into_body().collect().await.unwrap().to_bytes(),
        )
    }

    #[tokio::test]
    async fn a_rolled_back_request_runs_again_with_the_same_body() {
        let (router, runs) = flaky(2);
        let (status, body) = send(router, Body::from("the same body")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, "the same body");
        assert_eq!(runs.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn after_the_last_run_the_client_gets_the_503() {
        let (router, runs) = flaky(10);
        let (status, _) = send(router, Body::from("x")).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(runs.load(Ordering::SeqCst), MAX_RUNS);
    }

    #[tokio::test]
    async fn a_body_too_large_to_keep_is_not_sent_again() {
        let (router, runs) = flaky(1);
        let (status, _) = send(router, Body::from(vec![b'x'; REPLAY_LIMIT + 1])).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_body_in_many_chunks_is_replayed_whole() {
        let (router, _) = flaky(1);
        let chunks = (0..50).map(|i| Ok::<_, std::io::Error>(Bytes::from(format!("{i},"))));
        let stream = futures_util::stream::iter(chunks);
        let (status, body) = send(router, Body::from_stream(stream)).await;
        assert_eq!(status, StatusCode::OK);
        let expected: String = (0..50).map(|i| format!("{i},")).collect();
        assert_eq!(body, expected);
    }
}
