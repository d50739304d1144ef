//! `GET /metrics`: Prometheus metrics in the text exposition format.

use axum::Router;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

use crate::AppState;
use crate::http::auth;

/// The Prometheus text format's content type.
const CONTENT_TYPE_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// GET /metrics
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "Service",
    summary = "Prometheus metrics",
    responses((status = 200, description = "Metrics in the Prometheus text format.", content_type = "text/plain", body = String), (status = 401, description = "`unauthorized`: `METRICS_TOKEN` is set and was not presented.", body = crate::openapi::schemas::ErrorBody)),
    security((), ("metrics-token" = []))
)]
pub async fn scrape(State(state): State<AppState>) -> Response {
    let body = crate::metrics::render(&state).await;
    ([(CONTENT_TYPE, CONTENT_TYPE_TEXT)], body).into_response()
}

/// The `/metrics` route, behind `METRICS_TOKEN` when one is set.
pub fn route(state: &AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(scrape).map(|route| {
        route.route_layer(from_fn_with_state(
            state.clone(),
            auth::require_metrics_token,
        ))
    }))
}

/// The router of the `METRICS_ADDR` listener: `/metrics` only, JSON errors elsewhere.
pub fn router(state: AppState) -> Router {
    Router::from(route(&state))
        .fallback(super::not_found)
        .method_not_allowed_fallback(super::method_not_allowed)
        .with_state(state)
}
