//! What the load goes to: ota-inbox in a process of its own (started exactly as the binary
//! starts: settings from the environment, migrations, the webhook worker, the principal
//! cache's LISTEN), the two bare references, and a webhook receiver.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use clap::Parser;
use ota_inbox::config::Config;
use ota_inbox::server;
use sqlx::PgPool;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use uuid::Uuid;

/// First argument that makes this program an ota-inbox server (see [`serve`]).
pub const SERVE: &str = "serve";
/// Admin token of the servers the benchmark starts.
pub const ADMIN_TOKEN: &str = "bench-admin-token-0123456789";
/// Paths of the references.
pub const QUERY_PATH: &str = "/reference/query";
pub const INSERT_PATH: &str = "/reference/insert";

/// In the child process: the binary's own start-up, from settings to serving.
pub async fn serve(args: &[String]) -> anyhow::Result<()> {
    let config =
        Config::parse_from(std::iter::once("ota-inbox").chain(args.iter().map(String::as_str)))
            .normalized();
    server::init_tracing(config.log_format);
    server::run(config, |banner| {
        println!("ota-inbox is listening on {}", banner.url);
    })
    .await
}

/// An ota-inbox server process over one database.
pub struct ServerProcess {
    child: Child,
    /// `http://127.0.0.1:<port>`
    pub url: String,
}

impl ServerProcess {
    /// Starts this program again as a server on `database_url` and waits until it listens.
    /// Settings not set here come from the environment, as for the binary (e.g.
    /// `DATABASE_MAX_CONNECTIONS`); `RUST_LOG` defaults to `warn` so that request logs are not
    /// what is measured.
    pub async fn start(database_url: &str) -> anyhow::Result<Self> {
        let exe = std::env::current_exe()?;
        let mut child = Command::new(exe)
            .arg(SERVE)
            .env("DATABASE_URL", database_url)
            .env("BIND_ADDR", "127.0.0.1:0")
            .env("ADMIN_TOKEN", ADMIN_TOKEN)
            .env("DEMO", "false")
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".to_owned()),
            )
            .env_remove("RATE_LIMIT_PER_MINUTE")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("starting a server process")?;
        let mut lines = BufReader::new(child.stdout.take().context("no stdout")?).lines();
        let url = tokio::time::timeout(Duration::from_secs(120), async {
            while let Some(line) = lines.next_line().await? {
                if let Some(url) = line.strip_prefix("ota-inbox is listening on ") {
                    return Ok(url.trim().to_owned());
                }
            }
            anyhow::bail!("the server exited before listening")
        })
        .await
        .context("the server did not start within two minutes")??;
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Self { child, url })
    }

    /// SIGTERM, as an operator would stop it; killed if it has not stopped after 10 s.
    pub async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            let _ = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .await;
        }
        if tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

#[derive(Clone)]
struct Reference {
    pool: PgPool,
    thread: Uuid,
}

/// The references, on a bare axum router in this process: `GET /reference/query` runs one
/// indexed query (`select title from message_threads where id = $1`), `POST
/// /reference/insert` inserts its body as one row and commits (a WAL flush, fsync on).
pub async fn start_references(pool: PgPool, thread: Uuid) -> anyhow::Result<SocketAddr> {
    sqlx::query(
        r#"create table if not exists bench_reference_writes (
             id uuid primary key, body text not null,
             inserted_at timestamptz not null default now())"#,
    )
    .execute(&pool)
    .await?;
    let router = Router::new()
        .route(QUERY_PATH, get(one_query))
        .route(INSERT_PATH, post(insert_one))
        .with_state(Reference { pool, thread });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, router).await });
    Ok(addr)
}

async fn one_query(State(r): State<Reference>) -> Result<String, StatusCode> {
    let title: Option<String> =
        sqlx::query_scalar("select title from message_threads where id = $1")
            .bind(r.thread)
            .fetch_optional(&r.pool)
            .await
            .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?;
    Ok(title.unwrap_or_default())
}

async fn insert_one(State(r): State<Reference>, body: String) -> Result<StatusCode, StatusCode> {
    sqlx::query("insert into bench_reference_writes (id, body) values ($1, $2)")
        .bind(Uuid::new_v4())
        .bind(body)
        .execute(&r.pool)
        .await
        .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?;
    Ok(StatusCode::CREATED)
}

/// A webhook receiver that answers 200 after `delay` (a remote PMS), counting deliveries.
#[derive(Clone)]
pub struct Receiver {
    seen: Arc<Mutex<Seen>>,
    delay: Duration,
}

#[derive(Default)]
struct Seen {
    requests: u64,
    deliveries: HashSet<String>,
}

impl Receiver {
    pub async fn start(delay: Duration) -> anyhow::Result<(Self, SocketAddr)> {
        let receiver = Self {
            seen: Arc::default(),
            delay,
        };
        let router = Router::new()
            .route("/hook", post(receive))
            .with_state(receiver.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move { axum::serve(listener, router).await });
        Ok((receiver, addr))
    }

    /// Requests received, and distinct deliveries among them.
    pub fn counts(&self) -> (u64, usize) {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        (seen.requests, seen.deliveries.len())
    }
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap) -> StatusCode {
    tokio::time::sleep(r.delay).await;
    let delivery = headers
        .get("x-ota-inbox-delivery")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let mut seen = r.seen.lock().unwrap_or_else(|e| e.into_inner());
    seen.requests += 1;
    seen.deliveries.insert(delivery);
    StatusCode::OK
}
