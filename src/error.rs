//! The one error type of the HTTP surface: every status and code of the wire contract (§4) is
//! chosen here and nowhere else.

use std::collections::BTreeMap;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// Field name → messages, as in `{"details": {"message": ["can't be blank"]}}`.
pub type FieldErrors = BTreeMap<String, Vec<String>>;

/// Seconds a client should wait after a 503 because the database cannot be reached.
const RETRY_AFTER_SECONDS: &str = "5";
/// Seconds a client should wait after a 503 for a busy resource or a slow database.
const RETRY_AFTER_BUSY_SECONDS: &str = "1";

/// Marks a response whose request failed on a deadlock or a serialization failure: nothing of
/// it was committed, so [`crate::http::retry`] may run the request again.
#[derive(Debug, Clone, Copy)]
pub struct Retryable;

/// Marks a response whose request failed because its pooled connection had been closed by
/// PostgreSQL (found by the statement that used it): [`crate::http::retry`] runs it once more,
/// on a connection tested or opened for it.
#[derive(Debug, Clone, Copy)]
pub struct Reconnect;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the body is not valid JSON or not an object.
    #[error("malformed body: {0}")]
    MalformedBody(String),
    #[error("unauthorized")]
    Unauthorized,
    #[error("forbidden")]
    Forbidden,
    #[error("not found")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("payload too large")]
    PayloadTooLarge,
    #[error("unsupported media type")]
    UnsupportedMediaType,
    #[error("not supported")]
    NotSupported,
    #[error("validation failed")]
    Validation(FieldErrors),
    /// 422 `bad_request`: a malformed path id or query parameter value.
    #[error("bad request")]
    BadRequest(FieldErrors),
    #[error("too many requests")]
    TooManyRequests,
    /// 408: the client did not send its body in time.
    #[error("request timeout")]
    RequestTimeout,
    /// 503: a deadlock or a serialization failure rolled the transaction back.
    #[error("contention")]
    Contention(#[source] sqlx::Error),
    /// 503: waited too long (a lock, a statement, the request's time limit, a busy resource).
    #[error("timed out: {0}")]
    TimedOut(&'static str),
    #[error("database unavailable")]
    Unavailable(#[source] sqlx::Error),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    /// A 422 `validation_error` naming one field.
    pub fn invalid(field: &str, message: &str) -> Self {
        Self::Validation(single(field, message))
    }

    /// A 422 `bad_request` naming one path or query parameter.
    pub fn bad_param(name: &str) -> Self {
        Self::BadRequest(single(name, "is invalid"))
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::MalformedBody(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::NotSupported | Self::Validation(_) | Self::BadRequest(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            Self::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::Contention(_) | Self::TimedOut(_) | Self::Unavailable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `code` and `title` of the error body.
    pub fn code(&self) -> (&'static str, &'static str) {
        match self {
            Self::MalformedBody(_) | Self::BadRequest(_) => ("bad_request", "Bad Request"),
            Self::Unauthorized => ("unauthorized", "Unauthorized"),
            Self::Forbidden => ("forbidden", "Forbidden"),
            Self::NotFound => ("not_found", "Resouce Not Found"),
            Self::MethodNotAllowed => ("method_not_allowed", "Method Not Allowed"),
            Self::PayloadTooLarge => ("payload_too_large", "Payload Too Large"),
            Self::UnsupportedMediaType => ("unsupported_media_type", "Unsupported Media Type"),
            Self::NotSupported => ("not_supported", "Method not supported"),
            Self::Validation(_) => ("validation_error", "Validation Error"),
            Self::TooManyRequests => ("http_too_many_requests", "Too Many Requests"),
            Self::RequestTimeout => ("request_timeout", "Request Timeout"),
            Self::Contention(_) | Self::TimedOut(_) | Self::Unavailable(_) => {
                ("service_unavailable", "Service Unavailable")
            }
            Self::Internal(_) => ("internal_server_error", "Internal Server Error"),
        }
    }

    fn details(&self) -> Option<Value> {
        match self {
            Self::MalformedBody(why) => Some(json!({ "body": [why] })),
            Self::Validation(fields) | Self::BadRequest(fields) => Some(json!(fields)),
            _ => None,
        }
    }

    /// The JSON body: `{"errors": {"code", "title", "details"?}}`.
    pub fn body(&self) -> Value {
        let (code, title) = self.code();
        let mut errors = json!({ "code": code, "title": title });
        if let Some(details) = self.details() {
            errors["details"] = details;
        }
        json!({ "errors": errors })
    }
}

fn single(field: &str, message: &str) -> FieldErrors {
    FieldErrors::from([(field.to_owned(), vec![message.to_owned()])])
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        if is_unavailable(&err) {
            return Self::Unavailable(err);
        }
        match sql_state(&err).as_deref() {
            // 40001 serialization_failure, 40P01 deadlock_detected: rolled back, safe to rerun.
            Some("40001" | "40P01") => Self::Contention(err),
            Some("55P03") => Self::TimedOut("lock_timeout"),
            // 57014 query_canceled: statement_timeout (or a cancel request).
            Some("57014") => Self::TimedOut("statement_timeout"),
            Some("25P03") => Self::TimedOut("idle_in_transaction_session_timeout"),
            _ => Self::Internal(err.into()),
        }
    }
}

fn sql_state(err: &sqlx::Error) -> Option<String> {
    match err {
        sqlx::Error::Database(db) => db.code().map(|code| code.into_owned()),
        _ => None,
    }
}

/// Errors that mean the database cannot be reached, as opposed to a failed statement.
pub fn is_unavailable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        // 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now, 53300 too_many_connections
        sqlx::Error::Database(db) => {
            matches!(
                db.code().as_deref(),
                Some("57P01" | "57P02" | "57P03" | "53300")
            )
        }
        _ => false,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            // Logged once, inside the request's span (which carries the request id).
            Self::Internal(err) => tracing::error!(error = ?err, "internal error"),
            Self::Unavailable(err) => tracing::warn!(error = %err, "database unavailable"),
            Self::Contention(err) => tracing::warn!(error = %err, "transaction rolled back"),
            Self::TimedOut(what) => tracing::warn!(timeout = what, "timed out"),
            _ => {}
        }
        let mut response = (self.status(), axum::Json(self.body())).into_response();
        let retry_after = match self {
            Self::Unavailable(_) => Some(RETRY_AFTER_SECONDS),
            Self::Contention(_) | Self::TimedOut(_) => Some(RETRY_AFTER_BUSY_SECONDS),
            _ => None,
        };
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static(seconds));
        }
        match self {
            Self::Contention(_) => {
                response.extensions_mut().insert(Retryable);
            }
            Self::Unavailable(err) if crate::db::is_broken_connection(&err) => {
                response.extensions_mut().insert(Reconnect);
            }
            // The rest of the body may still be on its way: do not wait for it.
            Self::RequestTimeout => {
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            _ => {}
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_has_the_contracts_status_code_and_title() {
        let cases: Vec<(ApiError, u16, &str, &str)> = vec![
            (
                ApiError::MalformedBody("x".into()),
                400,
                "bad_request",
                "Bad Request",
            ),
            (ApiError::Unauthorized, 401, "unauthorized", "Unauthorized"),
            (ApiError::Forbidden, 403, "forbidden", "Forbidden"),
            (ApiError::NotFound, 404, "not_found", "Resouce Not Found"),
            (
                ApiError::MethodNotAllowed,
                405,
                "method_not_allowed",
                "Method Not Allowed",
            ),
            (
                ApiError::PayloadTooLarge,
                413,
                "payload_too_large",
                "Payload Too Large",
            ),
            (
                ApiError::UnsupportedMediaType,
                415,
                "unsupported_media_type",
                "Unsupported Media Type",
            ),
            (
                ApiError::NotSupported,
                422,
                "not_supported",
                "Method not supported",
            ),
            (
                ApiError::invalid("f", "is invalid"),
                422,
                "validation_error",
                "Validation Error",
            ),
            (ApiError::bad_param("id"), 422, "bad_request", "Bad Request"),
            (
                ApiError::TooManyRequests,
                429,
                "http_too_many_requests",
                "Too Many Requests",
            ),
            (
                ApiError::RequestTimeout,
                408,
                "request_timeout",
                "Request Timeout",
            ),
            (
                ApiError::Contention(sqlx::Error::PoolTimedOut),
                503,
                "service_unavailable",
                "Service Unavailable",
            ),
            (
                ApiError::TimedOut("lock_timeout"),
                503,
                "service_unavailable",
                "Service Unavailable",
            ),
            (
                ApiError::Unavailable(sqlx::Error::PoolTimedOut),
                503,
                "service_unavailable",
                "Service Unavailable",
            ),
            (
                ApiError::Internal(anyhow::anyhow!("secret detail")),
                500,
                "internal_server_error",
                "Internal Server Error",
            ),
        ];
        for (err, status, code, title) in cases {
            assert_eq!(err.status().as_u16(), status, "{err:?}");
            assert_eq!(err.code(), (code, title), "{err:?}");
            let body = err.body();
            assert_eq!(body["errors"]["code"], code);
            assert_eq!(body["errors"]["title"], title);
        }
    }

    #[test]
    fn internal_errors_never_show_their_cause() {
        let body = ApiError::Internal(anyhow::anyhow!("password=hunter2")).body();
        assert!(!body.to_string().contains("hunter2"));
        assert!(body["errors"].get("details").is_none());
    }

    #[test]
    fn validation_details_name_each_field() {
        let body = ApiError::invalid("message", "can't be blank").body();
        assert_eq!(
            body["errors"]["details"],
            json!({"message": ["can't be blank"]})
        );
    }

    #[test]
    fn unavailable_answers_carry_retry_after() {
        let response = ApiError::Unavailable(sqlx::Error::PoolTimedOut).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], RETRY_AFTER_SECONDS);
    }

    #[test]
    fn busy_answers_carry_retry_after_and_only_contention_is_retryable() {
        let response = ApiError::Contention(sqlx::Error::PoolTimedOut).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            response.headers()[header::RETRY_AFTER],
            RETRY_AFTER_BUSY_SECONDS
        );
        assert!(response.extensions().get::<Retryable>().is_some());
        let response = ApiError::TimedOut("lock_timeout").into_response();
        assert_eq!(
            response.headers()[header::RETRY_AFTER],
            RETRY_AFTER_BUSY_SECONDS
        );
        assert!(response.extensions().get::<Retryable>().is_none());
        let response = ApiError::RequestTimeout.into_response();
        assert_eq!(response.headers()[header::CONNECTION], "close");
        assert!(response.headers().get(header::RETRY_AFTER).is_none());
    }

    #[test]
    fn connection_failures_are_unavailable_and_statement_failures_are_not() {
        assert!(is_unavailable(&sqlx::Error::PoolTimedOut));
        assert!(is_unavailable(&sqlx::Error::Io(std::io::Error::other(
            "refused"
        ))));
        assert!(!is_unavailable(&sqlx::Error::RowNotFound));
    }
}
