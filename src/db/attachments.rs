//! Attachments. The bytes are read a slice at a time ([`read_slice`]): a download never holds a
//! whole file, and deciding who may download reads no byte at all.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use sqlx::PgExecutor;
use uuid::Uuid;

/// An attachment's bytes and what describes them.
pub struct NewAttachment<'a> {
    pub file_name: &'a str,
    pub file_type: &'a str,
    pub data: &'a [u8],
}

/// What describes an attachment; its bytes stay in the database.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Attachment {
    pub id: Uuid,
    pub user_id: Option<Uuid>,
    /// The credential (API key or chat session) that uploaded it.
    pub uploader_key_id: Option<Uuid>,
    pub message_id: Option<Uuid>,
    pub file_name: String,
    pub file_type: String,
    pub byte_size: i32,
    pub sha256: Vec<u8>,
    pub inserted_at: DateTime<Utc>,
}

/// Who uploaded an attachment through the API: the user and the credential used.
#[derive(Debug, Clone, Copy)]
pub struct Uploader {
    pub user_id: Uuid,
    pub key_id: Uuid,
}

/// Stores an attachment: uploaded through the API (`message_id: None`) or part of a guest's
/// message (no uploader).
pub async fn insert(
    db: impl PgExecutor<'_>,
    new: &NewAttachment<'_>,
    uploader: Option<Uploader>,
    message_id: Option<Uuid>,
    position: i32,
) -> sqlx::Result<Uuid> {
    let id = Uuid::new_v4();
    let byte_size = i32::try_from(new.data.len()).map_err(|e| sqlx::Error::Encode(e.into()))?;
    sqlx::query(
        r#"insert into attachments (id, user_id, uploader_key_id, message_id, position, file_name,
             file_type, byte_size, sha256, data)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"#,
    )
    .bind(id)
    .bind(uploader.map(|u| u.user_id))
    .bind(uploader.map(|u| u.key_id))
    .bind(message_id)
    .bind(position)
    .bind(new.file_name)
    .bind(new.file_type)
    .bind(byte_size)
    .bind(Sha256::digest(new.data).as_slice())
    .bind(new.data)
    .execute(db)
    .await?;
    Ok(id)
}

/// Attaches an upload of `user_id` not used yet to a message and answers its file name;
/// `None` if there is no such upload.
pub async fn claim(
    db: impl PgExecutor<'_>,
    id: Uuid,
    user_id: Uuid,
    message_id: Uuid,
) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar(
        r#"update attachments set message_id = $3
           where id = $1 and user_id = $2 and message_id is null
           returning file_name"#,
    )
    .bind(id)
    .bind(user_id)
    .bind(message_id)
    .fetch_optional(db)
    .await
}

pub async fn get(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<Attachment>> {
    sqlx::query_as(
        r#"select id, user_id, uploader_key_id, message_id, file_name, file_type, byte_size,
             sha256, inserted_at from attachments where id = $1"#,
    )
    .bind(id)
    .fetch_optional(db)
    .await
}

/// `len` bytes of an attachment from `offset` (fewer at its end); `None` if it is gone. Only the
/// storage chunks that hold the slice are read (the column is stored uncompressed, 0006).
pub async fn read_slice(
    db: impl PgExecutor<'_>,
    id: Uuid,
    offset: usize,
    len: usize,
) -> sqlx::Result<Option<Vec<u8>>> {
    let from =
        i32::try_from(offset.saturating_add(1)).map_err(|e| sqlx::Error::Encode(e.into()))?;
    let len = i32::try_from(len).map_err(|e| sqlx::Error::Encode(e.into()))?;
    sqlx::query_scalar("select substring(data from $2 for $3) from attachments where id = $1")
        .bind(id)
        .bind(from)
        .bind(len)
        .fetch_optional(db)
        .await
}

/// An attachment's description with what decides who may download it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Download {
    #[sqlx(flatten)]
    pub attachment: Attachment,
    /// The property of the thread holding the attachment, its owner and whether the Messages
    /// app is installed there; `None` while the attachment is in no message.
    pub property_id: Option<Uuid>,
    pub owner_id: Option<Uuid>,
    pub messages_app: Option<bool>,
}

pub async fn get_download(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<Download>> {
    sqlx::query_as(
        r#"select a.id, a.user_id, a.uploader_key_id, a.message_id, a.file_name, a.file_type,
             a.byte_size, a.sha256, a.inserted_at, t.property_id, t.user_id as owner_id,
             case when t.id is null then null else exists (
               select 1 from application_installations i
               where i.property_id = t.property_id and i.application_code = 'channex_messages')
             end as messages_app
           from attachments a
           left join messages m on m.id = a.message_id
           left join message_threads t on t.id = m.message_thread_id
           where a.id = $1"#,
    )
    .bind(id)
    .fetch_optional(db)
    .await
}
