//! Settings: flags, each backed by an environment variable (a `.env` file is read first).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

/// Default retry schedule of webhook deliveries (§10).
pub const DEFAULT_RETRY_SCHEDULE: &str = "1m,2m,4m,8m,15m,30m,1h,2h,4h,6h,10h";

/// A self-hosted guest-messaging server that speaks the Channex.io Messages API.
#[derive(Debug, Clone, Parser)]
#[command(name = "ota-inbox", version, about)]
pub struct Config {
    /// PostgreSQL to use. Unset: start a private cluster under DATA_DIR/postgres (embedded mode).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// Address and port to listen on.
    #[arg(long, env = "BIND_ADDR", default_value = "127.0.0.1:8080")]
    pub bind_addr: SocketAddr,

    /// Directory for the embedded cluster and the files of embedded mode.
    #[arg(long, env = "DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// Bearer token of the /admin API. Unset: /admin answers 404 (embedded mode generates one).
    #[arg(long, env = "ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,

    /// Largest attachment, in decoded bytes.
    #[arg(long, env = "MAX_ATTACHMENT_BYTES", default_value_t = 10 * 1024 * 1024,
          value_parser = clap::value_parser!(u32).range(1..=256 * 1024 * 1024))]
    pub max_attachment_bytes: u32,

    /// Delays between webhook delivery attempts, comma separated (e.g. 500ms,1s,2s).
    #[arg(long, env = "WEBHOOK_RETRY_SCHEDULE", default_value = DEFAULT_RETRY_SCHEDULE,
          value_parser = parse_schedule)]
    pub webhook_retry_schedule: Schedule,

    /// Longest a webhook delivery attempt may take (connecting and answering included).
    #[arg(long, env = "WEBHOOK_TIMEOUT", default_value = "10s", value_parser = parse_timeout)]
    pub webhook_timeout: Duration,

    /// Webhook delivery attempts in flight at once in this process.
    #[arg(long, env = "WEBHOOK_CONCURRENCY", default_value_t = 32,
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub webhook_concurrency: u32,

    /// Log format: text or json. Levels come from RUST_LOG (default info).
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Seed the demo user, key, property and conversations on an empty database.
    /// Default: on in embedded mode, off with DATABASE_URL.
    #[arg(long, env = "DEMO", num_args = 0..=1, default_missing_value = "true")]
    pub demo: Option<bool>,

    /// Requests a minute each API key may make (unset: no limit); more get 429.
    #[arg(long, env = "RATE_LIMIT_PER_MINUTE",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_limit_per_minute: Option<u32>,

    /// Largest number of database connections.
    #[arg(long, env = "DATABASE_MAX_CONNECTIONS", default_value_t = 20,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub database_max_connections: u32,

    /// Longest a database statement may run (PostgreSQL's statement_timeout; 0: no limit).
    #[arg(long, env = "DATABASE_STATEMENT_TIMEOUT", default_value = "5s",
          value_parser = parse_session_timeout)]
    pub database_statement_timeout: Duration,

    /// Longest a statement waits for a lock, e.g. on a thread another request holds
    /// (PostgreSQL's lock_timeout; 0: no limit). Also the longest a request waits in line for a
    /// busy thread.
    #[arg(long, env = "DATABASE_LOCK_TIMEOUT", default_value = "2s",
          value_parser = parse_session_timeout)]
    pub database_lock_timeout: Duration,

    /// Longest a transaction may stay open and idle before PostgreSQL ends its session
    /// (idle_in_transaction_session_timeout; 0: no limit).
    #[arg(long, env = "DATABASE_IDLE_IN_TRANSACTION_TIMEOUT", default_value = "30s",
          value_parser = parse_session_timeout)]
    pub database_idle_in_transaction_timeout: Duration,

    /// Longest the server works on one request (not counting the time its body takes to
    /// arrive); beyond, 503 with Retry-After.
    #[arg(long, env = "REQUEST_TIMEOUT", default_value = "10s", value_parser = parse_http_timeout)]
    pub request_timeout: Duration,

    /// Longest a client may take to send a request body; beyond, 408.
    #[arg(long, env = "BODY_READ_TIMEOUT", default_value = "30s", value_parser = parse_http_timeout)]
    pub body_read_timeout: Duration,

    /// Longest a client may take to send a request's head; also how long an idle kept-alive
    /// connection stays open. Beyond, the connection is closed.
    #[arg(long, env = "HEADER_READ_TIMEOUT", default_value = "10s", value_parser = parse_http_timeout)]
    pub header_read_timeout: Duration,

    /// Most client connections open at once; more wait to be accepted.
    #[arg(long, env = "MAX_CONNECTIONS", default_value_t = 512,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_connections: u32,

    /// After SIGTERM or Ctrl-C, how long requests in flight may take to finish; the
    /// connections still open after it are cut and the server exits anyway.
    #[arg(long, env = "SHUTDOWN_GRACE", default_value = "30s", value_parser = parse_grace)]
    pub shutdown_grace: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// The delays between delivery attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule(pub Vec<Duration>);

fn parse_schedule(raw: &str) -> Result<Schedule, String> {
    let delays = raw
        .split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| humantime::parse_duration(part).map_err(|e| format!("'{part}': {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    if delays.is_empty() {
        return Err("at least one delay is needed, e.g. 1m,5m".to_owned());
    }
    Ok(Schedule(delays))
}

impl Config {
    /// Empty values count as unset (a `.env` copied from `.env.example` has `ADMIN_TOKEN=`).
    pub fn normalized(mut self) -> Self {
        self.database_url = self.database_url.filter(|v| !v.trim().is_empty());
        self.admin_token = self.admin_token.filter(|v| !v.trim().is_empty());
        self
    }

    /// Whether to seed the demo: asked for, or by default in embedded mode.
    pub fn demo_enabled(&self) -> bool {
        self.demo.unwrap_or(self.database_url.is_none())
    }
}

/// `WEBHOOK_TIMEOUT`: a human duration between 10ms and 5m.
fn parse_timeout(raw: &str) -> Result<Duration, String> {
    let timeout = humantime::parse_duration(raw.trim()).map_err(|e| format!("'{raw}': {e}"))?;
    if timeout < Duration::from_millis(10) || timeout > Duration::from_secs(300) {
        return Err("must be between 10ms and 5m".to_owned());
    }
    Ok(timeout)
}

/// A PostgreSQL session limit: `0` (off) or a human duration up to a day.
fn parse_session_timeout(raw: &str) -> Result<Duration, String> {
    let timeout = humantime::parse_duration(raw.trim()).map_err(|e| format!("'{raw}': {e}"))?;
    if timeout > Duration::from_secs(24 * 3600) {
        return Err("must be 0 (no limit) or at most 24h".to_owned());
    }
    if !timeout.is_zero() && timeout < Duration::from_millis(1) {
        return Err("must be 0 (no limit) or at least 1ms".to_owned());
    }
    Ok(timeout)
}

/// A time limit of the HTTP side: a human duration between 100ms and 1h.
fn parse_http_timeout(raw: &str) -> Result<Duration, String> {
    let timeout = humantime::parse_duration(raw.trim()).map_err(|e| format!("'{raw}': {e}"))?;
    if timeout < Duration::from_millis(100) || timeout > Duration::from_secs(3600) {
        return Err("must be between 100ms and 1h".to_owned());
    }
    Ok(timeout)
}

/// `SHUTDOWN_GRACE`: a human duration up to an hour; 0 cuts every connection at once.
fn parse_grace(raw: &str) -> Result<Duration, String> {
    let grace = humantime::parse_duration(raw.trim()).map_err(|e| format!("'{raw}': {e}"))?;
    if grace > Duration::from_secs(3600) {
        return Err("must be at most 1h".to_owned());
    }
    Ok(grace)
}

impl Config {
    /// The limits PostgreSQL applies to the server's sessions.
    pub fn session_timeouts(&self) -> crate::db::SessionTimeouts {
        crate::db::SessionTimeouts {
            statement: self.database_statement_timeout,
            lock: self.database_lock_timeout,
            idle_in_transaction: self.database_idle_in_transaction_timeout,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, clap::Error> {
        Config::try_parse_from(std::iter::once("ota-inbox").chain(args.iter().copied()))
    }

    #[test]
    fn the_retry_schedule_takes_human_durations() {
        assert_eq!(
            parse_schedule("500ms, 1s,2m").unwrap().0,
            vec![
                Duration::from_millis(500),
                Duration::from_secs(1),
                Duration::from_secs(120)
            ]
        );
        assert_eq!(parse_schedule(DEFAULT_RETRY_SCHEDULE).unwrap().0.len(), 11);
        assert!(parse_schedule("").is_err());
        assert!(parse_schedule("1s,soon").unwrap_err().contains("'soon'"));
    }

    #[test]
    fn the_webhook_timeout_is_a_bounded_human_duration() {
        assert_eq!(parse(&[]).unwrap().webhook_timeout, Duration::from_secs(10));
        assert_eq!(parse_timeout("300ms").unwrap(), Duration::from_millis(300));
        assert!(parse_timeout("0s").is_err());
        assert!(parse_timeout("1h").is_err());
        assert!(parse_timeout("soon").is_err());
        let err = parse(&["--webhook-concurrency", "0"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("--webhook-concurrency"), "{err}");
    }

    #[test]
    fn bad_values_are_one_clear_error_each() {
        let err = parse(&["--bind-addr", "nowhere"]).unwrap_err().to_string();
        assert!(err.contains("--bind-addr"), "{err}");
        let err = parse(&["--max-attachment-bytes", "0"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("--max-attachment-bytes"), "{err}");
        let err = parse(&["--log-format", "xml"]).unwrap_err().to_string();
        assert!(err.contains("--log-format"), "{err}");
    }

    #[test]
    fn time_limits_have_safe_defaults_and_bounds() {
        let config = parse(&[]).unwrap();
        assert_eq!(
            config.session_timeouts(),
            crate::db::SessionTimeouts::default()
        );
        assert_eq!(config.database_statement_timeout, Duration::from_secs(5));
        assert_eq!(config.database_lock_timeout, Duration::from_secs(2));
        assert_eq!(
            config.database_idle_in_transaction_timeout,
            Duration::from_secs(30)
        );
        assert_eq!(config.request_timeout, Duration::from_secs(10));
        assert_eq!(config.body_read_timeout, Duration::from_secs(30));
        assert_eq!(config.header_read_timeout, Duration::from_secs(10));
        assert_eq!(config.max_connections, 512);
        assert_eq!(config.shutdown_grace, Duration::from_secs(30));
        assert_eq!(parse_session_timeout("0").unwrap(), Duration::ZERO);
        assert_eq!(
            parse_session_timeout("250ms").unwrap(),
            Duration::from_millis(250)
        );
        assert!(parse_session_timeout("2d").is_err());
        assert!(parse_http_timeout("0").is_err());
        assert!(parse_http_timeout("2h").is_err());
        assert_eq!(parse_grace("0s").unwrap(), Duration::ZERO);
        assert!(parse_grace("soon").is_err());
        for flag in [
            "--database-lock-timeout",
            "--request-timeout",
            "--body-read-timeout",
            "--header-read-timeout",
            "--max-connections",
            "--shutdown-grace",
        ] {
            let err = parse(&[flag, "never"]).unwrap_err().to_string();
            assert!(err.contains(flag), "{err}");
        }
    }

    #[test]
    fn empty_secrets_count_as_unset() {
        let config = parse(&["--admin-token", " ", "--database-url", ""])
            .unwrap()
            .normalized();
        assert_eq!((config.admin_token, config.database_url), (None, None));
    }

    #[test]
    fn flags_set_every_setting() {
        let config = parse(&[
            "--bind-addr",
            "0.0.0.0:9000",
            "--data-dir",
            "/tmp/x",
            "--max-attachment-bytes",
            "100",
            "--webhook-retry-schedule",
            "1s",
            "--log-format",
            "json",
            "--demo",
        ])
        .unwrap();
        assert_eq!(config.bind_addr.port(), 9000);
        assert_eq!(config.max_attachment_bytes, 100);
        assert_eq!(
            config.webhook_retry_schedule.0,
            vec![Duration::from_secs(1)]
        );
        assert_eq!(config.log_format, LogFormat::Json);
        assert_eq!(config.demo, Some(true));
    }
}
