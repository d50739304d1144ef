//! What the console and the event feed show: properties with their owner, and events.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use super::{PropertyAttributes, property};
use crate::db;
use crate::http::envelope::Resource;
use crate::http::time;

#[derive(Debug, Serialize, utoipa::ToSchema)]
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

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventAttributes {
    /// The stream id: the SSE `id:`, and what `after` takes.
    pub sequence: i64,
    pub event: String,
    pub property_id: Uuid,
    #[schema(value_type = Object)]
    pub payload: Value,
    #[serde(serialize_with = "time::serialize")]
    #[schema(value_type = String, example = "2021-07-28T04:25:15.000000")]
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
