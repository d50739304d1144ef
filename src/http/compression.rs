//! gzip and Brotli compression of the answers that gain from it: JSON, pages, scripts, styles
//! and the metrics text, when the client asks for it (`Accept-Encoding`) and the body is not tiny.
//! Event streams are never compressed (a compressor holds events back until its buffer fills),
//! nor attachments, which are mostly compressed already and are streamed as stored.

use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use tower_http::compression::predicate::{Predicate, SizeAbove};
use tower_http::compression::{CompressionLayer, CompressionLevel};

/// Bodies smaller than this are sent as they are: compressing them saves nothing.
const MIN_SIZE: u16 = 860;

/// The content types worth compressing.
const COMPRESSIBLE: &[&str] = &[
    "application/json",
    "application/javascript",
    "text/html",
    "text/css",
    "text/javascript",
    "text/plain",
    "image/svg+xml",
];

#[derive(Clone, Copy, Debug)]
pub struct Compressible;

impl Predicate for Compressible {
    fn should_compress<B>(&self, response: &axum::http::Response<B>) -> bool
    where
        B: http_body::Body,
    {
        // A file (an attachment: `Content-Disposition`) goes out as stored, whatever its type.
        if response.headers().contains_key(CONTENT_DISPOSITION) {
            return false;
        }
        response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or("").trim())
            .is_some_and(|essence| COMPRESSIBLE.iter().any(|t| essence.eq_ignore_ascii_case(t)))
    }
}

/// The layer: gzip or Brotli at a fast level (a JSON page is compressed on every request).
pub fn layer() -> CompressionLayer<impl Predicate> {
    CompressionLayer::new()
        .gzip(true)
        .br(true)
        .no_deflate()
        .no_zstd()
        .quality(CompressionLevel::Fastest)
        .compress_when(SizeAbove::new(MIN_SIZE).and(Compressible))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Response;

    fn response(content_type: &str) -> Response<String> {
        Response::builder()
            .header(CONTENT_TYPE, content_type)
            .body("x".repeat(2000))
            .unwrap()
    }

    #[test]
    fn compresses_json_and_pages_but_not_streams_or_files() {
        for yes in [
            "application/json; charset=utf-8",
            "text/html; charset=utf-8",
            "text/plain; version=0.0.4",
            "application/javascript",
        ] {
            assert!(Compressible.should_compress(&response(yes)), "{yes}");
        }
        for no in [
            "text/event-stream",
            "application/pdf",
            "image/png",
            "application/octet-stream",
        ] {
            assert!(!Compressible.should_compress(&response(no)), "{no}");
        }
        let mut file = response("text/plain; charset=utf-8");
        file.headers_mut().insert(
            CONTENT_DISPOSITION,
            "attachment; filename=\"notes.txt\"".parse().unwrap(),
        );
        assert!(!Compressible.should_compress(&file));
        let untyped = Response::new("x".repeat(2000));
        assert!(!Compressible.should_compress(&untyped));
    }
}
