//! Idle means idle: a server with no traffic and nothing due leaves the database alone.

use std::time::Duration;

use ota_inbox::db;
use ota_inbox::http::principal_cache;
use sqlx::Connection;

use crate::process::{ServerProcess, wait_for_listeners};
use crate::support::{fresh_database, maintenance_connection};

/// Transactions run so far in `database`, as PostgreSQL counts them.
async fn transactions(database: &str) -> i64 {
    let mut conn = maintenance_connection().await;
    let count = sqlx::query_scalar(
        r#"select (xact_commit + xact_rollback)::bigint from pg_stat_database
           where datname = $1"#,
    )
    .bind(database)
    .fetch_one(&mut conn)
    .await
    .unwrap();
    conn.close().await.ok();
    count
}

#[tokio::test]
async fn an_empty_webhook_queue_has_nothing_due() {
    let (pool, _) = fresh_database().await;
    assert_eq!(
        db::webhook_deliveries::next_due_in_ms(&pool, &[], None)
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn an_idle_server_runs_at_most_one_statement_a_second() {
    let (pool, options) = fresh_database().await;
    pool.close().await;
    let database = options.get_database().unwrap().to_owned();
    let server = ServerProcess::start(&database).await;
    // The real set-up: the webhook worker and the principal cache both LISTEN.
    wait_for_listeners(&database, ota_inbox::webhooks::CHANNEL, 1).await;
    wait_for_listeners(&database, principal_cache::CHANNEL, 1).await;
    // A backend may report its counts up to 10 s late (PostgreSQL flushes the statistics of
    // an idle backend on a 10 s timer when it flushed less than a second before): let the
    // start-up's statements all be counted first. This test's own statements run in another
    // database and are not counted.
    tokio::time::sleep(Duration::from_secs(11)).await;
    let before = transactions(&database).await;
    let window = Duration::from_secs(5);
    tokio::time::sleep(window).await;
    let after = transactions(&database).await;
    // Every statement outside an explicit transaction is one transaction; a busy loop shows
    // within the window (an active backend reports at least once a second).
    let ran = after - before;
    assert!(
        ran <= window.as_secs() as i64,
        "{ran} transactions in {window:?} of idleness"
    );
    server.kill().await;
}
