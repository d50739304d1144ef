use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Thread {
    pub id: Uuid,
    pub property_id: Uuid,
    pub channel_id: Uuid,
    pub booking_id: Option<Uuid>,
    pub provider: String,
    pub title: String,
    pub is_closed: bool,
    pub message_count: i32,
    pub last_message: Option<Value>,
    pub last_message_received_at: Option<DateTime<Utc>>,
    pub inserted_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The owner of the thread's property.
    pub owner_id: Uuid,
}

const SELECT: &str = r#"select t.id, t.property_id, t.channel_id, t.booking_id, t.provider, t.title,
    t.is_closed, t.message_count, t.last_message, t.last_message_received_at, t.inserted_at,
    t.updated_at, p.user_id as owner_id
    from message_threads t join properties p on p.id = t.property_id"#;

pub async fn get(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<Thread>> {
    sqlx::query_as(&format!("{SELECT} where t.id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await
}

/// The thread, locked until the transaction ends: writers to one thread go one at a time, so
/// its counters and `last_message` cannot lose an update.
pub async fn lock(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<Thread>> {
    sqlx::query_as(&format!("{SELECT} where t.id = $1 for update of t"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

pub struct NewThread<'a> {
    pub property_id: Uuid,
    pub channel_id: Uuid,
    pub booking_id: Option<Uuid>,
    pub provider: &'a str,
    pub title: &'a str,
}

/// Creates a thread; for a booking that has one already, answers the existing thread's id.
pub async fn insert(conn: &mut PgConnection, new: &NewThread<'_>) -> sqlx::Result<Uuid> {
    sqlx::query_scalar(
        r#"with inserted as (
             insert into message_threads (id, property_id, channel_id, booking_id, provider, title)
             values ($1, $2, $3, $4, $5, $6)
             on conflict (booking_id) do nothing returning id)
           select id from inserted
           union all
           select id from message_threads where booking_id = $4
           limit 1"#,
    )
    .bind(Uuid::new_v4())
    .bind(new.property_id)
    .bind(new.channel_id)
    .bind(new.booking_id)
    .bind(new.provider)
    .bind(new.title)
    .fetch_one(conn)
    .await
}

/// Counts a new message: the caller holds the thread's lock (see [`lock`]).
pub async fn record_message(
    db: impl PgExecutor<'_>,
    id: Uuid,
    last_message: &Value,
    at: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        r#"update message_threads
           set message_count = message_count + 1, last_message = $2,
               last_message_received_at = $3, updated_at = $3, is_closed = false
           where id = $1"#,
    )
    .bind(id)
    .bind(last_message)
    .bind(at)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn close(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<()> {
    sqlx::query(
        r#"update message_threads set is_closed = true, updated_at = clock_timestamp()
           where id = $1 and not is_closed"#,
    )
    .bind(id)
    .execute(db)
    .await?;
    Ok(())
}

pub const BOOKING_TAKEN: &str = "message_threads_booking_id_key";

/// Links a thread without a booking to a booking.
pub async fn assign_booking(
    db: impl PgExecutor<'_>,
    id: Uuid,
    booking_id: Uuid,
) -> sqlx::Result<()> {
    sqlx::query(
        r#"update message_threads set booking_id = $2, updated_at = clock_timestamp()
           where id = $1"#,
    )
    .bind(id)
    .bind(booking_id)
    .execute(db)
    .await?;
    Ok(())
}
