//! Attachments (§7.4): upload as base64 JSON, download as bytes streamed from PostgreSQL a
//! slice at a time.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{RawPathParams, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::json;

use crate::AppState;
use crate::db;
use crate::db::attachments::{Download, NewAttachment, Uploader};
use crate::error::ApiError;
use crate::http::auth::Principal;
use crate::http::fields::Fields;
use crate::http::gate::Gated;
use crate::http::json::JsonBody;
use crate::http::upload;

/// POST /api/v1/attachments
#[utoipa::path(
    post,
    path = "/attachments",
    tag = "Attachments",
    summary = "Upload an attachment",
    request_body = crate::openapi::schemas::AttachmentUpload,
    responses((status = 200, description = "The attachment's id, to send with a message.", body = crate::openapi::schemas::AttachmentData))
)]
pub async fn upload(
    State(state): State<AppState>,
    principal: Principal,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let mut f = Fields::envelope(body, "attachment")?;
    let file = upload::read(&mut f, state.max_attachment_bytes);
    f.finish()?;
    let file = file.ok_or_else(|| ApiError::invalid("file", "is invalid"))?;
    let id = db::attachments::insert(
        &state.db,
        &NewAttachment {
            file_name: &file.file_name,
            file_type: &file.file_type,
            data: &file.data,
        },
        Some(Uploader {
            user_id: principal.user_id,
            key_id: principal.key_id,
        }),
        None,
        0,
    )
    .await?;
    Ok(axum::Json(json!({ "data": { "id": id, "type": "attachment" } })).into_response())
}

/// Bytes read from the database per query while a download streams.
pub const SLICE_BYTES: usize = 256 * 1024;

/// GET /api/v1/attachments/{id}/{file_name}: as [`download`]; the name must be the file's.
#[utoipa::path(
    get,
    path = "/attachments/{id}/{file_name}",
    tag = "Attachments",
    summary = "Download an attachment (URL with its file name)",
    params(crate::openapi::params::IdPath, ("file_name" = String, Path, description = "The attachment's file name, percent-encoded."), ("If-None-Match" = Option<String>, Header, description = "An ETag seen before.")),
    responses((status = 200, description = "The file, with its own content type.", content_type = "application/octet-stream", body = Vec<u8>, headers(("ETag" = String), ("Content-Disposition" = String), ("Cache-Control" = String))), (status = 304, description = "`If-None-Match` matched: unchanged."))
)]
pub async fn download_named(
    state: State<AppState>,
    gated: Gated<Download>,
    params: RawPathParams,
    request_headers: HeaderMap,
) -> Result<Response, ApiError> {
    download(state, gated, params, request_headers).await
}

/// GET /api/v1/attachments/{id} and /api/v1/attachments/{id}/{file_name}
#[utoipa::path(
    get,
    path = "/attachments/{id}",
    tag = "Attachments",
    summary = "Download an attachment",
    params(crate::openapi::params::IdPath, ("If-None-Match" = Option<String>, Header, description = "An ETag seen before.")),
    responses((status = 200, description = "The file, with its own content type.", content_type = "application/octet-stream", body = Vec<u8>, headers(("ETag" = String), ("Content-Disposition" = String), ("Cache-Control" = String))), (status = 304, description = "`If-None-Match` matched: unchanged."))
)]
pub async fn download(
    State(state): State<AppState>,
    Gated(download): Gated<Download>,
    params: RawPathParams,
    request_headers: HeaderMap,
) -> Result<Response, ApiError> {
    let attachment = download.attachment;
    if let Some((_, name)) = params.iter().find(|(key, _)| *key == "file_name")
        && name != attachment.file_name
    {
        return Err(ApiError::NotFound);
    }
    let etag = format!("\"{}\"", hex::encode(&attachment.sha256));
    let mut headers = HeaderMap::new();
    let content_type = HeaderValue::from_str(&attachment.file_type)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    headers.insert(header::CONTENT_TYPE, content_type);
    headers.insert(
        header::CONTENT_DISPOSITION,
        disposition(&attachment.file_type, &attachment.file_name),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=3600"),
    );
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    let unchanged = request_headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|tag| tag.trim() == etag || tag.trim() == "*")
        });
    if unchanged {
        return Ok((StatusCode::NOT_MODIFIED, headers).into_response());
    }
    let size = usize::try_from(attachment.byte_size).unwrap_or(0);
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    let body = stream(state, attachment.id, size);
    Ok((StatusCode::OK, headers, body).into_response())
}

/// The bytes of an attachment, one slice per query as the client reads them. A slice that cannot
/// be read in time (`REQUEST_TIMEOUT`) or is missing ends the body early, which the client sees
/// against the `Content-Length`.
fn stream(state: AppState, id: uuid::Uuid, size: usize) -> Body {
    let limit = state.limits.request;
    let slices = futures_util::stream::try_unfold(0usize, move |offset| {
        let db = state.db.clone();
        async move {
            if offset >= size {
                return Ok(None);
            }
            let len = SLICE_BYTES.min(size - offset);
            let slice = read_slice(&db, id, offset, len, limit).await?;
            Ok::<_, std::io::Error>(Some((Bytes::from(slice), offset + len)))
        }
    });
    Body::from_stream(slices)
}

async fn read_slice(
    db: &sqlx::PgPool,
    id: uuid::Uuid,
    offset: usize,
    len: usize,
    limit: Duration,
) -> Result<Vec<u8>, std::io::Error> {
    let read = tokio::time::timeout(limit, db::attachments::read_slice(db, id, offset, len)).await;
    let slice = match read {
        Ok(Ok(Some(slice))) if slice.len() == len => slice,
        Ok(Ok(_)) => {
            return Err(std::io::Error::other(
                "the attachment changed while it was read",
            ));
        }
        Ok(Err(err)) => {
            tracing::warn!(error = %err, attachment_id = %id, "reading an attachment failed");
            return Err(std::io::Error::other("reading the attachment failed"));
        }
        Err(_) => {
            tracing::warn!(attachment_id = %id, "reading an attachment timed out");
            return Err(std::io::Error::other("reading the attachment timed out"));
        }
    };
    Ok(slice)
}

/// `inline` for images (SVG aside: it can carry script), `attachment` otherwise; the file name
/// as an ASCII fallback and in RFC 5987 form.
fn disposition(file_type: &str, file_name: &str) -> HeaderValue {
    let essence = file_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let kind = if essence.starts_with("image/") && essence != "image/svg+xml" {
        "inline"
    } else {
        "attachment"
    };
    let fallback: String = file_name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded = utf8_percent_encode(file_name, NON_ALPHANUMERIC);
    HeaderValue::from_str(&format!(
        "{kind}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"
    ))
    .unwrap_or(HeaderValue::from_static("attachment"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_inline_and_everything_else_is_an_attachment() {
        assert!(
            disposition("image/jpeg", "a.jpg")
                .to_str()
                .unwrap()
                .starts_with("inline;")
        );
        assert!(
            disposition("IMAGE/PNG; q=1", "a.png")
                .to_str()
                .unwrap()
                .starts_with("inline;")
        );
        assert!(
            disposition("image/svg+xml", "a.svg")
                .to_str()
                .unwrap()
                .starts_with("attachment;")
        );
        assert!(
            disposition("text/html", "a.html")
                .to_str()
                .unwrap()
                .starts_with("attachment;")
        );
    }

    #[test]
    fn file_names_are_quoted_safely() {
        let value = disposition("application/pdf", "Fa\"ct ü.pdf");
        assert_eq!(
            value.to_str().unwrap(),
            "attachment; filename=\"Fa_ct _.pdf\"; filename*=UTF-8''Fa%22ct%20%C3%BC%2Epdf"
        );
    }
}
