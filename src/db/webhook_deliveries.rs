//! The delivery queue and the attempt log. Deliveries are created by the `events` trigger of
//! migration 0004, in the event's own transaction; workers claim them here.
//!
//! A claim is a lease: the worker sets `next_attempt_at` to the end of its lease and a
//! `claim_token`, and commits at once, so no transaction stays open during the HTTP call.
//! Another worker skips the delivery until the lease ends; only the holder of the token can
//! record the outcome. A worker that dies leaves the delivery to fall due again.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use crate::db::webhooks::SigningSecret;

/// A claimed delivery with what its attempt needs: the event and the webhook as they are now.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Claimed {
    pub id: Uuid,
    pub webhook_id: Uuid,
    pub event_id: Uuid,
    /// Attempts made before this one.
    pub attempts: i32,
    pub event: String,
    pub payload: Value,
    pub property_id: Uuid,
    pub user_id: Uuid,
    pub event_at: DateTime<Utc>,
    pub callback_url: String,
    pub headers: Value,
    pub request_params: Value,
    pub send_data: bool,
    pub is_active: bool,
    pub signing_secret: Option<SigningSecret>,
}

/// Commits of this transaction no longer wait for the WAL flush. Right for the worker's own
/// writes: a crash can only forget a lease or an outcome written just before it, and the
/// delivery is then sent again (at least once still holds). Other sessions see the commit at
/// once, so workers still never take the same delivery.
pub async fn relax_durability(conn: &mut PgConnection) -> sqlx::Result<()> {
    sqlx::query("set local synchronous_commit = off")
        .execute(conn)
        .await?;
    Ok(())
}

/// The lower bound of a scan that starts at the beginning of the queue.
fn scan_bound(from: Option<DateTime<Utc>>) -> DateTime<Utc> {
    from.unwrap_or(DateTime::UNIX_EPOCH)
}

/// Locks up to `limit` due deliveries due at `from` or later (`None`: any), skipping those other
/// workers hold and those of the `excluded` webhooks, oldest due first:
/// `(delivery id, webhook id, due at)`. The bound is an index condition: the scan starts there.
pub async fn lock_due(
    conn: &mut PgConnection,
    excluded: &[Uuid],
    from: Option<DateTime<Utc>>,
    limit: i64,
) -> sqlx::Result<Vec<(Uuid, Uuid, DateTime<Utc>)>> {
    sqlx::query_as(
        r#"select id, webhook_id, next_attempt_at from webhook_deliveries
           where state = 'pending' and next_attempt_at >= $3 and next_attempt_at <= now()
             and webhook_id <> all($1)
           order by next_attempt_at
           limit $2
           for update skip locked"#,
    )
    .bind(excluded)
    .bind(limit)
    .bind(scan_bound(from))
    .fetch_all(conn)
    .await
}

/// Leases locked deliveries to `token` for `lease_ms` and answers them with their event and
/// webhook.
pub async fn lease(
    conn: &mut PgConnection,
    ids: &[Uuid],
    token: Uuid,
    lease_ms: i64,
) -> sqlx::Result<Vec<Claimed>> {
    sqlx::query_as(
        r#"update webhook_deliveries d
           set claim_token = $2, next_attempt_at = now() + $3 * interval '1 millisecond',
               updated_at = now()
           from events e, webhooks w
           where d.id = any($1) and e.id = d.event_id and w.id = d.webhook_id
           returning d.id, d.webhook_id, d.event_id, d.attempts, e.event, e.payload,
             e.property_id, e.user_id, e.inserted_at as event_at, w.callback_url, w.headers,
             w.request_params, w.send_data, w.is_active, w.signing_secret"#,
    )
    .bind(ids)
    .bind(token)
    .bind(lease_ms)
    .fetch_all(conn)
    .await
}

/// What one attempt found.
#[derive(Debug, Clone)]
pub struct AttemptRecord<'a> {
    pub delivery_id: Uuid,
    pub token: Uuid,
    pub attempted_at: DateTime<Utc>,
    pub duration_ms: i32,
    pub status_code: Option<i32>,
    pub error: Option<&'a str>,
    /// `Some(delay)`: try again after this many milliseconds; `None`: the delivery is over.
    pub retry_in_ms: Option<i64>,
    /// Whether the answer was a 2xx (only meaningful when `retry_in_ms` is `None`).
    pub delivered: bool,
}

/// Records an attempt and moves the delivery on, in one statement. Answers `false` (and
/// records nothing) when the claim is no longer the caller's.
pub async fn record_attempt(db: impl PgExecutor<'_>, a: &AttemptRecord<'_>) -> sqlx::Result<bool> {
    let (state, result) = match (a.retry_in_ms, a.delivered) {
        (Some(_), _) => ("pending", "retry"),
        (None, true) => ("delivered", "delivered"),
        (None, false) => ("failed", "failed"),
    };
    let recorded: Option<Uuid> = sqlx::query_scalar(
        r#"with moved as (
             update webhook_deliveries
             set state = $3, attempts = attempts + 1, claim_token = null,
                 next_attempt_at = case when $8::bigint is null then next_attempt_at
                                        else now() + $8 * interval '1 millisecond' end,
                 last_status = $6, last_error = $7, updated_at = now()
             where id = $1 and claim_token = $2 and state = 'pending'
             returning id, webhook_id, attempts, next_attempt_at)
           insert into webhook_attempts (id, delivery_id, webhook_id, attempt, attempted_at,
             duration_ms, status_code, error, result, next_attempt_at)
           select gen_random_uuid(), id, webhook_id, attempts, $4, $5, $6, $7, $9,
             case when $8::bigint is null then null else next_attempt_at end
           from moved
           returning delivery_id"#,
    )
    .bind(a.delivery_id)
    .bind(a.token)
    .bind(state)
    .bind(a.attempted_at)
    .bind(a.duration_ms)
    .bind(a.status_code)
    .bind(a.error)
    .bind(a.retry_in_ms)
    .bind(result)
    .fetch_optional(db)
    .await?;
    Ok(recorded.is_some())
}

/// Ends a delivery whose webhook was deactivated.
pub async fn cancel(db: impl PgExecutor<'_>, id: Uuid, token: Uuid) -> sqlx::Result<()> {
    sqlx::query(
        r#"update webhook_deliveries
           set state = 'cancelled', claim_token = null, updated_at = now()
           where id = $1 and claim_token = $2 and state = 'pending'"#,
    )
    .bind(id)
    .bind(token)
    .execute(db)
    .await?;
    Ok(())
}

/// Gives claimed deliveries back (a worker stopping mid-attempt): due again at once.
pub async fn release(db: impl PgExecutor<'_>, ids: &[Uuid], token: Uuid) -> sqlx::Result<()> {
    sqlx::query(
        r#"update webhook_deliveries
           set claim_token = null, next_attempt_at = now(), updated_at = now()
           where id = any($1) and claim_token = $2 and state = 'pending'"#,
    )
    .bind(ids)
    .bind(token)
    .execute(db)
    .await?;
    Ok(())
}

/// Deletes up to `limit` deliveries that ended more than `older_than_secs` ago, with their
/// attempts, and up to `limit` test calls as old; answers how many rows went.
pub async fn prune(db: impl PgExecutor<'_>, older_than_secs: i64, limit: i64) -> sqlx::Result<u64> {
    let done: i64 = sqlx::query_scalar(
        r#"with deliveries as (
             delete from webhook_deliveries where id in (
               select id from webhook_deliveries
               where state <> 'pending' and updated_at < now() - $1 * interval '1 second'
               limit $2)
             returning 1),
           tests as (
             delete from webhook_attempts where id in (
               select id from webhook_attempts
               where delivery_id is null and attempted_at < now() - $1 * interval '1 second'
               limit $2)
             returning 1)
           select (select count(*) from deliveries) + (select count(*) from tests)"#,
    )
    .bind(older_than_secs)
    .bind(limit)
    .fetch_one(db)
    .await?;
    Ok(u64::try_from(done).unwrap_or(0))
}

/// What a test call of a stored webhook found (§10): logged among its attempts, `is_test`.
#[derive(Debug, Clone)]
pub struct TestRecord<'a> {
    /// The attempt's id, which the call sent as its `X-Ota-Inbox-Delivery`.
    pub id: Uuid,
    pub webhook_id: Uuid,
    pub attempted_at: DateTime<Utc>,
    pub duration_ms: i32,
    pub status_code: Option<i32>,
    pub error: Option<&'a str>,
    /// Whether the answer was a 2xx.
    pub delivered: bool,
}

/// Logs a test call. A webhook deleted meanwhile leaves nothing to log (no error).
pub async fn record_test(db: impl PgExecutor<'_>, t: &TestRecord<'_>) -> sqlx::Result<()> {
    sqlx::query(
        r#"insert into webhook_attempts (id, delivery_id, webhook_id, attempt, attempted_at,
             duration_ms, status_code, error, result, next_attempt_at, is_test, event)
           select $1, null, w.id, 1, $3, $4, $5, $6, $7, null, true, 'test'
           from webhooks w where w.id = $2"#,
    )
    .bind(t.id)
    .bind(t.webhook_id)
    .bind(t.attempted_at)
    .bind(t.duration_ms)
    .bind(t.status_code)
    .bind(t.error)
    .bind(if t.delivered { "delivered" } else { "failed" })
    .execute(db)
    .await?;
    Ok(())
}

/// How long until the next pending delivery due at `from` or later (`None`: any) of a webhook
/// not `excluded` falls due (zero when one is due now); `None` when nothing is pending.
pub async fn next_due_in_ms(
    db: impl PgExecutor<'_>,
    excluded: &[Uuid],
    from: Option<DateTime<Utc>>,
) -> sqlx::Result<Option<i64>> {
    // `min` over no rows is NULL; `greatest(0, NULL)` would make that 0 ("due now"), so the
    // floor at zero is taken here instead.
    let ms: Option<i64> = sqlx::query_scalar(
        r#"select ceil(extract(epoch from (min(next_attempt_at) - now())) * 1000)::bigint
           from webhook_deliveries
           where state = 'pending' and next_attempt_at >= $2 and webhook_id <> all($1)"#,
    )
    .bind(excluded)
    .bind(scan_bound(from))
    .fetch_one(db)
    .await?;
    Ok(ms.map(|ms| ms.max(0)))
}

/// One attempt of the log, with its delivery's event.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Attempt {
    pub id: Uuid,
    /// A test call's own id (it has no delivery): the `X-Ota-Inbox-Delivery` it sent.
    pub delivery_id: Uuid,
    /// `None` for a test call.
    pub event_id: Option<Uuid>,
    pub event: String,
    pub is_test: bool,
    pub attempt: i32,
    pub attempted_at: DateTime<Utc>,
    pub duration_ms: i32,
    pub status_code: Option<i32>,
    pub error: Option<String>,
    pub result: String,
    pub next_attempt_at: Option<DateTime<Utc>>,
}

/// A page of a webhook's attempts, newest first unless `ascending`, and their total.
pub async fn list_attempts(
    db: impl PgExecutor<'_> + Copy,
    webhook_id: Uuid,
    ascending: bool,
    limit: i64,
    offset: i64,
) -> sqlx::Result<(Vec<Attempt>, i64)> {
    let direction = if ascending { "asc" } else { "desc" };
    let rows = sqlx::query_as(&format!(
        r#"select a.id, coalesce(a.delivery_id, a.id) as delivery_id, d.event_id,
             coalesce(e.event, a.event) as event, a.is_test, a.attempt, a.attempted_at,
             a.duration_ms, a.status_code, a.error, a.result, a.next_attempt_at
           from webhook_attempts a
           left join webhook_deliveries d on d.id = a.delivery_id
           left join events e on e.id = d.event_id
           where a.webhook_id = $1
           order by a.attempted_at {direction}, a.id {direction}
           limit $2 offset $3"#
    ))
    .bind(webhook_id)
    .bind(limit)
    .bind(offset)
    .fetch_all(db)
    .await?;
    let total = sqlx::query_scalar("select count(*) from webhook_attempts where webhook_id = $1")
        .bind(webhook_id)
        .fetch_one(db)
        .await?;
    Ok((rows, total))
}

/// The delivery queue as `/metrics` shows it.
#[derive(Debug, Clone, Copy, PartialEq, sqlx::FromRow)]
pub struct QueueStats {
    /// Pending deliveries: due, waiting for a retry, or being attempted.
    pub depth: i64,
    /// Pending deliveries due now (a delivery being attempted is due only when its lease ends).
    pub due: i64,
    /// Seconds since the oldest due delivery fell due; 0 when none is due.
    pub oldest_due_age_seconds: f64,
}

/// Reads the queue (one statement over the pending deliveries' index).
pub async fn queue_stats(db: impl PgExecutor<'_>) -> sqlx::Result<QueueStats> {
    sqlx::query_as(
        r#"select count(*) as depth,
             count(*) filter (where next_attempt_at <= now()) as due,
             coalesce(extract(epoch from now() - min(next_attempt_at)
               filter (where next_attempt_at <= now())), 0)::float8 as oldest_due_age_seconds
           from webhook_deliveries where state = 'pending'"#,
    )
    .fetch_one(db)
    .await
}
