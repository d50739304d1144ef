//! One-time tokens of the chat iframe (§12): `POST /api/v1/auth/one_time_token`.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::AppState;
use crate::db;
use crate::db::one_time_tokens::NewToken;
use crate::error::ApiError;
use crate::http::auth::{ONE_TIME_PREFIX, Principal, generate_secret};
use crate::http::fields::Fields;
use crate::http::gate;
use crate::http::json::JsonBody;

/// The documented answer's message.
pub const MESSAGE: &str =
    "You are successfully received one-time token! Use it for exchange to JWT";

/// POST /api/v1/auth/one_time_token
#[utoipa::path(
    post,
    path = "/auth/one_time_token",
    tag = "Chat",
    summary = "Mint a one-time token for the chat",
    request_body = crate::openapi::schemas::OneTimeTokenCreate,
    responses((status = 200, description = "The token.", body = crate::openapi::schemas::OneTimeTokenData))
)]
pub async fn one_time_token(
    State(state): State<AppState>,
    principal: Principal,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let mut f = Fields::envelope(body, "one_time_token")?;
    let property_id = f.required_uuid("property_id");
    let group_id = f.uuid("group_id");
    let username = f
        .required_string("username", 255)
        .map(|u| u.trim().to_owned());
    // The property's gates come before the rest of the body (§3): not visible 401, no app 403.
    if let Some(property_id) = property_id {
        let property = db::properties::get(&state.db, property_id)
            .await?
            .ok_or(ApiError::Unauthorized)?;
        let app = db::applications::messages_installed(&state.db, property_id).await?;
        gate::check_property(&principal, property.user_id, property_id, app)?;
    }
    f.finish()?;
    let (token, hash) = generate_secret(ONE_TIME_PREFIX);
    db::one_time_tokens::insert(
        &state.db,
        &hash,
        &NewToken {
            api_key_id: principal.key_id,
            user_id: principal.user_id,
            property_id: property_id.unwrap_or_default(),
            group_id,
            username: username.as_deref().unwrap_or_default(),
        },
    )
    .await?;
    Ok(Json(json!({
        "data": { "token": token },
        "meta": { "message": MESSAGE },
    }))
    .into_response())
}
