//! ota-inbox: a self-hosted guest-messaging server that speaks the Channex.io Messages API.

pub mod cli;
pub mod config;
pub mod db;
pub mod demo;
pub mod embedded_pg;
pub mod error;
pub mod events;
pub mod http;
pub mod messaging;
pub mod metrics;
pub mod openapi;
pub mod ota;
pub mod routes;
pub mod server;
pub mod ui;
pub mod views;
pub mod webhooks;

use axum::Router;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderName, HeaderValue, Request};
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::error::ApiError;

/// What every handler can reach: one shared [`Shared`], so that the clone each middleware
/// takes per request is one reference count, not one per field.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// For the builders (and tests) that set a field before the state is shared: a state already
/// cloned is copied first (copy on write), so no clone handed out changes under its holder.
impl std::ops::DerefMut for AppState {
    fn deref_mut(&mut self) -> &mut Shared {
        Arc::make_mut(&mut self.0)
    }
}

/// The fields of [`AppState`].
#[derive(Clone)]
pub struct Shared {
    pub db: PgPool,
    /// SHA-256 of `ADMIN_TOKEN`; `None` turns `/admin` off.
    pub admin_token_hash: Option<[u8; 32]>,
    pub max_attachment_bytes: usize,
    /// Per-credential request limit of `/api/v1`, when configured.
    pub rate_limit: Option<Arc<http::rate_limit::KeyLimiter>>,
    /// Failed authentications per client address (`AUTH_FAILURES_PER_MINUTE`); `None`: no limit.
    pub auth_failures: Option<Arc<http::auth_failures::AuthFailureLimiter>>,
    /// SHA-256 of `METRICS_TOKEN`: when set, `GET /metrics` requires it as a bearer token.
    pub metrics_token_hash: Option<[u8; 32]>,
    /// Whether the main router serves `GET /metrics` (not when `METRICS_ADDR` is set).
    pub metrics_on_main_port: bool,
    /// The outbound client of `POST /api/v1/webhooks/test`.
    pub webhook_test_client: webhooks::TestClient,
    /// Credential hash → principal; bypassed until it follows the database
    /// ([`http::principal_cache::PrincipalCache::listen`]).
    pub principals: Arc<http::principal_cache::PrincipalCache>,
    /// Cancelled when the server begins to shut down: long-lived responses (event streams) end.
    pub shutdown: CancellationToken,
    /// This process's live-event hub (started by the server, see [`events::Hub::start`]).
    pub events: events::Hub,
    /// Who may frame the chat page (`IFRAME_ALLOWED_ORIGINS`).
    pub frame_ancestors: ui::csp::FrameAncestors,
    /// `REQUEST_TIMEOUT` and `BODY_READ_TIMEOUT`.
    pub limits: http::deadline::Limits,
    /// The line in front of each thread's row lock (see [`http::writers`]).
    pub writers: Arc<http::writers::Writers>,
    /// Origins whose pages may call the server (`CORS_ALLOWED_ORIGINS`).
    pub cors: http::cors::AllowedOrigins,
    /// Answers of the Messages API's reads; bypassed until it follows the database
    /// ([`http::response_cache::ResponseCache::listen`]).
    pub responses: Arc<http::response_cache::ResponseCache>,
    /// Announces this process's writes to its response cache and to the other processes.
    pub announcer: Arc<http::changes::Announcer>,
}

impl AppState {
    pub fn new(db: PgPool, admin_token: Option<&str>, max_attachment_bytes: usize) -> Self {
        let responses = Arc::new(http::response_cache::ResponseCache::new(
            http::response_cache::DEFAULT_CAPACITY_BYTES,
        ));
        Self(Arc::new(Shared {
            db,
            admin_token_hash: admin_token.map(http::auth::hash_secret),
            max_attachment_bytes,
            rate_limit: None,
            auth_failures: auth_failure_limiter(config::DEFAULT_AUTH_FAILURES_PER_MINUTE),
            metrics_token_hash: None,
            metrics_on_main_port: true,
            webhook_test_client: webhooks::TestClient::new(webhooks::DEFAULT_TIMEOUT),
            principals: Arc::new(http::principal_cache::PrincipalCache::new(
                http::principal_cache::DEFAULT_CAPACITY,
            )),
            shutdown: CancellationToken::new(),
            events: events::Hub::new(events::HubConfig::default()),
            frame_ancestors: ui::csp::FrameAncestors::default(),
            limits: http::deadline::Limits::default(),
            writers: http::writers::Writers::new(db::SessionTimeouts::default().lock),
            cors: http::cors::AllowedOrigins::None,
            responses: responses.clone(),
            announcer: http::changes::Announcer::new(
                responses,
                db::SessionTimeouts::default().statement,
            ),
        }))
    }

    /// Keeps about `capacity_bytes` of answers (`RESPONSE_CACHE_MB`; 0: none); a request
    /// dropped before its answer is announced again `statement_timeout` later.
    pub fn with_response_cache(mut self, capacity_bytes: u64, statement_timeout: Duration) -> Self {
        self.responses = Arc::new(http::response_cache::ResponseCache::new(capacity_bytes));
        self.announcer = http::changes::Announcer::new(self.responses.clone(), statement_timeout);
        self
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

    /// Keeps at most `capacity` principals in memory (`PRINCIPAL_CACHE_SIZE`; 0: none).
    pub fn with_principal_cache(mut self, capacity: usize) -> Self {
        self.principals = Arc::new(http::principal_cache::PrincipalCache::new(capacity));
        self
    }

    /// Limits each credential to `per_minute` requests a minute, all of them at once if it likes.
    pub fn with_rate_limit(self, per_minute: u32) -> Self {
        self.with_rate_limit_burst(per_minute, None)
    }

    /// Limits each credential to `per_minute` requests a minute, `burst` of them at once.
    pub fn with_rate_limit_burst(mut self, per_minute: u32, burst: Option<u32>) -> Self {
        self.rate_limit = NonZeroU32::new(per_minute).map(|per_minute| {
            Arc::new(http::rate_limit::KeyLimiter::new(
                per_minute,
                burst.and_then(NonZeroU32::new),
            ))
        });
        self
    }

    /// Limits failed authentications to `per_minute` per client address (0: no limit).
    pub fn with_auth_failure_limit(mut self, per_minute: u32) -> Self {
        self.auth_failures = auth_failure_limiter(per_minute);
        self
    }

    /// Where `GET /metrics` is served (the main router, or only its own listener) and the
    /// bearer token it requires, if any.
    pub fn with_metrics(mut self, token: Option<&str>, on_main_port: bool) -> Self {
        self.metrics_token_hash = token.map(http::auth::hash_secret);
        self.metrics_on_main_port = on_main_port;
        self
    }

    /// Replaces the (not yet started) event hub, with its settings (the chat sessions' idle
    /// limit among them).
    pub fn with_events(mut self, config: events::HubConfig) -> Self {
        self.events = events::Hub::new(config);
        self
    }

    /// Sets which origins' pages may call the server.
    pub fn with_cors(mut self, origins: http::cors::AllowedOrigins) -> Self {
        self.cors = origins;
        self
    }

    /// Sets who may frame the chat page.
    pub fn with_frame_ancestors(mut self, frame_ancestors: ui::csp::FrameAncestors) -> Self {
        self.frame_ancestors = frame_ancestors;
        self
    }

    /// Starts this state's event hub on its database; it stops when `shutdown` is cancelled.
    /// With it, the task that announces this process's writes (which wakes the sequencers); that
    /// one stops at [`http::changes::Announcer::finish`].
    pub async fn start_events(&self) -> anyhow::Result<tokio::task::JoinHandle<()>> {
        self.announcer.spawn(&self.db);
        self.events
            .start(self.db.clone(), self.shutdown.clone())
            .await
    }

    /// Sets the timeout of `POST /api/v1/webhooks/test` (`WEBHOOK_TIMEOUT`).
    pub fn with_webhook_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.webhook_test_client = webhooks::TestClient::new(timeout);
        self
    }
}

fn auth_failure_limiter(per_minute: u32) -> Option<Arc<http::auth_failures::AuthFailureLimiter>> {
    NonZeroU32::new(per_minute).map(|n| Arc::new(http::auth_failures::AuthFailureLimiter::new(n)))
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole HTTP application: routes, reruns of rolled-back requests, time limits, response
/// compression, cross-origin access, request ids, request logs and a panic guard.
pub fn app(state: AppState) -> Router {
    let limits = state.limits;
    let cors = state.cors.layer();
    let router = routes::router(state)
        .layer(from_fn(http::retry::retry))
        .layer(from_fn_with_state(limits, http::deadline::limit))
        .layer(axum::middleware::map_response(json_charset))
        .layer(http::compression::layer())
        .layer(CatchPanicLayer::custom(
            |_: Box<dyn std::any::Any + Send>| panic_response(),
        ));
    // Outside the routes and the panic guard: a preflight is answered before authentication.
    let router = match cors {
        Some(cors) => router.layer(cors),
        None => router,
    };
    router
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
