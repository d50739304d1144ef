//! Test support: one PostgreSQL per test run (the embedded cluster, or DATABASE_URL), one
//! database per test created from a migrated template, and a client that drives the real router.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use ota_inbox::embedded_pg::{self, EmbeddedPg};
use ota_inbox::{AppState, app, db};
use serde_json::{Value, json};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgPool};
use tower::ServiceExt;
use uuid::Uuid;

pub const ADMIN_TOKEN: &str = "test-admin-token";
pub const MAX_ATTACHMENT_BYTES: usize = 64 * 1024;

struct Server {
    /// Options of the maintenance database (`postgres`).
    admin: PgConnectOptions,
    template: String,
    /// URL of the maintenance database, for server processes (see [`database_url`]).
    url: String,
}

static SERVER: OnceLock<Server> = OnceLock::new();
static NEXT_DB: AtomicU32 = AtomicU32::new(0);

fn server() -> &'static Server {
    SERVER.get_or_init(|| {
        // Set up on a runtime of its own: each test's runtime ends with the test.
        std::thread::spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(set_up())
        })
        .join()
        .expect("setting up the test database server")
    })
}

async fn set_up() -> Server {
    let (admin, url) = match std::env::var("DATABASE_URL") {
        Ok(url) => (
            url.parse::<PgConnectOptions>()
                .expect("DATABASE_URL")
                .database("postgres"),
            with_database(&url, "postgres"),
        ),
        Err(_) => start_embedded().await,
    };
    let admin = admin.log_statements(tracing::log::LevelFilter::Off);
    let mut conn = admin
        .connect()
        .await
        .expect("connecting to the test PostgreSQL");
    drop_leftovers(&mut conn).await;
    let template = format!("ota_inbox_tpl_{}", std::process::id());
    sqlx::query(&format!("drop database if exists {template}"))
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query(&format!("create database {template}"))
        .execute(&mut conn)
        .await
        .unwrap();
    let pool = db::connect(admin.clone().database(&template), 2)
        .await
        .unwrap();
    db::MIGRATOR
        .run(&pool)
        .await
        .expect("migrating the template");
    pool.close().await;
    conn.close().await.ok();
    Server {
        admin,
        template,
        url,
    }
}

/// The embedded cluster in a temporary folder, stopped and removed by a watchdog once this
/// test process exits: its maintenance database's options and URL.
async fn start_embedded() -> (PgConnectOptions, String) {
    let root = std::env::temp_dir().join(format!("ota-inbox-tests-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let dir = root.join("postgres");
    let pg = EmbeddedPg::start(&dir, &embedded_pg::Options { unsafe_fast: true })
        .await
        .expect("starting the embedded PostgreSQL for the tests");
    let script = format!(
        "while kill -0 {test} 2>/dev/null; do sleep 0.5; done; \
         pid=$(head -n 1 '{dir}/postmaster.pid' 2>/dev/null); \
         if [ -n \"$pid\" ]; then kill -INT \"$pid\"; while kill -0 \"$pid\" 2>/dev/null; do sleep 0.2; done; fi; \
         rm -rf '{root}'",
        test = std::process::id(),
        dir = dir.display(),
        root = root.display(),
    );
    // Never waited for: the watchdog must outlive this process.
    #[allow(clippy::zombie_processes)]
    std::process::Command::new("sh")
        .args(["-c", &script])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("starting the cluster's watchdog");
    (pg.connect_options("postgres"), pg.url("postgres"))
}

/// `url` with its database (the path) replaced by `database`, query string kept.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let authority_from = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[authority_from..]
        .find('/')
        .map_or(base.len(), |i| authority_from + i);
    format!("{}/{database}{query}", &base[..host_end])
}

/// The `DATABASE_URL` of a test database, for a server process.
pub fn database_url(database: &str) -> String {
    with_database(&server().url, database)
}

/// A connection to the maintenance database, outside every test database (statistics).
pub async fn maintenance_connection() -> sqlx::PgConnection {
    server().admin.connect().await.unwrap()
}

/// Drops the databases of earlier test runs whose process is gone (DATABASE_URL mode).
async fn drop_leftovers(conn: &mut sqlx::PgConnection) {
    let names: Vec<String> = sqlx::query_scalar(
        "select datname from pg_database where datname like 'ota_inbox_tpl_%' or datname like 'ota_inbox_t_%'",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    for name in names {
        let pid = name
            .trim_start_matches("ota_inbox_tpl_")
            .trim_start_matches("ota_inbox_t_");
        let pid = pid.split('_').next().unwrap_or_default();
        let alive = std::path::Path::new(&format!("/proc/{pid}")).exists();
        if !alive {
            let _ = sqlx::query(&format!("drop database if exists {name} with (force)"))
                .execute(&mut *conn)
                .await;
        }
    }
}

/// A fresh database, migrated, for one test.
pub async fn fresh_database() -> (PgPool, PgConnectOptions) {
    let server = server();
    let name = format!(
        "ota_inbox_t_{}_{}",
        std::process::id(),
        NEXT_DB.fetch_add(1, Ordering::SeqCst)
    );
    let mut conn = server.admin.connect().await.unwrap();
    sqlx::query(&format!(
        "create database {name} template {}",
        server.template
    ))
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.ok();
    // The server's own session limits (statement, lock, idle transaction).
    let options = db::SessionTimeouts::default().apply(server.admin.clone().database(&name));
    let pool = db::connect(options.clone(), 10).await.unwrap();
    (pool, options)
}

/// A fresh database, migrated, and its URL for a process of the binary (`DATABASE_URL`).
pub async fn fresh_database_url() -> (PgPool, String) {
    let (pool, options) = fresh_database().await;
    let name = options.get_database().expect("a database name").to_owned();
    (pool, with_database(&server().url, &name))
}

/// Polls `done` every 5 ms; fails after `limit`.
pub async fn wait_until(limit: std::time::Duration, mut done: impl FnMut() -> bool) {
    let started = tokio::time::Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "not within {limit:?}");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// The application with one of its caches following the database (its LISTEN connected), as
/// the server runs it.
pub struct Following<C> {
    pub app: TestApp,
    pub cache: std::sync::Arc<C>,
    /// The test database's name.
    pub database: String,
    _listening: ota_inbox::http::principal_cache::Listening,
}

/// [`Following`] over a fresh database: `cache_of` picks the cache in the state, `listen`
/// starts it following, `listening` says when it is.
pub async fn following<C>(
    cache_of: impl FnOnce(&AppState) -> std::sync::Arc<C>,
    listen: impl FnOnce(&std::sync::Arc<C>, &PgPool) -> ota_inbox::http::principal_cache::Listening,
    listening: impl Fn(&C) -> bool,
) -> Following<C> {
    let (db, options) = fresh_database().await;
    let state = AppState::new(db.clone(), Some(ADMIN_TOKEN), MAX_ATTACHMENT_BYTES);
    let cache = cache_of(&state);
    let listener = listen(&cache, &db);
    wait_until(std::time::Duration::from_secs(10), || listening(&cache)).await;
    Following {
        app: TestApp {
            db,
            router: app(state),
        },
        cache,
        database: options.get_database().unwrap().to_owned(),
        _listening: listener,
    }
}

/// The application over its own database.
#[derive(Clone)]
pub struct TestApp {
    pub db: PgPool,
    pub router: Router,
}

impl TestApp {
    pub async fn new() -> Self {
        Self::with_max_attachment_bytes(MAX_ATTACHMENT_BYTES).await
    }

    pub async fn with_max_attachment_bytes(max: usize) -> Self {
        let (db, _) = fresh_database().await;
        let router = app(AppState::new(db.clone(), Some(ADMIN_TOKEN), max));
        Self { db, router }
    }

    /// The application with settings of its own (rate limits, metrics…).
    pub async fn with_state(configure: impl FnOnce(AppState) -> AppState) -> Self {
        let (db, _) = fresh_database().await;
        let state = AppState::new(db.clone(), Some(ADMIN_TOKEN), MAX_ATTACHMENT_BYTES);
        let router = app(configure(state));
        Self { db, router }
    }

    /// The application over `db`, its state set up by `configure`.
    pub fn over(db: PgPool, configure: impl FnOnce(AppState) -> AppState) -> Self {
        let state = configure(AppState::new(
            db.clone(),
            Some(ADMIN_TOKEN),
            MAX_ATTACHMENT_BYTES,
        ));
        Self {
            router: app(state),
            db,
        }
    }

    pub fn request(&self, method: Method, path: &str) -> Call {
        Call {
            router: self.router.clone(),
            method,
            path: path.to_owned(),
            headers: vec![],
            body: None,
            client: None,
        }
    }

    pub fn get(&self, path: &str) -> Call {
        self.request(Method::GET, path)
    }

    pub fn post(&self, path: &str) -> Call {
        self.request(Method::POST, path)
    }

    pub fn delete(&self, path: &str) -> Call {
        self.request(Method::DELETE, path)
    }

    /// A call to the admin API with the admin token.
    pub fn admin(&self, method: Method, path: &str) -> Call {
        self.request(method, path).bearer(ADMIN_TOKEN)
    }

    /// A user with an API key that sees all of the user's properties.
    pub async fn user(&self) -> Account {
        let email = format!("{}@example.com", Uuid::new_v4());
        let user = self
            .admin(Method::POST, "/admin/users")
            .json(json!({"user": {"email": email, "name": "Test User"}}))
            .send()
            .await
            .expect_status(StatusCode::CREATED);
        let user_id = user.id();
        let key = self.key_for(user_id, None).await;
        Account { user_id, key }
    }

    /// A new key of `user_id`, limited to `property_ids` when given.
    pub async fn key_for(&self, user_id: Uuid, property_ids: Option<Vec<Uuid>>) -> String {
        let key = self
            .admin(Method::POST, "/admin/api_keys")
            .json(json!({"api_key": {"user_id": user_id, "property_ids": property_ids}}))
            .send()
            .await
            .expect_status(StatusCode::CREATED);
        key.json()["data"]["attributes"]["key"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// A property of the account, with the Messages app installed when `messages` is true.
    pub async fn property(&self, account: &Account, messages: bool) -> Uuid {
        let property = self
            .post("/api/v1/properties")
            .key(&account.key)
            .json(json!({"property": {"title": "Casa Azul", "currency": "EUR"}}))
            .send()
            .await
            .expect_status(StatusCode::CREATED);
        let id = property.id();
        if messages {
            self.post("/api/v1/applications/install")
                .key(&account.key)
                .json(json!({"application_installation": {"property_id": id, "application_code": "channex_messages"}}))
                .send()
                .await
                .expect_status(StatusCode::OK);
        }
        id
    }

    /// A booking on the property, from `ota_name`.
    pub async fn booking(&self, property_id: Uuid, ota_name: &str) -> Uuid {
        self.admin(Method::POST, "/admin/bookings")
            .json(json!({"booking": {
                "property_id": property_id, "ota_name": ota_name, "ota_reservation_code": "RC-1",
                "arrival_date": "2030-07-01", "departure_date": "2030-07-04",
                "customer": {"name": "Roxy", "surname": "Maldonado"}
            }}))
            .send()
            .await
            .expect_status(StatusCode::CREATED)
            .id()
    }

    /// A guest message on a booking (creating its thread); answers the message.
    pub async fn guest_writes(&self, booking_id: Uuid, text: &str) -> Response {
        self.admin(
            Method::POST,
            &format!("/admin/bookings/{booking_id}/guest_messages"),
        )
        .json(json!({"message": {"message": text}}))
        .send()
        .await
        .expect_status(StatusCode::CREATED)
    }
}

pub struct Account {
    pub user_id: Uuid,
    pub key: String,
}

/// One request being built.
pub struct Call {
    router: Router,
    method: Method,
    path: String,
    headers: Vec<(String, String)>,
    body: Option<(String, Vec<u8>)>,
    /// The client address the server would record (`ConnectInfo`); none by default.
    client: Option<std::net::SocketAddr>,
}

impl Call {
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn key(self, key: &str) -> Self {
        self.header("user-api-key", key)
    }

    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    pub fn json(mut self, body: Value) -> Self {
        self.body = Some(("application/json".to_owned(), body.to_string().into_bytes()));
        self
    }

    /// Sends the request as if from `addr` (as the server's accept loop records it).
    pub fn client_addr(mut self, addr: &str) -> Self {
        self.client = Some(addr.parse().expect("a socket address"));
        self
    }

    pub fn raw(mut self, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some((content_type.to_owned(), body.into()));
        self
    }

    pub async fn send(self) -> Response {
        let mut builder = Request::builder().method(self.method).uri(&self.path);
        if let Some(addr) = self.client {
            builder = builder.extension(axum::extract::ConnectInfo(addr));
        }
        for (name, value) in &self.headers {
            builder = builder.header(name, value);
        }
        let body = match self.body {
            Some((content_type, bytes)) => {
                if !content_type.is_empty() {
                    builder = builder.header("content-type", content_type);
                }
                Body::from(bytes)
            }
            None => Body::empty(),
        };
        let response = self
            .router
            .oneshot(builder.body(body).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec();
        Response {
            status,
            headers,
            body,
        }
    }
}

#[derive(Debug)]
pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|_| {
            panic!(
                "not JSON ({}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    #[track_caller]
    pub fn expect_status(self, status: StatusCode) -> Self {
        assert_eq!(
            self.status,
            status,
            "body: {}",
            String::from_utf8_lossy(&self.body)
        );
        self
    }

    /// `data.id` of a single-resource answer.
    pub fn id(&self) -> Uuid {
        self.json()["data"]["id"].as_str().unwrap().parse().unwrap()
    }

    /// Asserts the contract's error body and status.
    #[track_caller]
    pub fn expect_error(&self, status: u16, code: &str) -> Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "body: {}",
            String::from_utf8_lossy(&self.body)
        );
        let content_type = self
            .headers
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(
            content_type.as_deref(),
            Some("application/json; charset=utf-8"),
            "content type"
        );
        let body = self.json();
        assert_eq!(body["errors"]["code"], code, "body: {body}");
        assert!(body["errors"]["title"].is_string(), "body: {body}");
        body["errors"]
            .get("details")
            .cloned()
            .unwrap_or(Value::Null)
    }
}

// Helpers of the foundation tests (auth, provisioning, admin API, embedded cluster).

impl TestApp {
    /// The answer of a `select count(*) ...` on the test's database.
    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql)
            .fetch_one(&self.db)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// The answer of a `select count(*) ...` with one text parameter (`$1`).
    pub async fn count_with(&self, sql: &str, param: &str) -> i64 {
        sqlx::query_scalar(sql)
            .bind(param)
            .fetch_one(&self.db)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// The id of a booking's message thread, read from the database.
    pub async fn thread_of(&self, booking_id: Uuid) -> Uuid {
        sqlx::query_scalar("select id from message_threads where booking_id = $1")
            .bind(booking_id)
            .fetch_one(&self.db)
            .await
            .expect("the booking has a thread")
    }
}

impl Response {
    /// The `data` member of the body.
    pub fn data(&self) -> Value {
        self.json()["data"].clone()
    }
}

/// Standard base64 of `bytes`.
pub fn base64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Asserts the contract's timestamp format: UTC, no zone, exactly six fraction digits
/// (`2021-07-27T09:43:05.864520`).
#[track_caller]
pub fn assert_timestamp(value: &Value) {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("not a string: {value}"));
    let parsed = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f");
    let fraction = text.rsplit_once('.').map(|(_, f)| f);
    assert!(
        parsed.is_ok()
            && text.len() == 26
            && fraction.is_some_and(|f| f.len() == 6 && f.bytes().all(|b| b.is_ascii_digit())),
        "not a wire timestamp: {text}"
    );
}
