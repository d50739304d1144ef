//! Start-up and shutdown: settings → database (embedded or not) → migrations → demo → serve.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::PgConnectOptions;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

use crate::config::{Config, LogFormat};
use crate::embedded_pg::{self, EmbeddedPg};
use crate::http::deadline::Limits;
use crate::http::serve::ServeOptions;
use crate::webhooks::{Worker, WorkerConfig};
use crate::{AppState, app, db, demo};

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
}

pub fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
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

/// Runs the server until SIGTERM or Ctrl-C; `on_ready` is called once it listens.
pub async fn run(config: Config, on_ready: impl FnOnce(&Banner)) -> anyhow::Result<()> {
    // Listen first: a port in use must not get as far as the database.
    let listener = tokio::net::TcpListener::bind(config.bind_addr)
        .await
        .with_context(|| format!("listening on {}", config.bind_addr))?;
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
    let result = serve(&config, listener, embedded.as_ref(), on_ready).await;
    if let Some(pg) = embedded
        && let Err(err) = pg.stop().await
    {
        tracing::error!(error = %err, "stopping the embedded PostgreSQL");
    }
    result
}

async fn serve(
    config: &Config,
    listener: tokio::net::TcpListener,
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
    .with_limits(Limits {
        request: config.request_timeout,
        body_read: config.body_read_timeout,
    })
    .with_lock_timeout(config.database_lock_timeout);
    if let Some(per_minute) = config.rate_limit_per_minute {
        state = state.with_rate_limit(per_minute);
    }
    let worker = Worker::spawn(
        pool.clone(),
        WorkerConfig::new(
            config.webhook_timeout,
            config.webhook_retry_schedule.0.clone(),
            config.webhook_concurrency as usize,
        ),
    )
    .context("starting the webhook worker")?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "listening");
    on_ready(&Banner {
        url: format!("http://{addr}"),
        demo_api_key,
        generated_admin_token,
        embedded_dir: embedded.map(|pg| pg.dir().to_owned()),
    });
    let shutdown = state.shutdown.clone();
    tokio::spawn(cancel_on_signal(shutdown.clone()));
    let serve_options = ServeOptions {
        header_read_timeout: config.header_read_timeout,
        max_connections: config.max_connections as usize,
        grace: config.shutdown_grace,
    };
    crate::http::serve::serve(listener, app(state), serve_options, shutdown).await;
    tracing::info!("shutting down");
    worker.shutdown().await;
    // A connection cut mid-statement returns to the pool only once the database answers.
    if tokio::time::timeout(POOL_CLOSE_LIMIT, pool.close())
        .await
        .is_err()
    {
        tracing::warn!("database connections still busy at exit");
    }
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
