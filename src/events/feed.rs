//! The pull feed: `GET /api/v1/events?after=<id>`, the stream's events as a §5 list, oldest
//! first, for a client that wants to recover without keeping a stream open.

use axum::extract::State;
use axum::http::Uri;
use axum::response::Response;

use super::stream::{parse_id, visibility_of};
use crate::AppState;
use crate::db;
use crate::error::ApiError;
use crate::http::auth::Principal;
use crate::http::envelope;
use crate::http::list::{Direction, ListQuery, Order};
use crate::views;

const DEFAULT_ORDER: Order = Order {
    field: "sequence",
    direction: Direction::Asc,
};

/// `after`: the stream id to start after (default 0, everything kept).
fn after(uri: &Uri) -> Result<i64, ApiError> {
    let query = uri.query().unwrap_or_default();
    match form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "after") {
        None => Ok(0),
        Some((_, value)) if value.trim().is_empty() => Ok(0),
        Some((_, value)) => parse_id(value.trim()).ok_or_else(|| ApiError::bad_param("after")),
    }
}

/// GET /api/v1/events
#[utoipa::path(
    get,
    path = "/events",
    tag = "Events",
    summary = "List events (the pull feed)",
    params(crate::openapi::params::EventListParams, crate::openapi::params::AfterParam),
    responses((status = 200, description = "The events after `after`, oldest first by default.", body = crate::openapi::schemas::EventList))
)]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    query: ListQuery,
    uri: Uri,
) -> Result<Response, ApiError> {
    let after = after(&uri)?;
    let order = query.order(&["sequence"], DEFAULT_ORDER)?;
    let visibility = visibility_of(&state, &principal, &query).await?;
    let rows = db::events::list_visible(
        &state.db,
        &visibility,
        after,
        order.direction == Direction::Desc,
        query.limit.into(),
        query.offset(),
    )
    .await?;
    let total = db::events::count_visible(&state.db, &visibility, after).await?;
    Ok(envelope::list(
        rows.iter().map(views::event).collect(),
        query.meta_ordered(total, order),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn after_is_a_non_negative_integer_defaulting_to_zero() {
        let read = |uri: &str| after(&uri.parse().unwrap());
        assert_eq!(read("/e").unwrap(), 0);
        assert_eq!(read("/e?after=").unwrap(), 0);
        assert_eq!(read("/e?after=12").unwrap(), 12);
        for bad in [
            "/e?after=-1",
            "/e?after=x",
            "/e?after=1e3",
            "/e?after=9223372036854775808",
        ] {
            assert!(matches!(read(bad), Err(ApiError::BadRequest(_))), "{bad}");
        }
    }
}
