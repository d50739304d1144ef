//! The wire shape of each resource: small serde structs that mirror the documentation.

use chrono::{DateTime, NaiveDate, Utc};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Serialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::db;
use crate::http::envelope::{Relationship, Resource};
use crate::http::time;

/// Characters left as they are in an attachment URL's file name (RFC 3986 unreserved).
const FILE_NAME: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `attachments/<id>/<percent-encoded file_name>`, relative to `<base>/api/v1/`.
pub fn attachment_url(id: Uuid, file_name: &str) -> String {
    format!(
        "attachments/{id}/{}",
        utf8_percent_encode(file_name, FILE_NAME)
    )
}

#[derive(Debug, Serialize)]
pub struct MessageAttributes {
    pub message: String,
    pub attachments: Vec<String>,
    pub sender: String,
    #[serde(serialize_with = "time::serialize")]
    pub inserted_at: DateTime<Utc>,
    #[serde(serialize_with = "time::serialize")]
    pub updated_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<Value>,
}

#[derive(Debug, Serialize)]
pub struct MessageRelationships {
    pub message_thread: Relationship,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<Relationship>,
}

pub fn message_urls(message: &db::messages::Message) -> Vec<String> {
    message
        .attachments
        .iter()
        .map(|a| attachment_url(a.id, &a.file_name))
        .collect()
}

pub fn message(m: &db::messages::Message) -> Resource<MessageAttributes, MessageRelationships> {
    Resource {
        id: m.id,
        kind: "message",
        attributes: MessageAttributes {
            message: m.message.clone(),
            attachments: message_urls(m),
            sender: m.sender.clone(),
            inserted_at: m.inserted_at,
            updated_at: m.updated_at,
            meta: m.meta.clone(),
        },
        relationships: Some(MessageRelationships {
            message_thread: Relationship::new("message_thread", m.message_thread_id),
            user: m.user_id.map(|id| Relationship::new("user", id)),
        }),
    }
}

/// The `last_message` object stored on a thread.
pub fn last_message(
    message: &str,
    sender: &str,
    attachments: &[String],
    at: &DateTime<Utc>,
) -> Value {
    json!({
        "attachments": attachments,
        "inserted_at": time::format(at),
        "message": message,
        "sender": sender,
    })
}

#[derive(Debug, Serialize)]
pub struct ThreadAttributes {
    pub title: String,
    pub is_closed: bool,
    pub provider: String,
    pub message_count: i32,
    pub last_message: Option<Value>,
    #[serde(serialize_with = "time::serialize_opt")]
    pub last_message_received_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "time::serialize")]
    pub inserted_at: DateTime<Utc>,
    #[serde(serialize_with = "time::serialize")]
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Serialize)]
pub struct ThreadRelationships {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub booking: Option<Relationship>,
    pub channel: Relationship,
    pub property: Relationship,
}

pub fn thread(t: &db::threads::Thread) -> Resource<ThreadAttributes, ThreadRelationships> {
    Resource {
        id: t.id,
        kind: "message_thread",
        attributes: ThreadAttributes {
            title: t.title.clone(),
            is_closed: t.is_closed,
            provider: t.provider.clone(),
            message_count: t.message_count,
            last_message: t.last_message.clone(),
            last_message_received_at: t.last_message_received_at,
            inserted_at: t.inserted_at,
            updated_at: t.updated_at,
        },
        relationships: Some(ThreadRelationships {
            booking: t.booking_id.map(|id| Relationship::new("booking", id)),
            channel: Relationship::new("channel", t.channel_id),
            property: Relationship::new("property", t.property_id),
        }),
    }
}

#[derive(Debug, Serialize)]
pub struct Customer {
    pub name: String,
    pub surname: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct BookingAttributes {
    pub property_id: Uuid,
    pub ota_name: String,
    pub ota_reservation_code: String,
    pub arrival_date: NaiveDate,
    pub departure_date: NaiveDate,
    pub customer: Customer,
    pub status: String,
    #[serde(serialize_with = "time::serialize")]
    pub inserted_at: DateTime<Utc>,
}

#[derive(Debug, Serialize)]
pub struct BookingRelationships {
    pub message_thread: Relationship,
}

pub fn booking(b: &db::bookings::Booking) -> Resource<BookingAttributes, BookingRelationships> {
    Resource {
        id: b.id,
        kind: "booking",
        attributes: BookingAttributes {
            property_id: b.property_id,
            ota_name: b.ota_name.clone(),
            ota_reservation_code: b.ota_reservation_code.clone(),
            arrival_date: b.arrival_date,
            departure_date: b.departure_date,
            customer: Customer {
                name: b.customer_name.clone(),
                surname: b.customer_surname.clone(),
            },
            status: b.status.clone(),
            inserted_at: b.inserted_at,
        },
        relationships: b.message_thread_id.map(|id| BookingRelationships {
            message_thread: Relationship::new("message_thread", id),
        }),
    }
}

#[derive(Debug, Serialize)]
pub struct PropertyAttributes {
    pub title: String,
    pub currency: Option<String>,
    pub timezone: Option<String>,
    pub is_active: bool,
}

pub fn property(p: &db::properties::Property) -> Resource<PropertyAttributes> {
    Resource {
        id: p.id,
        kind: "property",
        attributes: PropertyAttributes {
            title: p.title.clone(),
            currency: p.currency.clone(),
            timezone: p.timezone.clone(),
            is_active: p.is_active,
        },
        relationships: None,
    }
}

#[derive(Debug, Serialize)]
pub struct InstallationAttributes {
    pub id: Uuid,
    pub settings: Value,
    pub property_id: Uuid,
    pub is_active: bool,
    pub application_id: Uuid,
    pub application_code: String,
}

pub fn installation(i: &db::applications::Installation) -> Resource<InstallationAttributes> {
    Resource {
        id: i.id,
        kind: "application_installation",
        attributes: InstallationAttributes {
            id: i.id,
            settings: i.settings.clone(),
            property_id: i.property_id,
            is_active: true,
            application_id: db::applications::MESSAGES_APP_ID,
            application_code: i.application_code.clone(),
        },
        relationships: None,
    }
}

#[derive(Debug, Serialize)]
pub struct UserAttributes {
    pub email: String,
    pub name: Option<String>,
    #[serde(serialize_with = "time::serialize")]
    pub inserted_at: DateTime<Utc>,
    #[serde(serialize_with = "time::serialize")]
    pub updated_at: DateTime<Utc>,
}

pub fn user(u: &db::users::User) -> Resource<UserAttributes> {
    Resource {
        id: u.id,
        kind: "user",
        attributes: UserAttributes {
            email: u.email.clone(),
            name: u.name.clone(),
            inserted_at: u.inserted_at,
            updated_at: u.updated_at,
        },
        relationships: None,
    }
}

#[derive(Debug, Serialize)]
pub struct ApiKeyAttributes {
    /// The plaintext key: present only in the answer to its creation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub user_id: Uuid,
    /// `null` when the key sees every property of its user.
    pub property_ids: Option<Vec<Uuid>>,
    #[serde(serialize_with = "time::serialize")]
    pub inserted_at: DateTime<Utc>,
    #[serde(serialize_with = "time::serialize_opt")]
    pub revoked_at: Option<DateTime<Utc>>,
}

pub fn api_key(k: &db::api_keys::ApiKey, plaintext: Option<String>) -> Resource<ApiKeyAttributes> {
    Resource {
        id: k.id,
        kind: "api_key",
        attributes: ApiKeyAttributes {
            key: plaintext,
            user_id: k.user_id,
            property_ids: (!k.all_properties).then(|| k.property_ids.clone()),
            inserted_at: k.inserted_at,
            revoked_at: k.revoked_at,
        },
        relationships: None,
    }
}

#[derive(Debug, Serialize)]
pub struct OutboxAttributes {
    pub kind: String,
    pub property_id: Uuid,
    pub message_thread_id: Uuid,
    pub message_id: Option<Uuid>,
    pub payload: Value,
    #[serde(serialize_with = "time::serialize")]
    pub inserted_at: DateTime<Utc>,
}

pub fn outbox_entry(e: &db::outbox::OutboxEntry) -> Resource<OutboxAttributes> {
    Resource {
        id: e.id,
        kind: "outbox_entry",
        attributes: OutboxAttributes {
            kind: e.kind.clone(),
            property_id: e.property_id,
            message_thread_id: e.message_thread_id,
            message_id: e.message_id,
            payload: e.payload.clone(),
            inserted_at: e.inserted_at,
        },
        relationships: None,
    }
}

#[derive(Debug, Serialize)]
pub struct ConsolePropertyAttributes {
    #[serde(flatten)]
    pub property: PropertyAttributes,
    pub user_id: Uuid,
    pub messages_app: bool,
}

/// A property as the console lists it: with its owner and whether it has the Messages app.
pub fn console_property(p: &db::console::ConsoleProperty) -> Resource<ConsolePropertyAttributes> {
    let base = property(&p.property);
    Resource {
        id: base.id,
        kind: base.kind,
        attributes: ConsolePropertyAttributes {
            property: base.attributes,
            user_id: p.property.user_id,
            messages_app: p.messages_app,
        },
        relationships: None,
    }
}

#[derive(Debug, Serialize)]
pub struct EventAttributes {
    /// The stream id: the SSE `id:`, and what `after` takes.
    pub sequence: i64,
    pub event: String,
    pub property_id: Uuid,
    pub payload: Value,
    #[serde(serialize_with = "time::serialize")]
    pub inserted_at: DateTime<Utc>,
}

/// An event of the pull feed (§13).
pub fn event(e: &db::events::StreamEvent) -> Resource<EventAttributes> {
    Resource {
        id: e.id,
        kind: "event",
        attributes: EventAttributes {
            sequence: e.seq,
            event: e.event.clone(),
            property_id: e.property_id,
            payload: e.payload.clone(),
            inserted_at: e.inserted_at,
        },
        relationships: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attachment_urls_percent_encode_the_file_name() {
        let id = Uuid::nil();
        assert_eq!(
            attachment_url(id, "photo 1 (é).jpeg"),
            format!("attachments/{id}/photo%201%20%28%C3%A9%29.jpeg")
        );
        assert_eq!(
            attachment_url(id, "a-b_c~d.pdf"),
            format!("attachments/{id}/a-b_c~d.pdf")
        );
        assert_eq!(
            attachment_url(id, "100%?#.txt"),
            format!("attachments/{id}/100%25%3F%23.txt")
        );
    }
}
