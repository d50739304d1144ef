use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::{FromRow, PgConnection, PgExecutor, Row};
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
              from attachments a where a.message_id = m.id), '[]'::jsonb) as attachments,
    m.seq
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

/// What a page of messages needs besides its rows: who may read them and how many there are.
#[derive(Debug, Clone)]
pub struct Head {
    /// The owner of the thread's (or booking's) property.
    pub owner_id: Uuid,
    pub property_id: Uuid,
    /// Whether the Messages app is installed on the property.
    pub messages_app: bool,
    /// The thread's provider, or the booking's OTA name.
    pub provider: String,
    /// The thread (a booking's: `None` before it has one).
    pub thread_id: Option<Uuid>,
    /// Messages the filter selects (0 for a reader the gates refuse).
    pub total: i64,
}

/// Who reads a page: the key's user and properties (`None`: all of the user's).
#[derive(Debug, Clone, Copy)]
pub struct Reader<'a> {
    pub user_id: Uuid,
    pub listed: Option<&'a [Uuid]>,
}

/// A page of messages as one statement answers it: `None` when the thread (or booking) does
/// not exist. The rows are read only for a reader who sees the property, which has the
/// Messages app; the caller applies the gates to [`Head`].
pub async fn gated_page(
    db: impl PgExecutor<'_>,
    of: PageOf,
    id: Uuid,
    reader: Reader<'_>,
    page: &Page<'_>,
) -> sqlx::Result<Option<(Head, Vec<Message>)>> {
    let rows: Vec<PgRow> = sqlx::query(&gated_page_sql(of, page.ascending))
        .bind(id)
        .bind(page.senders)
        .bind(page.limit)
        .bind(page.offset)
        .bind(reader.user_id)
        .bind(reader.listed)
        .fetch_all(db)
        .await?;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let head = Head {
        owner_id: first.try_get("owner_id")?,
        property_id: first.try_get("property_id")?,
        messages_app: first.try_get("messages_app")?,
        provider: first.try_get("provider")?,
        thread_id: first.try_get("thread_id")?,
        total: first.try_get("total")?,
    };
    let mut messages = Vec::with_capacity(rows.len());
    for row in &rows {
        if row.try_get::<Option<Uuid>, _>("id")?.is_some() {
            messages.push(Message::from_row(row)?);
        }
    }
    Ok(Some((head, messages)))
}

/// The statement of [`gated_page`]: `$1` the thread's (or booking's) id, `$2` the senders
/// (`text[]`, null: all), `$3` limit, `$4` offset, `$5` the reader's user, `$6` the reader's
/// properties (`uuid[]`, null: all of the user's).
pub fn gated_page_sql(of: PageOf, ascending: bool) -> String {
    let dir = if ascending { "asc" } else { "desc" };
    let head = match of {
        PageOf::Thread => {
            r#"select t.user_id as owner_id, t.property_id, t.provider, t.id as thread_id,
                 t.message_count
               from message_threads t where t.id = $1"#
        }
        PageOf::Booking => {
            r#"select b.user_id as owner_id, b.property_id, b.ota_name as provider,
                 t.id as thread_id, t.message_count
               from bookings b left join message_threads t on t.booking_id = b.id
               where b.id = $1"#
        }
    };
    format!(
        r#"with head as materialized (
             select h.*,
               h.owner_id = $5 and ($6::uuid[] is null or h.property_id = any($6)) as visible,
               exists (select 1 from application_installations i
                       where i.property_id = h.property_id
                         and i.application_code = 'channex_messages') as messages_app
             from ({head}) h)
           select h.owner_id, h.property_id, h.provider, h.thread_id, h.messages_app,
             case when not (h.visible and h.messages_app) or h.thread_id is null then 0
                  when $2::text[] is null then h.message_count::bigint
                  else (select count(*) from messages c
                        where c.message_thread_id = h.thread_id and c.sender = any($2))
             end as total,
             p.*
           from head h
           left join lateral (
             {SELECT} where h.visible and h.messages_app
               and m.message_thread_id = h.thread_id and ($2::text[] is null or m.sender = any($2))
             order by m.inserted_at {dir}, m.seq {dir} limit $3 offset $4) p on true
           order by p.inserted_at {dir}, p.seq {dir}"#
    )
}

/// Which messages, in which order.
#[derive(Debug, Clone, Copy)]
pub struct Page<'a> {
    /// Only these senders (`None`: all).
    pub senders: Option<&'a [String]>,
    /// Oldest first (else newest first).
    pub ascending: bool,
    pub limit: i64,
    pub offset: i64,
}

/// Whose messages a page lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageOf {
    Thread,
    Booking,
}

/// A property message sent through the Messages API, as `ota_send_message` (migration 0009)
/// takes it.
#[derive(Debug, Clone, Copy)]
pub struct Send<'a> {
    /// To a thread, or
    pub thread_id: Option<Uuid>,
    /// to a booking's thread.
    pub booking_id: Option<Uuid>,
    pub reader: Reader<'a>,
    pub message: &'a str,
    /// An upload of the reader's user to attach.
    pub attachment_id: Option<Uuid>,
    /// The longest wait for a lock (`None`: the session's lock timeout).
    pub lock_timeout: Option<std::time::Duration>,
    /// What is left of the request's time: a send that would end later is rolled back (a
    /// statement committed after its request was answered 503 must not happen).
    pub budget: Option<std::time::Duration>,
    /// A booking's new thread (`{title, ota_message_thread_id, meta}`), when it has none.
    pub new_thread: Option<&'a Value>,
}

/// What a send did.
#[derive(Debug)]
pub enum Sent {
    Message(Message),
    NotFound,
    Unauthorized,
    Forbidden,
    NotSupported,
    /// The attachment is not an unsent upload of the user.
    AttachmentInvalid,
    /// The booking has no thread yet: what making one needs (nothing was written).
    NoThread(BookingForThread),
}

/// What a booking's first thread is made of.
#[derive(Debug, Deserialize)]
pub struct BookingForThread {
    pub property_id: Uuid,
    pub provider: String,
    pub customer_name: String,
    pub customer_surname: Option<String>,
    pub ota_message_thread_id: Option<String>,
}

/// Runs a whole send (gates, message, counters, outbox, events) in one statement, committed
/// with it when `db` is the pool (autocommit).
pub async fn send(db: impl PgExecutor<'_>, send: &Send<'_>) -> sqlx::Result<Sent> {
    let providers: serde_json::Map<String, Value> = crate::ota::Provider::ALL
        .iter()
        .map(|p| (p.ota_key(), Value::from(p.as_str())))
        .collect();
    let millis = |t: std::time::Duration| i32::try_from(t.as_millis().max(1)).unwrap_or(i32::MAX);
    let lock_timeout = send.lock_timeout.map(millis);
    let budget = send.budget.map(millis);
    let row: PgRow = sqlx::query(
        r#"select o_outcome, o_booking, o_id as id, o_message_thread_id as message_thread_id,
             o_sender as sender, o_message as message, o_user_id as user_id, o_meta as meta,
             o_ota_message_id as ota_message_id, o_inserted_at as inserted_at,
             o_updated_at as updated_at, o_attachments as attachments
           from ota_send_message($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"#,
    )
    .bind(send.thread_id)
    .bind(send.booking_id)
    .bind(send.reader.user_id)
    .bind(send.reader.listed)
    .bind(Value::Object(providers))
    .bind(send.message)
    .bind(send.attachment_id)
    .bind(lock_timeout)
    .bind(budget)
    .bind(send.new_thread)
    .fetch_one(db)
    .await?;
    let outcome: String = row.try_get("o_outcome")?;
    Ok(match outcome.as_str() {
        "sent" => Sent::Message(Message::from_row(&row)?),
        "not_found" => Sent::NotFound,
        "unauthorized" => Sent::Unauthorized,
        "forbidden" => Sent::Forbidden,
        "not_supported" => Sent::NotSupported,
        "attachment_invalid" => Sent::AttachmentInvalid,
        "no_thread" => {
            let Json(booking) = row.try_get::<Json<BookingForThread>, _>("o_booking")?;
            Sent::NoThread(booking)
        }
        other => {
            return Err(sqlx::Error::Protocol(format!(
                "ota_send_message answered {other:?}"
            )));
        }
    })
}
