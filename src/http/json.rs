//! The JSON body extractor. Every failure is an [`ApiError`] in the contract's format:
//! wrong content type → 415, over the route's limit → 413, not JSON or not an object → 400,
//! not sent within `BODY_READ_TIMEOUT` → 408.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::http::deadline::{self, Clock};

/// A request body that is a JSON object.
#[derive(Debug)]
pub struct JsonBody(pub Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(content_type) = req.headers().get(header::CONTENT_TYPE) {
            let is_json = content_type.to_str().is_ok_and(is_json_content_type);
            if !is_json {
                return Err(ApiError::UnsupportedMediaType);
            }
        }
        let clock = req.extensions().get::<Clock>().cloned();
        let read = deadline::read_body(clock, Bytes::from_request(req, state)).await?;
        let bytes = read.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::MalformedBody("could not be read".to_owned())
            }
        })?;
        parse_object(&bytes).map(JsonBody)
    }
}

/// A request body that is a JSON object, or no body at all (an empty object).
#[derive(Debug)]
pub struct OptionalJsonBody(pub Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for OptionalJsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match JsonBody::from_request(req, state).await {
            Ok(JsonBody(map)) => Ok(Self(map)),
            Err(ApiError::MalformedBody(why)) if why == BLANK_BODY => Ok(Self(Map::new())),
            Err(err) => Err(err),
        }
    }
}

/// `details.body` of an empty body.
const BLANK_BODY: &str = "can't be blank";

/// `application/json` or `application/vnd.api+json`, parameters (charset) allowed.
fn is_json_content_type(value: &str) -> bool {
    let essence = value.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/json")
        || essence.eq_ignore_ascii_case("application/vnd.api+json")
}

fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::MalformedBody(BLANK_BODY.to_owned()));
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::MalformedBody("must be a JSON object".to_owned())),
        Err(err) => Err(ApiError::MalformedBody(format!(
            "is not valid JSON (line {}, column {})",
            err.line(),
            err.column()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_content_types_are_recognised() {
        assert!(is_json_content_type("application/json"));
        assert!(is_json_content_type("application/json; charset=utf-8"));
        assert!(is_json_content_type("Application/JSON"));
        assert!(is_json_content_type("application/vnd.api+json"));
        assert!(!is_json_content_type("application/x-www-form-urlencoded"));
        assert!(!is_json_content_type("text/plain"));
        assert!(!is_json_content_type("application/jsonx"));
    }

    #[test]
    fn only_objects_are_bodies() {
        assert!(parse_object(br#"{"a": 1}"#).is_ok());
        for bad in [
            &b""[..],
            b"  ",
            b"[]",
            b"1",
            b"\"x\"",
            b"null",
            b"{",
            b"{\"a\":}",
            b"\xff",
        ] {
            assert!(
                matches!(parse_object(bad), Err(ApiError::MalformedBody(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn deeply_nested_json_is_rejected_not_overflowed() {
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(matches!(
            parse_object(deep.as_bytes()),
            Err(ApiError::MalformedBody(_))
        ));
    }
}
