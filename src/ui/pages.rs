//! The pages: the chat with its boot data, the console, and the error pages of the exchange.

use std::sync::LazyLock;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::Assets;
use super::csp::{self, FrameAncestors};
use super::i18n::{Lang, Problem, text};

/// The literal the chat page carries where its boot data goes.
pub const BOOT_PLACEHOLDER: &str = "__OTA_BOOT__";

/// What the chat page starts with (the `ota-boot` JSON).
#[derive(Debug, Serialize)]
pub struct Boot<'a> {
    pub session_token: &'a str,
    pub api_base: &'a str,
    pub property_id: Uuid,
    pub thread_id: Option<Uuid>,
    pub lng: &'a str,
    pub show_booking: bool,
    pub hide_attach: bool,
    pub username: &'a str,
}

/// JSON that is safe inside a `<script>` element: `<`, `>`, `&`, U+2028 and U+2029 escaped
/// (they only ever occur inside strings, where `\uXXXX` means the same).
pub fn script_json<T: Serialize>(value: &T) -> serde_json::Result<String> {
    let json = serde_json::to_string(value)?;
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    Ok(out)
}

/// The chat page for a new session: 200, never cached, framable by `ancestors`.
pub fn chat(boot: &Boot<'_>, ancestors: &FrameAncestors, lang: Lang) -> Response {
    let page = Assets::get("chat.html")
        .and_then(|file| String::from_utf8(file.data.into_owned()).ok())
        .filter(|page| page.contains(BOOT_PLACEHOLDER));
    let (Some(page), Ok(json)) = (page, script_json(boot)) else {
        tracing::error!("chat.html is missing or has no boot placeholder");
        return error(Problem::Internal, lang, ancestors);
    };
    let html = page.replacen(BOOT_PLACEHOLDER, &json, 1);
    let policy = csp::policy(&ancestors.to_string(), "'self'");
    (StatusCode::OK, csp::page_headers(&policy, true), html).into_response()
}

/// The console page: never framed.
pub fn console() -> Response {
    let Some(file) = Assets::get("console.html") else {
        tracing::error!("console.html is missing");
        return error(Problem::Internal, Lang::En, &FrameAncestors::default());
    };
    let policy = csp::policy("'none'", "'self'");
    let mut headers = csp::page_headers(&policy, false);
    headers.insert(
        axum::http::header::X_FRAME_OPTIONS,
        axum::http::HeaderValue::from_static("DENY"),
    );
    (StatusCode::OK, headers, file.data.into_owned()).into_response()
}

/// The style of the error pages, allowed by its hash (no stylesheet to fetch, no inline
/// style allowed otherwise).
const ERROR_STYLE: &str = "body{margin:0;font:16px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1f2933;background:#f5f7fa}main{max-width:28rem;margin:15vh auto;padding:1.5rem;background:#fff;border:1px solid #e4e7eb;border-radius:8px}h1{font-size:1.25rem;margin:0 0 .5rem}p{margin:0;color:#52606d}";

static ERROR_STYLE_SOURCE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "'sha256-{}'",
        STANDARD.encode(Sha256::digest(ERROR_STYLE.as_bytes()))
    )
});

/// The status of a problem's page.
pub fn status(problem: Problem) -> StatusCode {
    match problem {
        Problem::InvalidLink => StatusCode::BAD_REQUEST,
        Problem::LinkUsed
        | Problem::LinkExpired
        | Problem::LinkUnknown
        | Problem::NoMessagesApp => StatusCode::FORBIDDEN,
        Problem::ThreadNotFound | Problem::NotFound => StatusCode::NOT_FOUND,
        Problem::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Problem::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// An error page in `lang`: a title and a sentence, nothing of the cause.
pub fn error(problem: Problem, lang: Lang, ancestors: &FrameAncestors) -> Response {
    let (title, detail) = text(problem, lang);
    let html = format!(
        "<!doctype html>\n<html lang=\"{lang}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n<style>{ERROR_STYLE}</style>\n</head>\n<body>\n\
         <main role=\"alert\">\n<h1>{title}</h1>\n<p>{detail}</p>\n</main>\n</body>\n</html>\n",
        lang = lang.code(),
        title = escape(title),
        detail = escape(detail),
    );
    let policy = csp::policy(&ancestors.to_string(), &ERROR_STYLE_SOURCE);
    let mut response = (status(problem), csp::page_headers(&policy, true), html).into_response();
    if problem == Problem::Unavailable {
        response.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from_static("5"),
        );
    }
    response
}

/// Text as HTML text.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_json_cannot_close_the_script_element() {
        let boot = Boot {
            session_token: "ois_x",
            api_base: "/api/v1",
            property_id: Uuid::nil(),
            thread_id: None,
            lng: "en",
            show_booking: true,
            hide_attach: false,
            username: "</script><script>alert(1)</script> & \u{2028}\u{2029}",
        };
        let json = script_json(&boot).unwrap();
        for bad in ['<', '>', '&', '\u{2028}', '\u{2029}'] {
            assert!(!json.contains(bad), "{json}");
        }
        let back: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(back["username"], boot.username);
        assert_eq!(back["thread_id"], serde_json::Value::Null);
    }

    #[test]
    fn html_text_is_escaped() {
        assert_eq!(
            escape("<a href=\"x\">Tom & 'Jerry'</a>"),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn the_error_style_is_allowed_by_its_hash_only() {
        assert!(ERROR_STYLE_SOURCE.starts_with("'sha256-") && ERROR_STYLE_SOURCE.ends_with("='"));
        let page = error(Problem::LinkUsed, Lang::De, &FrameAncestors::default());
        assert_eq!(page.status(), StatusCode::FORBIDDEN);
        let policy = page.headers()["content-security-policy"].to_str().unwrap();
        assert!(policy.contains(ERROR_STYLE_SOURCE.as_str()), "{policy}");
        assert!(!policy.contains("unsafe-inline"));
    }
}
