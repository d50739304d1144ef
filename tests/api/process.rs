//! The real `ota-inbox` binary as a child process over a test database, for behaviour that is
//! about processes (several servers on one database, an idle server).

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use sqlx::Connection;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::support::{ADMIN_TOKEN, database_url, maintenance_connection};

/// A running server; killed when dropped.
pub struct ServerProcess {
    child: Child,
    /// `http://127.0.0.1:<port>`
    pub url: String,
    client: reqwest::Client,
    _cwd: tempfile::TempDir,
}

impl ServerProcess {
    /// Starts the binary on `database` (a test database) with the test admin token, and waits
    /// until it listens.
    pub async fn start(database: &str) -> Self {
        // A folder of its own, so that no `.env` of the working tree is read.
        let cwd = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_ota-inbox"))
            .current_dir(cwd.path())
            .env("DATABASE_URL", database_url(database))
            .env("BIND_ADDR", "127.0.0.1:0")
            .env("ADMIN_TOKEN", ADMIN_TOKEN)
            .env("DATA_DIR", cwd.path())
            .env("DEMO", "false")
            .env("RUST_LOG", "warn")
            .env_remove("RATE_LIMIT_PER_MINUTE")
            .env_remove("PRINCIPAL_CACHE_SIZE")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("starting the ota-inbox binary");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let url = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(url) = line.strip_prefix("ota-inbox is listening on ") {
                    return url.trim().to_owned();
                }
            }
            panic!("the server exited before listening");
        })
        .await
        .expect("the server did not start within a minute");
        // Keep reading, so that the server never writes into a closed pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self {
            child,
            url,
            client: reqwest::Client::new(),
            _cwd: cwd,
        }
    }

    /// A request with the API key `key` (or the admin token when `key` is `None`).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.url));
        request = match key {
            Some(key) => request.header("user-api-key", key),
            None => request.bearer_auth(ADMIN_TOKEN),
        };
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.expect("a request to the server");
        let status = response.status().as_u16();
        let bytes = response.bytes().await.unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// Stops the server now.
    pub async fn kill(mut self) {
        let _ = self.child.kill().await;
    }
}

/// Waits until `count` server connections of `database` LISTEN on `channel` first (alone, or
/// as the first of several channels).
pub async fn wait_for_listeners(database: &str, channel: &str, count: i64) {
    let mut conn = maintenance_connection().await;
    let query = format!("LISTEN \"{channel}\"");
    for _ in 0..300 {
        let listening: i64 = sqlx::query_scalar(
            "select count(*) from pg_stat_activity \
             where datname = $1 and (query = $2 or starts_with(query, $2 || ';'))",
        )
        .bind(database)
        .bind(&query)
        .fetch_one(&mut conn)
        .await
        .unwrap();
        if listening >= count {
            conn.close().await.ok();
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{count} connection(s) of {database} never listened on {channel}");
}
