//! The real binary, run as a server process over the test's database: what slow or half-open
//! clients and signals do to a process can only be seen from outside it.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::support::{ADMIN_TOKEN, fresh_database_url};

/// A running `ota-inbox` process.
pub struct ServerProcess {
    child: Child,
    /// `http://127.0.0.1:<port>`
    pub base: String,
    /// `127.0.0.1:<port>`
    pub addr: String,
    pub db: PgPool,
    stderr: Arc<Mutex<String>>,
    stderr_reader: Option<tokio::task::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl ServerProcess {
    /// Starts the binary on a fresh database with these settings (on top of the defaults).
    pub async fn start(settings: &[(&str, &str)]) -> Self {
        let (db, url) = fresh_database_url().await;
        Self::start_on(db, &url, settings).await
    }

    /// Starts the binary on an existing database.
    pub async fn start_on(db: PgPool, url: &str, settings: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_ota-inbox"));
        command
            .current_dir(dir.path())
            .env("DATABASE_URL", url)
            .env("BIND_ADDR", "127.0.0.1:0")
            .env("DATA_DIR", dir.path())
            .env("ADMIN_TOKEN", ADMIN_TOKEN)
            .env("DEMO", "false")
            .env("RUST_LOG", "info")
            .env("LOG_FORMAT", "json")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (name, value) in settings {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("starting ota-inbox");
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err_lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let sink = stderr.clone();
        let stderr_reader = tokio::spawn(async move {
            while let Ok(Some(line)) = err_lines.next_line().await {
                sink.lock().unwrap().push_str(&line);
                sink.lock().unwrap().push('\n');
            }
        });
        let mut out_lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let banner = tokio::time::timeout(Duration::from_secs(60), async {
            while let Ok(Some(line)) = out_lines.next_line().await {
                if let Some(url) = line.strip_prefix("ota-inbox is listening on ") {
                    return Some(url.trim().to_owned());
                }
            }
            None
        })
        .await
        .ok()
        .flatten();
        let base = banner.unwrap_or_else(|| {
            panic!(
                "ota-inbox did not start: {}",
                stderr.lock().unwrap().as_str()
            )
        });
        // Keep reading stdout so the process never blocks on it.
        tokio::spawn(async move { while let Ok(Some(_)) = out_lines.next_line().await {} });
        let addr = base.trim_start_matches("http://").to_owned();
        Self {
            child,
            base,
            addr,
            db,
            stderr,
            stderr_reader: Some(stderr_reader),
            _dir: dir,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id().expect("the process runs")
    }

    /// Sends a signal (`TERM`, `KILL`, ...).
    pub fn signal(&self, name: &str) {
        let status = std::process::Command::new("kill")
            .args([format!("-{name}"), self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit; answers its exit code and how long that took.
    pub async fn exit_within(&mut self, limit: Duration) -> (Option<i32>, Duration) {
        let started = Instant::now();
        match tokio::time::timeout(limit, self.child.wait()).await {
            Ok(status) => {
                let took = started.elapsed();
                // The rest of its log.
                if let Some(reader) = self.stderr_reader.take() {
                    let _ = tokio::time::timeout(Duration::from_secs(10), reader).await;
                }
                (status.unwrap().code(), took)
            }
            Err(_) => panic!(
                "ota-inbox did not exit within {limit:?}; its log:\n{}",
                self.log()
            ),
        }
    }

    /// What the process logged so far.
    pub fn log(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// A JSON call over HTTP; answers the status and the body.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        auth: (&str, &str),
        body: Option<Value>,
    ) -> (u16, Value) {
        let client = reqwest::Client::new();
        let mut request = client
            .request(method, format!("{}{path}", self.base))
            .header(auth.0, auth.1);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.expect("a response");
        let status = response.status().as_u16();
        let bytes = response.bytes().await.unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// A new user and an API key of it, through the admin API.
    pub async fn api_key(&self) -> String {
        let bearer = format!("Bearer {ADMIN_TOKEN}");
        let admin = ("authorization", bearer.as_str());
        let email = format!("{}@example.com", uuid::Uuid::new_v4());
        let (status, user) = self
            .call(
                reqwest::Method::POST,
                "/admin/users",
                admin,
                Some(json!({"user": {"email": email}})),
            )
            .await;
        assert_eq!(status, 201, "{user}");
        let (status, key) = self
            .call(
                reqwest::Method::POST,
                "/admin/api_keys",
                admin,
                Some(json!({"api_key": {"user_id": user["data"]["id"]}})),
            )
            .await;
        assert_eq!(status, 201, "{key}");
        key["data"]["attributes"]["key"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

/// Reads what a raw connection receives until it closes or `limit` passes.
pub async fn read_until_closed(stream: &mut tokio::net::TcpStream, limit: Duration) -> String {
    let mut got = Vec::new();
    let _ = tokio::time::timeout(limit, stream.read_to_end(&mut got)).await;
    String::from_utf8_lossy(&got).into_owned()
}
