//! Settings: flags, each backed by an environment variable (a `.env` file is read first).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

use crate::ui::csp::FrameAncestors;

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

    /// Who may embed the chat in a frame: * (anyone), or origins such as
    /// https://pms.example.com, separated by commas or spaces.
    #[arg(long, env = "IFRAME_ALLOWED_ORIGINS", default_value = "*")]
    pub iframe_allowed_origins: FrameAncestors,

    /// How long an unused chat session lives (it never expires while it is used).
    #[arg(long, env = "CHAT_SESSION_IDLE_TIMEOUT", default_value = "12h",
          value_parser = parse_idle_timeout)]
    pub chat_session_idle_timeout: Duration,

    /// How long live events are kept for replay and the pull feed (at least 7 days).
    #[arg(long, env = "EVENT_RETENTION", default_value = "7d", value_parser = parse_retention)]
    pub event_retention: Duration,

    /// API keys whose principal (user, scope, Messages-app state) each process keeps in memory;
    /// 0 reads the key on every request.
    #[arg(long, env = "PRINCIPAL_CACHE_SIZE", default_value_t = 10_000,
          value_parser = clap::value_parser!(u32).range(0..=10_000_000))]
    pub principal_cache_size: u32,
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

/// `CHAT_SESSION_IDLE_TIMEOUT`: a human duration between 1m and 30d.
fn parse_idle_timeout(raw: &str) -> Result<Duration, String> {
    let idle = humantime::parse_duration(raw.trim()).map_err(|e| format!("'{raw}': {e}"))?;
    if idle < Duration::from_secs(60) || idle > Duration::from_secs(30 * 24 * 3600) {
        return Err("must be between 1m and 30d".to_owned());
    }
    Ok(idle)
}

/// `EVENT_RETENTION`: a human duration of at least 7d (the contract's minimum).
fn parse_retention(raw: &str) -> Result<Duration, String> {
    let retention = humantime::parse_duration(raw.trim()).map_err(|e| format!("'{raw}': {e}"))?;
    if retention < Duration::from_secs(7 * 24 * 3600) {
        return Err("must be at least 7d".to_owned());
    }
    Ok(retention.min(Duration::from_secs(100 * 365 * 24 * 3600)))
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
    fn live_settings_have_defaults_and_bounds() {
        let config = parse(&[]).unwrap();
        assert_eq!(config.iframe_allowed_origins.to_string(), "*");
        assert_eq!(
            config.chat_session_idle_timeout,
            Duration::from_secs(12 * 3600)
        );
        assert_eq!(config.event_retention, Duration::from_secs(7 * 24 * 3600));
        let config = parse(&[
            "--iframe-allowed-origins",
            "https://pms.example.com, https://*.example.org",
            "--chat-session-idle-timeout",
            "30m",
            "--event-retention",
            "30d",
        ])
        .unwrap();
        assert_eq!(
            config.iframe_allowed_origins.to_string(),
            "https://pms.example.com https://*.example.org"
        );
        assert_eq!(config.chat_session_idle_timeout, Duration::from_secs(1800));
        for (flag, value) in [
            ("--iframe-allowed-origins", "pms.example.com"),
            (
                "--iframe-allowed-origins",
                "https://a.example.com; script-src *",
            ),
            ("--chat-session-idle-timeout", "10s"),
            ("--event-retention", "6d"),
        ] {
            let err = parse(&[flag, value]).unwrap_err().to_string();
            assert!(err.contains(flag), "{err}");
        }
    }

    #[test]
    fn the_principal_cache_size_defaults_to_ten_thousand_and_may_be_zero() {
        assert_eq!(parse(&[]).unwrap().principal_cache_size, 10_000);
        let config = parse(&["--principal-cache-size", "0"]).unwrap();
        assert_eq!(config.principal_cache_size, 0);
        let err = parse(&["--principal-cache-size", "lots"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("--principal-cache-size"), "{err}");
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
