//! Operations on threads shared by the Messages API and the admin API. Each runs inside the
//! caller's transaction, so a message, its attachments, the thread's counters, the OTA-outbox
//! record and the events (webhook and live) are written together or not at all.

use chrono::{Duration, NaiveDate, Utc};
use serde_json::{Value, json};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::db;
use crate::db::attachments::NewAttachment;
use crate::db::bookings::Booking;
use crate::db::messages::{Message, NewMessage};
use crate::db::properties::Property;
use crate::db::threads::{NewThread, Thread};
use crate::error::ApiError;
use crate::http::time;
use crate::ota::{self, Provider};
use crate::views;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sender {
    Guest,
    Property,
    System,
}

impl Sender {
    pub fn as_str(self) -> &'static str {
        match self {
            Sender::Guest => "guest",
            Sender::Property => "property",
            Sender::System => "system",
        }
    }
}

/// A message to add to a thread.
pub struct Append<'a> {
    pub sender: Sender,
    pub message: &'a str,
    /// The user who sent it (property messages).
    pub user_id: Option<Uuid>,
    /// System messages: their meta; guest and property messages: `{name, role}` of the
    /// author (when `None`: the thread's title and `GUEST` for guests, the sending user's name
    /// and `HOST` for property messages).
    pub meta: Option<&'a Value>,
    /// The OTA's id of a guest message: a message delivered twice is stored once.
    pub ota_message_id: Option<&'a str>,
    /// Attachments that arrive with the message (guest messages).
    pub attachments: &'a [NewAttachment<'a>],
    /// An attachment the sending user uploaded before (property messages).
    pub uploaded_attachment_id: Option<Uuid>,
}

impl<'a> Append<'a> {
    /// A plain text message, without attachments, meta or OTA id.
    pub fn text(sender: Sender, message: &'a str) -> Self {
        Append {
            sender,
            message,
            user_id: None,
            meta: None,
            ota_message_id: None,
            attachments: &[],
            uploaded_attachment_id: None,
        }
    }
}

/// Adds a message to a thread the caller has locked ([`db::threads::lock`]). Answers the
/// message and whether it is new (`false`: the OTA delivered this `ota_message_id` before).
pub async fn append(
    conn: &mut PgConnection,
    thread: &Thread,
    append: &Append<'_>,
) -> Result<(Message, bool), ApiError> {
    if let Some(ota_id) = append.ota_message_id
        && let Some(existing) = db::messages::find_by_ota_id(&mut *conn, thread.id, ota_id).await?
    {
        let message = db::messages::get(&mut *conn, existing)
            .await?
            .ok_or(ApiError::NotFound)?;
        return Ok((message, false));
    }
    let author = match (append.sender, append.meta, append.user_id) {
        (_, Some(_), _) | (Sender::System, None, _) => None,
        (Sender::Guest, None, _) => Some(author_meta(&thread.title, Role::Guest)),
        (Sender::Property, None, Some(user_id)) => db::users::display_name(&mut *conn, user_id)
            .await?
            .map(|name| author_meta(&name, Role::Host)),
        (Sender::Property, None, None) => None,
    };
    let (message_id, at) = db::messages::insert(
        conn,
        &NewMessage {
            message_thread_id: thread.id,
            sender: append.sender.as_str(),
            message: append.message,
            user_id: append.user_id,
            meta: append.meta.or(author.as_ref()),
            ota_message_id: append.ota_message_id,
        },
    )
    .await?;

    let mut urls = Vec::new();
    for (position, attachment) in append.attachments.iter().enumerate() {
        let position = i32::try_from(position).unwrap_or(i32::MAX);
        let id = db::attachments::insert(&mut *conn, attachment, None, Some(message_id), position)
            .await?;
        urls.push(views::attachment_url(id, attachment.file_name));
    }
    if let (Some(id), Some(user_id)) = (append.uploaded_attachment_id, append.user_id) {
        let file_name = db::attachments::claim(&mut *conn, id, user_id, message_id)
            .await?
            .ok_or_else(|| ApiError::invalid("attachment_id", "is invalid"))?;
        urls.push(views::attachment_url(id, &file_name));
    }

    let last = views::last_message(append.message, append.sender.as_str(), &urls, &at);
    db::threads::record_message(&mut *conn, thread.id, &last, at).await?;

    let message = db::messages::get(&mut *conn, message_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if append.sender == Sender::Property {
        let payload = json!({
            "message_id": message_id,
            "message": append.message,
            "attachments": urls,
            "provider": thread.provider,
            "booking_id": thread.booking_id,
        });
        db::outbox::insert(
            &mut *conn,
            thread.property_id,
            thread.id,
            Some(message_id),
            "message",
            &payload,
        )
        .await?;
    }

    // Every message is a live event with the webhook `message` payload; only the guest's are
    // webhook events (§10).
    db::events::insert_with(
        &mut *conn,
        db::events::MESSAGE,
        thread.property_id,
        thread.owner_id,
        &message_payload(thread, &message),
        append.sender == Sender::Guest,
    )
    .await?;
    if thread.is_closed {
        thread_updated(conn, thread, ThreadChange::Reopened, false, None).await?;
    }
    Ok((message, true))
}

/// The role of a message's author (§6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Guest,
    Host,
    Cohost,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Guest => "GUEST",
            Role::Host => "HOST",
            Role::Cohost => "COHOST",
        }
    }

    /// `GUEST`, `HOST` or `COHOST`, any case.
    pub fn parse(role: &str) -> Option<Self> {
        [Role::Guest, Role::Host, Role::Cohost]
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(role.trim()))
    }
}

/// A guest or property message's `meta`: `{"name", "role"}` of its author.
pub fn author_meta(name: &str, role: Role) -> Value {
    json!({ "name": name, "role": role.as_str() })
}

/// The payload of a `message` event (§10), whoever sent the message: the `message` webhook
/// (guest messages) and the live stream (every message) send this same object.
pub fn message_payload(thread: &Thread, message: &Message) -> Value {
    let attachments = views::message_urls(message);
    json!({
        "id": message.id,
        "message": message.message,
        "meta": message.meta,
        "sender": message.sender,
        "property_id": thread.property_id,
        "booking_id": thread.booking_id,
        "message_thread_id": thread.id,
        "live_feed_event_id": Uuid::new_v4(),
        "have_attachment": !attachments.is_empty(),
        "attachments": attachments,
        "ota_message_id": message.ota_message_id,
        "inserted_at": time::format(&message.inserted_at),
    })
}

/// What happened to a thread, as `message_thread_updated` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadChange {
    Closed,
    Reopened,
    NoReplyNeeded,
}

impl ThreadChange {
    pub fn as_str(self) -> &'static str {
        match self {
            ThreadChange::Closed => "closed",
            ThreadChange::Reopened => "reopened",
            ThreadChange::NoReplyNeeded => "no_reply_needed",
        }
    }
}

/// Records a `message_thread_updated` live event (not a webhook event) in the caller's
/// transaction: the thread, its state after the change, what changed, and the message a
/// no-reply marker went to.
pub async fn thread_updated(
    conn: &mut PgConnection,
    thread: &Thread,
    change: ThreadChange,
    is_closed: bool,
    message_id: Option<Uuid>,
) -> sqlx::Result<()> {
    let mut payload = json!({
        "message_thread_id": thread.id,
        "property_id": thread.property_id,
        "booking_id": thread.booking_id,
        "is_closed": is_closed,
        "change": change.as_str(),
    });
    if let Some(id) = message_id {
        payload["message_id"] = json!(id);
    }
    db::events::insert_with(
        conn,
        db::events::THREAD_UPDATED,
        thread.property_id,
        thread.owner_id,
        &payload,
        false,
    )
    .await?;
    Ok(())
}

/// The booking's thread, created on first use and locked. OTAs without messaging: 422.
pub async fn lock_booking_thread(
    conn: &mut PgConnection,
    booking: &Booking,
) -> Result<Thread, ApiError> {
    let provider = Provider::for_ota(&booking.ota_name).ok_or(ApiError::NotSupported)?;
    let id = match booking.message_thread_id {
        Some(id) => id,
        None => {
            let title = booking.guest_name();
            let ota_thread_id = booking
                .ota_message_thread_id
                .clone()
                .unwrap_or_else(|| provider.new_thread_id());
            let meta =
                provider.thread_meta(&ota::listing_id_of(booking.property_id), Uuid::new_v4());
            db::threads::insert(
                conn,
                &NewThread {
                    property_id: booking.property_id,
                    channel_id: booking.channel_id,
                    booking_id: Some(booking.id),
                    provider: provider.as_str(),
                    title: &title,
                    ota_message_thread_id: Some(&ota_thread_id),
                    meta: &meta,
                },
            )
            .await?
        }
    };
    db::threads::lock(conn, id).await?.ok_or(ApiError::NotFound)
}

/// What `ota_send_message` (migration 0009) makes a booking's first thread of: its title,
/// the OTA's conversation id and its meta, as [`lock_booking_thread`] makes them.
pub fn new_booking_thread(booking: &db::messages::BookingForThread) -> Result<Value, ApiError> {
    let provider = Provider::parse(&booking.provider).ok_or(ApiError::NotSupported)?;
    let ota_thread_id = booking
        .ota_message_thread_id
        .clone()
        .unwrap_or_else(|| provider.new_thread_id());
    Ok(json!({
        "title": db::bookings::guest_name(
            &booking.customer_name,
            booking.customer_surname.as_deref(),
        ),
        "ota_message_thread_id": ota_thread_id,
        "meta": provider.thread_meta(&ota::listing_id_of(booking.property_id), Uuid::new_v4()),
    }))
}

/// An Airbnb inquiry: a guest asks for dates before there is a booking.
pub struct Inquiry {
    pub property_id: Uuid,
    pub guest_name: String,
    pub checkin: NaiveDate,
    pub checkout: NaiveDate,
    pub adults: i64,
    pub children: i64,
    pub infants: i64,
    pub pets: i64,
    pub currency: Option<String>,
    pub payout: Option<String>,
    pub listing_id: Option<String>,
    pub listing_name: Option<String>,
    pub room_type_id: Option<Uuid>,
    pub message: Option<String>,
    /// The OTA's id of the conversation (generated when `None`).
    pub ota_message_thread_id: Option<String>,
}

/// Creates an inquiry thread (no booking) with its `system` message, and the guest's text as a
/// second message when given; records the `inquiry` event. Answers the thread.
pub async fn create_inquiry(
    conn: &mut PgConnection,
    property: &Property,
    inquiry: &Inquiry,
) -> Result<Thread, ApiError> {
    let provider = Provider::AirBnb;
    let channel_id = db::bookings::channel_for(conn, property.id, provider.ota_name()).await?;
    let live_feed_event_id = Uuid::new_v4();
    let listing_id = inquiry
        .listing_id
        .clone()
        .unwrap_or_else(|| ota::listing_id_of(property.id));
    let ota_thread_id = inquiry
        .ota_message_thread_id
        .clone()
        .unwrap_or_else(|| provider.new_thread_id());
    let thread_id = db::threads::insert(
        conn,
        &NewThread {
            property_id: property.id,
            channel_id,
            booking_id: None,
            provider: provider.as_str(),
            title: &inquiry.guest_name,
            ota_message_thread_id: Some(&ota_thread_id),
            meta: &provider.thread_meta(&listing_id, live_feed_event_id),
        },
    )
    .await?;
    let thread = db::threads::lock(conn, thread_id)
        .await?
        .ok_or(ApiError::NotFound)?;

    let booking_details = json!({
        "checkin_date": inquiry.checkin,
        "checkout_date": inquiry.checkout,
        "currency": inquiry.currency.as_ref().or(property.currency.as_ref()),
        "expected_payout_amount_accurate": inquiry.payout,
        "guest_name": inquiry.guest_name,
        "listing_id": listing_id,
        "listing_name": inquiry.listing_name,
        "nights": (inquiry.checkout - inquiry.checkin).num_days(),
        "non_response_at": (Utc::now() + Duration::hours(24)).format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        "number_of_adults": inquiry.adults,
        "number_of_children": inquiry.children,
        "number_of_guests": inquiry.adults + inquiry.children,
        "number_of_infants": inquiry.infants,
        "number_of_pets": inquiry.pets,
        "property_id": property.id,
        "room_type_id": inquiry.room_type_id,
    });
    let meta = json!({
        "status": "active",
        "live_feed_event_id": live_feed_event_id,
        "booking_details": booking_details,
    });
    let system = Append {
        meta: Some(&meta),
        ..Append::text(Sender::System, "inquiry")
    };
    let (system, _) = append(conn, &thread, &system).await?;
    if let Some(text) = inquiry.message.as_deref() {
        append(conn, &thread, &Append::text(Sender::Guest, text)).await?;
    }
    let mut details = meta["booking_details"].clone();
    details["payout_amount"] = json!(inquiry.payout);
    let payload = json!({
        "status": meta["status"],
        "message_thread_id": thread.id,
        "message_id": system.id,
        "property_id": property.id,
        "live_feed_event_id": live_feed_event_id,
        "title": thread.title,
        "booking_details": details,
    });
    db::events::insert(
        &mut *conn,
        db::events::INQUIRY,
        property.id,
        property.user_id,
        &payload,
    )
    .await?;
    db::threads::get(&mut *conn, thread.id)
        .await?
        .ok_or(ApiError::NotFound)
}
