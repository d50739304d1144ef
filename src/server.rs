//! Start-up and shutdown: settings → database (embedded or not) → migrations → demo → serve.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::PgConnectOptions;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

use crate::config::{Config, LogFormat};
use crate::embedded_pg::{self, EmbeddedPg};
use crate::events::HubConfig;
use crate::http::deadline::Limits;
use crate::http::serve::ServeOptions;
use crate::webhooks::{Worker, WorkerConfig};
use crate::{AppState, app, db, demo, routes};

const ADMIN_TOKEN_FILE: &str = "admin-token";
/// Longest wait for the pool to close once the connections are drained.
const POOL_CLOSE_LIMIT: Duration = Duration::from_secs(5);

/// What a start prints for the person who ran it.
#[derive(Debug)]
pub struct Banner {
    pub url: String,
    pub demo_api_key: Option<String>,
    /// The admin token, when this server generated it (embedded mode without ADMIN_TOKEN).
    pub generated_admin_token: Option<String>,
    pub embedded_dir: Option<PathBuf>,
    /// Whether `/admin` is on (an admin token is configured or was generated).
    pub admin_api: bool,
    /// Where `GET /metrics` answers.
    pub metrics_url: String,
}

/// Logs on stderr; `default_level` applies when RUST_LOG is unset. Colours only on a terminal
/// and without `NO_COLOR`.
pub fn init_tracing(format: LogFormat, default_level: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colours_wanted(
            std::io::IsTerminal::is_terminal(&std::io::stderr()),
            std::env::var_os("NO_COLOR").as_deref(),
        ))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .init(),
    }
}

/// Colours in logs: only on a terminal, and not when `NO_COLOR` is set to anything but "".
fn colours_wanted(terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty())
}

/// Runs the server until SIGTERM or Ctrl-C; `on_ready` is called once it listens.
pub async fn run(config: Config, on_ready: impl FnOnce(&Banner)) -> anyhow::Result<()> {
    // Listen first: a port in use must not get as far as the database.
    let listener = tokio::net::TcpListener::bind(config.bind_addr.as_str())
        .await
        .with_context(|| format!("listening on {}", config.bind_addr))?;
    let metrics_listener = match &config.metrics_addr {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr.as_str())
                .await
                .with_context(|| format!("listening on {addr} (METRICS_ADDR)"))?,
        ),
        None => None,
    };
    let embedded = match &config.database_url {
        Some(_) => None,
        None => Some(
            EmbeddedPg::start(
                &config.data_dir.join("postgres"),
                &embedded_pg::Options::default(),
            )
            .await
            .context("starting the embedded PostgreSQL")?,
        ),
    };
    let listeners = Listeners {
        main: listener,
        metrics: metrics_listener,
    };
    let result = serve(&config, listeners, embedded.as_ref(), on_ready).await;
    if let Some(pg) = embedded
        && let Err(err) = pg.stop().await
    {
        tracing::error!(error = %err, "stopping the embedded PostgreSQL");
    }
    result
}

/// The main listener and that of `METRICS_ADDR`.
struct Listeners {
    main: tokio::net::TcpListener,
    metrics: Option<tokio::net::TcpListener>,
}

async fn serve(
    config: &Config,
    listeners: Listeners,
    embedded: Option<&EmbeddedPg>,
    on_ready: impl FnOnce(&Banner),
) -> anyhow::Result<()> {
    let options: PgConnectOptions = match (&config.database_url, embedded) {
        (Some(url), _) => url
            .parse()
            .context("DATABASE_URL is not a valid PostgreSQL URL")?,
        (None, Some(pg)) => pg.connect_options(embedded_pg::DATABASE),
        (None, None) => anyhow::bail!("no database"),
    };
    db::migrate(&options)
        .await
        .context("running the migrations")?;
    let options = config.session_timeouts().apply(options);
    let pool = db::connect(options, config.database_max_connections)
        .await
        .context("connecting to PostgreSQL")?;

    let mut generated_admin_token = None;
    let admin_token = match (&config.admin_token, embedded) {
        (Some(token), _) => Some(token.clone()),
        (None, Some(_)) => {
            let token = kept_admin_token(&config.data_dir)?;
            generated_admin_token = Some(token.clone());
            Some(token)
        }
        (None, None) => None,
    };
    let demo_api_key = if config.demo_enabled() {
        demo::ensure(&pool, &config.data_dir)
            .await
            .context("seeding the demo")?
    } else {
        None
    };

    let mut state = AppState::new(
        pool.clone(),
        admin_token.as_deref(),
        config.max_attachment_bytes as usize,
    )
    .with_webhook_timeout(config.webhook_timeout)
    .with_principal_cache(config.principal_cache_size as usize)
    .with_auth_failure_limit(config.auth_failures_per_minute)
    .with_metrics(config.metrics_token.as_deref(), listeners.metrics.is_none())
    .with_events(HubConfig {
        retention: config.event_retention,
        chat_session_idle: config.chat_session_idle_timeout,
        ..HubConfig::default()
    })
    .with_frame_ancestors(config.iframe_allowed_origins.clone())
    .with_cors(config.cors_allowed_origins.clone().unwrap_or_default())
    .with_limits(Limits {
        request: config.request_timeout,
        body_read: config.body_read_timeout,
    })
    .with_lock_timeout(config.database_lock_timeout)
    .with_response_cache(
        u64::from(config.response_cache_mb) * 1024 * 1024,
        // How long a dropped request's statement may still run: without a statement
        // timeout, a send ends within its request's time.
        match config.database_statement_timeout {
            Duration::ZERO => config.request_timeout,
            timeout => timeout,
        },
    );
    if let Some(per_minute) = config.rate_limit_per_minute {
        state = state.with_rate_limit_burst(per_minute, config.rate_limit_burst);
    }
    // Until it has connected, the cache is bypassed: correct from the first request.
    let principals = (config.principal_cache_size > 0).then(|| state.principals.listen(&pool));
    let responses = (config.response_cache_mb > 0).then(|| state.responses.listen(&pool));
    let worker = Worker::spawn(
        pool.clone(),
        WorkerConfig::new(
            config.webhook_timeout,
            config.webhook_retry_schedule.0.clone(),
            config.webhook_concurrency as usize,
        ),
    )
    .context("starting the webhook worker")?;
    let hub = state
        .start_events()
        .await
        .context("starting the live event hub")?;
    let shutdown = state.shutdown.clone();
    let addr = listeners.main.local_addr()?;
    tracing::info!(%addr, "listening");
    let upkeep = crate::metrics::spawn_upkeep();
    let (metrics_url, metrics_server) = match listeners.metrics {
        Some(listener) => {
            let metrics_addr = listener.local_addr()?;
            tracing::info!(addr = %metrics_addr, "metrics listening");
            let router = routes::metrics::router(state.clone());
            let task = tokio::spawn(async move {
                let service = router.into_make_service_with_connect_info::<SocketAddr>();
                if let Err(err) = axum::serve(listener, service).await {
                    tracing::error!(error = %err, "the metrics listener stopped");
                }
            });
            (format!("http://{metrics_addr}/metrics"), Some(task))
        }
        None => (format!("http://{addr}/metrics"), None),
    };
    on_ready(&Banner {
        url: format!("http://{addr}"),
        demo_api_key,
        admin_api: admin_token.is_some(),
        generated_admin_token,
        embedded_dir: embedded.map(|pg| pg.dir().to_owned()),
        metrics_url,
    });
    tokio::spawn(cancel_on_signal(shutdown.clone()));
    let serve_options = ServeOptions {
        header_read_timeout: config.header_read_timeout,
        max_connections: config.max_connections as usize,
        grace: config.shutdown_grace,
    };
    let announcer = state.announcer.clone();
    crate::http::serve::serve(listeners.main, app(state), serve_options, shutdown.clone()).await;
    tracing::info!("shutting down");
    shutdown.cancel();
    let _ = hub.await;
    drop(principals);
    drop(responses);
    upkeep.abort();
    if let Some(task) = metrics_server {
        task.abort();
    }
    worker.shutdown().await;
    // A connection cut mid-statement returns to the pool only once the database answers.
    if tokio::time::timeout(POOL_CLOSE_LIMIT, pool.close())
        .await
        .is_err()
    {
        tracing::warn!("database connections still busy at exit");
    }
    // No request runs any more, and no statement of theirs (the pool is closed): what they
    // wrote reaches the other processes.
    announcer.finish().await;
    Ok(())
}

/// The admin token of embedded mode: generated once, kept in DATA_DIR (mode 0600).
fn kept_admin_token(data_dir: &Path) -> anyhow::Result<String> {
    let path = data_dir.join(ADMIN_TOKEN_FILE);
    if let Ok(token) = std::fs::read_to_string(&path)
        && !token.trim().is_empty()
    {
        return Ok(token.trim().to_owned());
    }
    let (token, _) = crate::http::auth::generate_key();
    let token = token.replacen("oik_", "adm_", 1);
    std::fs::create_dir_all(data_dir)?;
    std::fs::write(&path, &token).with_context(|| format!("writing {}", path.display()))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    Ok(token)
}

/// Cancels `shutdown` at the first SIGTERM or Ctrl-C.
async fn cancel_on_signal(shutdown: CancellationToken) {
    shutdown_signal().await;
    tracing::info!("shutdown requested");
    shutdown.cancel();
}

/// SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn logs_have_colours_only_on_a_terminal_without_no_color() {
        assert!(colours_wanted(true, None));
        assert!(colours_wanted(true, Some(OsStr::new(""))));
        assert!(!colours_wanted(true, Some(OsStr::new("1"))));
        assert!(!colours_wanted(false, None));
        assert!(!colours_wanted(false, Some(OsStr::new("1"))));
    }
}
