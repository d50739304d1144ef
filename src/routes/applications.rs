use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use crate::AppState;
use crate::db;
use crate::db::applications::MESSAGES_APP;
use crate::error::ApiError;
use crate::http::auth::Principal;
use crate::http::envelope;
use crate::http::fields::Fields;
use crate::http::json::JsonBody;
use crate::http::list::ListQuery;
use crate::http::path::Id;
use crate::views;

/// POST /api/v1/applications/install
#[utoipa::path(
    post,
    path = "/applications/install",
    tag = "Properties",
    summary = "Install the Messages app on a property",
    request_body = crate::openapi::schemas::InstallationCreate,
    responses((status = 200, description = "The installation.", body = crate::openapi::schemas::InstallationData))
)]
pub async fn install(
    State(state): State<AppState>,
    principal: Principal,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let mut f = Fields::envelope(body, "application_installation")?;
    let property_id = f.required_uuid("property_id");
    let code = f.required_string("application_code", 100);
    if code.as_deref().is_some_and(|c| c != MESSAGES_APP) {
        f.error("application_code", "is invalid");
    }
    f.finish()?;
    let property_id = property_id.unwrap_or_default();
    let property = db::properties::get(&state.db, property_id)
        .await?
        .filter(|p| principal.can_see(p.user_id, p.id))
        .ok_or_else(|| ApiError::invalid("property_id", "not found"))?;
    let mut conn = state.db.acquire().await?;
    let installation = db::applications::install(&mut conn, property.id, MESSAGES_APP).await?;
    state.principals.forget_user(property.user_id);
    Ok(envelope::single(
        StatusCode::OK,
        views::installation(&installation),
    ))
}

/// GET /api/v1/applications/installed
#[utoipa::path(
    get,
    path = "/applications/installed",
    tag = "Properties",
    summary = "List installed apps",
    params(crate::openapi::params::PageParams),
    responses((status = 200, description = "The installations.", body = crate::openapi::schemas::InstallationList))
)]
pub async fn installed(
    State(state): State<AppState>,
    principal: Principal,
    query: ListQuery,
) -> Result<Response, ApiError> {
    let (rows, total) =
        db::applications::list_visible(&state.db, &principal, query.limit.into(), query.offset())
            .await?;
    Ok(envelope::list(
        rows.iter().map(views::installation).collect(),
        query.meta(total),
    ))
}

/// DELETE /api/v1/applications/{id}/uninstall
#[utoipa::path(
    delete,
    path = "/applications/{id}/uninstall",
    tag = "Properties",
    summary = "Uninstall an app",
    params(crate::openapi::params::IdPath),
    responses((status = 200, description = "Uninstalled.", body = crate::openapi::schemas::Success))
)]
pub async fn uninstall(
    State(state): State<AppState>,
    principal: Principal,
    Id(id): Id,
) -> Result<Response, ApiError> {
    let (installation, owner) = db::applications::get(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if !principal.can_see(owner, installation.property_id) {
        return Err(ApiError::Unauthorized);
    }
    db::applications::delete(&state.db, id).await?;
    state.principals.forget_user(owner);
    Ok(envelope::success())
}
