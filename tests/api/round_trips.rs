//! One round trip per request: in steady state every read of the Messages API is one SQL
//! statement and a send is one statement committed with it; no ping goes before a statement;
//! and a pooled connection that PostgreSQL closed costs a request nothing.
//!
//! The application's pool talks to PostgreSQL through a proxy that reads the frontend protocol
//! and counts what the application sends: statements (`Execute` and simple `Query` messages)
//! and round trips (`Sync` and `Query`: each waits for the server's `ReadyForQuery`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use axum::http::{Method, StatusCode};
use ota_inbox::http::principal_cache::Listening;
use ota_inbox::{AppState, app, db};
use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgSslMode};
use sqlx::{Connection, PgPool};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, sleep};
use uuid::Uuid;

use crate::support::{
    ADMIN_TOKEN, Account, MAX_ATTACHMENT_BYTES, TestApp, fresh_database, maintenance_connection,
};

/// What went from the application to PostgreSQL.
#[derive(Debug, Default)]
struct Counts {
    statements: AtomicU64,
    round_trips: AtomicU64,
}

impl Counts {
    fn get(&self) -> (u64, u64) {
        (
            self.statements.load(Ordering::SeqCst),
            self.round_trips.load(Ordering::SeqCst),
        )
    }
}

/// A TCP proxy in front of `target` that counts the frontend messages passing through.
async fn counting_proxy(target: SocketAddr) -> (SocketAddr, Arc<Counts>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let counts = Arc::new(Counts::default());
    let shared = counts.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let counts = shared.clone();
            tokio::spawn(async move {
                let _ = relay(client, target, counts).await;
            });
        }
    });
    (addr, counts)
}

async fn relay(client: TcpStream, target: SocketAddr, counts: Arc<Counts>) -> std::io::Result<()> {
    let server = TcpStream::connect(target).await?;
    let (mut from_client, mut to_client) = client.into_split();
    let (mut from_server, mut to_server) = server.into_split();
    tokio::spawn(async move {
        let _ = tokio::io::copy(&mut from_server, &mut to_client).await;
        let _ = to_client.shutdown().await;
    });
    // Untyped start-up messages (an SSL or GSS request, then the startup message).
    loop {
        let len = from_client.read_u32().await?;
        let mut body = vec![0; (len as usize).saturating_sub(4)];
        from_client.read_exact(&mut body).await?;
        to_server.write_all(&len.to_be_bytes()).await?;
        to_server.write_all(&body).await?;
        let code = body
            .get(..4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
        // 80877103: SSLRequest; 80877104: GSSENCRequest. Anything else is the startup message.
        if !matches!(code, Some(80_877_103 | 80_877_104)) {
            break;
        }
    }
    loop {
        let kind = from_client.read_u8().await?;
        let len = from_client.read_u32().await?;
        let mut body = vec![0; (len as usize).saturating_sub(4)];
        from_client.read_exact(&mut body).await?;
        match kind {
            b'E' => {
                counts.statements.fetch_add(1, Ordering::SeqCst);
            }
            b'Q' => {
                counts.statements.fetch_add(1, Ordering::SeqCst);
                counts.round_trips.fetch_add(1, Ordering::SeqCst);
            }
            b'S' => {
                counts.round_trips.fetch_add(1, Ordering::SeqCst);
            }
            _ => {}
        }
        to_server.write_all(&[kind]).await?;
        to_server.write_all(&len.to_be_bytes()).await?;
        to_server.write_all(&body).await?;
    }
}

/// The application as the server runs it (principal cache following the database), over a
/// pool of one connection that goes through the counting proxy.
struct Counted {
    app: TestApp,
    counts: Arc<Counts>,
    _listening: Listening,
}

async fn counted_app() -> Counted {
    let (direct, options) = fresh_database().await;
    let (proxy, counts) = counting_proxy(database_address(&options)).await;
    let pool = pool_through(&options, proxy).await;
    // The cache's LISTEN connection is its own (not the pool's): its traffic is counted once.
    let (app, listening) = listening_app(pool, direct).await;
    Counted {
        app,
        counts,
        _listening: listening,
    }
}

/// Where PostgreSQL listens, for a proxy to connect to.
fn database_address(options: &PgConnectOptions) -> SocketAddr {
    format!(
        "{}:{}",
        resolve_host(options.get_host()),
        options.get_port()
    )
    .parse()
    .unwrap()
}

/// A pool of one connection to the database of `options`, through the proxy at `proxy`.
async fn pool_through(options: &PgConnectOptions, proxy: SocketAddr) -> PgPool {
    let proxied = options
        .clone()
        .host("127.0.0.1")
        .port(proxy.port())
        .ssl_mode(PgSslMode::Disable);
    db::pool_options(1).connect_with(proxied).await.unwrap()
}

/// The application over `pool`, its principal cache following the database (over `direct`)
/// as in the server, once it listens.
async fn listening_app(pool: PgPool, direct: PgPool) -> (TestApp, Listening) {
    let state = AppState::new(pool, Some(ADMIN_TOKEN), MAX_ATTACHMENT_BYTES);
    let cache = state.principals.clone();
    let listening = cache.listen(&direct);
    let started = Instant::now();
    while !cache.is_listening() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never listening"
        );
        sleep(Duration::from_millis(5)).await;
    }
    let app = TestApp {
        db: direct,
        router: app(state),
    };
    (app, listening)
}

fn resolve_host(host: &str) -> String {
    if host == "localhost" {
        "127.0.0.1".to_owned()
    } else {
        host.to_owned()
    }
}

impl Counted {
    /// Statements and round trips of one request, once the connection has gone back to the
    /// pool (sqlx checks a connection when it is released, after the answer).
    async fn measure(&self, call: crate::support::Call, status: StatusCode) -> (u64, u64) {
        settle(&self.counts).await;
        let (s0, r0) = self.counts.get();
        call.send().await.expect_status(status);
        settle(&self.counts).await;
        let (s1, r1) = self.counts.get();
        (s1 - s0, r1 - r0)
    }
}

/// Waits until nothing more goes to the database.
async fn settle(counts: &Counts) {
    let mut last = counts.get();
    loop {
        sleep(Duration::from_millis(50)).await;
        let now = counts.get();
        if now == last {
            return;
        }
        last = now;
    }
}

/// A user with a property (with the app), a Booking.com booking whose thread has a guest
/// message, and a second booking with a thread.
async fn seeded(app: &TestApp) -> (Account, Uuid, Uuid, Uuid) {
    let account = app.user().await;
    let property = app.property(&account, true).await;
    let booking = app.booking(property, "BookingCom").await;
    app.guest_writes(booking, "Hello").await;
    let thread = app.thread_of(booking).await;
    (account, property, booking, thread)
}

#[tokio::test]
async fn a_read_is_one_statement_and_a_send_one_statement_committed_with_it() {
    let c = counted_app().await;
    let (account, property, booking, thread) = seeded(&c.app).await;
    let key = account.key.as_str();
    let send = json!({"message": {"message": "See you soon"}});
    let cases: Vec<(&str, Method, String, Option<serde_json::Value>)> = vec![
        (
            "thread list page 1",
            Method::GET,
            "/api/v1/message_threads".to_owned(),
            None,
        ),
        (
            "thread list, empty page",
            Method::GET,
            "/api/v1/message_threads?pagination[page]=9".to_owned(),
            None,
        ),
        (
            "thread",
            Method::GET,
            format!("/api/v1/message_threads/{thread}"),
            None,
        ),
        (
            "thread messages",
            Method::GET,
            format!("/api/v1/message_threads/{thread}/messages"),
            None,
        ),
        (
            "thread messages from guests",
            Method::GET,
            format!("/api/v1/message_threads/{thread}/messages?filter[sender]=guest"),
            None,
        ),
        (
            "booking messages",
            Method::GET,
            format!("/api/v1/bookings/{booking}/messages"),
            None,
        ),
        (
            "property",
            Method::GET,
            format!("/api/v1/properties/{property}"),
            None,
        ),
        (
            "properties",
            Method::GET,
            "/api/v1/properties".to_owned(),
            None,
        ),
        ("bookings", Method::GET, "/api/v1/bookings".to_owned(), None),
        (
            "booking",
            Method::GET,
            format!("/api/v1/bookings/{booking}"),
            None,
        ),
        (
            "send to a thread",
            Method::POST,
            format!("/api/v1/message_threads/{thread}/messages"),
            Some(send.clone()),
        ),
        (
            "send to a booking",
            Method::POST,
            format!("/api/v1/bookings/{booking}/messages"),
            Some(send.clone()),
        ),
    ];
    let call = |method: &Method, path: &str, body: &Option<serde_json::Value>| {
        let call = c.app.request(method.clone(), path).key(key);
        match body {
            Some(body) => call.json(body.clone()),
            None => call,
        }
    };
    // Warm up: the key's principal is cached, the statements are prepared on the connection.
    for (_, method, path, body) in &cases {
        call(method, path, body)
            .send()
            .await
            .expect_status(StatusCode::OK);
    }
    for (name, method, path, body) in &cases {
        let (statements, round_trips) = c.measure(call(method, path, body), StatusCode::OK).await;
        // A send in autocommit: the statement is its own transaction, committed with it.
        assert_eq!(statements, 1, "{name}: {statements} statements");
        // The statement, and the check sqlx makes of a connection given back to the pool
        // (after the answer): no ping before the statement.
        assert!(
            round_trips <= 2,
            "{name}: {round_trips} round trips for {statements} statement(s)"
        );
    }
    // The sends happened: two property messages after the guest's and the warm-up's two.
    assert_eq!(
        c.app
            .count_with(
                "select count(*) from messages where message_thread_id = $1::text::uuid and sender = 'property'",
                &thread.to_string(),
            )
            .await,
        4
    );
}

#[tokio::test]
async fn a_refused_request_is_one_statement_too() {
    let c = counted_app().await;
    let (_, _, booking, thread) = seeded(&c.app).await;
    let stranger = c.app.user().await;
    let paths = [
        format!("/api/v1/message_threads/{thread}/messages"),
        format!("/api/v1/bookings/{booking}/messages"),
    ];
    for path in &paths {
        c.app
            .get(path)
            .key(&stranger.key)
            .send()
            .await
            .expect_error(401, "unauthorized");
    }
    for path in &paths {
        let (statements, _) = c
            .measure(c.app.get(path).key(&stranger.key), StatusCode::UNAUTHORIZED)
            .await;
        assert_eq!(statements, 1, "{path}");
        let (statements, _) = c
            .measure(
                c.app
                    .post(path)
                    .key(&stranger.key)
                    .json(json!({"message": {"message": "Hi"}})),
                StatusCode::UNAUTHORIZED,
            )
            .await;
        assert_eq!(statements, 1, "{path}");
    }
    // Nothing was written for the stranger.
    assert_eq!(
        c.app
            .count("select count(*) from messages where sender = 'property'")
            .await,
        0
    );
}

/// Ends every session of the test database but the caller's; answers how many.
async fn kill_backends(database: &str) -> i64 {
    let mut conn = maintenance_connection().await;
    let killed: i64 = sqlx::query_scalar(
        r#"select count(*) from (
             select pg_terminate_backend(pid) from pg_stat_activity
             where datname = $1 and pid <> pg_backend_pid()) t"#,
    )
    .bind(database)
    .fetch_one(&mut conn)
    .await
    .unwrap();
    conn.close().await.ok();
    killed
}

/// Waits until PostgreSQL has ended every session of `database`.
async fn wait_until_gone(database: &str) {
    let mut conn = maintenance_connection().await;
    for _ in 0..200 {
        let left: i64 = sqlx::query_scalar(
            "select count(*) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()",
        )
        .bind(database)
        .fetch_one(&mut conn)
        .await
        .unwrap();
        if left == 0 {
            conn.close().await.ok();
            return;
        }
        sleep(Duration::from_millis(10)).await;
    }
    panic!("the sessions of {database} did not end");
}

/// Opens `n` live connections of the pool at once and gives them back, so that all of them
/// idle (dead ones left by an earlier round are found and dropped on the way).
async fn fill(pool: &PgPool, n: usize) {
    let started = Instant::now();
    loop {
        let mut held = Vec::new();
        for _ in 0..n {
            let mut conn = pool.acquire().await.unwrap();
            let _ = sqlx::query("select 1").execute(&mut *conn).await;
            held.push(conn);
        }
        drop(held);
        sleep(Duration::from_millis(50)).await;
        if pool.num_idle() >= n {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "connections not idle"
        );
    }
}

#[tokio::test]
async fn connections_closed_by_the_server_cost_the_next_requests_nothing() {
    let (pool, options) = fresh_database().await;
    let database = options.get_database().unwrap().to_owned();
    let app = TestApp::over(pool.clone(), |s| s);
    let (account, _, booking, thread) = seeded(&app).await;
    let messages = format!("/api/v1/message_threads/{thread}/messages");
    app.get(&messages)
        .key(&account.key)
        .send()
        .await
        .expect_status(StatusCode::OK);

    for (round, call) in ["read", "send to a thread", "send to a booking"]
        .into_iter()
        .enumerate()
    {
        // Every connection of the pool idles, then PostgreSQL ends them all.
        fill(&pool, 4).await;
        assert!(kill_backends(&database).await >= 4, "round {round}");
        wait_until_gone(&database).await;
        let response = match call {
            "read" => app.get(&messages).key(&account.key).send().await,
            "send to a thread" => {
                app.post(&messages)
                    .key(&account.key)
                    .json(json!({"message": {"message": "After the restart"}}))
                    .send()
                    .await
            }
            _ => {
                app.post(&format!("/api/v1/bookings/{booking}/messages"))
                    .key(&account.key)
                    .json(json!({"message": {"message": "Again"}}))
                    .send()
                    .await
            }
        };
        response.expect_status(StatusCode::OK);
    }
    // Each send was written once. (The pool still holds connections the server closed: this
    // count tests them, as a second run does.)
    let sent = db::with_tested_connections(
        app.count("select count(*) from messages where sender = 'property'"),
    )
    .await;
    assert_eq!(sent, 2);
}

#[tokio::test]
async fn attachment_urls_are_written_alike_by_the_database_and_the_server() {
    let (pool, _) = fresh_database().await;
    let id = Uuid::new_v4();
    for name in [
        "photo 1 (é).jpeg",
        "a-b_c~d.pdf",
        "100%?#.txt",
        "日本語 ファイル.png",
        "emoji 😀.txt",
        "",
        "/\\:*\"<>|+&=",
    ] {
        let url: String = sqlx::query_scalar("select ota_attachment_url($1, $2)")
            .bind(id)
            .bind(name)
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(url, ota_inbox::views::attachment_url(id, name), "{name:?}");
    }
    let at = chrono::Utc::now();
    let wire: String = sqlx::query_scalar("select ota_wire_time($1)")
        .bind(at)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(wire, ota_inbox::http::time::format(&at));
}

/// A TCP proxy in front of `target` that, once armed, lets the next statement reach PostgreSQL
/// (which runs and commits it) and then closes the client's side before the answer comes back:
/// a connection lost after the commit.
async fn cutting_proxy(target: SocketAddr) -> (SocketAddr, Arc<AtomicBool>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let armed = Arc::new(AtomicBool::new(false));
    let shared = armed.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let armed = shared.clone();
            tokio::spawn(async move {
                let _ = cut_after_commit(client, target, armed).await;
            });
        }
    });
    (addr, armed)
}

async fn cut_after_commit(
    client: TcpStream,
    target: SocketAddr,
    armed: Arc<AtomicBool>,
) -> std::io::Result<()> {
    let server = TcpStream::connect(target).await?;
    let (mut from_client, mut to_client) = client.into_split();
    let (mut from_server, mut to_server) = server.into_split();
    let cut = Arc::new(AtomicBool::new(false));
    let cut_answers = cut.clone();
    tokio::spawn(async move {
        let mut buf = vec![0; 64 * 1024];
        loop {
            match from_server.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) if !cut_answers.load(Ordering::SeqCst) => {
                    if to_client.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
                Ok(_) => break,
            }
        }
        let _ = to_client.shutdown().await;
    });
    // Start-up (an SSL request is refused by the options; the startup message is untyped).
    let len = from_client.read_u32().await?;
    let mut body = vec![0; (len as usize).saturating_sub(4)];
    from_client.read_exact(&mut body).await?;
    to_server.write_all(&len.to_be_bytes()).await?;
    to_server.write_all(&body).await?;
    let mut executing = false;
    loop {
        let kind = from_client.read_u8().await?;
        let len = from_client.read_u32().await?;
        let mut body = vec![0; (len as usize).saturating_sub(4)];
        from_client.read_exact(&mut body).await?;
        let armed_now = armed.load(Ordering::SeqCst);
        if kind == b'E' && armed_now {
            executing = true;
        }
        let cutting = kind == b'S' && executing;
        if cutting {
            // From here on the answers are dropped, and the client's side closed.
            armed.store(false, Ordering::SeqCst);
            cut.store(true, Ordering::SeqCst);
        }
        to_server.write_all(&[kind]).await?;
        to_server.write_all(&len.to_be_bytes()).await?;
        to_server.write_all(&body).await?;
        if cutting {
            // PostgreSQL runs and commits what it was sent; then it reads the end of the stream.
            sleep(Duration::from_millis(300)).await;
            return Ok(());
        }
    }
}

#[tokio::test]
async fn a_send_whose_connection_is_lost_after_the_commit_is_not_written_twice() {
    let (direct, options) = fresh_database().await;
    let (proxy, armed) = cutting_proxy(database_address(&options)).await;
    let pool = pool_through(&options, proxy).await;
    let setup = TestApp::over(direct.clone(), |s| s);
    let (account, _, _, thread) = seeded(&setup).await;
    // The principal cache follows the database, as in the server: the send's one statement is
    // the one cut.
    let (app, _listening) = listening_app(pool, direct).await;
    let messages = format!("/api/v1/message_threads/{thread}/messages");
    // The key is looked up (and cached) before the cut is armed.
    app.get(&messages)
        .key(&account.key)
        .send()
        .await
        .expect_status(StatusCode::OK);

    armed.store(true, Ordering::SeqCst);
    let response = app
        .post(&messages)
        .key(&account.key)
        .json(json!({"message": {"message": "Only once"}}))
        .send()
        .await;
    // The statement committed but its answer was lost: the client is told to try again later,
    // and the message is not written a second time behind its back.
    response.expect_error(503, "service_unavailable");
    assert!(response.headers.get("retry-after").is_some());
    let written = setup
        .count("select count(*) from messages where message = 'Only once'")
        .await;
    assert_eq!(written, 1);

    // The next read finds a fresh connection.
    app.get(&messages)
        .key(&account.key)
        .send()
        .await
        .expect_status(StatusCode::OK);
}

#[tokio::test]
async fn a_refused_attachment_leaves_no_thread_behind() {
    let app = TestApp::new().await;
    let account = app.user().await;
    let property = app.property(&account, true).await;
    let booking = app.booking(property, "BookingCom").await;
    app.post(&format!("/api/v1/bookings/{booking}/messages"))
        .key(&account.key)
        .json(json!({"message": {"message": "See attached", "attachment_id": Uuid::new_v4()}}))
        .send()
        .await
        .expect_error(422, "validation_error");
    let threads = app
        .count_with(
            "select count(*) from message_threads where booking_id = $1::uuid",
            &booking.to_string(),
        )
        .await;
    assert_eq!(threads, 0);
    // The booking's first message still makes its thread.
    app.post(&format!("/api/v1/bookings/{booking}/messages"))
        .key(&account.key)
        .json(json!({"message": {"message": "Hello"}}))
        .send()
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(app.thread_of(booking).await.get_version_num(), 4);
}
