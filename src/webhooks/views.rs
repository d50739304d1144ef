//! The wire shapes of `webhook` and of the attempts listed by `.../deliveries`.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use crate::db::console::{AttemptEntry, Delivery};
use crate::db::webhook_deliveries::Attempt;
use crate::db::webhooks::Webhook;
use crate::http::envelope::{Relationship, Resource};
use crate::http::time;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WebhookAttributes {
    /// The webhook's id again, as Channex writes it.
    pub id: Uuid,
    pub callback_url: String,
    pub event_mask: String,
    pub property_id: Option<Uuid>,
    #[schema(value_type = Object)]
    pub headers: Value,
    #[schema(value_type = Object)]
    pub request_params: Value,
    pub is_active: bool,
    pub send_data: bool,
    pub is_global: bool,
    pub protected: bool,
    /// Ours: whether deliveries are signed. The secret itself is never sent back.
    pub has_signing_secret: bool,
    #[serde(serialize_with = "time::serialize")]
    #[schema(value_type = String, example = "2021-07-28T04:25:15.000000")]
    pub inserted_at: DateTime<Utc>,
    #[serde(serialize_with = "time::serialize")]
    #[schema(value_type = String, example = "2021-07-28T04:25:15.000000")]
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WebhookRelationships {
    pub property: Relationship,
}

pub fn webhook(w: &Webhook) -> Resource<WebhookAttributes, WebhookRelationships> {
    Resource {
        id: w.id,
        kind: "webhook",
        attributes: WebhookAttributes {
            id: w.id,
            callback_url: w.callback_url.clone(),
            event_mask: w.event_mask.clone(),
            property_id: w.property_id,
            headers: w.headers.clone(),
            request_params: w.request_params.clone(),
            is_active: w.is_active,
            send_data: w.send_data,
            is_global: w.is_global,
            protected: w.protected,
            has_signing_secret: w.signing_secret.is_some(),
            inserted_at: w.inserted_at,
            updated_at: w.updated_at,
        },
        relationships: w.property_id.map(|id| WebhookRelationships {
            property: Relationship::new("property", id),
        }),
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AttemptAttributes {
    /// The `X-Ota-Inbox-Delivery` header of the attempt: the same on every attempt of a
    /// delivery.
    pub delivery_id: Uuid,
    /// `null` for a test call.
    pub event_id: Option<Uuid>,
    pub event: String,
    /// Whether this was a test call (`POST /api/v1/webhooks/{id}/test`) rather than a delivery.
    pub is_test: bool,
    /// 1 for the first attempt of a delivery.
    pub attempt: i32,
    #[serde(serialize_with = "time::serialize")]
    #[schema(value_type = String, example = "2021-07-28T04:25:15.000000")]
    pub attempted_at: DateTime<Utc>,
    pub duration_ms: i32,
    /// `null` when there was no answer.
    pub status_code: Option<i32>,
    pub error: Option<String>,
    /// `delivered`, `retry` or `failed`.
    pub result: String,
    /// When the delivery is tried again; `null` when this attempt ended it.
    #[serde(serialize_with = "time::serialize_opt")]
    #[schema(value_type = Option<String>, example = "2021-07-28T04:25:15.000000")]
    pub next_attempt_at: Option<DateTime<Utc>>,
}

pub fn attempt(a: &Attempt) -> Resource<AttemptAttributes> {
    Resource {
        id: a.id,
        kind: "webhook_delivery_attempt",
        attributes: AttemptAttributes {
            delivery_id: a.delivery_id,
            event_id: a.event_id,
            event: a.event.clone(),
            is_test: a.is_test,
            attempt: a.attempt,
            attempted_at: a.attempted_at,
            duration_ms: a.duration_ms,
            status_code: a.status_code,
            error: a.error.clone(),
            result: a.result.clone(),
            next_attempt_at: a.next_attempt_at,
        },
        relationships: None,
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeliveryAttempt {
    pub id: Uuid,
    pub attempt: i32,
    #[serde(serialize_with = "time::serialize")]
    #[schema(value_type = String, example = "2021-07-28T04:25:15.000000")]
    pub attempted_at: DateTime<Utc>,
    pub duration_ms: i32,
    pub status_code: Option<i32>,
    pub error: Option<String>,
    pub result: String,
    #[serde(serialize_with = "time::serialize_opt")]
    #[schema(value_type = Option<String>, example = "2021-07-28T04:25:15.000000")]
    pub next_attempt_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeliveryAttributes {
    pub webhook_id: Uuid,
    pub callback_url: String,
    pub event_id: Uuid,
    pub event: String,
    pub property_id: Uuid,
    #[schema(value_type = Object)]
    pub payload: Value,
    /// `pending`, `delivered`, `failed` or `cancelled`.
    pub state: String,
    pub attempts: i32,
    /// When a pending delivery is tried next.
    #[serde(serialize_with = "time::serialize_opt")]
    #[schema(value_type = Option<String>, example = "2021-07-28T04:25:15.000000")]
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    #[serde(serialize_with = "time::serialize")]
    #[schema(value_type = String, example = "2021-07-28T04:25:15.000000")]
    pub inserted_at: DateTime<Utc>,
    #[serde(serialize_with = "time::serialize")]
    #[schema(value_type = String, example = "2021-07-28T04:25:15.000000")]
    pub updated_at: DateTime<Utc>,
    /// Every attempt, first first.
    pub attempt_log: Vec<DeliveryAttempt>,
}

fn delivery_attempt(a: &AttemptEntry) -> DeliveryAttempt {
    DeliveryAttempt {
        id: a.id,
        attempt: a.attempt,
        attempted_at: a.attempted_at,
        duration_ms: a.duration_ms,
        status_code: a.status_code,
        error: a.error.clone(),
        result: a.result.clone(),
        next_attempt_at: a.next_attempt_at,
    }
}

/// A delivery with its attempts (`GET /admin/webhook_deliveries`).
pub fn delivery(d: &Delivery) -> Resource<DeliveryAttributes> {
    Resource {
        id: d.id,
        kind: "webhook_delivery",
        attributes: DeliveryAttributes {
            webhook_id: d.webhook_id,
            callback_url: d.callback_url.clone(),
            event_id: d.event_id,
            event: d.event.clone(),
            property_id: d.property_id,
            payload: d.payload.clone(),
            state: d.state.clone(),
            attempts: d.attempts,
            next_attempt_at: (d.state == "pending").then_some(d.next_attempt_at),
            last_status: d.last_status,
            last_error: d.last_error.clone(),
            inserted_at: d.inserted_at,
            updated_at: d.updated_at,
            attempt_log: d.attempt_log.iter().map(delivery_attempt).collect(),
        },
        relationships: None,
    }
}
