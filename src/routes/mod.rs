//! The HTTP surface, one file per resource.

pub mod admin;
pub mod admin_messages;
pub mod applications;
pub mod attachments;
pub mod bookings;
pub mod console;
pub mod health;
pub mod messages;
pub mod one_time_tokens;
pub mod properties;
pub mod threads;
pub mod webhooks;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{delete, get, post};

use crate::AppState;
use crate::error::ApiError;
use crate::events::{feed, stream};
use crate::http::{auth, gate, rate_limit};
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
    let upload_limit = DefaultBodyLimit::max(upload_body_limit(state.max_attachment_bytes));

    let threads = Router::new()
        .route("/message_threads/{id}", get(threads::show))
        .route(
            "/message_threads/{id}/messages",
            get(messages::list_for_thread).post(messages::send_to_thread),
        )
        .route("/message_threads/{id}/close", post(threads::close))
        .route("/message_threads/{id}/reopen", post(threads::reopen))
        .route(
            "/message_threads/{id}/no_reply_needed",
            post(threads::no_reply_needed),
        )
        .route_layer(from_fn_with_state(state.clone(), gate::thread_gate));
    let booking_messages = Router::new()
        .route(
            "/bookings/{id}/messages",
            get(messages::list_for_booking).post(messages::send_to_booking),
        )
        .route_layer(from_fn_with_state(state.clone(), gate::booking_gate));
    let downloads = Router::new()
        .route("/attachments/{id}", get(attachments::download))
        .route("/attachments/{id}/{file_name}", get(attachments::download))
        .route_layer(from_fn_with_state(state.clone(), gate::attachment_gate));

    // Provisioning, webhooks and minting tokens need an API key: a chat session there is a 401.
    let keys_only = Router::new()
        .route("/applications/install", post(applications::install))
        .route("/applications/installed", get(applications::installed))
        .route(
            "/applications/{id}/uninstall",
            delete(applications::uninstall),
        )
        .route("/webhooks", get(webhooks::list).post(webhooks::create))
        .route("/webhooks/test", post(webhooks::test))
        .route(
            "/webhooks/{id}",
            get(webhooks::show)
                .put(webhooks::update)
                .delete(webhooks::delete),
        )
        .route("/webhooks/{id}/deliveries", get(webhooks::deliveries))
        .route(
            "/auth/one_time_token",
            post(one_time_tokens::one_time_token),
        )
        .route_layer(from_fn(auth::refuse_chat_sessions));

    let api = Router::new()
        .route("/message_threads", get(threads::list))
        .merge(threads)
        .merge(booking_messages)
        .route(
            "/attachments",
            post(attachments::upload)
                .layer(upload_limit)
                .route_layer(from_fn_with_state(state.clone(), gate::upload_gate)),
        )
        .merge(downloads)
        .route(
            "/properties",
            get(properties::list).post(properties::create),
        )
        .route("/properties/{id}", get(properties::show))
        .route("/bookings/{id}", get(bookings::show))
        .route("/events", get(feed::list))
        .route("/events/stream", get(stream::api_stream))
        .merge(keys_only)
        .route_layer(from_fn_with_state(state.clone(), rate_limit::limit))
        .route_layer(from_fn_with_state(state.clone(), auth::require_api_key));

    let admin = Router::new()
        .route("/reset", post(admin::reset))
        .route("/users", get(console::users).post(admin::create_user))
        .route("/api_keys", post(admin::create_api_key))
        .route("/api_keys/{id}", delete(admin::revoke_api_key))
        .route("/properties", get(console::properties))
        .route(
            "/bookings",
            get(console::bookings).post(admin::create_booking),
        )
        .route(
            "/bookings/{id}/guest_messages",
            post(admin_messages::booking_guest_message).layer(upload_limit),
        )
        .route(
            "/message_threads/{id}/guest_messages",
            post(admin_messages::thread_guest_message).layer(upload_limit),
        )
        .route("/inquiries", post(admin_messages::create_inquiry))
        .route(
            "/message_threads/{id}/assign_booking",
            post(admin_messages::assign_booking),
        )
        .route("/outbox", get(admin::outbox))
        .route("/message_threads", get(console::threads))
        .route(
            "/message_threads/{id}/messages",
            get(console::thread_messages),
        )
        .route("/webhook_deliveries", get(console::webhook_deliveries))
        .route("/events/stream", get(stream::admin_stream))
        .route_layer(from_fn_with_state(state.clone(), auth::require_admin));

    Router::new()
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        // A HEAD (a link checker) must not spend the token: 405.
        .route(
            "/auth/exchange",
            get(ui::exchange::exchange).head(method_not_allowed),
        )
        .route("/console", get(ui::console))
        .route("/ui/{*path}", get(ui::asset))
        .nest("/api/v1", api)
        .nest("/admin", admin)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(JSON_BODY_LIMIT))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::NotFound
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
