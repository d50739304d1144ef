use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use crate::AppState;
use crate::db;
use crate::error::ApiError;
use crate::http::auth::{Principal, Scope};
use crate::http::envelope;
use crate::http::fields::Fields;
use crate::http::json::JsonBody;
use crate::http::list::ListQuery;
use crate::http::path::Id;
use crate::views;

/// POST /api/v1/properties
#[utoipa::path(
    post,
    path = "/properties",
    tag = "Properties",
    summary = "Create a property",
    request_body = crate::openapi::schemas::PropertyCreate,
    responses((status = 201, description = "The property.", body = crate::openapi::schemas::PropertyData))
)]
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    // A key limited to listed properties could not see what it creates.
    if principal.scope != Scope::All {
        return Err(ApiError::Unauthorized);
    }
    let mut f = Fields::envelope(body, "property")?;
    let title = f.required_string("title", 255);
    let currency = f.string("currency", 3);
    if currency
        .as_deref()
        .is_some_and(|c| c.len() != 3 || !c.bytes().all(|b| b.is_ascii_uppercase()))
    {
        f.error("currency", "is invalid");
    }
    let timezone = f.string("timezone", 64);
    f.finish()?;
    let property = db::properties::insert(
        &state.db,
        principal.user_id,
        title.as_deref().unwrap_or_default(),
        currency.as_deref(),
        timezone.as_deref(),
    )
    .await?;
    state.principals.forget_user(principal.user_id);
    Ok(envelope::single(
        StatusCode::CREATED,
        views::property(&property),
    ))
}

/// GET /api/v1/properties
#[utoipa::path(
    get,
    path = "/properties",
    tag = "Properties",
    summary = "List properties",
    params(crate::openapi::params::PageParams),
    responses((status = 200, description = "The key's properties.", body = crate::openapi::schemas::PropertyList))
)]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    query: ListQuery,
) -> Result<Response, ApiError> {
    let (rows, total) =
        db::properties::list_visible(&state.db, &principal, query.limit.into(), query.offset())
            .await?;
    Ok(envelope::list(
        rows.iter().map(views::property).collect(),
        query.meta(total),
    ))
}

/// GET /api/v1/properties/{id}
#[utoipa::path(
    get,
    path = "/properties/{id}",
    tag = "Properties",
    summary = "Show a property",
    params(crate::openapi::params::IdPath),
    responses((status = 200, description = "The property.", body = crate::openapi::schemas::PropertyData))
)]
pub async fn show(
    State(state): State<AppState>,
    principal: Principal,
    Id(id): Id,
) -> Result<Response, ApiError> {
    let property = db::properties::get(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if !principal.can_see(property.user_id, property.id) {
        return Err(ApiError::Unauthorized);
    }
    Ok(envelope::single(StatusCode::OK, views::property(&property)))
}
