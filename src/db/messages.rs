use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use sqlx::types::Json;
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Message {
    pub id: Uuid,
    pub message_thread_id: Uuid,
    pub sender: String,
    pub message: String,
    pub user_id: Option<Uuid>,
    pub meta: Option<Value>,
    pub ota_message_id: Option<String>,
    pub inserted_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub attachments: Json<Vec<AttachmentRef>>,
}

/// What a message shows of an attachment: enough to build its URL.
#[derive(Debug, Clone, Deserialize)]
pub struct AttachmentRef {
    pub id: Uuid,
    pub file_name: String,
}

const SELECT: &str = r#"select m.id, m.message_thread_id, m.sender, m.message, m.user_id, m.meta,
    m.ota_message_id, m.inserted_at, m.updated_at,
    coalesce((select jsonb_agg(jsonb_build_object('id', a.id, 'file_name', a.file_name)
                               order by a.position)
              from attachments a where a.message_id = m.id), '[]'::jsonb) as attachments
    from messages m"#;

pub struct NewMessage<'a> {
    pub message_thread_id: Uuid,
    pub sender: &'a str,
    pub message: &'a str,
    pub user_id: Option<Uuid>,
    pub meta: Option<&'a Value>,
    pub ota_message_id: Option<&'a str>,
}

/// Inserts a message stamped with the current clock; answers its id and time.
pub async fn insert(
    conn: &mut PgConnection,
    new: &NewMessage<'_>,
) -> sqlx::Result<(Uuid, DateTime<Utc>)> {
    let id = Uuid::new_v4();
    let at = sqlx::query_scalar(
        r#"with now as (select clock_timestamp() as ts)
           insert into messages (id, message_thread_id, sender, message, user_id, meta,
             ota_message_id, inserted_at, updated_at)
           select $1, $2, $3, $4, $5, $6, $7, ts, ts from now
           returning inserted_at"#,
    )
    .bind(id)
    .bind(new.message_thread_id)
    .bind(new.sender)
    .bind(new.message)
    .bind(new.user_id)
    .bind(new.meta)
    .bind(new.ota_message_id)
    .fetch_one(conn)
    .await?;
    Ok((id, at))
}

pub async fn get(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<Message>> {
    sqlx::query_as(&format!("{SELECT} where m.id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await
}

/// A message the OTA delivered before, recognised by its OTA id.
pub async fn find_by_ota_id(
    db: impl PgExecutor<'_>,
    thread_id: Uuid,
    ota_message_id: &str,
) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar(
        "select id from messages where message_thread_id = $1 and ota_message_id = $2",
    )
    .bind(thread_id)
    .bind(ota_message_id)
    .fetch_optional(db)
    .await
}

/// One page of a thread's messages, newest first unless `ascending`.
pub async fn list(
    db: impl PgExecutor<'_>,
    thread_id: Uuid,
    senders: Option<&[String]>,
    ascending: bool,
    limit: i64,
    offset: i64,
) -> sqlx::Result<Vec<Message>> {
    let dir = if ascending { "asc" } else { "desc" };
    sqlx::query_as(&format!(
        r#"{SELECT} where m.message_thread_id = $1 and ($2::text[] is null or m.sender = any($2))
           order by m.inserted_at {dir}, m.seq {dir} limit $3 offset $4"#
    ))
    .bind(thread_id)
    .bind(senders)
    .bind(limit)
    .bind(offset)
    .fetch_all(db)
    .await
}

/// How many of a thread's messages come from `senders`.
pub async fn count(
    db: impl PgExecutor<'_>,
    thread_id: Uuid,
    senders: &[String],
) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "select count(*) from messages where message_thread_id = $1 and sender = any($2)",
    )
    .bind(thread_id)
    .bind(senders)
    .fetch_one(db)
    .await
}

/// Whether the newest guest message of a thread is marked as needing no reply.
pub async fn no_reply_needed(db: impl PgExecutor<'_>, thread_id: Uuid) -> sqlx::Result<bool> {
    let marked: Option<bool> = sqlx::query_scalar(
        r#"select no_reply_needed from messages where message_thread_id = $1 and sender = 'guest'
           order by inserted_at desc, seq desc limit 1"#,
    )
    .bind(thread_id)
    .fetch_optional(db)
    .await?;
    Ok(marked.unwrap_or(false))
}
