use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::{FromRow, PgConnection, PgExecutor, Postgres, QueryBuilder, Row};
use uuid::Uuid;

use crate::http::list::{Direction, Order};

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
    /// The OTA's own id of the conversation.
    pub ota_message_thread_id: Option<String>,
    /// Airbnb threads: `{"listing_id", "live_feed_event_id"}`; others `{}`.
    pub meta: Value,
    /// The owner of the thread's property.
    pub owner_id: Uuid,
    /// Whether the Messages app is installed on the thread's property.
    pub messages_app: bool,
}

pub(crate) const SELECT: &str = r#"select t.id, t.property_id, t.channel_id, t.booking_id, t.provider, t.title,
    t.is_closed, t.message_count, t.last_message, t.last_message_received_at, t.inserted_at,
    t.updated_at, t.ota_message_thread_id, t.meta, t.user_id as owner_id,
    exists (select 1 from application_installations i
            where i.property_id = t.property_id and i.application_code = 'channex_messages')
      as messages_app
    from message_threads t"#;

/// Lists only ever cover properties with the Messages app.
const LISTED_COLUMNS: &str = r#"select t.id, t.property_id, t.channel_id, t.booking_id, t.provider,
    t.title, t.is_closed, t.message_count, t.last_message, t.last_message_received_at,
    t.inserted_at, t.updated_at, t.ota_message_thread_id, t.meta, t.user_id as owner_id,
    true as messages_app"#;

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
    pub ota_message_thread_id: Option<&'a str>,
    pub meta: &'a Value,
}

/// Creates a thread; for a booking that has one already, answers the existing thread's id.
/// (`do update` rather than `do nothing`: it waits for and returns a thread another
/// transaction is creating for the same booking at the same moment.)
pub async fn insert(conn: &mut PgConnection, new: &NewThread<'_>) -> sqlx::Result<Uuid> {
    sqlx::query_scalar(
        r#"insert into message_threads (id, property_id, user_id, channel_id, booking_id,
             provider, title, ota_message_thread_id, meta, inserted_at, updated_at)
           select $1, $2, p.user_id, $3, $4, $5, $6, $7, $8, clock_timestamp(), clock_timestamp()
           from properties p where p.id = $2
           on conflict (booking_id) do update set booking_id = excluded.booking_id
           returning id"#,
    )
    .bind(Uuid::new_v4())
    .bind(new.property_id)
    .bind(new.channel_id)
    .bind(new.booking_id)
    .bind(new.provider)
    .bind(new.title)
    .bind(new.ota_message_thread_id)
    .bind(new.meta)
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

/// Marks the thread closed; closing a closed thread changes nothing. Answers whether it changed.
pub async fn close(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<bool> {
    set_closed(db, id, true).await
}

/// Marks the thread open again; answers whether it was closed.
pub async fn reopen(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<bool> {
    set_closed(db, id, false).await
}

async fn set_closed(db: impl PgExecutor<'_>, id: Uuid, closed: bool) -> sqlx::Result<bool> {
    let done = sqlx::query(
        r#"update message_threads set is_closed = $2, updated_at = clock_timestamp()
           where id = $1 and is_closed <> $2"#,
    )
    .bind(id)
    .bind(closed)
    .execute(db)
    .await?;
    Ok(done.rows_affected() > 0)
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

/// What a thread list selects: the user's threads on the properties of `scope`, narrowed by
/// the optional filters.
#[derive(Debug, Default)]
pub struct ThreadFilter {
    pub user_id: Uuid,
    pub scope: PropertyScope,
    pub booking_ids: Option<Vec<Uuid>>,
    pub channel_ids: Option<Vec<Uuid>>,
    pub providers: Option<Vec<String>>,
    pub is_closed: Option<bool>,
    /// `(column, operator, value)`: columns and operators come from whitelists.
    pub ranges: Vec<(&'static str, &'static str, DateTime<Utc>)>,
}

/// Which properties a thread list covers. The list's own statement finds them, and answers
/// what the gates need to know of them ([`ScopeCheck`]).
#[derive(Debug, Default)]
pub enum PropertyScope {
    /// Every property of the user (all of them have the Messages app).
    #[default]
    All,
    /// The properties of `filter[property_id]` (sorted, without duplicates); `listed`: the
    /// key's properties (`None`: all of the user's).
    Named {
        ids: Vec<Uuid>,
        listed: Option<Vec<Uuid>>,
    },
    /// The properties with the Messages app among the user's (`listed`: among these).
    WithApp { listed: Option<Vec<Uuid>> },
}

/// What a thread list's statement found of its [`PropertyScope`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ScopeCheck {
    /// `Named`: how many of the properties exist, how many the key sees.
    pub found: i64,
    pub visible: i64,
    /// `Named`: how many of them have the Messages app; `WithApp`: how many there are.
    pub with_app: i64,
}

/// `select p.id` of the user's properties (among `listed`) with the Messages app.
fn push_with_app<'a>(
    qb: &mut QueryBuilder<'a, Postgres>,
    user_id: Uuid,
    listed: Option<&'a [Uuid]>,
) {
    qb.push("select p.id from properties p where p.user_id = ")
        .push_bind(user_id);
    if let Some(listed) = listed {
        qb.push(" and p.id = any(").push_bind(listed).push(")");
    }
    qb.push(
        " and exists (select 1 from application_installations i \
         where i.property_id = p.id and i.application_code = 'channex_messages')",
    );
}

/// `t.property_id` (or `c.property_id`) among the scope's properties.
fn push_scope<'a>(qb: &mut QueryBuilder<'a, Postgres>, column: &str, f: &'a ThreadFilter) {
    match &f.scope {
        PropertyScope::All => {}
        // One property (the chat's list): an equality, so that its index answers in order.
        PropertyScope::Named { ids, .. } if ids.len() == 1 => {
            qb.push(format_args!(" and {column} = ")).push_bind(ids[0]);
        }
        PropertyScope::Named { ids, .. } => {
            qb.push(format_args!(" and {column} = any("))
                .push_bind(ids)
                .push(")");
        }
        PropertyScope::WithApp { listed } => {
            qb.push(format_args!(" and {column} = any(array("));
            push_with_app(qb, f.user_id, listed.as_deref());
            qb.push("))");
        }
    }
}

/// The columns of [`ScopeCheck`].
fn push_scope_check<'a>(qb: &mut QueryBuilder<'a, Postgres>, f: &'a ThreadFilter) {
    match &f.scope {
        PropertyScope::All => {
            qb.push("0::bigint as found, 0::bigint as visible, 1::bigint as with_app");
        }
        PropertyScope::Named { ids, listed } => {
            qb.push("(select count(*) from properties p where p.id = any(")
                .push_bind(ids)
                .push(")) as found, (select count(*) from properties p where p.id = any(")
                .push_bind(ids)
                .push(") and p.user_id = ")
                .push_bind(f.user_id);
            if let Some(listed) = listed {
                qb.push(" and p.id = any(").push_bind(listed).push(")");
            }
            qb.push(") as visible, (select count(*) from properties p where p.id = any(")
                .push_bind(ids)
                .push(
                    ") and exists (select 1 from application_installations i \
                     where i.property_id = p.id and i.application_code = 'channex_messages')) \
                     as with_app",
                );
        }
        PropertyScope::WithApp { listed } => {
            qb.push("0::bigint as found, 0::bigint as visible, (select count(*) from (");
            push_with_app(qb, f.user_id, listed.as_deref());
            qb.push(") w) as with_app");
        }
    }
}

fn push_where<'a>(qb: &mut QueryBuilder<'a, Postgres>, f: &'a ThreadFilter) {
    qb.push(" where t.user_id = ").push_bind(f.user_id);
    push_scope(qb, "t.property_id", f);
    if let Some(ids) = &f.booking_ids {
        qb.push(" and t.booking_id = any(").push_bind(ids).push(")");
    }
    if let Some(ids) = &f.channel_ids {
        qb.push(" and t.channel_id = any(").push_bind(ids).push(")");
    }
    if let Some(providers) = &f.providers {
        qb.push(" and t.provider = any(")
            .push_bind(providers)
            .push(")");
    }
    if let Some(closed) = f.is_closed {
        qb.push(" and t.is_closed = ").push_bind(closed);
    }
    for (column, op, value) in &f.ranges {
        qb.push(format_args!(" and t.{column} {op} "))
            .push_bind(*value);
    }
}

/// From this offset on, a page is read as ids from the index first (see [`list`]).
pub const DEFERRED_FROM: i64 = 1_000;

/// One page of threads in `order` (ties broken by id), the total the filter selects, and what
/// the gates need to know of the scope's properties: one statement, whose first row carries
/// the total and the check even when the page is empty.
pub async fn list(
    db: impl PgExecutor<'_>,
    filter: &ThreadFilter,
    order: Order,
    limit: i64,
    offset: i64,
) -> sqlx::Result<(Vec<Thread>, i64, ScopeCheck)> {
    let dir = order.direction.sql();
    let field = order.field;
    let nulls = nulls(order);
    let mut qb =
        QueryBuilder::new("select h.total, h.found, h.visible, h.with_app, p.* from (select (");
    push_total(&mut qb, filter);
    qb.push(") as total, ");
    push_scope_check(&mut qb, filter);
    qb.push(") h left join lateral (");
    qb.push(LISTED_COLUMNS);
    if offset < DEFERRED_FROM {
        qb.push(" from message_threads t");
        push_where(&mut qb, filter);
    } else {
        // A deep page: its ids first, from the index alone, then only those rows (skipping
        // index entries, not table rows).
        qb.push(" from message_threads t join (select t.id from message_threads t");
        push_where(&mut qb, filter);
        qb.push(format_args!(
            " order by t.{field} {dir}{nulls}, t.id {dir} limit "
        ))
        .push_bind(limit)
        .push(" offset ")
        .push_bind(offset)
        .push(") page on page.id = t.id");
    }
    qb.push(format_args!(" order by t.{field} {dir}{nulls}, t.id {dir}"));
    if offset < DEFERRED_FROM {
        qb.push(" limit ")
            .push_bind(limit)
            .push(" offset ")
            .push_bind(offset);
    }
    qb.push(format_args!(
        ") p on true order by p.{field} {dir}{nulls}, p.id {dir}"
    ));
    let rows: Vec<PgRow> = qb.build().fetch_all(db).await?;
    let (total, check) = match rows.first() {
        Some(row) => (
            row.try_get("total")?,
            ScopeCheck {
                found: row.try_get("found")?,
                visible: row.try_get("visible")?,
                with_app: row.try_get("with_app")?,
            },
        ),
        None => (0, ScopeCheck::default()),
    };
    let mut threads = Vec::with_capacity(rows.len());
    for row in &rows {
        if row.try_get::<Option<Uuid>, _>("id")?.is_some() {
            threads.push(Thread::from_row(row)?);
        }
    }
    Ok((threads, total, check))
}

/// Where threads without a message go when ordered by `last_message_received_at`: they sort
/// as the oldest (last when newest first, first when oldest first), the order its index
/// (`nulls first`) holds in both directions. Other orderable columns are never null.
fn nulls(order: Order) -> &'static str {
    match (order.field, order.direction) {
        ("last_message_received_at", Direction::Desc) => " nulls last",
        ("last_message_received_at", Direction::Asc) => " nulls first",
        _ => "",
    }
}

/// The number of threads a filter selects: from the counters when the filter is made of
/// properties, providers and state only; else counted over the indexes the filter uses.
fn push_total<'a>(qb: &mut QueryBuilder<'a, Postgres>, f: &'a ThreadFilter) {
    let counted = f.booking_ids.is_none() && f.channel_ids.is_none() && f.ranges.is_empty();
    if !counted {
        qb.push("select count(*) from message_threads t");
        push_where(qb, f);
        return;
    }
    match &f.scope {
        PropertyScope::All => {
            qb.push("select coalesce(sum(c.threads), 0)::bigint from user_thread_counts c where c.user_id = ")
                .push_bind(f.user_id);
        }
        // The scope's properties are the user's (else the list is refused): their counters.
        PropertyScope::Named { ids, .. } => {
            qb.push("select coalesce(sum(c.threads), 0)::bigint from thread_counts c where c.property_id = any(")
                .push_bind(ids)
                .push(")");
        }
        PropertyScope::WithApp { .. } => {
            qb.push("select coalesce(sum(c.threads), 0)::bigint from thread_counts c where true");
            push_scope(qb, "c.property_id", f);
        }
    }
    if let Some(providers) = &f.providers {
        qb.push(" and c.provider = any(")
            .push_bind(providers)
            .push(")");
    }
    if let Some(closed) = f.is_closed {
        qb.push(" and c.is_closed = ").push_bind(closed);
    }
}

/// Marks the newest guest message as needing no reply; answers its id (`None`: no guest message).
pub async fn mark_no_reply_needed(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar(
        r#"with latest as (
             select id from messages where message_thread_id = $1 and sender = 'guest'
             order by inserted_at desc, seq desc limit 1)
           update messages m set no_reply_needed = true, updated_at = clock_timestamp()
           from latest where m.id = latest.id
           returning m.id"#,
    )
    .bind(id)
    .fetch_optional(db)
    .await
}
