//! `GET /`: what this server is and where to go from here.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::AppState;

/// GET /
#[utoipa::path(
    get,
    path = "/",
    tag = "Service",
    summary = "What this server is and where to go",
    responses((status = 200, description = "The index.", body = crate::openapi::schemas::Index))
)]
pub async fn index(State(state): State<AppState>) -> Json<Value> {
    let mut index = json!({
        "name": env!("CARGO_PKG_NAME"),
        "version": env!("CARGO_PKG_VERSION"),
        "description": "A self-hosted guest-messaging server that speaks the Channex.io Messages API.",
        "links": {
            "api": "/api/v1",
            "docs": "/docs",
            "openapi": "/api/v1/openapi.json",
            "chat": {
                "href": "/auth/exchange?oauth_session_key={one_time_token}&app_mode=headless&redirect_to=/messages&property_id={property_id}",
                "one_time_token": "POST /api/v1/auth/one_time_token with {\"one_time_token\": {\"property_id\", \"username\"}} and a user-api-key",
            },
            "console": "/console",
            "health": "/health",
            "ready": "/ready",
        },
    });
    if state.metrics_on_main_port {
        index["links"]["metrics"] = json!("/metrics");
    }
    Json(index)
}
