//! Content-Security-Policy of the pages: nothing but the server's own scripts, styles and
//! connections; who may frame the chat comes from `IFRAME_ALLOWED_ORIGINS`.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use axum::http::{HeaderMap, HeaderName, HeaderValue, header};

/// Everything but `frame-ancestors` and `style-src`.
const BASE: &str = "default-src 'none'; script-src 'self'; img-src 'self' blob: data:; \
                    media-src 'self' blob:; font-src 'self'; connect-src 'self'; \
                    manifest-src 'self'; base-uri 'none'; form-action 'none'";

/// The sources of `frame-ancestors` for the chat page and its error pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameAncestors(Arc<str>);

impl Default for FrameAncestors {
    /// Any origin may frame the chat (as Channex's iframe).
    fn default() -> Self {
        Self(Arc::from("*"))
    }
}

impl fmt::Display for FrameAncestors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for FrameAncestors {
    type Err = String;

    /// `*`, `'self'`, `'none'`, schemes (`https:`) or origins (`https://pms.example.com`,
    /// `https://*.example.com:8443`), separated by commas or spaces.
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let sources: Vec<String> = raw
            .split(|c: char| c == ',' || c.is_ascii_whitespace())
            .filter(|s| !s.is_empty())
            .map(source)
            .collect::<Result<_, _>>()?;
        if sources.is_empty() {
            return Err("needs at least one origin, or * for any".to_owned());
        }
        if sources.len() > 1 && sources.iter().any(|s| s == "'none'") {
            return Err("'none' cannot be combined with origins".to_owned());
        }
        Ok(Self(Arc::from(sources.join(" "))))
    }
}

/// One source of the list, normalised; a clear message naming it otherwise.
fn source(raw: &str) -> Result<String, String> {
    let invalid = || {
        format!(
            "'{raw}' is not an origin (e.g. https://pms.example.com), https:, *, 'self' or 'none'"
        )
    };
    let lower = raw.to_ascii_lowercase();
    match lower.as_str() {
        "*" | "'self'" | "'none'" => return Ok(lower),
        "self" => return Ok("'self'".to_owned()),
        "none" => return Ok("'none'".to_owned()),
        _ => {}
    }
    let Some((scheme, rest)) = lower.split_once(':') else {
        return Err(invalid());
    };
    if scheme != "https" && scheme != "http" {
        return Err(invalid());
    }
    if rest.is_empty() {
        return Ok(format!("{scheme}:"));
    }
    let authority = rest.strip_prefix("//").ok_or_else(invalid)?;
    let authority = authority.strip_suffix('/').unwrap_or(authority);
    let (host, port) = if authority.starts_with('[') {
        let end = authority.find(']').ok_or_else(invalid)?;
        let (host, rest) = authority.split_at(end + 1);
        match rest {
            "" => (host, None),
            _ => (host, Some(rest.strip_prefix(':').ok_or_else(invalid)?)),
        }
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let port_ok = port.is_none_or(|p| {
        p == "*" || (p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok())
    });
    if !port_ok || !host_ok(host) {
        return Err(invalid());
    }
    Ok(format!("{scheme}://{authority}"))
}

fn host_ok(host: &str) -> bool {
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return !inner.is_empty()
            && inner
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.');
    }
    let host = host.strip_prefix("*.").unwrap_or(host);
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// The policy of a page that `ancestors` may frame, with the given style sources.
pub fn policy(ancestors: &str, style_src: &str) -> String {
    format!("{BASE}; style-src {style_src}; frame-ancestors {ancestors}")
}

/// Headers every page carries: its policy, no sniffing, no referrer, and no caching when it
/// holds a secret.
pub fn page_headers(policy: &str, no_store: bool) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if let Ok(value) = HeaderValue::from_str(policy) {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if no_store { "no-store" } else { "no-cache" }),
    );
    headers.insert(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_normalised_and_joined() {
        let parsed: FrameAncestors =
            "https://PMS.example.com, http://localhost:3000 https://*.example.org:*"
                .parse()
                .unwrap();
        assert_eq!(
            parsed.to_string(),
            "https://pms.example.com http://localhost:3000 https://*.example.org:*"
        );
        for (raw, expected) in [
            ("*", "*"),
            ("self", "'self'"),
            ("'none'", "'none'"),
            ("https:", "https:"),
            ("https://pms.example.com/", "https://pms.example.com"),
            ("http://[::1]:8080", "http://[::1]:8080"),
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ] {
            assert_eq!(
                raw.parse::<FrameAncestors>().unwrap().to_string(),
                expected,
                "{raw}"
            );
        }
        assert_eq!(FrameAncestors::default().to_string(), "*");
    }

    #[test]
    fn anything_that_could_break_the_policy_is_refused() {
        for bad in [
            "",
            " , ",
            "pms.example.com",
            "https://pms.example.com;script-src *",
            "https://pms.example.com/path",
            "https://exa mple.com",
            "'unsafe-inline'",
            "https://-bad.example.com",
            "https://example.com:99999",
            "https://example.com:abc",
            "'none' https://a.example.com",
            "javascript:alert(1)",
            "1http://x",
            "javascript:",
            "http://[::1",
            "http://[::1]x",
        ] {
            assert!(bad.parse::<FrameAncestors>().is_err(), "{bad}");
        }
        let err = "pms.example.com".parse::<FrameAncestors>().unwrap_err();
        assert!(err.contains("pms.example.com"), "{err}");
    }

    #[test]
    fn policies_keep_the_strict_defaults() {
        let p = policy("'none'", "'self'");
        for part in [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "connect-src 'self'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ] {
            assert!(p.contains(part), "{p} lacks {part}");
        }
        assert!(!p.contains("unsafe"));
    }
}
