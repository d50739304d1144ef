//! The event log: one row per webhook event, written in the transaction of the change that
//! causes it, so that no event is lost or emitted for a change that rolled back.

use serde_json::Value;
use sqlx::PgExecutor;
use uuid::Uuid;

pub const MESSAGE: &str = "message";
pub const INQUIRY: &str = "inquiry";
pub const BOOKING_ASSIGNED: &str = "message_thread_booking_assigned";

pub async fn insert(
    db: impl PgExecutor<'_>,
    event: &str,
    property_id: Uuid,
    user_id: Uuid,
    payload: &Value,
) -> sqlx::Result<Uuid> {
    let id = Uuid::new_v4();
    sqlx::query(
        r#"insert into events (id, event, property_id, user_id, payload)
           values ($1, $2, $3, $4, $5)"#,
    )
    .bind(id)
    .bind(event)
    .bind(property_id)
    .bind(user_id)
    .bind(payload)
    .execute(db)
    .await?;
    Ok(id)
}
