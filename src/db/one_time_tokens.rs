//! One-time tokens of the chat iframe (§12): minted with an API key for one property, spent
//! once by `GET /auth/exchange`. Only the token's SHA-256 is stored.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

/// How long a one-time token may wait for its exchange.
pub const LIFETIME_SECS: i64 = 15 * 60;

/// What a new token is for.
pub struct NewToken<'a> {
    pub api_key_id: Uuid,
    pub user_id: Uuid,
    pub property_id: Uuid,
    pub group_id: Option<Uuid>,
    pub username: &'a str,
}

/// Stores a token by its hash, valid for [`LIFETIME_SECS`].
pub async fn insert(
    db: impl PgExecutor<'_>,
    token_hash: &[u8; 32],
    new: &NewToken<'_>,
) -> sqlx::Result<Uuid> {
    sqlx::query_scalar(
        r#"insert into one_time_tokens (id, token_hash, api_key_id, user_id, property_id,
             group_id, username, expires_at)
           values ($1, $2, $3, $4, $5, $6, $7, now() + $8 * interval '1 second')
           returning id"#,
    )
    .bind(Uuid::new_v4())
    .bind(&token_hash[..])
    .bind(new.api_key_id)
    .bind(new.user_id)
    .bind(new.property_id)
    .bind(new.group_id)
    .bind(new.username)
    .bind(LIFETIME_SECS)
    .fetch_one(db)
    .await
}

/// A token that was just spent.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Spent {
    pub id: Uuid,
    pub api_key_id: Uuid,
    pub user_id: Uuid,
    pub property_id: Uuid,
    pub username: String,
}

/// Spends a live token for `property_id` in one statement: unspent, not expired, for that
/// property, and minted by a key that is not revoked. `None` (and nothing spent) otherwise,
/// so two exchanges of one token cannot both succeed.
pub async fn spend(
    db: impl PgExecutor<'_>,
    token_hash: &[u8; 32],
    property_id: Uuid,
) -> sqlx::Result<Option<Spent>> {
    sqlx::query_as(
        r#"update one_time_tokens t set used_at = now()
           from api_keys k
           where t.token_hash = $1 and t.property_id = $2 and t.used_at is null
             and t.expires_at > now() and k.id = t.api_key_id and k.revoked_at is null
           returning t.id, t.api_key_id, t.user_id, t.property_id, t.username"#,
    )
    .bind(&token_hash[..])
    .bind(property_id)
    .fetch_optional(db)
    .await
}

/// Why a token cannot be spent, for the error page: `None` when there is no such token.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct State {
    pub property_id: Uuid,
    pub used_at: Option<DateTime<Utc>>,
    pub expired: bool,
    pub key_revoked: bool,
}

pub async fn state(db: impl PgExecutor<'_>, token_hash: &[u8; 32]) -> sqlx::Result<Option<State>> {
    sqlx::query_as(
        r#"select t.property_id, t.used_at, t.expires_at <= now() as expired,
             k.revoked_at is not null as key_revoked
           from one_time_tokens t join api_keys k on k.id = t.api_key_id
           where t.token_hash = $1"#,
    )
    .bind(&token_hash[..])
    .fetch_optional(db)
    .await
}

/// Deletes tokens that expired more than a day ago; answers how many.
pub async fn prune(db: impl PgExecutor<'_>) -> sqlx::Result<u64> {
    let done =
        sqlx::query("delete from one_time_tokens where expires_at < now() - interval '1 day'")
            .execute(db)
            .await?;
    Ok(done.rows_affected())
}
