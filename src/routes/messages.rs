//! Messages of a thread and of a booking (§7.1–§7.3).

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value};

use crate::AppState;
use crate::db;
use crate::db::messages::{Page, PageOf, Reader, Send, Sent};
use crate::error::ApiError;
use crate::http::envelope;
use crate::http::fields::{BLANK, Fields};
use crate::http::gate::{BookingGate, Deferred, ThreadGate};
use crate::http::json::JsonBody;
use crate::http::list::{Direction, ListQuery, Order};
use crate::http::writers::Turn;
use crate::messaging;
use crate::routes::admin_messages::MAX_MESSAGE_CHARS;
use crate::views;

const DEFAULT_ORDER: Order = Order {
    field: "inserted_at",
    direction: Direction::Desc,
};
pub(crate) const SENDERS: [&str; 3] = ["guest", "property", "system"];

/// GET /api/v1/message_threads/{id}/messages: one statement (see [`db::messages::gated_page`]).
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
    gate: Deferred,
    query: Result<ListQuery, ApiError>,
) -> Result<Response, ApiError> {
    list(&state, &gate, PageOf::Thread, query).await
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
    gate: Deferred,
    query: Result<ListQuery, ApiError>,
) -> Result<Response, ApiError> {
    list(&state, &gate, PageOf::Booking, query).await
}

/// The order and the `filter[sender]` of a message list.
fn read_list(query: &ListQuery) -> Result<(Order, Option<Vec<String>>), ApiError> {
    let order = query.order(&["inserted_at"], DEFAULT_ORDER)?;
    let senders = match query.filters.get("sender") {
        None => None,
        Some(values) if values.iter().all(|v| SENDERS.contains(&v.as_str())) => {
            Some(values.clone())
        }
        Some(_) => return Err(ApiError::bad_param("filter[sender]")),
    };
    Ok((order, senders))
}

/// The gates of §3 on their own, for a request that fails before its statement.
async fn gates_only(state: &AppState, gate: &Deferred, of: PageOf) -> Result<(), ApiError> {
    match of {
        PageOf::Thread => gate.thread(state).await,
        PageOf::Booking => gate.booking(state).await,
    }
}

async fn list(
    state: &AppState,
    gate: &Deferred,
    of: PageOf,
    query: Result<ListQuery, ApiError>,
) -> Result<Response, ApiError> {
    let read = query.and_then(|query| read_list(&query).map(|read| (query, read)));
    let (query, (order, senders)) = match read {
        Ok(read) => read,
        // A failing gate answers first.
        Err(err) => {
            gates_only(state, gate, of).await?;
            return Err(err);
        }
    };
    let page = Page {
        senders: senders.as_deref(),
        ascending: order.direction == Direction::Asc,
        limit: query.limit.into(),
        offset: query.offset(),
    };
    let found = db::messages::gated_page(&state.db, of, gate.id, reader(gate), &page).await?;
    let head = found.as_ref().map(|(head, _)| head);
    match of {
        PageOf::Thread => gate.check_thread(head.map(|h| ThreadGate {
            owner_id: h.owner_id,
            property_id: h.property_id,
            messages_app: h.messages_app,
            provider: &h.provider,
        }))?,
        PageOf::Booking => gate.check_booking(head.map(|h| BookingGate {
            owner_id: h.owner_id,
            property_id: h.property_id,
            messages_app: h.messages_app,
            ota_name: &h.provider,
        }))?,
    };
    let (head, rows) = found.ok_or(ApiError::NotFound)?;
    Ok(envelope::list(
        rows.iter().map(views::message).collect(),
        query.meta_ordered(head.total, order),
    ))
}

fn reader(gate: &Deferred) -> Reader<'_> {
    Reader {
        user_id: gate.principal.user_id,
        listed: gate.principal.listed(),
    }
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

/// The body of a send, or (when it is not a valid message) the first failing gate, else the
/// body's error: the gates answer before the body.
async fn outgoing(
    state: &AppState,
    gate: &Deferred,
    of: PageOf,
    body: Result<JsonBody, ApiError>,
) -> Result<Outgoing, ApiError> {
    match body.and_then(|JsonBody(body)| read_outgoing(body)) {
        Ok(outgoing) => Ok(outgoing),
        Err(err) => {
            gates_only(state, gate, of).await?;
            Err(err)
        }
    }
}

/// Time a send's statement has: it must end, committed or rolled back, before the request is
/// cut by `REQUEST_TIMEOUT` (an autocommit statement cut on the client's side would go on and
/// commit on the server's).
struct SendLimits {
    lock_timeout: Option<Duration>,
    budget: Option<Duration>,
}

/// Kept of the request's time for the answer to come back.
const ANSWER_MARGIN: Duration = Duration::from_millis(50);

impl SendLimits {
    fn of(turn: &Turn, gate: &Deferred) -> Self {
        let budget = gate.clock.as_ref().and_then(|clock| clock.left());
        // A lock wait gives up in time for the rollback to be answered.
        let lock_budget = budget.map(|left| {
            left.saturating_sub(2 * ANSWER_MARGIN)
                .max(Duration::from_millis(1))
        });
        let lock_timeout = match (turn.lock_budget(), lock_budget) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Self {
            lock_timeout,
            budget: budget.map(|left| {
                left.saturating_sub(ANSWER_MARGIN)
                    .max(Duration::from_millis(1))
            }),
        }
    }
}

/// The answer to a send.
fn sent(sent: Sent) -> Result<Response, ApiError> {
    match sent {
        Sent::Message(message) => Ok(envelope::single(StatusCode::OK, views::message(&message))),
        Sent::NotFound => Err(ApiError::NotFound),
        Sent::Unauthorized => Err(ApiError::Unauthorized),
        Sent::Forbidden => Err(ApiError::Forbidden),
        Sent::NotSupported => Err(ApiError::NotSupported),
        Sent::AttachmentInvalid => Err(ApiError::invalid("attachment_id", "is invalid")),
        Sent::NoThread(_) => Err(ApiError::Internal(anyhow::anyhow!(
            "the booking's thread was not made"
        ))),
    }
}

/// POST /api/v1/message_threads/{id}/messages: one statement (`ota_send_message`, migration
/// 0009), committed with it.
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
    gate: Deferred,
    body: Result<JsonBody, ApiError>,
) -> Result<Response, ApiError> {
    let outgoing = outgoing(&state, &gate, PageOf::Thread, body).await?;
    let turn = state.writers.turn(gate.id).await?;
    // The time left is measured once the connection is ours: a wait for one is not the
    // statement's to spend.
    let mut conn = state.db.acquire().await?;
    let limits = SendLimits::of(&turn, &gate);
    let send = Send {
        thread_id: Some(gate.id),
        booking_id: None,
        reader: reader(&gate),
        message: &outgoing.text,
        attachment_id: outgoing.attachment_id,
        lock_timeout: limits.lock_timeout,
        budget: limits.budget,
        new_thread: None,
    };
    sent(db::messages::send(&mut *conn, &send).await?)
}

/// POST /api/v1/bookings/{id}/messages: the first message creates the booking's thread. One
/// statement once the booking has its thread; the first message takes two (the first one
/// learns what the thread is made of, and writes nothing).
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
    gate: Deferred,
    body: Result<JsonBody, ApiError>,
) -> Result<Response, ApiError> {
    let outgoing = outgoing(&state, &gate, PageOf::Booking, body).await?;
    // The line of the booking: its thread is not known before the statement.
    let turn = state.writers.turn(gate.id).await?;
    let mut new_thread: Option<Value> = None;
    let mut conn = state.db.acquire().await?;
    loop {
        let limits = SendLimits::of(&turn, &gate);
        let send = Send {
            thread_id: None,
            booking_id: Some(gate.id),
            reader: reader(&gate),
            message: &outgoing.text,
            attachment_id: outgoing.attachment_id,
            lock_timeout: limits.lock_timeout,
            budget: limits.budget,
            new_thread: new_thread.as_ref(),
        };
        match db::messages::send(&mut *conn, &send).await? {
            Sent::NoThread(booking) if new_thread.is_none() => {
                new_thread = Some(messaging::new_booking_thread(&booking)?);
            }
            other => return sent(other),
        }
    }
}
