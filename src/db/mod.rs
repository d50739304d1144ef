//! The store: plain async functions over PostgreSQL, one file per table group. A function
//! that runs one statement takes an executor; several statements take a connection, and the
//! caller owns the transaction.

pub mod api_keys;
pub mod applications;
pub mod attachments;
pub mod bookings;
pub mod chat_sessions;
pub mod console;
pub mod events;
pub mod messages;
pub mod one_time_tokens;
pub mod outbox;
pub mod properties;
pub mod threads;
pub mod users;
pub mod webhook_deliveries;
pub mod webhooks;

use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres, Transaction};

pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

pub type Tx = Transaction<'static, Postgres>;

/// A pool that fails fast (a 503) rather than queueing for long when the database is away.
pub fn pool_options(max_connections: u32) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
}

pub async fn connect(options: PgConnectOptions, max_connections: u32) -> sqlx::Result<PgPool> {
    pool_options(max_connections).connect_with(options).await
}

/// Names of the constraints whose violations are client errors, mapped by the handlers.
pub fn violated_constraint(err: &sqlx::Error) -> Option<&str> {
    match err {
        sqlx::Error::Database(db) => db.constraint(),
        _ => None,
    }
}

/// Deletes all data and keeps the schema (`POST /admin/reset`).
pub async fn reset(pool: &PgPool) -> sqlx::Result<()> {
    sqlx::query(
        r#"truncate users, api_keys, api_key_properties, properties, application_installations,
           channels, bookings, message_threads, thread_counts, user_thread_counts, messages,
           attachments, ota_outbox, events, webhooks, webhook_deliveries, webhook_attempts,
           one_time_tokens, chat_sessions
           restart identity cascade"#,
    )
    .execute(pool)
    .await?;
    Ok(())
}
