//! Start-up and shutdown: settings → database (embedded or not) → migrations → demo → serve.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use sqlx::postgres::PgConnectOptions;
use tracing_subscriber::EnvFilter;

use crate::config::{Config, LogFormat};
use crate::embedded_pg::{self, EmbeddedPg};
use crate::events::HubConfig;
use crate::webhooks::{Worker, WorkerConfig};
use crate::{AppState, app, db, demo};

const ADMIN_TOKEN_FILE: &str = "admin-token";

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
    let pool = db::connect(options, config.database_max_connections)
        .await
        .context("connecting to PostgreSQL")?;
    db::MIGRATOR
        .run(&pool)
        .await
        .context("running the migrations")?;

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
    .with_events(HubConfig {
        retention: config.event_retention,
        chat_session_idle: config.chat_session_idle_timeout,
        ..HubConfig::default()
    })
    .with_frame_ancestors(config.iframe_allowed_origins.clone());
    if let Some(per_minute) = config.rate_limit_per_minute {
        state = state.with_rate_limit(per_minute);
    }
    // Until it has connected, the cache is bypassed: correct from the first request.
    let principals = (config.principal_cache_size > 0).then(|| state.principals.listen(&pool));
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
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "listening");
    on_ready(&Banner {
        url: format!("http://{addr}"),
        demo_api_key,
        generated_admin_token,
        embedded_dir: embedded.map(|pg| pg.dir().to_owned()),
    });
    let stopping = shutdown.clone();
    axum::serve(listener, app(state))
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            // Event streams end, so that draining does not wait for them.
            stopping.cancel();
        })
        .await
        .context("serving")?;
    tracing::info!("shutting down");
    shutdown.cancel();
    let _ = hub.await;
    drop(principals);
    worker.shutdown().await;
    pool.close().await;
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
