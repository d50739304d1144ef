//! The chat iframe and the OTA console: pages and static assets embedded in the binary (every
//! file under `src/ui/assets/`), served with strict Content-Security-Policy.

pub mod csp;
pub mod exchange;
pub mod i18n;
pub mod pages;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;

use crate::AppState;
use crate::error::ApiError;

/// The files of `src/ui/assets/`, in the binary.
#[derive(RustEmbed)]
#[folder = "src/ui/assets/"]
pub struct Assets;

/// GET /ui/{*path}
#[utoipa::path(
    get,
    path = "/ui/{*path}",
    tag = "Chat",
    summary = "A file of the chat or the console",
    params(("path" = String, Path, description = "The file's path, e.g. `chat.js`."), ("If-None-Match" = Option<String>, Header, description = "An ETag seen before.")),
    responses((status = 200, description = "The file.", content((String = "text/javascript"), (String = "text/css"), (String = "text/html"), (String = "image/svg+xml"), (String = "application/octet-stream"))), (status = 304, description = "`If-None-Match` matched: unchanged."), (status = 404, description = "`not_found`: no such file.", body = crate::openapi::schemas::ErrorBody))
)]
pub async fn asset(uri: Uri, request_headers: HeaderMap) -> Result<Response, ApiError> {
    let raw = uri.path().strip_prefix("/ui/").unwrap_or_default();
    let path = percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| ApiError::NotFound)?;
    let file = Assets::get(&path).ok_or(ApiError::NotFound)?;
    let etag = format!("\"{}\"", hex::encode(file.metadata.sha256_hash()));
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // No asset is ever a framed document: the pages have their own routes, and the console's
    // file (`/ui/console.html`) must not be framed any more than `/console` is.
    let policy = csp::policy("'none'", "'self'");
    if let Ok(value) = HeaderValue::from_str(&policy) {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
    }
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if none_match(&request_headers, &etag) {
        return Ok((StatusCode::NOT_MODIFIED, headers).into_response());
    }
    let content_type = content_type(file.metadata.mimetype());
    if let Ok(value) = HeaderValue::from_str(&content_type) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    Ok((StatusCode::OK, headers, file.data.into_owned()).into_response())
}

/// Whether `If-None-Match` names this ETag (or `*`).
fn none_match(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == etag || tag == "*")
}

/// Text types say their charset.
fn content_type(mime: &str) -> String {
    let textual = mime.starts_with("text/")
        || mime == "application/javascript"
        || mime == "application/json"
        || mime == "image/svg+xml";
    if textual && !mime.contains("charset") {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_owned()
    }
}

/// GET /console: the OTA console (404 when the admin API is off, as `/admin` is).
#[utoipa::path(
    get,
    path = "/console",
    tag = "Console",
    summary = "The OTA console page",
    responses((status = 200, description = "The console (it asks for the admin token).", content_type = "text/html", body = String), (status = 404, description = "No admin token is configured.", content_type = "text/html", body = String))
)]
pub async fn console(State(state): State<AppState>) -> Response {
    if state.admin_token_hash.is_none() {
        let never = "'none'".parse().unwrap_or_default();
        return pages::error(i18n::Problem::NotFound, i18n::Lang::En, &never);
    }
    pages::console()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_types_carry_a_charset() {
        assert_eq!(content_type("text/css"), "text/css; charset=utf-8");
        assert_eq!(
            content_type("application/javascript"),
            "application/javascript; charset=utf-8"
        );
        assert_eq!(content_type("image/png"), "image/png");
    }

    #[test]
    fn if_none_match_takes_lists_weak_tags_and_stars() {
        let etag = "\"abc\"";
        let mut headers = HeaderMap::new();
        assert!(!none_match(&headers, etag));
        headers.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_static("\"x\", W/\"abc\""),
        );
        assert!(none_match(&headers, etag));
        headers.insert(header::IF_NONE_MATCH, HeaderValue::from_static("*"));
        assert!(none_match(&headers, etag));
        headers.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"abd\""));
        assert!(!none_match(&headers, etag));
    }

    #[test]
    fn the_pages_the_server_fills_are_embedded() {
        let chat = Assets::get("chat.html").expect("chat.html");
        let chat = String::from_utf8(chat.data.into_owned()).unwrap();
        assert!(
            chat.contains(r#"<script id="ota-boot" type="application/json">__OTA_BOOT__</script>"#)
        );
        assert!(Assets::get("console.html").is_some());
    }
}
