//! A stuck lock and a slow statement, held from a second connection: the requests that need them
//! answer 503 with `Retry-After` in bounded time, and requests about anything else carry on.

use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use ota_inbox::db::SessionTimeouts;
use ota_inbox::error::ApiError;
use serde_json::json;
use sqlx::{ConnectOptions, PgConnection};
use uuid::Uuid;

use super::concurrency::assert_counters_exact;
use crate::support::{Account, TestApp, fresh_database};

/// A user with a Booking.com thread that has one guest message.
async fn one_thread(app: &TestApp) -> (Account, Uuid) {
    let account = app.user().await;
    let property = app.property(&account, true).await;
    let booking = app.booking(property, "BookingCom").await;
    app.guest_writes(booking, "Hello").await;
    let thread = app.thread_of(booking).await;
    (account, thread)
}

/// A connection of its own (no session limits) holding the thread's row lock until dropped.
async fn lock_thread(app: &TestApp, thread: Uuid) -> PgConnection {
    let mut conn = app.db.connect_options().connect().await.unwrap();
    sqlx::raw_sql(
        "set lock_timeout = 0; set statement_timeout = 0; set idle_in_transaction_session_timeout = 0",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    sqlx::query("begin").execute(&mut conn).await.unwrap();
    sqlx::query("select 1 from message_threads where id = $1 for update")
        .bind(thread)
        .execute(&mut conn)
        .await
        .unwrap();
    conn
}

async fn message_count(app: &TestApp, thread: Uuid) -> i32 {
    sqlx::query_scalar("select message_count from message_threads where id = $1")
        .bind(thread)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_locked_thread_answers_503_within_the_lock_timeout_while_other_requests_carry_on() {
    // The pool has 10 connections; 30 writers wait for one locked thread.
    let app = TestApp::new().await;
    let (account, thread) = one_thread(&app).await;
    let lock = lock_thread(&app, thread).await;

    let started = Instant::now();
    let mut writers = Vec::new();
    for i in 0..30 {
        let app = app.clone();
        let key = account.key.clone();
        writers.push(tokio::spawn(async move {
            let path = if i % 3 == 0 {
                format!("/api/v1/message_threads/{thread}/close")
            } else {
                format!("/api/v1/message_threads/{thread}/messages")
            };
            let response = app
                .post(&path)
                .key(&key)
                .json(json!({"message": {"message": format!("reply {i}")}}))
                .send()
                .await;
            (response, started.elapsed())
        }));
    }
    // Meanwhile, unrelated requests answer at once, reads of the locked thread included.
    let mut slowest = Duration::ZERO;
    while started.elapsed() < Duration::from_millis(2500) {
        for path in [
            "/api/v1/properties".to_owned(),
            format!("/api/v1/message_threads/{thread}"),
        ] {
            let asked = Instant::now();
            app.get(&path)
                .key(&account.key)
                .send()
                .await
                .expect_status(StatusCode::OK);
            slowest = slowest.max(asked.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Without the line in front of the thread, the writers hold every pool connection and an
    // unrelated request waits seconds for one.
    assert!(
        slowest < Duration::from_millis(1500),
        "an unrelated request took {slowest:?}"
    );
    for writer in writers {
        let (response, elapsed) = writer.await.unwrap();
        response.expect_error(503, "service_unavailable");
        assert_eq!(response.headers["retry-after"], "1");
        // The lock timeout (2 s) or the same time in line, plus room for a busy machine.
        assert!(
            elapsed < Duration::from_secs(5),
            "answered after {elapsed:?}"
        );
    }
    drop(lock);

    // Nothing of the refused writes was kept, and the thread takes writes again.
    assert_eq!(message_count(&app, thread).await, 1);
    app.post(&format!("/api/v1/message_threads/{thread}/messages"))
        .key(&account.key)
        .json(json!({"message": {"message": "now"}}))
        .send()
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(message_count(&app, thread).await, 2);
    assert_counters_exact(&app).await;
}

#[tokio::test]
async fn a_statement_over_the_statement_timeout_is_a_503() {
    let (_, options) = fresh_database().await;
    let timeouts = SessionTimeouts {
        statement: Duration::from_millis(300),
        lock: Duration::from_secs(30),
        idle_in_transaction: Duration::from_secs(30),
    };
    let pool = ota_inbox::db::connect(timeouts.apply(options), 5)
        .await
        .unwrap();
    // The line in front of the thread waits longer than the statement may.
    let app = TestApp::over(pool, |state| {
        state.with_lock_timeout(Duration::from_secs(30))
    });
    let (account, thread) = one_thread(&app).await;
    let lock = lock_thread(&app, thread).await;
    let started = Instant::now();
    let response = app
        .admin(
            Method::POST,
            &format!("/admin/message_threads/{thread}/guest_messages"),
        )
        .json(json!({"message": {"message": "Anyone there?"}}))
        .send()
        .await;
    response.expect_error(503, "service_unavailable");
    assert!(started.elapsed() < Duration::from_secs(3));
    drop(lock);
    assert_eq!(message_count(&app, thread).await, 1);
    app.get(&format!("/api/v1/message_threads/{thread}"))
        .key(&account.key)
        .send()
        .await
        .expect_status(StatusCode::OK);
}

#[tokio::test]
async fn a_session_ended_for_idling_in_a_transaction_is_a_503_and_the_pool_recovers() {
    let (_, options) = fresh_database().await;
    let timeouts = SessionTimeouts {
        idle_in_transaction: Duration::from_millis(200),
        ..SessionTimeouts::default()
    };
    let pool = ota_inbox::db::connect(timeouts.apply(options), 2)
        .await
        .unwrap();
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("select 1").execute(&mut *tx).await.unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    let err = sqlx::query("select 1").execute(&mut *tx).await.unwrap_err();
    let api = ApiError::from(err);
    assert_eq!(api.status(), StatusCode::SERVICE_UNAVAILABLE, "{api:?}");
    drop(tx);
    // The dead session is not handed out again.
    for _ in 0..4 {
        sqlx::query("select 1").execute(&pool).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadlocked_request_is_run_again_and_succeeds() {
    let (_, options) = fresh_database().await;
    let mut admin = options.connect().await.unwrap();
    let superuser: bool =
        sqlx::query_scalar("select rolsuper from pg_roles where rolname = current_user")
            .fetch_one(&mut admin)
            .await
            .unwrap();
    // Long waits: the deadlock, not a timeout, must end the request's wait. The request's
    // session looks for deadlocks first (after 3 s), so it is the one PostgreSQL rolls back.
    let timeouts = SessionTimeouts {
        statement: Duration::from_secs(60),
        lock: Duration::from_secs(60),
        idle_in_transaction: Duration::from_secs(60),
    };
    let mut request_options = timeouts.apply(options.clone());
    let mut other_options = timeouts.apply(options);
    if superuser {
        request_options = request_options.options([("deadlock_timeout", "3000")]);
        other_options = other_options.options([("deadlock_timeout", "60000")]);
    }
    let pool = ota_inbox::db::connect(request_options, 5).await.unwrap();
    let app = TestApp::over(pool, |state| {
        state.with_lock_timeout(Duration::from_secs(60))
    });
    let (account, thread) = one_thread(&app).await;
    let property: Uuid =
        sqlx::query_scalar("select property_id from message_threads where id = $1")
            .bind(thread)
            .fetch_one(&app.db)
            .await
            .unwrap();
    // Another session takes the closed-threads counter row, which closing the thread needs...
    let mut other = other_options.connect().await.unwrap();
    sqlx::query("begin").execute(&mut other).await.unwrap();
    sqlx::query(
        "insert into thread_counts (property_id, provider, is_closed, threads)
         values ($1, 'BookingCom', true, 0)
         on conflict (property_id, provider, is_closed) do update set threads = thread_counts.threads",
    )
    .bind(property)
    .execute(&mut other)
    .await
    .unwrap();
    let close = {
        let app = app.clone();
        let key = account.key.clone();
        tokio::spawn(async move {
            app.post(&format!("/api/v1/message_threads/{thread}/close"))
                .key(&key)
                .send()
                .await
        })
    };
    // ...once the request holds the thread's row and waits for that counter row...
    let database: String = sqlx::query_scalar("select current_database()")
        .fetch_one(&mut admin)
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "select count(*) from pg_stat_activity
             where datname = $1 and wait_event_type = 'Lock' and query like 'update message_threads%'",
        )
        .bind(&database)
        .fetch_one(&mut admin)
        .await
        .unwrap();
        if waiting > 0 {
            break;
        }
        assert!(!close.is_finished(), "the close ended without waiting");
        assert!(Instant::now() < deadline, "the close never waited");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // ...the other session asks for the thread's row: a deadlock, which PostgreSQL breaks by
    // rolling the request's transaction back.
    sqlx::query("select 1 from message_threads where id = $1 for update")
        .bind(thread)
        .execute(&mut other)
        .await
        .unwrap();
    sqlx::query("commit").execute(&mut other).await.unwrap();
    // The client never sees it: the request ran again.
    let response = close.await.unwrap().expect_status(StatusCode::OK);
    assert_eq!(response.json()["data"]["attributes"]["is_closed"], true);
    if superuser {
        // Statistics reach pg_stat_database within a few seconds.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            sqlx::query("select pg_stat_clear_snapshot()")
                .execute(&mut admin)
                .await
                .unwrap();
            let deadlocks: i64 =
                sqlx::query_scalar("select deadlocks from pg_stat_database where datname = $1")
                    .bind(&database)
                    .fetch_one(&mut admin)
                    .await
                    .unwrap();
            if deadlocks >= 1 {
                break;
            }
            assert!(Instant::now() < deadline, "no deadlock happened");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    assert_counters_exact(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_cut_by_its_time_limit_mid_transaction_leaves_nothing_and_a_clean_connection() {
    let (_, options) = fresh_database().await;
    // Nothing on the database side ends the wait: only the request's own time limit can.
    let timeouts = SessionTimeouts {
        statement: Duration::from_secs(60),
        lock: Duration::from_secs(60),
        idle_in_transaction: Duration::from_secs(60),
    };
    let pool = ota_inbox::db::connect(timeouts.apply(options), 1)
        .await
        .unwrap();
    let app = TestApp::over(pool, |state| {
        state
            .with_lock_timeout(Duration::from_secs(60))
            .with_limits(ota_inbox::http::deadline::Limits {
                request: Duration::from_secs(1),
                body_read: Duration::from_secs(5),
            })
    });
    let (account, thread) = one_thread(&app).await;
    let lock = lock_thread(&app, thread).await;
    let started = Instant::now();
    app.post(&format!("/api/v1/message_threads/{thread}/messages"))
        .key(&account.key)
        .json(json!({"message": {"message": "cut"}}))
        .send()
        .await
        .expect_error(503, "service_unavailable");
    assert!(started.elapsed() < Duration::from_secs(5));
    // The lock goes: the cut statement ends on the server, its transaction is rolled back.
    drop(lock);
    // The pool's only connection serves the next requests, outside any transaction.
    for _ in 0..3 {
        app.get(&format!("/api/v1/message_threads/{thread}"))
            .key(&account.key)
            .send()
            .await
            .expect_status(StatusCode::OK);
    }
    // The test's own lock is rolled back in the background once dropped: give it a moment.
    let settled = Instant::now() + Duration::from_secs(5);
    loop {
        let in_transaction: i64 = sqlx::query_scalar(
            "select count(*) from pg_stat_activity
             where datname = current_database() and state like 'idle in transaction%'",
        )
        .fetch_one(&app.db)
        .await
        .unwrap();
        if in_transaction == 0 {
            break;
        }
        assert!(
            Instant::now() < settled,
            "{in_transaction} idle in transaction"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        message_count(&app, thread).await,
        1,
        "nothing of the cut send"
    );
    app.post(&format!("/api/v1/message_threads/{thread}/messages"))
        .key(&account.key)
        .json(json!({"message": {"message": "after"}}))
        .send()
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(message_count(&app, thread).await, 2);
}
