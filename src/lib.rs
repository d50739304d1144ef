//! ota-inbox: a self-hosted guest-messaging server that speaks the Channex.io Messages API.

pub mod config;
pub mod db;
pub mod demo;
pub mod embedded_pg;
pub mod error;
pub mod http;
pub mod messaging;
pub mod ota;
pub mod routes;
pub mod server;
pub mod views;
pub mod webhooks;

use axum::Router;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderName, HeaderValue, Request};
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::error::ApiError;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub db: PgPool,
    /// SHA-256 of `ADMIN_TOKEN`; `None` turns `/admin` off.
    pub admin_token_hash: Option<[u8; 32]>,
    pub max_attachment_bytes: usize,
    /// Per-key request limit of `/api/v1`, when configured.
    pub rate_limit: Option<Arc<http::rate_limit::RateLimiter>>,
    /// The outbound client of `POST /api/v1/webhooks/test`.
    pub webhook_test_client: webhooks::TestClient,
    /// Cancelled when the server begins to shut down (SIGTERM or Ctrl-C), before it drains:
    /// long-lived responses end when it is.
    pub shutdown: CancellationToken,
    /// `REQUEST_TIMEOUT` and `BODY_READ_TIMEOUT`.
    pub limits: http::deadline::Limits,
    /// The line in front of each thread's row lock (see [`http::writers`]).
    pub writers: Arc<http::writers::Writers>,
}

impl AppState {
    pub fn new(db: PgPool, admin_token: Option<&str>, max_attachment_bytes: usize) -> Self {
        Self {
            db,
            admin_token_hash: admin_token.map(http::auth::hash_secret),
            max_attachment_bytes,
            rate_limit: None,
            webhook_test_client: webhooks::TestClient::new(webhooks::DEFAULT_TIMEOUT),
            shutdown: CancellationToken::new(),
            limits: http::deadline::Limits::default(),
            writers: http::writers::Writers::new(db::SessionTimeouts::default().lock),
        }
    }

    /// Sets `REQUEST_TIMEOUT` and `BODY_READ_TIMEOUT`.
    pub fn with_limits(mut self, limits: http::deadline::Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets how long a request waits in line for a busy thread (`DATABASE_LOCK_TIMEOUT`).
    pub fn with_lock_timeout(mut self, lock_timeout: std::time::Duration) -> Self {
        self.writers = http::writers::Writers::new(lock_timeout);
        self
    }

    /// Limits each API key to `per_minute` requests a minute.
    pub fn with_rate_limit(mut self, per_minute: u32) -> Self {
        self.rate_limit = Some(Arc::new(http::rate_limit::RateLimiter::per_minute(
            per_minute,
        )));
        self
    }

    /// Sets the timeout of `POST /api/v1/webhooks/test` (`WEBHOOK_TIMEOUT`).
    pub fn with_webhook_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.webhook_test_client = webhooks::TestClient::new(timeout);
        self
    }
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole HTTP application: routes, reruns of rolled-back requests, time limits, request
/// ids, request logs and a panic guard.
pub fn app(state: AppState) -> Router {
    let limits = state.limits;
    routes::router(state)
        .layer(from_fn(http::retry::retry))
        .layer(from_fn_with_state(limits, http::deadline::limit))
        .layer(axum::middleware::map_response(json_charset))
        .layer(CatchPanicLayer::custom(
            |_: Box<dyn std::any::Any + Send>| panic_response(),
        ))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request<_>| {
                    let request_id = req
                        .headers()
                        .get(&REQUEST_ID)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-");
                    // The path only: never headers (keys) or bodies.
                    tracing::info_span!(
                        "request",
                        method = %req.method(),
                        path = %req.uri().path(),
                        request_id = %request_id,
                    )
                })
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

/// Every JSON answer says `application/json; charset=utf-8` (§1).
async fn json_charset(mut response: Response) -> Response {
    let headers = response.headers_mut();
    if headers
        .get(CONTENT_TYPE)
        .is_some_and(|v| v == "application/json")
    {
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
    }
    response
}

fn panic_response() -> Response {
    ApiError::Internal(anyhow::anyhow!("handler panicked")).into_response()
}
