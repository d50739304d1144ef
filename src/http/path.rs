//! The path id extractor: a malformed id is a 422 `bad_request`, never axum's plain text.

use axum::extract::{FromRequestParts, MatchedPath, OriginalUri, RawPathParams};
use axum::http::request::Parts;
use uuid::Uuid;

use crate::error::ApiError;

/// The `{id}` segment of the path, as a UUID.
#[derive(Debug, Clone, Copy)]
pub struct Id(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let params = match RawPathParams::from_request_parts(parts, state).await {
            Ok(params) => params,
            // Some segment is not UTF-8 once decoded. If it is not the id, the resource (an
            // attachment's file name) cannot match: 404.
            Err(_) => {
                return Err(match raw_id_segment(parts).and_then(parse_uuid) {
                    Some(_) => ApiError::NotFound,
                    None => ApiError::bad_param("id"),
                });
            }
        };
        let raw = params
            .iter()
            .find(|(name, _)| *name == "id")
            .map(|(_, value)| value)
            .ok_or_else(|| ApiError::bad_param("id"))?;
        parse_uuid(raw)
            .map(Id)
            .ok_or_else(|| ApiError::bad_param("id"))
    }
}

/// The raw `{id}` segment of the path, found by its position in the matched route.
fn raw_id_segment(parts: &Parts) -> Option<&str> {
    let route = parts.extensions.get::<MatchedPath>()?.as_str();
    let position = route.split('/').position(|segment| segment == "{id}")?;
    // The matched route is the full path; inside a nested router `uri` has lost its prefix.
    let uri = parts
        .extensions
        .get::<OriginalUri>()
        .map_or(&parts.uri, |original| &original.0);
    uri.path().split('/').nth(position)
}

/// A UUID in its canonical hyphenated form (either case); nothing else.
pub fn parse_uuid(raw: &str) -> Option<Uuid> {
    if raw.len() != 36 {
        return None;
    }
    Uuid::try_parse(raw).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hyphenated_uuids_parse() {
        assert!(parse_uuid("5848b518-07a4-4c8c-a998-2784d638ba30").is_some());
        assert!(parse_uuid("5848B518-07A4-4C8C-A998-2784D638BA30").is_some());
        for bad in [
            "",
            "1",
            "5848b51807a44c8ca9982784d638ba30",
            "{5848b518-07a4-4c8c-a998-2784d638ba30}",
            "5848b518-07a4-4c8c-a998-2784d638ba3g",
            "urn:uuid:5848b518-07a4-4c8c-a998-2784d638ba30",
        ] {
            assert!(parse_uuid(bad).is_none(), "{bad}");
        }
    }
}
