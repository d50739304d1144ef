//! The HTTP surface, one file per resource.

pub mod admin;
pub mod admin_messages;
pub mod applications;
pub mod attachments;
pub mod booking_form;
pub mod bookings;
pub mod console;
pub mod health;
pub mod index;
pub mod messages;
pub mod metrics;
pub mod one_time_tokens;
pub mod properties;
pub mod threads;
pub mod webhooks;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::{Extension, Router};
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

use crate::AppState;
use crate::error::ApiError;
use crate::events::{feed, stream};
use crate::http::{auth, changes, gate, rate_limit, response_cache};
use crate::openapi;
use crate::ui;

/// Body limit of the routes that take plain JSON.
pub const JSON_BODY_LIMIT: usize = 1024 * 1024;

/// Body limit of the routes that carry base64 attachments: the encoded size of the largest
/// attachment plus room for the rest of the body.
pub fn upload_body_limit(max_attachment_bytes: usize) -> usize {
    max_attachment_bytes
        .div_ceil(3)
        .saturating_mul(4)
        .saturating_add(JSON_BODY_LIMIT)
}

pub fn router(state: AppState) -> Router {
    let (router, doc) = documented_router(&state);
    let document = openapi::Document(Arc::new(
        serde_json::to_string(&doc).expect("the OpenAPI document serializes"),
    ));
    // The recorder must be in place before the first request is counted.
    crate::metrics::handle();
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(Extension(document))
        .layer(DefaultBodyLimit::max(JSON_BODY_LIMIT))
        .layer(axum::middleware::from_fn(crate::metrics::track_requests))
        .with_state(state)
}

/// The OpenAPI document of the router `state` configures.
pub fn openapi(state: &AppState) -> utoipa::openapi::OpenApi {
    documented_router(state).1
}

/// Every route, each registered with its documentation through `routes!` (never a plain
/// `.route`: `tests/api/openapi.rs` fails on one), and the completed document.
fn documented_router(state: &AppState) -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let upload_limit = DefaultBodyLimit::max(upload_body_limit(state.max_attachment_bytes));

    let threads = OpenApiRouter::new()
        .routes(routes!(threads::show))
        .routes(routes!(messages::list_for_thread, messages::send_to_thread))
        .routes(routes!(threads::close))
        .routes(routes!(threads::reopen))
        .routes(routes!(threads::no_reply_needed))
        .route_layer(from_fn_with_state(state.clone(), gate::thread_gate));
    let booking_messages = OpenApiRouter::new()
        .routes(routes!(
            messages::list_for_booking,
            messages::send_to_booking
        ))
        .route_layer(from_fn_with_state(state.clone(), gate::booking_gate));
    let downloads = OpenApiRouter::new()
        .routes(routes!(attachments::download))
        .routes(routes!(attachments::download_named))
        .route_layer(from_fn_with_state(state.clone(), gate::attachment_gate));
    let upload_gate = from_fn_with_state(state.clone(), gate::upload_gate);

    // Provisioning, webhooks and minting tokens need an API key: a chat session there is a 401.
    let keys_only = OpenApiRouter::new()
        .routes(routes!(applications::install))
        .routes(routes!(applications::installed))
        .routes(routes!(applications::uninstall))
        .routes(routes!(webhooks::list, webhooks::create))
        .routes(routes!(webhooks::test))
        .routes(routes!(webhooks::show, webhooks::update, webhooks::delete))
        .routes(routes!(webhooks::deliveries))
        .routes(routes!(webhooks::test_stored))
        .routes(routes!(one_time_tokens::one_time_token))
        .route_layer(from_fn(auth::refuse_chat_sessions));

    let api = OpenApiRouter::new()
        .routes(routes!(threads::list))
        .merge(threads)
        .merge(booking_messages)
        .routes(
            routes!(attachments::upload)
                .map(|route| route.layer(upload_limit).route_layer(upload_gate)),
        )
        .merge(downloads)
        .routes(routes!(properties::list, properties::create))
        .routes(routes!(properties::show))
        .routes(routes!(bookings::list))
        .routes(routes!(bookings::show))
        .routes(routes!(feed::list))
        .routes(routes!(stream::api_stream))
        .merge(keys_only)
        .route_layer(from_fn_with_state(
            state.clone(),
            response_cache::serve_cached,
        ))
        .route_layer(from_fn_with_state(state.clone(), changes::announce_writes))
        .route_layer(from_fn_with_state(state.clone(), rate_limit::limit))
        .route_layer(from_fn_with_state(state.clone(), auth::require_api_key));

    let admin = OpenApiRouter::new()
        .routes(routes!(admin::reset))
        .routes(routes!(console::users, admin::create_user))
        .routes(routes!(admin::create_api_key))
        .routes(routes!(admin::revoke_api_key))
        .routes(routes!(console::properties))
        .routes(routes!(console::bookings, admin::create_booking))
        .routes(
            routes!(admin_messages::booking_guest_message).map(|route| route.layer(upload_limit)),
        )
        .routes(
            routes!(admin_messages::thread_guest_message).map(|route| route.layer(upload_limit)),
        )
        .routes(routes!(admin_messages::create_inquiry))
        .routes(routes!(admin_messages::assign_booking))
        .routes(routes!(admin::outbox))
        .routes(routes!(console::threads))
        .routes(routes!(console::thread_messages))
        .routes(routes!(console::webhook_deliveries))
        .routes(routes!(stream::admin_stream))
        .route_layer(from_fn_with_state(
            state.clone(),
            changes::announce_admin_writes,
        ))
        .route_layer(from_fn_with_state(state.clone(), auth::require_admin));

    let mut root = OpenApiRouter::new()
        .routes(routes!(index::index))
        .routes(routes!(health::health))
        .routes(routes!(health::ready))
        // A HEAD (a link checker) must not spend the token: 405.
        .routes(routes!(ui::exchange::exchange, exchange_head))
        .routes(routes!(ui::console))
        .routes(routes!(ui::asset))
        .routes(routes!(openapi::document))
        .routes(routes!(openapi::docs))
        .routes(routes!(openapi::docs_file))
        .nest("/api/v1", api)
        .nest("/admin", admin);
    if state.metrics_on_main_port {
        root = root.merge(metrics::route(state));
    }
    let (router, doc) = root.split_for_parts();
    (router, openapi::complete(doc))
}

async fn not_found() -> ApiError {
    ApiError::NotFound
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

#[utoipa::path(
    head,
    path = "/auth/exchange",
    tag = "Chat",
    summary = "A HEAD must not spend the token",
    responses((status = 405, description = "`method_not_allowed`.", body = crate::openapi::schemas::ErrorBody))
)]
async fn exchange_head() -> ApiError {
    ApiError::MethodNotAllowed
}
