//! The binary as an operator runs it: `serve`, `migrate`, `users`, `keys`, `demo` and
//! `healthcheck`, each a real process against a real database.

use std::collections::HashMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use axum::http::StatusCode;
use ota_inbox::embedded_pg::{EmbeddedPg, Options};
use ota_inbox::{AppState, app};
use sqlx::PgPool;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};
use uuid::Uuid;

use crate::support::{ADMIN_TOKEN, fresh_database_url};

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

#[tokio::test]
async fn the_own_postgresql_recipe_ends_with_a_working_key_and_admin_token() {
    let folder = Folder::new();
    let (pool, url) = fresh_database_url().await;
    let db = [("DATABASE_URL", url.as_str()), ("RUST_LOG", "info")];

    // Migrating an up-to-date database is quiet.
    let migrated = run(&folder.0, &["migrate"], &db).await.ok();
    assert_plain_logs(&migrated.stderr);

    let user = run(
        &folder.0,
        &[
            "users",
            "create",
            "--email",
            "pms@example.com",
            "--name",
            "My PMS",
        ],
        &db,
    )
    .await
    .ok();
    let user_id: Uuid = user.line().parse().expect("a user id on stdout");
    let created = run(
        &folder.0,
        &["keys", "create", "--user", "pms@example.com"],
        &db,
    )
    .await
    .ok();
    let key = created.line();
    assert!(key.starts_with("oik_"), "{key}");
    assert!(
        created.stderr.contains("shown this once"),
        "{}",
        created.stderr
    );
    // Only the hash is stored.
    let stored: i64 = sqlx::query_scalar("select count(*) from api_keys where user_id = $1")
        .bind(user_id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored, 1);

    let served = Served::start(
        &folder.0,
        &[
            ("DATABASE_URL", &url),
            ("ADMIN_TOKEN", "my-admin-token-of-at-least-some-length"),
            ("BIND_ADDR", "localhost:0"),
            ("METRICS_ADDR", "127.0.0.1:0"),
            ("DEMO", "no"),
            ("AUTH_FAILURES_PER_MINUTE", "2"),
            ("RUST_LOG", "info"),
        ],
    )
    .await;
    assert!(
        !served.banner.contains_key("demo API key"),
        "{:?}",
        served.banner
    );

    // The key works, and so does the admin token.
    let properties = get(&served.url("/api/v1/properties"), Some(&key)).await;
    assert_eq!(properties.status(), 200);
    let outbox = reqwest::Client::new()
        .get(served.url("/admin/outbox"))
        .bearer_auth("my-admin-token-of-at-least-some-length")
        .send()
        .await
        .unwrap();
    assert_eq!(outbox.status(), 200);

    // A key limited to one property sees only that one.
    let property = reqwest::Client::new()
        .post(served.url("/api/v1/properties"))
        .header("user-api-key", &key)
        .header("content-type", "application/json")
        .body(
            serde_json::json!({"property": {"title": "Casa Azul", "currency": "EUR"}}).to_string(),
        )
        .send()
        .await
        .unwrap();
    let property = json(property).await;
    let property_id = property["data"]["id"].as_str().unwrap().to_owned();
    let user_id = user_id.to_string();
    let scoped = run(
        &folder.0,
        &[
            "keys",
            "create",
            "--user",
            &user_id,
            "--property",
            &property_id,
        ],
        &db,
    )
    .await
    .ok();
    let scoped_key = scoped.line();
    let seen = json(get(&served.url("/api/v1/properties"), Some(&scoped_key)).await).await;
    assert_eq!(seen["meta"]["total"], 1);

    // Revoked, the key no longer works.
    let key_id = created
        .stderr
        .split_whitespace()
        .skip_while(|w| *w != "key")
        .nth(1)
        .unwrap()
        .to_owned();
    run(&folder.0, &["keys", "revoke", &key_id], &db).await.ok();
    assert_eq!(
        get(&served.url("/api/v1/properties"), Some(&key))
            .await
            .status(),
        401
    );

    // The metrics have a listener of their own; the main port has none.
    let metrics_url = served.banner["metrics"].clone();
    assert_ne!(metrics_url, served.url("/metrics"));
    let metrics = get(&metrics_url, None).await;
    assert_eq!(metrics.status(), 200);
    let metrics = metrics.text().await.unwrap();
    assert!(
        metrics.contains(r#"route="/api/v1/properties",status="200""#),
        "{metrics}"
    );
    assert_eq!(get(&served.url("/metrics"), None).await.status(), 404);

    // Guessing keys over TCP: the address is refused after two failures (one was the revoked key).
    assert_eq!(
        get(&served.url("/api/v1/properties"), Some("oik_guess"))
            .await
            .status(),
        401
    );
    let refused = get(&served.url("/api/v1/properties"), Some(&scoped_key)).await;
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));

    let (code, stderr) = served.stop().await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_plain_logs(&stderr);
    assert!(stderr.contains("listening"), "{stderr}");
    assert!(!stderr.contains(&key), "a key in the logs");
}

#[tokio::test]
async fn serve_takes_demo_1_and_a_host_name_to_bind() {
    let folder = Folder::new();
    let (_pool, url) = fresh_database_url().await;
    let served = Served::start(
        &folder.0,
        &[
            ("DATABASE_URL", &url),
            ("BIND_ADDR", "localhost:0"),
            ("DEMO", "1"),
            ("DATA_DIR", &folder.0.join("data").display().to_string()),
        ],
    )
    .await;
    // No ADMIN_TOKEN with DATABASE_URL: the banner says the admin API is off, and it is.
    assert!(
        served.banner["admin API"].starts_with("off"),
        "{:?}",
        served.banner
    );
    let key = served.banner["demo API key"].clone();
    let threads = json(get(&served.url("/api/v1/message_threads"), Some(&key)).await).await;
    assert_eq!(threads["meta"]["total"], 2);
    assert_eq!(get(&served.url("/admin/outbox"), None).await.status(), 404);
    let index = json(get(&served.url("/"), None).await).await;
    assert_eq!(index["name"], "ota-inbox");
    let (code, stderr) = served.stop().await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_plain_logs(&stderr);
}

#[tokio::test]
async fn commands_say_what_went_wrong() {
    let folder = Folder::new();
    let (_pool, url) = fresh_database_url().await;
    let db = [("DATABASE_URL", url.as_str())];
    run(
        &folder.0,
        &["users", "create", "--email", "not-an-email"],
        &db,
    )
    .await
    .failed(1, "--email");
    let user = run(
        &folder.0,
        &["users", "create", "--email", "taken@example.com"],
        &db,
    )
    .await
    .ok()
    .line();
    run(
        &folder.0,
        &["users", "create", "--email", "TAKEN@example.com"],
        &db,
    )
    .await
    .failed(1, &format!("exists: {user}"));
    run(
        &folder.0,
        &["keys", "create", "--user", "nobody@example.com"],
        &db,
    )
    .await
    .failed(1, "no user with the email nobody@example.com");
    let stranger = Uuid::new_v4().to_string();
    run(&folder.0, &["keys", "create", "--user", &stranger], &db)
        .await
        .failed(1, "no user");
    run(
        &folder.0,
        &["keys", "create", "--user", &user, "--property", &stranger],
        &db,
    )
    .await
    .failed(1, "--property");
    run(&folder.0, &["keys", "revoke", &stranger], &db)
        .await
        .failed(1, "no API key");
    // Usage errors are clap's: exit 2.
    run(&folder.0, &["keys", "create"], &db)
        .await
        .failed(2, "--user");
    run(&folder.0, &["keys", "revoke", "not-an-id"], &db)
        .await
        .failed(2, "not-an-id");
    run(&folder.0, &["--bind-addr", "127.0.0.1:1", "migrate"], &db)
        .await
        .failed(2, "cannot be used with");
    run(&folder.0, &["serve", "--demo", "maybe"], &db)
        .await
        .failed(2, "maybe");
    run(
        &folder.0,
        &["migrate"],
        &[("DATABASE_URL", "postgres://nobody:x@127.0.0.1:1/nothing")],
    )
    .await
    .failed(1, "connecting to PostgreSQL");
}

#[tokio::test]
async fn demo_seeds_once_and_answers_a_working_key_each_time() {
    let folder = Folder::new();
    let (pool, url) = fresh_database_url().await;
    let data_dir = folder.0.join("data").display().to_string();
    let env = [
        ("DATABASE_URL", url.as_str()),
        ("DATA_DIR", data_dir.as_str()),
    ];
    let first = run(&folder.0, &["demo"], &env).await.ok();
    assert!(first.stderr.contains("seeded the demo"), "{}", first.stderr);
    let key = first.line();
    let second = run(&folder.0, &["demo"], &env).await.ok();
    assert!(second.stderr.contains("there already"), "{}", second.stderr);
    assert_eq!(second.line(), key, "the kept key is answered again");
    assert_demo_key_works(&pool, &key).await;
}

async fn assert_demo_key_works(pool: &PgPool, key: &str) {
    let router = app(AppState::new(pool.clone(), Some(ADMIN_TOKEN), 1024));
    let request = axum::http::Request::get("/api/v1/message_threads")
        .header("user-api-key", key)
        .body(axum::body::Body::empty())
        .unwrap();
    let response = tower::ServiceExt::oneshot(router, request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["meta"]["total"], 2, "{body}");
}

#[tokio::test]
async fn without_database_url_commands_use_the_embedded_cluster_unless_a_server_holds_it() {
    let _turn = crate::embedded::SERIAL.lock().await;
    let folder = Folder::new();
    let data_dir = folder.0.join("data");
    let env = [("DATA_DIR", data_dir.to_str().unwrap())];

    // A running server holds the cluster: the command says what to do instead.
    let server = EmbeddedPg::start(&data_dir.join("postgres"), &Options { unsafe_fast: true })
        .await
        .unwrap();
    let refused = run(
        &folder.0,
        &["keys", "create", "--user", "a@example.com"],
        &env,
    )
    .await
    .failed(1, "a running ota-inbox server holds");
    assert!(
        refused.stderr.contains("POST /admin/api_keys"),
        "{}",
        refused.stderr
    );
    server.stop().await.unwrap();

    // Stopped, the command starts the cluster, does its work and stops it again.
    let user = run(
        &folder.0,
        &["users", "create", "--email", "a@example.com"],
        &env,
    )
    .await
    .ok()
    .line();
    assert!(user.parse::<Uuid>().is_ok(), "{user}");
    let key = run(
        &folder.0,
        &["keys", "create", "--user", "a@example.com"],
        &env,
    )
    .await
    .ok()
    .line();
    assert!(key.starts_with("oik_"));
    assert!(
        !data_dir.join("postgres/postmaster.pid").exists(),
        "the command left the cluster running"
    );
}

#[tokio::test]
async fn a_data_dir_the_cluster_user_cannot_reach_gets_a_hint() {
    let is_root = std::fs::metadata("/proc/self").unwrap().uid() == 0;
    if !is_root {
        // The cluster then runs as ourselves, who can reach whatever we can create.
        return;
    }
    let folder = Folder::new();
    let closed = folder.0.join("closed");
    std::fs::create_dir_all(&closed).unwrap();
    std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o700)).unwrap();
    let data_dir = closed.join("data");
    let out = run(
        &folder.0,
        &["migrate"],
        &[("DATA_DIR", data_dir.to_str().unwrap())],
    )
    .await
    .failed(1, "cannot reach");
    assert!(out.stderr.contains("Set DATA_DIR"), "{}", out.stderr);
    assert!(
        out.stderr
            .contains(&format!("{} is closed to it", closed.display())),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn healthcheck_exits_0_only_when_ready_answers_200() {
    let folder = Folder::new();
    let (pool, _url) = fresh_database_url().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = app(AppState::new(pool, Some(ADMIN_TOKEN), 1024));
    let server = tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

    let ready = format!("http://{addr}/ready");
    run(&folder.0, &["healthcheck", "--url", &ready], &[])
        .await
        .ok();
    // By default, /ready of BIND_ADDR (0.0.0.0 is reached on loopback).
    let bind = format!("0.0.0.0:{}", addr.port());
    run(&folder.0, &["healthcheck"], &[("BIND_ADDR", &bind)])
        .await
        .ok();
    let unauthorized = format!("http://{addr}/api/v1/properties");
    run(&folder.0, &["healthcheck", "--url", &unauthorized], &[])
        .await
        .failed(1, "401");
    server.abort();
    let _ = server.await;
    run(&folder.0, &["healthcheck", "--url", &ready], &[])
        .await
        .failed(1, "error");
}
