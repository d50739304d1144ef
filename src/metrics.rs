//! Prometheus metrics, served by `GET /metrics` (see `routes::metrics`).
//!
//! Counters and histograms are kept in memory by this process as things happen (requests,
//! webhook attempts, open event streams); what lives in the database (the webhook queue) and
//! the pool's state are read when scraped, never by a periodic query.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::AppState;
use crate::db;

/// Requests answered: `method`, `route` (the route template, e.g.
/// `/api/v1/message_threads/{id}`, or `unmatched`) and `status`.
pub const HTTP_REQUESTS: &str = "ota_inbox_http_requests_total";
/// Time to answer (until the response head), by the same labels.
pub const HTTP_DURATION: &str = "ota_inbox_http_request_duration_seconds";
/// Database connections of the pool, by `state`: `in_use` or `idle`.
pub const DB_POOL_CONNECTIONS: &str = "ota_inbox_db_pool_connections";
/// The pool's largest size (`DATABASE_MAX_CONNECTIONS`).
pub const DB_POOL_MAX: &str = "ota_inbox_db_pool_max_connections";
/// Whether the database answered the scrape's queue query (1) or not (0).
pub const DB_UP: &str = "ota_inbox_database_up";
/// Webhook attempts made by this process, by `result`: `delivered`, `retry` or `failed`.
pub const WEBHOOK_ATTEMPTS: &str = "ota_inbox_webhook_attempts_total";
/// Webhook deliveries this process ended, by `outcome`: `delivered`, `failed` or `cancelled`.
pub const WEBHOOK_DELIVERIES: &str = "ota_inbox_webhook_deliveries_total";
/// Duration of webhook attempts (connecting and answering).
pub const WEBHOOK_ATTEMPT_DURATION: &str = "ota_inbox_webhook_attempt_duration_seconds";
/// Pending webhook deliveries (all servers of the database): due now, waiting for a retry, or
/// being attempted.
pub const WEBHOOK_QUEUE_DEPTH: &str = "ota_inbox_webhook_queue_depth";
/// Pending webhook deliveries that are due now and not being attempted.
pub const WEBHOOK_QUEUE_DUE: &str = "ota_inbox_webhook_queue_due";
/// Seconds since the oldest due delivery fell due (0 when none is due).
pub const WEBHOOK_OLDEST_DUE_AGE: &str = "ota_inbox_webhook_oldest_due_age_seconds";
/// Live event streams (SSE) open on this process: see [`stream_opened`].
pub const EVENT_STREAMS_OPEN: &str = "ota_inbox_event_streams_open";
/// Requests refused with 429, by `limit`: `credential` or `auth_failures`.
pub const RATE_LIMITED: &str = "ota_inbox_rate_limited_total";
/// Failed authentications (a key, token or session that is not valid), all addresses together.
pub const AUTH_FAILURES: &str = "ota_inbox_auth_failures_total";
/// Cacheable reads, by whether the response cache answered them (`result`: hit or miss).
pub const RESPONSE_CACHE: &str = "ota_inbox_response_cache_total";

/// Buckets of the latency histograms, in seconds.
const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// How often the recorder folds recorded samples into its histograms.
pub const UPKEEP_EVERY: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's recorder, installed on first use.
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(install)
}

fn install() -> PrometheusHandle {
    let builder = PrometheusBuilder::new();
    let builder = [HTTP_DURATION, WEBHOOK_ATTEMPT_DURATION]
        .into_iter()
        .try_fold(builder, |builder, name| {
            builder.set_buckets_for_metric(Matcher::Full(name.to_owned()), &LATENCY_BUCKETS)
        })
        .unwrap_or_else(|_| PrometheusBuilder::new());
    let recorder = builder.build_recorder();
    let handle = recorder.handle();
    if metrics::set_global_recorder(recorder).is_err() {
        tracing::warn!("another metrics recorder is installed: /metrics will be empty");
    }
    describe();
    // Present from the first scrape, before anything happened.
    gauge!(EVENT_STREAMS_OPEN).set(0.0);
    for result in ["delivered", "retry", "failed"] {
        counter!(WEBHOOK_ATTEMPTS, "result" => result).increment(0);
    }
    for outcome in ["delivered", "failed", "cancelled"] {
        counter!(WEBHOOK_DELIVERIES, "outcome" => outcome).increment(0);
    }
    for limit in ["credential", "auth_failures"] {
        counter!(RATE_LIMITED, "limit" => limit).increment(0);
    }
    counter!(AUTH_FAILURES).increment(0);
    for result in ["hit", "miss"] {
        counter!(RESPONSE_CACHE, "result" => result).increment(0);
    }
    handle
}

fn describe() {
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests answered, by route template, method and status."
    );
    describe_histogram!(
        HTTP_DURATION,
        metrics::Unit::Seconds,
        "Time to answer an HTTP request, by route template, method and status."
    );
    describe_gauge!(
        DB_POOL_CONNECTIONS,
        "Database connections of the pool, by state (in_use, idle)."
    );
    describe_gauge!(
        DB_POOL_MAX,
        "Largest number of database connections of the pool."
    );
    describe_gauge!(
        DB_UP,
        "Whether the database answered the scrape's queue query."
    );
    describe_counter!(
        WEBHOOK_ATTEMPTS,
        "Webhook attempts made by this process, by result."
    );
    describe_counter!(
        WEBHOOK_DELIVERIES,
        "Webhook deliveries this process ended, by outcome."
    );
    describe_histogram!(
        WEBHOOK_ATTEMPT_DURATION,
        metrics::Unit::Seconds,
        "Duration of webhook attempts, connecting and answering included."
    );
    describe_gauge!(WEBHOOK_QUEUE_DEPTH, "Pending webhook deliveries.");
    describe_gauge!(
        WEBHOOK_QUEUE_DUE,
        "Pending webhook deliveries due now and not being attempted."
    );
    describe_gauge!(
        WEBHOOK_OLDEST_DUE_AGE,
        metrics::Unit::Seconds,
        "Seconds since the oldest due webhook delivery fell due."
    );
    describe_gauge!(
        EVENT_STREAMS_OPEN,
        "Live event streams open on this process."
    );
    describe_counter!(RATE_LIMITED, "Requests refused with 429, by limit.");
    describe_counter!(AUTH_FAILURES, "Failed authentications.");
    describe_counter!(
        RESPONSE_CACHE,
        "Cacheable reads, by whether the response cache answered them."
    );
}

/// Folds recorded samples into the histograms every [`UPKEEP_EVERY`], so memory stays bounded
/// between scrapes (no database involved).
pub fn spawn_upkeep() -> tokio::task::JoinHandle<()> {
    let handle = handle();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(UPKEEP_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            handle.run_upkeep();
        }
    })
}

/// The Prometheus text of a scrape: reads the pool and the webhook queue first.
pub async fn render(state: &AppState) -> String {
    let pool = &state.db;
    let size = f64::from(pool.size());
    let idle = pool.num_idle() as f64;
    gauge!(DB_POOL_CONNECTIONS, "state" => "in_use").set((size - idle).max(0.0));
    gauge!(DB_POOL_CONNECTIONS, "state" => "idle").set(idle);
    gauge!(DB_POOL_MAX).set(f64::from(pool.options().get_max_connections()));
    match db::webhook_deliveries::queue_stats(pool).await {
        Ok(stats) => {
            gauge!(DB_UP).set(1.0);
            gauge!(WEBHOOK_QUEUE_DEPTH).set(stats.depth as f64);
            gauge!(WEBHOOK_QUEUE_DUE).set(stats.due as f64);
            gauge!(WEBHOOK_OLDEST_DUE_AGE).set(stats.oldest_due_age_seconds);
        }
        Err(err) => {
            tracing::warn!(error = %err, "reading the webhook queue for /metrics");
            gauge!(DB_UP).set(0.0);
            for name in [
                WEBHOOK_QUEUE_DEPTH,
                WEBHOOK_QUEUE_DUE,
                WEBHOOK_OLDEST_DUE_AGE,
            ] {
                gauge!(name).set(f64::NAN);
            }
        }
    }
    handle().render()
}

/// Middleware: counts each request and its latency by route template, method and status.
pub async fn track_requests(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let method = method_label(req.method());
    let start = Instant::now();
    let response = next.run(req).await;
    let elapsed = start.elapsed().as_secs_f64();
    let status = response.status().as_u16().to_string();
    let labels = [
        ("method", method.to_owned()),
        ("route", route),
        ("status", status),
    ];
    counter!(HTTP_REQUESTS, &labels).increment(1);
    histogram!(HTTP_DURATION, &labels).record(elapsed);
    response
}

/// The method as a label: the standard ones by name, any other as `other` (bounded labels).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Counts a cacheable read, answered from memory (`hit`) or not.
pub fn response_cache(hit: bool) {
    counter!(RESPONSE_CACHE, "result" => if hit { "hit" } else { "miss" }).increment(1);
}

/// A webhook attempt ended: `result` is `delivered`, `retry` or `failed`.
pub fn webhook_attempt(result: &'static str, duration: Duration) {
    counter!(WEBHOOK_ATTEMPTS, "result" => result).increment(1);
    histogram!(WEBHOOK_ATTEMPT_DURATION).record(duration.as_secs_f64());
    if result != "retry" {
        webhook_delivery_ended(result);
    }
}

/// A webhook delivery ended: `outcome` is `delivered`, `failed` or `cancelled`.
pub fn webhook_delivery_ended(outcome: &'static str) {
    counter!(WEBHOOK_DELIVERIES, "outcome" => outcome).increment(1);
}

/// A request was refused with 429; `limit` is `credential` or `auth_failures`.
pub fn rate_limited(limit: &'static str) {
    counter!(RATE_LIMITED, "limit" => limit).increment(1);
}

/// An authentication failed.
pub fn auth_failed() {
    counter!(AUTH_FAILURES).increment(1);
}

/// A live event stream is open for as long as this guard lives.
#[derive(Debug)]
#[must_use = "the stream counts as open only while the guard lives"]
pub struct StreamGuard(());

/// Counts a live event stream (`GET /api/v1/events/stream`) as open in
/// [`EVENT_STREAMS_OPEN`] until the returned guard is dropped: keep the guard inside the
/// response stream, so that it goes when the client does or the server stops.
pub fn stream_opened() -> StreamGuard {
    gauge!(EVENT_STREAMS_OPEN).increment(1.0);
    StreamGuard(())
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        gauge!(EVENT_STREAMS_OPEN).decrement(1.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_make_a_bounded_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::DELETE), "DELETE");
        let odd = Method::from_bytes(b"BREW").unwrap();
        assert_eq!(method_label(&odd), "other");
    }

    /// The value of the open-streams gauge in a rendering.
    fn open_streams(rendered: &str) -> f64 {
        rendered
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{EVENT_STREAMS_OPEN} ")))
            .map_or(0.0, |v| v.trim().parse().unwrap())
    }

    #[test]
    fn a_stream_counts_as_open_while_its_guard_lives() {
        // A recorder of this test's own: other tests' streams cannot move its gauge.
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            let first = stream_opened();
            let second = stream_opened();
            assert_eq!(open_streams(&handle.render()), 2.0);
            drop(first);
            assert_eq!(open_streams(&handle.render()), 1.0);
            drop(second);
            assert_eq!(open_streams(&handle.render()), 0.0);
        });
    }
}
