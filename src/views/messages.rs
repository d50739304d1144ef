//! `message`, its attachment URLs, and the `last_message` object of a thread.

use chrono::{DateTime, Utc};
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

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MessageAttributes {
    pub message: String,
    pub attachments: Vec<String>,
    pub sender: String,
    #[serde(serialize_with = "time::serialize")]
    #[schema(value_type = String, example = "2021-07-28T04:25:15.000000")]
    pub inserted_at: DateTime<Utc>,
    #[serde(serialize_with = "time::serialize")]
    #[schema(value_type = String, example = "2021-07-28T04:25:15.000000")]
    pub updated_at: DateTime<Utc>,
    pub have_attachment: bool,
    /// System messages: theirs (§7.7); guest and property messages: `{name, role}` of the
    /// author when known; absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub meta: Option<Value>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
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
    let attachments = message_urls(m);
    Resource {
        id: m.id,
        kind: "message",
        attributes: MessageAttributes {
            message: m.message.clone(),
            have_attachment: !attachments.is_empty(),
            attachments,
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
