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
use sqlx::{ConnectOptions, Connection, PgExecutor, PgPool, Postgres, Transaction};

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

/// What PostgreSQL allows each session of the server: a statement, a wait for a lock, and an
/// open transaction left idle. Zero turns a limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionTimeouts {
    pub statement: Duration,
    pub lock: Duration,
    pub idle_in_transaction: Duration,
}

impl Default for SessionTimeouts {
    fn default() -> Self {
        Self {
            statement: Duration::from_secs(5),
            lock: Duration::from_secs(2),
            idle_in_transaction: Duration::from_secs(30),
        }
    }
}

impl SessionTimeouts {
    /// The options with the limits set at connection start (no extra round trip). A limit of
    /// zero is not sent at all: with all three at zero, no `options` startup parameter is sent
    /// (which some connection poolers refuse).
    pub fn apply(&self, options: PgConnectOptions) -> PgConnectOptions {
        let limits = [
            ("statement_timeout", self.statement),
            ("lock_timeout", self.lock),
            (
                "idle_in_transaction_session_timeout",
                self.idle_in_transaction,
            ),
        ];
        let set: Vec<(&str, String)> = limits
            .into_iter()
            .filter(|(_, limit)| !limit.is_zero())
            .map(|(name, limit)| (name, limit.as_millis().to_string()))
            .collect();
        if set.is_empty() {
            options
        } else {
            options.options(set)
        }
    }
}

/// Lowers the lock timeout for the rest of the transaction.
pub async fn set_local_lock_timeout(
    conn: &mut sqlx::PgConnection,
    timeout: Duration,
) -> sqlx::Result<()> {
    // `set local` takes no parameters; the value is a number formatted here.
    sqlx::query(&format!(
        "set local lock_timeout = {}",
        timeout.as_millis().max(1)
    ))
    .execute(conn)
    .await?;
    Ok(())
}

/// Raises or lowers the statement timeout for the rest of the transaction.
pub async fn set_local_statement_timeout(
    conn: &mut sqlx::PgConnection,
    timeout: Duration,
) -> sqlx::Result<()> {
    sqlx::query(&format!(
        "set local statement_timeout = {}",
        timeout.as_millis().max(1)
    ))
    .execute(conn)
    .await?;
    Ok(())
}

/// Runs the migrations on a connection of their own, without the session limits: a migration
/// may take longer than a request's statement, and waits for another server's migrations.
pub async fn migrate(options: &PgConnectOptions) -> anyhow::Result<()> {
    let mut conn = anyhow::Context::context(options.connect().await, "connecting to PostgreSQL")?;
    // `create table if not exists _sqlx_migrations` says "already exists" on every start.
    sqlx::query("set client_min_messages = warning")
        .execute(&mut conn)
        .await?;
    let result = MIGRATOR.run(&mut conn).await;
    conn.close().await.ok();
    Ok(result?)
}

/// Names of the constraints whose violations are client errors, mapped by the handlers.
pub fn violated_constraint(err: &sqlx::Error) -> Option<&str> {
    match err {
        sqlx::Error::Database(db) => db.constraint(),
        _ => None,
    }
}

/// Deletes all data and keeps the schema (`POST /admin/reset`).
pub async fn reset(db: impl PgExecutor<'_>) -> sqlx::Result<()> {
    sqlx::query(
        r#"truncate users, api_keys, api_key_properties, properties, application_installations,
           channels, bookings, message_threads, thread_counts, user_thread_counts, messages,
           attachments, ota_outbox, events, webhooks, webhook_deliveries, webhook_attempts,
           one_time_tokens, chat_sessions
           restart identity cascade"#,
    )
    .execute(db)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_limits_travel_in_the_startup_options_and_zero_sends_nothing() {
        let base = PgConnectOptions::new();
        let set = SessionTimeouts::default().apply(base.clone());
        let options = set.get_options().unwrap_or_default();
        for expected in [
            "statement_timeout=5000",
            "lock_timeout=2000",
            "idle_in_transaction_session_timeout=30000",
        ] {
            assert!(options.contains(expected), "{options}");
        }
        let off = SessionTimeouts {
            statement: Duration::ZERO,
            lock: Duration::ZERO,
            idle_in_transaction: Duration::ZERO,
        };
        assert_eq!(off.apply(base.clone()).get_options(), base.get_options());
        let some = SessionTimeouts {
            statement: Duration::ZERO,
            ..SessionTimeouts::default()
        };
        let options = some
            .apply(base)
            .get_options()
            .unwrap_or_default()
            .to_owned();
        assert!(!options.contains("statement_timeout"), "{options}");
    }
}
