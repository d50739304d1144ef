//! `message_thread`.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::db;
use crate::http::envelope::{Relationship, Resource};
use crate::http::time;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ThreadAttributes {
    pub title: String,
    pub is_closed: bool,
    pub provider: String,
    pub message_count: i32,
    #[schema(value_type = Option<Object>)]
    pub last_message: Option<Value>,
    #[serde(serialize_with = "time::serialize_opt")]
    #[schema(value_type = Option<String>, example = "2021-07-28T04:25:15.000000")]
    pub last_message_received_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "time::serialize")]
    #[schema(value_type = String, example = "2021-07-28T04:25:15.000000")]
    pub inserted_at: DateTime<Utc>,
    #[serde(serialize_with = "time::serialize")]
    #[schema(value_type = String, example = "2021-07-28T04:25:15.000000")]
    pub updated_at: DateTime<Utc>,
    /// The OTA's own id of the conversation.
    pub ota_message_thread_id: Option<String>,
    /// Airbnb threads: `{"listing_id", "live_feed_event_id"}`; others `{}`.
    #[schema(value_type = Object)]
    pub meta: Value,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
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
            ota_message_thread_id: t.ota_message_thread_id.clone(),
            meta: t.meta.clone(),
        },
        relationships: Some(ThreadRelationships {
            booking: t.booking_id.map(|id| Relationship::new("booking", id)),
            channel: Relationship::new("channel", t.channel_id),
            property: Relationship::new("property", t.property_id),
        }),
    }
}
