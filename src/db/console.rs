//! What the OTA console reads through the admin API: every user's data, unscoped. The console
//! is a staging tool; its global lists (users, bookings) are ordered without an index of their
//! own, a property filter narrows through the per-property indexes.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use sqlx::PgExecutor;
use sqlx::types::Json;
use uuid::Uuid;

use crate::db::bookings::{self, Booking};
use crate::db::properties::Property;
use crate::db::threads::{self, Thread};
use crate::db::users::User;

/// A page of users, oldest first, and their total.
pub async fn users(
    db: impl PgExecutor<'_> + Copy,
    limit: i64,
    offset: i64,
) -> sqlx::Result<(Vec<User>, i64)> {
    let rows = sqlx::query_as(
        r#"select id, email, name, inserted_at, updated_at from users
           order by inserted_at, id limit $1 offset $2"#,
    )
    .bind(limit)
    .bind(offset)
    .fetch_all(db)
    .await?;
    let total = sqlx::query_scalar("select count(*) from users")
        .fetch_one(db)
        .await?;
    Ok((rows, total))
}

/// A property with whether it has the Messages app.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ConsoleProperty {
    #[sqlx(flatten)]
    pub property: Property,
    pub messages_app: bool,
}

/// A page of properties (of `user_ids` when given), oldest first, and their total.
pub async fn properties(
    db: impl PgExecutor<'_> + Copy,
    user_ids: Option<&[Uuid]>,
    limit: i64,
    offset: i64,
) -> sqlx::Result<(Vec<ConsoleProperty>, i64)> {
    let rows = sqlx::query_as(
        r#"select p.id, p.user_id, p.title, p.currency, p.timezone, p.is_active, p.inserted_at,
             p.updated_at,
             exists (select 1 from application_installations i
                     where i.property_id = p.id and i.application_code = 'channex_messages')
               as messages_app
           from properties p where ($1::uuid[] is null or p.user_id = any($1))
           order by p.inserted_at, p.id limit $2 offset $3"#,
    )
    .bind(user_ids)
    .bind(limit)
    .bind(offset)
    .fetch_all(db)
    .await?;
    let total = sqlx::query_scalar(
        "select count(*) from properties where ($1::uuid[] is null or user_id = any($1))",
    )
    .bind(user_ids)
    .fetch_one(db)
    .await?;
    Ok((rows, total))
}

/// A page of bookings (on `property_ids` when given), newest first, and their total.
pub async fn bookings(
    db: impl PgExecutor<'_> + Copy,
    property_ids: Option<&[Uuid]>,
    limit: i64,
    offset: i64,
) -> sqlx::Result<(Vec<Booking>, i64)> {
    let rows = sqlx::query_as(&format!(
        r#"{} where ($1::uuid[] is null or b.property_id = any($1))
           order by b.inserted_at desc, b.id desc limit $2 offset $3"#,
        bookings::SELECT
    ))
    .bind(property_ids)
    .bind(limit)
    .bind(offset)
    .fetch_all(db)
    .await?;
    let total = sqlx::query_scalar(
        "select count(*) from bookings where ($1::uuid[] is null or property_id = any($1))",
    )
    .bind(property_ids)
    .fetch_one(db)
    .await?;
    Ok((rows, total))
}

/// A page of threads (on `property_ids` when given), latest message first, and their total.
pub async fn threads(
    db: impl PgExecutor<'_> + Copy,
    property_ids: Option<&[Uuid]>,
    limit: i64,
    offset: i64,
) -> sqlx::Result<(Vec<Thread>, i64)> {
    let rows = sqlx::query_as(&format!(
        r#"{} where ($1::uuid[] is null or t.property_id = any($1))
           order by t.last_message_received_at desc nulls last, t.inserted_at desc, t.id desc
           limit $2 offset $3"#,
        threads::SELECT
    ))
    .bind(property_ids)
    .bind(limit)
    .bind(offset)
    .fetch_all(db)
    .await?;
    let total = sqlx::query_scalar(
        "select count(*) from message_threads where ($1::uuid[] is null or property_id = any($1))",
    )
    .bind(property_ids)
    .fetch_one(db)
    .await?;
    Ok((rows, total))
}

/// One attempt of a delivery.
#[derive(Debug, Clone, Deserialize)]
pub struct AttemptEntry {
    pub id: Uuid,
    pub attempt: i32,
    pub attempted_at: DateTime<Utc>,
    pub duration_ms: i32,
    pub status_code: Option<i32>,
    pub error: Option<String>,
    pub result: String,
    pub next_attempt_at: Option<DateTime<Utc>>,
}

/// A webhook delivery with its event, its webhook's URL and its attempts.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Delivery {
    pub id: Uuid,
    pub webhook_id: Uuid,
    pub callback_url: String,
    pub event_id: Uuid,
    pub event: String,
    pub property_id: Uuid,
    pub payload: Value,
    pub state: String,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    pub inserted_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub attempt_log: Json<Vec<AttemptEntry>>,
}

/// A page of deliveries (of events on `property_ids`, to `webhook_ids`, when given), newest
/// first, and their total.
pub async fn deliveries(
    db: impl PgExecutor<'_> + Copy,
    property_ids: Option<&[Uuid]>,
    webhook_ids: Option<&[Uuid]>,
    limit: i64,
    offset: i64,
) -> sqlx::Result<(Vec<Delivery>, i64)> {
    const WHERE: &str = r#"from webhook_deliveries d
        join events e on e.id = d.event_id
        join webhooks w on w.id = d.webhook_id
        where ($1::uuid[] is null or e.property_id = any($1))
          and ($2::uuid[] is null or d.webhook_id = any($2))"#;
    let rows = sqlx::query_as(&format!(
        r#"select d.id, d.webhook_id, w.callback_url, d.event_id, e.event, e.property_id,
             e.payload, d.state, d.attempts, d.next_attempt_at, d.last_status, d.last_error,
             d.inserted_at, d.updated_at,
             coalesce((select jsonb_agg(jsonb_build_object(
                          'id', a.id, 'attempt', a.attempt, 'attempted_at', a.attempted_at,
                          'duration_ms', a.duration_ms, 'status_code', a.status_code,
                          'error', a.error, 'result', a.result,
                          'next_attempt_at', a.next_attempt_at)
                        order by a.attempt, a.attempted_at)
                       from webhook_attempts a where a.delivery_id = d.id), '[]'::jsonb)
               as attempt_log
           {WHERE}
           order by d.inserted_at desc, d.id desc limit $3 offset $4"#
    ))
    .bind(property_ids)
    .bind(webhook_ids)
    .bind(limit)
    .bind(offset)
    .fetch_all(db)
    .await?;
    let total = sqlx::query_scalar(&format!("select count(*) {WHERE}"))
        .bind(property_ids)
        .bind(webhook_ids)
        .fetch_one(db)
        .await?;
    Ok((rows, total))
}
