//! The admin API's conversation side (§9): guest messages, Airbnb inquiries and booking
//! assignment, as the OTAs would deliver them.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value, json};

use crate::AppState;
use crate::db;
use crate::db::attachments::NewAttachment;
use crate::db::threads::Thread;
use crate::error::ApiError;
use crate::http::fields::{BLANK, Fields, INVALID};
use crate::http::json::JsonBody;
use crate::http::path::Id;
use crate::http::upload::{self, Upload};
use crate::http::{changes, envelope};
use crate::messaging::{self, Append, Inquiry, Role, Sender};
use crate::ota::Provider;
use crate::views;

/// Longest message text (§7.1).
pub const MAX_MESSAGE_CHARS: usize = 10_000;
/// Most attachments one guest message may carry.
const MAX_GUEST_ATTACHMENTS: usize = 10;

struct GuestMessage {
    text: String,
    ota_message_id: Option<String>,
    attachments: Vec<Upload>,
    /// The author's name (default: the thread's title, the guest's name).
    name: Option<String>,
    /// The author's role (default: `GUEST`).
    role: Option<Role>,
}

fn read_guest_message(
    body: Map<String, Value>,
    max_bytes: usize,
) -> Result<GuestMessage, ApiError> {
    let mut f = Fields::envelope(body, "message")?;
    let text = f.string("message", MAX_MESSAGE_CHARS).unwrap_or_default();
    let ota_message_id = f.string("ota_message_id", 255).filter(|id| !id.is_empty());
    let name = f
        .string("name", 255)
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty());
    let role = match f.string("role", 20) {
        None => None,
        Some(role) => {
            let parsed = Role::parse(&role);
            if parsed.is_none() {
                f.error("role", INVALID);
            }
            parsed
        }
    };
    let mut attachments = Vec::new();
    match f.value("attachments").cloned() {
        None => {}
        Some(Value::Array(items)) if items.len() <= MAX_GUEST_ATTACHMENTS => {
            for (i, item) in items.into_iter().enumerate() {
                let name = format!("attachments[{i}]");
                match item {
                    Value::Object(map) => {
                        let mut nested = Fields::new(map);
                        let upload = upload::read(&mut nested, max_bytes);
                        f.absorb(&name, nested);
                        attachments.extend(upload);
                    }
                    _ => f.error(&name, INVALID),
                }
            }
        }
        Some(Value::Array(_)) => f.error("attachments", "is too long"),
        Some(_) => f.error("attachments", INVALID),
    }
    let attachment_failed = f.has_error("attachments") || items_failed(&f);
    if text.trim().is_empty()
        && attachments.is_empty()
        && !attachment_failed
        && !f.has_error("message")
    {
        f.error("message", BLANK);
    }
    f.finish()?;
    Ok(GuestMessage {
        text,
        ota_message_id,
        attachments,
        name,
        role,
    })
}

/// Whether an attachment of the list failed validation (its errors are named `attachments[i]…`).
fn items_failed(f: &Fields) -> bool {
    f.error_fields()
        .any(|field| field.starts_with("attachments["))
}

/// Adds a guest message to a locked thread and answers it: 201, or 200 for a redelivery.
async fn deliver(
    tx: &mut db::Tx,
    thread: &Thread,
    message: &GuestMessage,
) -> Result<Response, ApiError> {
    let attachments: Vec<NewAttachment<'_>> = message
        .attachments
        .iter()
        .map(|a| NewAttachment {
            file_name: &a.file_name,
            file_type: &a.file_type,
            data: &a.data,
        })
        .collect();
    let author = (message.name.is_some() || message.role.is_some()).then(|| {
        messaging::author_meta(
            message.name.as_deref().unwrap_or(&thread.title),
            message.role.unwrap_or(Role::Guest),
        )
    });
    let (stored, created) = messaging::append(
        tx,
        thread,
        &Append {
            sender: Sender::Guest,
            message: &message.text,
            user_id: None,
            meta: author.as_ref(),
            ota_message_id: message.ota_message_id.as_deref(),
            attachments: &attachments,
            uploaded_attachment_id: None,
        },
    )
    .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(envelope::single(status, views::message(&stored)))
}

/// POST /admin/bookings/{id}/guest_messages
#[utoipa::path(
    post,
    path = "/bookings/{id}/guest_messages",
    tag = "Admin",
    summary = "The guest of a booking writes",
    params(crate::openapi::params::IdPath),
    request_body = crate::openapi::schemas::GuestMessageCreate,
    responses((status = 201, description = "The message.", body = crate::openapi::schemas::MessageData), (status = 200, description = "A message with this `ota_message_id` was already stored: it is answered again.", body = crate::openapi::schemas::MessageData))
)]
pub async fn booking_guest_message(
    State(state): State<AppState>,
    Id(id): Id,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let booking = db::bookings::get(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if Provider::for_ota(&booking.ota_name).is_none() {
        return Err(ApiError::NotSupported);
    }
    let message = read_guest_message(body, state.max_attachment_bytes)?;
    let turn = state.writers.turn(booking.writers_key()).await?;
    let mut tx = turn.begin(&state.db).await?;
    let thread = messaging::lock_booking_thread(&mut tx, &booking).await?;
    let response = deliver(&mut tx, &thread, &message).await?;
    tx.commit().await?;
    Ok(changes::for_user(response, thread.owner_id))
}

/// POST /admin/message_threads/{id}/guest_messages
#[utoipa::path(
    post,
    path = "/message_threads/{id}/guest_messages",
    tag = "Admin",
    summary = "The guest of a thread writes",
    params(crate::openapi::params::IdPath),
    request_body = crate::openapi::schemas::GuestMessageCreate,
    responses((status = 201, description = "The message.", body = crate::openapi::schemas::MessageData), (status = 200, description = "A message with this `ota_message_id` was already stored: it is answered again.", body = crate::openapi::schemas::MessageData))
)]
pub async fn thread_guest_message(
    State(state): State<AppState>,
    Id(id): Id,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let turn = state.writers.turn(id).await?;
    let mut tx = turn.begin(&state.db).await?;
    let thread = db::threads::lock(&mut tx, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let message = read_guest_message(body, state.max_attachment_bytes)?;
    let response = deliver(&mut tx, &thread, &message).await?;
    tx.commit().await?;
    Ok(changes::for_user(response, thread.owner_id))
}

fn read_inquiry(body: Map<String, Value>) -> Result<Inquiry, ApiError> {
    let mut f = Fields::envelope(body, "inquiry")?;
    let property_id = f.required_uuid("property_id");
    let guest_name = f.required_string("guest_name", 255);
    let checkin = f.required_date("checkin_date");
    let checkout = f.required_date("checkout_date");
    if let (Some(a), Some(d)) = (checkin, checkout)
        && d <= a
    {
        f.error("checkout_date", "must be after checkin_date");
    }
    let adults = f.int("number_of_adults", 0, 100).unwrap_or(1);
    let children = f.int("number_of_children", 0, 100).unwrap_or(0);
    let infants = f.int("number_of_infants", 0, 100).unwrap_or(0);
    let pets = f.int("number_of_pets", 0, 100).unwrap_or(0);
    let currency = f.string("currency", 3);
    if currency
        .as_deref()
        .is_some_and(|c| c.len() != 3 || !c.bytes().all(|b| b.is_ascii_uppercase()))
    {
        f.error("currency", INVALID);
    }
    let payout = f.amount("expected_payout_amount_accurate");
    let listing_id = f.string("listing_id", 255);
    let listing_name = f.string("listing_name", 255);
    let room_type_id = f.uuid("room_type_id");
    let ota_message_thread_id = f
        .string("ota_message_thread_id", 255)
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty());
    let message = f
        .string("message", MAX_MESSAGE_CHARS)
        .filter(|m| !m.trim().is_empty());
    f.finish()?;
    Ok(Inquiry {
        property_id: property_id.unwrap_or_default(),
        guest_name: guest_name.unwrap_or_default().trim().to_owned(),
        checkin: checkin.unwrap_or_default(),
        checkout: checkout.unwrap_or_default(),
        adults,
        children,
        infants,
        pets,
        currency,
        payout,
        listing_id,
        listing_name,
        room_type_id,
        message,
        ota_message_thread_id,
    })
}

/// POST /admin/inquiries
#[utoipa::path(
    post,
    path = "/inquiries",
    tag = "Admin",
    summary = "Open an Airbnb inquiry",
    request_body = crate::openapi::schemas::InquiryCreate,
    responses((status = 201, description = "The inquiry's thread.", body = crate::openapi::schemas::ThreadData))
)]
pub async fn create_inquiry(
    State(state): State<AppState>,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let inquiry = read_inquiry(body)?;
    let mut tx = state.db.begin().await?;
    let property = db::properties::get(&mut *tx, inquiry.property_id)
        .await?
        .ok_or_else(|| ApiError::invalid("property_id", "not found"))?;
    let thread = messaging::create_inquiry(&mut tx, &property, &inquiry).await?;
    tx.commit().await?;
    Ok(changes::for_user(
        envelope::single(StatusCode::CREATED, views::thread(&thread)),
        thread.owner_id,
    ))
}

/// POST /admin/message_threads/{id}/assign_booking
#[utoipa::path(
    post,
    path = "/message_threads/{id}/assign_booking",
    tag = "Admin",
    summary = "Attach an inquiry thread to its booking",
    params(crate::openapi::params::IdPath),
    request_body = crate::openapi::schemas::AssignBooking,
    responses((status = 200, description = "The thread.", body = crate::openapi::schemas::ThreadData))
)]
pub async fn assign_booking(
    State(state): State<AppState>,
    Id(id): Id,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let turn = state.writers.turn(id).await?;
    let mut tx = turn.begin(&state.db).await?;
    let thread = db::threads::lock(&mut tx, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let mut f = Fields::new(body);
    let booking_id = f.required_uuid("booking_id");
    f.finish()?;
    let booking_id = booking_id.unwrap_or_default();
    if thread.booking_id == Some(booking_id) {
        return Ok(envelope::single(StatusCode::OK, views::thread(&thread)));
    }
    if thread.booking_id.is_some() {
        return Err(ApiError::invalid(
            "booking_id",
            "thread already has a booking",
        ));
    }
    let booking = db::bookings::get(&mut *tx, booking_id)
        .await?
        .ok_or_else(|| ApiError::invalid("booking_id", "not found"))?;
    if booking.property_id != thread.property_id {
        return Err(ApiError::invalid(
            "booking_id",
            "must belong to the thread's property",
        ));
    }
    if Provider::for_ota(&booking.ota_name).map(Provider::as_str) != Some(thread.provider.as_str())
    {
        return Err(ApiError::invalid(
            "booking_id",
            "must come from the thread's OTA",
        ));
    }
    if booking.message_thread_id.is_some() {
        return Err(ApiError::invalid("booking_id", "has already been taken"));
    }
    // A concurrent assignment of the same booking loses on the unique constraint.
    match db::threads::assign_booking(&mut *tx, thread.id, booking.id).await {
        Err(err) if db::violated_constraint(&err) == Some(db::threads::BOOKING_TAKEN) => {
            return Err(ApiError::invalid("booking_id", "has already been taken"));
        }
        other => other?,
    }
    let payload = json!({
        "message_thread_id": thread.id,
        "booking_id": booking.id,
        "property_id": thread.property_id,
    });
    db::events::insert(
        &mut *tx,
        db::events::BOOKING_ASSIGNED,
        thread.property_id,
        thread.owner_id,
        &payload,
    )
    .await?;
    let thread = db::threads::get(&mut *tx, thread.id)
        .await?
        .ok_or(ApiError::NotFound)?;
    tx.commit().await?;
    Ok(changes::for_user(
        envelope::single(StatusCode::OK, views::thread(&thread)),
        thread.owner_id,
    ))
}
