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
///
/// No round trip before a connection is handed out (`test_before_acquire` off): a request's
/// statement is its first round trip. A connection PostgreSQL closed while it sat idle (a
/// restart, `pg_terminate_backend`, an idle timeout of a pooler) is found by the statement that
/// uses it; that request runs once more ([`crate::http::retry`]) inside
/// [`with_tested_connections`], where every idle connection it takes is tested first (and
/// dropped when dead), so that the second run gets a live or a new connection.
pub fn pool_options(max_connections: u32) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .test_before_acquire(false)
        .before_acquire(|conn, _| {
            Box::pin(async move {
                if TESTED.try_with(|_| ()).is_ok() {
                    // An error discards the connection; the pool tries the next or a new one.
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
}

tokio::task_local! {
    /// Set while a request runs again after its connection was found closed.
    static TESTED: ();
}

/// Runs `work` (a request's second run) with every idle connection it takes from a pool made
/// by [`pool_options`] tested before use.
pub async fn with_tested_connections<F: std::future::Future>(work: F) -> F::Output {
    TESTED.scope((), work).await
}

/// Whether an error says that the connection itself is gone (PostgreSQL ended the session, or
/// the socket failed), as opposed to a statement that failed or a pool that is out of
/// connections. The statement did not run on a live session: it may be sent again.
pub fn is_broken_connection(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_) => true,
        // 57P01 admin_shutdown (pg_terminate_backend, a fast shutdown), 57P02 crash_shutdown.
        sqlx::Error::Database(db) => matches!(db.code().as_deref(), Some("57P01" | "57P02")),
        _ => false,
    }
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
