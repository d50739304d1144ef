//! Cross-origin requests from browsers (`CORS_ALLOWED_ORIGINS`): which origins may call the API
//! from a page of theirs, and the answer to their preflights. None may by default.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, Method, header};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// How long a browser may keep a preflight's answer.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(3600);

/// The origins allowed to make cross-origin requests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum AllowedOrigins {
    /// No cross-origin access: no CORS headers, and an `OPTIONS` is a 405 like any other
    /// method a route lacks.
    #[default]
    None,
    /// Any origin (`*`).
    Any,
    /// These origins exactly (`https://pms.example.com`), lower-cased.
    List(Vec<String>),
}

impl fmt::Display for AllowedOrigins {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => Ok(()),
            Self::Any => f.write_str("*"),
            Self::List(origins) => f.write_str(&origins.join(",")),
        }
    }
}

impl FromStr for AllowedOrigins {
    type Err = String;

    /// `*`, or origins (`https://pms.example.com`, `http://localhost:3000`) separated by commas or
    /// spaces; empty for none.
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let items: Vec<&str> = raw
            .split(|c: char| c == ',' || c.is_ascii_whitespace())
            .filter(|s| !s.is_empty())
            .collect();
        if items.is_empty() {
            return Ok(Self::None);
        }
        if items.contains(&"*") {
            return match items.len() {
                1 => Ok(Self::Any),
                _ => Err("* cannot be combined with origins".to_owned()),
            };
        }
        let mut origins: Vec<String> = items.into_iter().map(origin).collect::<Result<_, _>>()?;
        origins.sort();
        origins.dedup();
        Ok(Self::List(origins))
    }
}

/// One origin as a browser sends it in `Origin`: scheme, host and port if not the default, no
/// path. A trailing `/` is forgiven.
fn origin(raw: &str) -> Result<String, String> {
    let invalid = || {
        format!("'{raw}' is not an origin (e.g. https://pms.example.com or http://localhost:3000)")
    };
    let lower = raw.to_ascii_lowercase();
    let lower = lower.strip_suffix('/').unwrap_or(&lower);
    let (scheme, authority) = lower.split_once("://").ok_or_else(invalid)?;
    if scheme != "https" && scheme != "http" {
        return Err(invalid());
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(':') && !port.contains(']') => (host, Some(port)),
        _ => (authority, None),
    };
    let host_ok = if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        !inner.is_empty()
            && inner
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
    } else {
        !host.is_empty()
            && host.len() <= 253
            && host.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            })
    };
    let port_ok = port.is_none_or(|p| {
        !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok()
    });
    if !host_ok || !port_ok {
        return Err(invalid());
    }
    Ok(lower.to_owned())
}

impl AllowedOrigins {
    /// The layer that answers preflights and marks allowed responses; `None` when no origin is
    /// allowed.
    pub fn layer(&self) -> Option<CorsLayer> {
        let allow_origin = match self {
            Self::None => return None,
            Self::Any => AllowOrigin::any(),
            Self::List(origins) => AllowOrigin::list(
                origins
                    .iter()
                    .filter_map(|o| HeaderValue::from_str(o).ok())
                    .collect::<Vec<_>>(),
            ),
        };
        Some(
            CorsLayer::new()
                .allow_origin(allow_origin)
                .allow_methods([
                    Method::GET,
                    Method::POST,
                    Method::PUT,
                    Method::DELETE,
                    Method::OPTIONS,
                ])
                .allow_headers([
                    header::AUTHORIZATION,
                    header::CONTENT_TYPE,
                    header::ACCEPT,
                    HeaderName::from_static("user-api-key"),
                    HeaderName::from_static("last-event-id"),
                    HeaderName::from_static("x-request-id"),
                ])
                .expose_headers([
                    header::RETRY_AFTER,
                    header::CONTENT_DISPOSITION,
                    HeaderName::from_static("ratelimit-limit"),
                    HeaderName::from_static("ratelimit-remaining"),
                    HeaderName::from_static("ratelimit-reset"),
                    HeaderName::from_static("ratelimit-policy"),
                    HeaderName::from_static("x-request-id"),
                ])
                .max_age(PREFLIGHT_MAX_AGE),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_origins_any_and_none() {
        assert_eq!("".parse(), Ok(AllowedOrigins::None));
        assert_eq!(" , ".parse(), Ok(AllowedOrigins::None));
        assert_eq!("*".parse(), Ok(AllowedOrigins::Any));
        assert_eq!(
            "https://PMS.example.com/, http://localhost:3000 https://pms.example.com".parse(),
            Ok(AllowedOrigins::List(vec![
                "http://localhost:3000".to_owned(),
                "https://pms.example.com".to_owned(),
            ]))
        );
        assert_eq!(
            "http://[::1]:8080".parse(),
            Ok(AllowedOrigins::List(vec!["http://[::1]:8080".to_owned()]))
        );
    }

    #[test]
    fn refuses_what_is_not_an_origin() {
        for bad in [
            "pms.example.com",
            "ftp://pms.example.com",
            "https://pms.example.com/app",
            "https://pms.example.com:99999",
            "https://pms.example.com:",
            "https://",
            "https://*.example.com",
            "*, https://pms.example.com",
        ] {
            assert!(bad.parse::<AllowedOrigins>().is_err(), "{bad} was accepted");
        }
    }
}
