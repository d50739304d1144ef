//! The admin reads of the OTA console (our extension): every user's users, properties,
//! bookings, threads, messages and webhook deliveries, as §5 lists.

use axum::extract::State;
use axum::response::Response;

use crate::AppState;
use crate::db;
use crate::error::ApiError;
use crate::http::envelope;
use crate::http::list::{Direction, ListQuery, Order};
use crate::http::path::Id;
use crate::views;
use crate::webhooks;

/// A list with one fixed order: `order[field]` may only name it (either direction is refused
/// when it is not the one served).
fn fixed_order(
    query: &ListQuery,
    field: &'static str,
    direction: Direction,
) -> Result<Order, ApiError> {
    let order = query.order(&[field], Order { field, direction })?;
    if order.direction != direction {
        return Err(ApiError::bad_param(&format!("order[{field}]")));
    }
    Ok(order)
}

/// GET /admin/users
#[utoipa::path(
    get,
    path = "/users",
    tag = "Console",
    summary = "List users",
    params(crate::openapi::params::UserListParams),
    responses((status = 200, description = "The users.", body = crate::openapi::schemas::UserList))
)]
pub async fn users(State(state): State<AppState>, query: ListQuery) -> Result<Response, ApiError> {
    let order = fixed_order(&query, "inserted_at", Direction::Asc)?;
    let (rows, total) = db::console::users(&state.db, query.limit.into(), query.offset()).await?;
    Ok(envelope::list(
        rows.iter().map(views::user).collect(),
        query.meta_ordered(total, order),
    ))
}

/// GET /admin/properties (`filter[user_id]`)
#[utoipa::path(
    get,
    path = "/properties",
    tag = "Console",
    summary = "List every property",
    params(crate::openapi::params::ConsolePropertyListParams),
    responses((status = 200, description = "The properties.", body = crate::openapi::schemas::ConsolePropertyList))
)]
pub async fn properties(
    State(state): State<AppState>,
    query: ListQuery,
) -> Result<Response, ApiError> {
    let order = fixed_order(&query, "inserted_at", Direction::Asc)?;
    let user_ids = query.uuid_filter("user_id")?;
    let (rows, total) = db::console::properties(
        &state.db,
        user_ids.as_deref(),
        query.limit.into(),
        query.offset(),
    )
    .await?;
    Ok(envelope::list(
        rows.iter().map(views::console_property).collect(),
        query.meta_ordered(total, order),
    ))
}

/// GET /admin/bookings (`filter[property_id]`)
#[utoipa::path(
    get,
    path = "/bookings",
    tag = "Console",
    summary = "List every booking",
    params(crate::openapi::params::ConsoleBookingListParams),
    responses((status = 200, description = "The bookings, newest first.", body = crate::openapi::schemas::BookingList))
)]
pub async fn bookings(
    State(state): State<AppState>,
    query: ListQuery,
) -> Result<Response, ApiError> {
    let order = fixed_order(&query, "inserted_at", Direction::Desc)?;
    let property_ids = query.uuid_filter("property_id")?;
    let (rows, total) = db::console::bookings(
        &state.db,
        property_ids.as_deref(),
        query.limit.into(),
        query.offset(),
    )
    .await?;
    Ok(envelope::list(
        rows.iter().map(views::booking).collect(),
        query.meta_ordered(total, order),
    ))
}

/// GET /admin/message_threads (`filter[property_id]`)
#[utoipa::path(
    get,
    path = "/message_threads",
    tag = "Console",
    summary = "List every thread",
    params(crate::openapi::params::ConsoleThreadListParams),
    responses((status = 200, description = "The threads, newest activity first.", body = crate::openapi::schemas::ThreadList))
)]
pub async fn threads(
    State(state): State<AppState>,
    query: ListQuery,
) -> Result<Response, ApiError> {
    let order = fixed_order(&query, "last_message_received_at", Direction::Desc)?;
    let property_ids = query.uuid_filter("property_id")?;
    let (rows, total) = db::console::threads(
        &state.db,
        property_ids.as_deref(),
        query.limit.into(),
        query.offset(),
    )
    .await?;
    Ok(envelope::list(
        rows.iter().map(views::thread).collect(),
        query.meta_ordered(total, order),
    ))
}

/// GET /admin/message_threads/{id}/messages: newest first unless `order[inserted_at]=asc`.
#[utoipa::path(
    get,
    path = "/message_threads/{id}/messages",
    tag = "Console",
    summary = "List the messages of any thread",
    params(crate::openapi::params::IdPath, crate::openapi::params::ConsoleMessageListParams),
    responses((status = 200, description = "The messages, newest first by default.", body = crate::openapi::schemas::MessageList))
)]
pub async fn thread_messages(
    State(state): State<AppState>,
    Id(id): Id,
    query: ListQuery,
) -> Result<Response, ApiError> {
    let order = query.order(
        &["inserted_at"],
        Order {
            field: "inserted_at",
            direction: Direction::Desc,
        },
    )?;
    let thread = db::threads::get(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let rows = db::messages::list(
        &state.db,
        thread.id,
        None,
        order.direction == Direction::Asc,
        query.limit.into(),
        query.offset(),
    )
    .await?;
    Ok(envelope::list(
        rows.iter().map(views::message).collect(),
        query.meta_ordered(i64::from(thread.message_count), order),
    ))
}

/// GET /admin/webhook_deliveries (`filter[property_id]`, `filter[webhook_id]`)
#[utoipa::path(
    get,
    path = "/webhook_deliveries",
    tag = "Console",
    summary = "List webhook deliveries",
    params(crate::openapi::params::DeliveryListParams),
    responses((status = 200, description = "The deliveries, newest first.", body = crate::openapi::schemas::DeliveryList))
)]
pub async fn webhook_deliveries(
    State(state): State<AppState>,
    query: ListQuery,
) -> Result<Response, ApiError> {
    let order = fixed_order(&query, "inserted_at", Direction::Desc)?;
    let property_ids = query.uuid_filter("property_id")?;
    let webhook_ids = query.uuid_filter("webhook_id")?;
    let (rows, total) = db::console::deliveries(
        &state.db,
        property_ids.as_deref(),
        webhook_ids.as_deref(),
        query.limit.into(),
        query.offset(),
    )
    .await?;
    Ok(envelope::list(
        rows.iter().map(webhooks::views::delivery).collect(),
        query.meta_ordered(total, order),
    ))
}
