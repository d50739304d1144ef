//! The event log: one row per event, written in the transaction of the change that causes it,
//! so that no event is lost or emitted for a change that rolled back. Webhook events fan out
//! to deliveries (migration 0004); every event gets a stream id after commit from the
//! sequencer (migration 0007) and is then readable by the live stream and the pull feed.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgExecutor;
use uuid::Uuid;

pub const MESSAGE: &str = "message";
pub const INQUIRY: &str = "inquiry";
pub const BOOKING_ASSIGNED: &str = "message_thread_booking_assigned";
pub const THREAD_UPDATED: &str = "message_thread_updated";

/// A webhook event (it fans out to the matching webhooks) that the live stream carries too.
pub async fn insert(
    db: impl PgExecutor<'_>,
    event: &str,
    property_id: Uuid,
    user_id: Uuid,
    payload: &Value,
) -> sqlx::Result<Uuid> {
    insert_with(db, event, property_id, user_id, payload, true).await
}

/// An event; `webhook: false` keeps it off the webhooks (live stream and pull feed only).
pub async fn insert_with(
    db: impl PgExecutor<'_>,
    event: &str,
    property_id: Uuid,
    user_id: Uuid,
    payload: &Value,
    webhook: bool,
) -> sqlx::Result<Uuid> {
    let id = Uuid::new_v4();
    sqlx::query(
        r#"insert into events (id, event, property_id, user_id, payload, webhook)
           values ($1, $2, $3, $4, $5, $6)"#,
    )
    .bind(id)
    .bind(event)
    .bind(property_id)
    .bind(user_id)
    .bind(payload)
    .bind(webhook)
    .execute(db)
    .await?;
    Ok(id)
}

/// One run of the sequencer: `Some((last stream id, events numbered by this run))`, or `None`
/// when another run holds the lock (that run NOTIFYs what it numbers).
pub async fn sequence(db: impl PgExecutor<'_>, batch: i32) -> sqlx::Result<Option<(i64, i64)>> {
    sqlx::query_as("select last_id, sequenced from events_sequence($1)")
        .bind(batch)
        .fetch_optional(db)
        .await
}

/// The last stream id handed out.
pub async fn last_id(db: impl PgExecutor<'_>) -> sqlx::Result<i64> {
    sqlx::query_scalar("select last_seq from event_stream")
        .fetch_one(db)
        .await
}

/// A sequenced event as the stream and the feed show it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StreamEvent {
    /// The stream id (`stream_seq`).
    pub seq: i64,
    pub id: Uuid,
    pub event: String,
    pub property_id: Uuid,
    /// The owner of the property.
    pub user_id: Uuid,
    pub payload: Value,
    pub inserted_at: DateTime<Utc>,
    /// Whether the property has the Messages app (read with the event).
    pub messages_app: bool,
}

const COLUMNS: &str = r#"e.stream_seq as seq, e.id, e.event, e.property_id, e.user_id, e.payload,
    e.inserted_at,
    exists (select 1 from application_installations i
            where i.property_id = e.property_id and i.application_code = 'channex_messages')
      as messages_app"#;

/// Every sequenced event after `after`, in stream order, at most `limit`.
pub async fn read_after(
    db: impl PgExecutor<'_>,
    after: i64,
    limit: i64,
) -> sqlx::Result<Vec<StreamEvent>> {
    sqlx::query_as(&format!(
        r#"select {COLUMNS} from events e where e.stream_seq > $1
           order by e.stream_seq limit $2"#
    ))
    .bind(after)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// Which events a reader may see.
#[derive(Debug, Clone, Default)]
pub struct Visibility {
    /// The owner of the properties (`None`: every user's, the admin).
    pub user_id: Option<Uuid>,
    /// Only these properties (`None`: all of the owner's).
    pub property_ids: Option<Vec<Uuid>>,
    /// Only properties that have the Messages app.
    pub messages_app_only: bool,
}

impl Visibility {
    /// Whether an event is one of these.
    pub fn admits(&self, e: &StreamEvent) -> bool {
        self.user_id.is_none_or(|user| user == e.user_id)
            && self
                .property_ids
                .as_ref()
                .is_none_or(|ids| ids.contains(&e.property_id))
            && (e.messages_app || !self.messages_app_only)
    }
}

const VISIBLE: &str = r#"from events e
    where e.stream_seq > $1
      and ($2::uuid is null or e.user_id = $2)
      and ($3::uuid[] is null or e.property_id = any($3))
      and (not $4 or exists (select 1 from application_installations i
                             where i.property_id = e.property_id
                               and i.application_code = 'channex_messages'))"#;

/// A page of the visible events after `after`, in stream order (descending when asked).
pub async fn list_visible(
    db: impl PgExecutor<'_>,
    visibility: &Visibility,
    after: i64,
    descending: bool,
    limit: i64,
    offset: i64,
) -> sqlx::Result<Vec<StreamEvent>> {
    let direction = if descending { "desc" } else { "asc" };
    sqlx::query_as(&format!(
        r#"select {COLUMNS} {VISIBLE}
           order by e.stream_seq {direction} limit $5 offset $6"#
    ))
    .bind(after)
    .bind(visibility.user_id)
    .bind(visibility.property_ids.as_deref())
    .bind(visibility.messages_app_only)
    .bind(limit)
    .bind(offset)
    .fetch_all(db)
    .await
}

/// How many visible events come after `after`.
pub async fn count_visible(
    db: impl PgExecutor<'_>,
    visibility: &Visibility,
    after: i64,
) -> sqlx::Result<i64> {
    sqlx::query_scalar(&format!("select count(*) {VISIBLE}"))
        .bind(after)
        .bind(visibility.user_id)
        .bind(visibility.property_ids.as_deref())
        .bind(visibility.messages_app_only)
        .fetch_one(db)
        .await
}

/// Deletes up to `limit` sequenced events older than `older_than_secs` that no webhook delivery
/// refers to (deliveries are pruned on their own schedule); answers how many.
pub async fn prune(db: impl PgExecutor<'_>, older_than_secs: i64, limit: i64) -> sqlx::Result<u64> {
    let done = sqlx::query(
        r#"delete from events where id in (
             select e.id from events e
             where e.inserted_at < now() - $1 * interval '1 second'
               and e.stream_seq is not null
               and not exists (select 1 from webhook_deliveries d where d.event_id = e.id)
             order by e.inserted_at
             limit $2)"#,
    )
    .bind(older_than_secs)
    .bind(limit)
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(user_id: Uuid, property_id: Uuid, messages_app: bool) -> StreamEvent {
        StreamEvent {
            seq: 1,
            id: Uuid::new_v4(),
            event: MESSAGE.to_owned(),
            property_id,
            user_id,
            payload: Value::Null,
            inserted_at: Utc::now(),
            messages_app,
        }
    }

    #[test]
    fn visibility_follows_owner_properties_and_the_messages_app() {
        let (user, other, a, b) = (
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
        );
        let all_of_user = Visibility {
            user_id: Some(user),
            property_ids: None,
            messages_app_only: true,
        };
        let only_a = Visibility {
            property_ids: Some(vec![a]),
            ..all_of_user.clone()
        };
        let admin = Visibility::default();
        let cases = [
            (&all_of_user, event(user, a, true), true),
            (&all_of_user, event(user, b, true), true),
            (&all_of_user, event(user, a, false), false),
            (&all_of_user, event(other, a, true), false),
            (&only_a, event(user, a, true), true),
            (&only_a, event(user, b, true), false),
            (&admin, event(other, b, false), true),
        ];
        for (i, (visibility, event, expected)) in cases.into_iter().enumerate() {
            assert_eq!(visibility.admits(&event), expected, "case {i}");
        }
    }
}
