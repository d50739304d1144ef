//! Chat sessions: what an exchanged one-time token becomes. A session acts as the token's user
//! on its one property, lives while it is used and dies with the API key that minted the token.
//! Only the SHA-256 of the session token is stored.

use sqlx::PgExecutor;
use uuid::Uuid;

use crate::db::one_time_tokens::Spent;
use crate::http::auth::{Principal, Scope};

/// A session is touched at most this often (seconds), so reads stay reads.
pub const TOUCH_EVERY_SECS: i64 = 60;

/// Stores a new session for a spent token; answers its id.
pub async fn insert(
    db: impl PgExecutor<'_>,
    token_hash: &[u8; 32],
    spent: &Spent,
) -> sqlx::Result<Uuid> {
    sqlx::query_scalar(
        r#"insert into chat_sessions (id, token_hash, api_key_id, user_id, property_id, username,
             one_time_token_id)
           values ($1, $2, $3, $4, $5, $6, $7)
           returning id"#,
    )
    .bind(Uuid::new_v4())
    .bind(&token_hash[..])
    .bind(spent.api_key_id)
    .bind(spent.user_id)
    .bind(spent.property_id)
    .bind(&spent.username)
    .bind(spent.id)
    .fetch_one(db)
    .await
}

/// The principal of a live session, by its token's hash: used within the last `idle_secs`, and
/// its key not revoked. Marks it used (at most once every [`TOUCH_EVERY_SECS`]) in the same
/// statement. `key_id` is the session's id; the scope is the session's one property.
pub async fn find_principal(
    db: impl PgExecutor<'_>,
    token_hash: &[u8; 32],
    idle_secs: i64,
) -> sqlx::Result<Option<Principal>> {
    let row: Option<(Uuid, Uuid, Uuid)> = sqlx::query_as(
        r#"with found as (
             select s.id, s.user_id, s.property_id, s.last_used_at
             from chat_sessions s join api_keys k on k.id = s.api_key_id
             where s.token_hash = $1 and k.revoked_at is null
               and s.last_used_at > now() - $2 * interval '1 second'),
           touched as (
             update chat_sessions c set last_used_at = now()
             from found f
             where c.id = f.id and f.last_used_at < now() - $3 * interval '1 second'
             returning c.id)
           select id, user_id, property_id from found"#,
    )
    .bind(&token_hash[..])
    .bind(idle_secs)
    .bind(TOUCH_EVERY_SECS)
    .fetch_optional(db)
    .await?;
    Ok(row.map(|(id, user_id, property_id)| Principal {
        key_id: id,
        user_id,
        scope: Scope::Listed(vec![property_id]),
        messages_app_everywhere: false,
    }))
}

/// Deletes sessions idle for longer than `idle_secs`; answers how many.
pub async fn prune(db: impl PgExecutor<'_>, idle_secs: i64) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "delete from chat_sessions where last_used_at < now() - $1 * interval '1 second'",
    )
    .bind(idle_secs)
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}
