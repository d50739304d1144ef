//! Messages of a thread and of a booking (§7.1–§7.3).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value};

use crate::AppState;
use crate::db;
use crate::db::bookings::Booking;
use crate::db::threads::Thread;
use crate::error::ApiError;
use crate::http::auth::Principal;
use crate::http::envelope;
use crate::http::fields::{BLANK, Fields};
use crate::http::gate::Gated;
use crate::http::json::JsonBody;
use crate::http::list::{Direction, ListQuery, Order};
use crate::messaging::{self, Append, Sender};
use crate::routes::admin_messages::MAX_MESSAGE_CHARS;
use crate::views;

const DEFAULT_ORDER: Order = Order {
    field: "inserted_at",
    direction: Direction::Desc,
};
pub(crate) const SENDERS: [&str; 3] = ["guest", "property", "system"];

/// GET /api/v1/message_threads/{id}/messages
#[utoipa::path(
    get,
    path = "/message_threads/{id}/messages",
    tag = "Messages",
    summary = "List the messages of a thread",
    params(crate::openapi::params::IdPath, crate::openapi::params::MessageListParams),
    responses((status = 200, description = "The messages, newest first by default.", body = crate::openapi::schemas::MessageList))
)]
pub async fn list_for_thread(
    State(state): State<AppState>,
    Gated(thread): Gated<Thread>,
    query: ListQuery,
) -> Result<Response, ApiError> {
    list(&state, Some(&thread), &query).await
}

/// GET /api/v1/bookings/{id}/messages: the booking thread's messages (none before it has one).
#[utoipa::path(
    get,
    path = "/bookings/{id}/messages",
    tag = "Messages",
    summary = "List the messages of a booking",
    params(crate::openapi::params::IdPath, crate::openapi::params::MessageListParams),
    responses((status = 200, description = "The messages of the booking's thread (none before the first).", body = crate::openapi::schemas::MessageList))
)]
pub async fn list_for_booking(
    State(state): State<AppState>,
    Gated(booking): Gated<Booking>,
    query: ListQuery,
) -> Result<Response, ApiError> {
    let thread = match booking.message_thread_id {
        Some(id) => db::threads::get(&state.db, id).await?,
        None => None,
    };
    list(&state, thread.as_ref(), &query).await
}

async fn list(
    state: &AppState,
    thread: Option<&Thread>,
    query: &ListQuery,
) -> Result<Response, ApiError> {
    let order = query.order(&["inserted_at"], DEFAULT_ORDER)?;
    let senders = match query.filters.get("sender") {
        None => None,
        Some(values) if values.iter().all(|v| SENDERS.contains(&v.as_str())) => {
            Some(values.clone())
        }
        Some(_) => return Err(ApiError::bad_param("filter[sender]")),
    };
    let Some(thread) = thread else {
        return Ok(envelope::list(
            Vec::<Value>::new(),
            query.meta_ordered(0, order),
        ));
    };
    let rows = db::messages::list(
        &state.db,
        thread.id,
        senders.as_deref(),
        order.direction == Direction::Asc,
        query.limit.into(),
        query.offset(),
    )
    .await?;
    // The thread counts its messages in the same transaction as each insert.
    let total = match &senders {
        None => i64::from(thread.message_count),
        Some(senders) => db::messages::count(&state.db, thread.id, senders).await?,
    };
    Ok(envelope::list(
        rows.iter().map(views::message).collect(),
        query.meta_ordered(total, order),
    ))
}

/// `{"message": {"message"?, "attachment_id"?}}`: at least one of them.
struct Outgoing {
    text: String,
    attachment_id: Option<uuid::Uuid>,
}

fn read_outgoing(body: Map<String, Value>) -> Result<Outgoing, ApiError> {
    let mut f = Fields::envelope(body, "message")?;
    let text = f.string("message", MAX_MESSAGE_CHARS).unwrap_or_default();
    let attachment_id = f.uuid("attachment_id");
    let has_text = !text.trim().is_empty();
    if !has_text
        && attachment_id.is_none()
        && !f.has_error("message")
        && !f.has_error("attachment_id")
    {
        f.error("message", BLANK);
    }
    f.finish()?;
    Ok(Outgoing {
        text,
        attachment_id,
    })
}

async fn send(
    principal: &Principal,
    mut tx: db::Tx,
    thread: &Thread,
    outgoing: &Outgoing,
) -> Result<Response, ApiError> {
    let append = Append {
        user_id: Some(principal.user_id),
        uploaded_attachment_id: outgoing.attachment_id,
        ..Append::text(Sender::Property, &outgoing.text)
    };
    let (message, _) = messaging::append(&mut tx, thread, &append).await?;
    tx.commit().await?;
    Ok(envelope::single(StatusCode::OK, views::message(&message)))
}

/// POST /api/v1/message_threads/{id}/messages
#[utoipa::path(
    post,
    path = "/message_threads/{id}/messages",
    tag = "Messages",
    summary = "Send a message in a thread",
    params(crate::openapi::params::IdPath),
    request_body = crate::openapi::schemas::MessageCreate,
    responses((status = 200, description = "The message sent.", body = crate::openapi::schemas::MessageData))
)]
pub async fn send_to_thread(
    State(state): State<AppState>,
    principal: Principal,
    Gated(thread): Gated<Thread>,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let outgoing = read_outgoing(body)?;
    let turn = state.writers.turn(thread.id).await?;
    let mut tx = turn.begin(&state.db).await?;
    let thread = db::threads::lock(&mut tx, thread.id)
        .await?
        .ok_or(ApiError::NotFound)?;
    send(&principal, tx, &thread, &outgoing).await
}

/// POST /api/v1/bookings/{id}/messages: the first message creates the booking's thread.
#[utoipa::path(
    post,
    path = "/bookings/{id}/messages",
    tag = "Messages",
    summary = "Send a message to a booking's guest",
    params(crate::openapi::params::IdPath),
    request_body = crate::openapi::schemas::MessageCreate,
    responses((status = 200, description = "The message sent (the first one opens the thread).", body = crate::openapi::schemas::MessageData))
)]
pub async fn send_to_booking(
    State(state): State<AppState>,
    principal: Principal,
    Gated(booking): Gated<Booking>,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let outgoing = read_outgoing(body)?;
    let turn = state.writers.turn(booking.writers_key()).await?;
    let mut tx = turn.begin(&state.db).await?;
    let thread = messaging::lock_booking_thread(&mut tx, &booking).await?;
    send(&principal, tx, &thread, &outgoing).await
}
