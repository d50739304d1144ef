//! Settings: flags, each backed by an environment variable (a `.env` file is read first).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::{Parser, ValueEnum};

use crate::http::cors::AllowedOrigins;
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

    /// Address and port to listen on: an IP address or a host name (resolved when binding).
    #[arg(long, env = "BIND_ADDR", default_value = "127.0.0.1:8080")]
    pub bind_addr: BindAddr,

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
    /// Takes true/false, 1/0, yes/no or on/off.
    #[arg(long, env = "DEMO", num_args = 0..=1, default_missing_value = "true",
          value_parser = parse_flag)]
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

    /// Origins whose pages may call the API from a browser: * (any), or origins such as
    /// https://pms.example.com, separated by commas or spaces (default: none).
    #[arg(long, env = "CORS_ALLOWED_ORIGINS")]
    pub cors_allowed_origins: Option<AllowedOrigins>,

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

    /// Memory, in MiB, each process gives to the answers of the Messages API's reads; a poll
    /// of data that has not changed is answered from it. 0 turns the response cache off.
    #[arg(long, env = "RESPONSE_CACHE_MB", default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pub response_cache_mb: u32,

    /// Requests an API key may make at once before RATE_LIMIT_PER_MINUTE paces it (default: the
    /// per-minute value).
    #[arg(long, env = "RATE_LIMIT_BURST",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_limit_burst: Option<u32>,

    /// Failed authentications a minute one client address may make before it gets 429 without
    /// its key being looked up (0: no limit).
    #[arg(long, env = "AUTH_FAILURES_PER_MINUTE", default_value_t = DEFAULT_AUTH_FAILURES_PER_MINUTE)]
    pub auth_failures_per_minute: u32,

    /// Serve GET /metrics on this address instead of the main one (e.g. 127.0.0.1:9090).
    #[arg(long, env = "METRICS_ADDR")]
    pub metrics_addr: Option<BindAddr>,

    /// Bearer token that GET /metrics requires, when set.
    #[arg(long, env = "METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,

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

/// Default of `AUTH_FAILURES_PER_MINUTE`.
pub const DEFAULT_AUTH_FAILURES_PER_MINUTE: u32 = 30;

/// A listen address as given: `host:port`, where the host is an IP address (IPv6 in brackets) or
/// a name such as `localhost`, resolved when the server binds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindAddr(String);

impl BindAddr {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The port.
    pub fn port(&self) -> u16 {
        split_host_port(&self.0).map_or(0, |(_, port)| port)
    }

    /// The host part, without the brackets of an IPv6 address.
    pub fn host(&self) -> &str {
        split_host_port(&self.0).map_or("", |(host, _)| host)
    }
}

impl fmt::Display for BindAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for BindAddr {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let raw = raw.trim();
        split_host_port(raw).ok_or_else(|| {
            format!(
                "'{raw}': expected host:port, e.g. 127.0.0.1:8080, localhost:8080 or [::1]:8080"
            )
        })?;
        Ok(Self(raw.to_owned()))
    }
}

/// `host:port` → (host without IPv6 brackets, port), if well formed.
fn split_host_port(raw: &str) -> Option<(&str, u16)> {
    let (host, port) = raw.rsplit_once(':')?;
    let port = port.parse().ok()?;
    if let Some(inner) = host.strip_prefix('[') {
        let ip = inner.strip_suffix(']')?;
        return ip
            .parse::<std::net::Ipv6Addr>()
            .is_ok()
            .then_some((ip, port));
    }
    let name_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_');
    (!host.is_empty() && host.chars().all(name_char)).then_some((host, port))
}

/// A yes/no setting: true/false, 1/0, yes/no or on/off, in any case.
pub fn parse_flag(raw: &str) -> Result<bool, String> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(format!(
            "'{raw}': expected true or false (also 1/0, yes/no, on/off)"
        )),
    }
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
        self.metrics_token = self.metrics_token.filter(|v| !v.trim().is_empty());
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
    fn the_response_cache_defaults_to_64_mib_and_may_be_off() {
        assert_eq!(parse(&[]).unwrap().response_cache_mb, 64);
        assert_eq!(
            parse(&["--response-cache-mb", "0"])
                .unwrap()
                .response_cache_mb,
            0
        );
        let err = parse(&["--response-cache-mb", "lots"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("--response-cache-mb"), "{err}");
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

    #[test]
    fn the_bind_address_may_be_a_host_name() {
        for (raw, host, port) in [
            ("127.0.0.1:8080", "127.0.0.1", 8080),
            ("localhost:8080", "localhost", 8080),
            ("0.0.0.0:0", "0.0.0.0", 0),
            ("[::1]:9000", "::1", 9000),
            ("ota-inbox.internal:80", "ota-inbox.internal", 80),
        ] {
            let addr: BindAddr = raw.parse().unwrap_or_else(|e| panic!("{raw}: {e}"));
            assert_eq!((addr.host(), addr.port()), (host, port), "{raw}");
            assert_eq!(addr.to_string(), raw);
        }
        for bad in [
            "",
            "nowhere",
            "localhost",
            ":8080",
            "localhost:",
            "localhost:http",
            "localhost:70000",
            "::1:8080",
            "[::1]",
            "[nope]:80",
            "a b:80",
            "http://x:80",
        ] {
            assert!(bad.parse::<BindAddr>().is_err(), "{bad:?} was accepted");
        }
        assert_eq!(
            parse(&["--bind-addr", "localhost:9000"])
                .unwrap()
                .bind_addr
                .as_str(),
            "localhost:9000"
        );
    }

    #[test]
    fn yes_no_settings_take_the_usual_spellings() {
        for (raw, expected) in [
            ("true", true),
            ("1", true),
            ("yes", true),
            ("on", true),
            ("TRUE", true),
            (" On ", true),
            ("false", false),
            ("0", false),
            ("no", false),
            ("off", false),
            ("No", false),
        ] {
            assert_eq!(parse_flag(raw), Ok(expected), "{raw}");
        }
        for bad in ["", "2", "y", "enabled", "truee"] {
            assert!(parse_flag(bad).is_err(), "{bad:?} was accepted");
        }
        assert_eq!(parse(&["--demo", "1"]).unwrap().demo, Some(true));
        assert_eq!(parse(&["--demo", "off"]).unwrap().demo, Some(false));
        assert_eq!(parse(&["--demo"]).unwrap().demo, Some(true));
        let err = parse(&["--demo", "maybe"]).unwrap_err().to_string();
        assert!(err.contains("--demo") && err.contains("maybe"), "{err}");
    }

    #[test]
    fn rate_limit_and_metrics_settings_have_sane_defaults() {
        let config = parse(&[]).unwrap().normalized();
        assert_eq!(config.rate_limit_per_minute, None);
        assert_eq!(config.rate_limit_burst, None);
        assert_eq!(
            config.auth_failures_per_minute,
            DEFAULT_AUTH_FAILURES_PER_MINUTE
        );
        assert_eq!((config.metrics_addr, config.metrics_token), (None, None));
        let config = parse(&[
            "--rate-limit-per-minute",
            "600",
            "--rate-limit-burst",
            "20",
            "--auth-failures-per-minute",
            "0",
            "--metrics-addr",
            "localhost:9090",
            "--metrics-token",
            " ",
        ])
        .unwrap()
        .normalized();
        assert_eq!(
            (config.rate_limit_per_minute, config.rate_limit_burst),
            (Some(600), Some(20))
        );
        assert_eq!(config.auth_failures_per_minute, 0);
        assert_eq!(config.metrics_addr.unwrap().port(), 9090);
        assert_eq!(config.metrics_token, None);
        assert!(parse(&["--rate-limit-burst", "0"]).is_err());
    }
}
