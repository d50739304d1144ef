//! The binary as an operator runs it: `serve`, `migrate`, `users`, `keys`, `demo` and
//! `healthcheck`, each a real process against a real database.

mod commands;
mod serve;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};
use uuid::Uuid;

const BIN: &str = env!("CARGO_BIN_EXE_ota-inbox");
/// Longest a command may take (an embedded cluster's first start included).
const PATIENCE: Duration = Duration::from_secs(120);

/// A folder of its own for a process (its working directory: no `.env` of ours is read).
struct Folder(PathBuf);

impl Folder {
    fn new() -> Self {
        let path = std::env::temp_dir().join(format!("ota-inbox-cli-test-{}", Uuid::new_v4()));
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }
}

impl Drop for Folder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The binary with a clean environment: only what the test gives it.
fn command(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .current_dir(cwd)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", cwd)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

struct Output {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Output {
    #[track_caller]
    fn ok(self) -> Self {
        assert_eq!(
            self.code,
            Some(0),
            "stdout: {}\nstderr: {}",
            self.stdout,
            self.stderr
        );
        self
    }

    #[track_caller]
    fn failed(self, code: i32, says: &str) -> Self {
        assert_eq!(
            self.code,
            Some(code),
            "stdout: {}\nstderr: {}",
            self.stdout,
            self.stderr
        );
        assert!(
            self.stderr.contains(says),
            "stderr lacks {says:?}: {}",
            self.stderr
        );
        self
    }

    /// The one line of stdout.
    #[track_caller]
    fn line(&self) -> String {
        let lines: Vec<&str> = self.stdout.lines().collect();
        assert_eq!(lines.len(), 1, "stdout: {}", self.stdout);
        lines[0].to_owned()
    }
}

async fn run(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let out = tokio::time::timeout(PATIENCE, command(cwd, args, env).output())
        .await
        .unwrap_or_else(|_| panic!("ota-inbox {args:?} took too long"))
        .expect("running ota-inbox");
    Output {
        code: out.status.code(),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// A running `ota-inbox serve` and what its banner said.
struct Served {
    child: Child,
    banner: HashMap<String, String>,
}

impl Served {
    async fn start(cwd: &Path, env: &[(&str, &str)]) -> Self {
        let mut child = command(cwd, &["serve"], env).spawn().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut banner = HashMap::new();
        let read = async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(url) = line.strip_prefix("ota-inbox is listening on ") {
                    banner.insert("url".to_owned(), url.trim().to_owned());
                } else if let Some((name, value)) = line.trim().split_once(":  ") {
                    banner.insert(name.trim().to_owned(), value.trim().to_owned());
                }
                if line.trim_start().starts_with("try:") {
                    return;
                }
            }
        };
        if tokio::time::timeout(PATIENCE, read).await.is_err() {
            panic!("no banner; got {banner:?}");
        }
        assert!(banner.contains_key("url"), "banner: {banner:?}");
        Self { child, banner }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.banner["url"])
    }

    /// SIGTERM; answers the exit code and all the logs.
    async fn stop(mut self) -> (Option<i32>, String) {
        let pid = self.child.id().unwrap();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let mut stderr = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .await
            .unwrap();
        let status = tokio::time::timeout(PATIENCE, self.child.wait())
            .await
            .expect("the server did not stop")
            .unwrap();
        (status.code(), stderr)
    }
}

async fn get(url: &str, key: Option<&str>) -> reqwest::Response {
    let mut request = reqwest::Client::new().get(url);
    if let Some(key) = key {
        request = request.header("user-api-key", key);
    }
    request.send().await.unwrap()
}

async fn json(response: reqwest::Response) -> serde_json::Value {
    let text = response.text().await.unwrap();
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
}

/// Logs piped to a file or a pipe carry no terminal colours, and no notice of PostgreSQL's.
#[track_caller]
fn assert_plain_logs(stderr: &str) {
    assert!(
        !stderr.contains('\u{1b}'),
        "colour codes in piped logs: {stderr}"
    );
    assert!(
        !stderr.contains("_sqlx_migrations"),
        "a migration notice: {stderr}"
    );
    assert!(
        !stderr.contains("already exists"),
        "a migration notice: {stderr}"
    );
}
