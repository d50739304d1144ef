use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use crate::AppState;
use crate::db;
use crate::error::ApiError;
use crate::http::auth::Principal;
use crate::http::envelope;
use crate::http::path::Id;
use crate::views;

/// GET /api/v1/bookings/{id}
pub async fn show(
    State(state): State<AppState>,
    principal: Principal,
    Id(id): Id,
) -> Result<Response, ApiError> {
    let booking = db::bookings::get(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if !principal.can_see(booking.owner_id, booking.property_id) {
        return Err(ApiError::Unauthorized);
    }
    Ok(envelope::single(StatusCode::OK, views::booking(&booking)))
}
