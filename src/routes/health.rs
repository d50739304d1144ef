use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::AppState;
use crate::error::ApiError;

/// GET /health: the process runs.
pub async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// GET /ready: the database answers (else 503).
pub async fn ready(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    sqlx::query("select 1")
        .execute(&state.db)
        .await
        .map_err(ApiError::Unavailable)?;
    Ok(Json(json!({ "status": "ready" })))
}
