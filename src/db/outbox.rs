use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgExecutor;
use uuid::Uuid;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutboxEntry {
    pub id: Uuid,
    pub property_id: Uuid,
    pub message_thread_id: Uuid,
    pub message_id: Option<Uuid>,
    pub kind: String,
    pub payload: Value,
    pub inserted_at: DateTime<Utc>,
}

pub async fn insert(
    db: impl PgExecutor<'_>,
    property_id: Uuid,
    message_thread_id: Uuid,
    message_id: Option<Uuid>,
    kind: &str,
    payload: &Value,
) -> sqlx::Result<()> {
    sqlx::query(
        r#"insert into ota_outbox (id, property_id, message_thread_id, message_id, kind, payload)
           values ($1, $2, $3, $4, $5, $6)"#,
    )
    .bind(Uuid::new_v4())
    .bind(property_id)
    .bind(message_thread_id)
    .bind(message_id)
    .bind(kind)
    .bind(payload)
    .execute(db)
    .await?;
    Ok(())
}

pub struct OutboxFilter {
    pub property_ids: Option<Vec<Uuid>>,
    pub thread_ids: Option<Vec<Uuid>>,
    pub descending: bool,
}

/// A page of the outbox, oldest first unless `descending`, and the total.
pub async fn list(
    db: impl PgExecutor<'_> + Copy,
    filter: &OutboxFilter,
    limit: i64,
    offset: i64,
) -> sqlx::Result<(Vec<OutboxEntry>, i64)> {
    const WHERE: &str = r#"where ($1::uuid[] is null or property_id = any($1))
        and ($2::uuid[] is null or message_thread_id = any($2))"#;
    let direction = if filter.descending { "desc" } else { "asc" };
    let rows = sqlx::query_as(&format!(
        r#"select id, property_id, message_thread_id, message_id, kind, payload, inserted_at
           from ota_outbox {WHERE}
           order by inserted_at {direction}, seq {direction} limit $3 offset $4"#
    ))
    .bind(filter.property_ids.as_deref())
    .bind(filter.thread_ids.as_deref())
    .bind(limit)
    .bind(offset)
    .fetch_all(db)
    .await?;
    let total = sqlx::query_scalar(&format!("select count(*) from ota_outbox {WHERE}"))
        .bind(filter.property_ids.as_deref())
        .bind(filter.thread_ids.as_deref())
        .fetch_one(db)
        .await?;
    Ok((rows, total))
}
