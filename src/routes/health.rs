use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::AppState;
use crate::error::ApiError;

/// GET /health: the process runs.
#[utoipa::path(
    get,
    path = "/health",
    tag = "Service",
    summary = "Liveness",
    responses((status = 200, description = "Alive.", body = crate::openapi::schemas::Status))
)]
pub async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// GET /ready: the database answers (else 503).
#[utoipa::path(
    get,
    path = "/ready",
    tag = "Service",
    summary = "Readiness: the database answers",
    responses((status = 200, description = "Ready.", body = crate::openapi::schemas::Status))
)]
pub async fn ready(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    sqlx::query("select 1")
        .execute(&state.db)
        .await
        .map_err(ApiError::Unavailable)?;
    Ok(Json(json!({ "status": "ready" })))
}
