//! The webhook collection (§10).

use std::fmt;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use crate::http::auth::Principal;

/// A webhook's signing secret: kept as given (it is read back to sign), never printed.
#[derive(Clone, PartialEq, Eq, sqlx::Type)]
#[sqlx(transparent)]
pub struct SigningSecret(pub String);

impl fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningSecret(..)")
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Webhook {
    pub id: Uuid,
    pub user_id: Uuid,
    pub property_id: Option<Uuid>,
    pub callback_url: String,
    pub event_mask: String,
    pub event_names: Vec<String>,
    pub headers: Value,
    pub request_params: Value,
    pub is_active: bool,
    pub send_data: bool,
    pub is_global: bool,
    pub protected: bool,
    pub signing_secret: Option<SigningSecret>,
    pub inserted_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Every writable field of a webhook: what a create or an update stores.
#[derive(Debug, Clone)]
pub struct WebhookWrite {
    pub property_id: Option<Uuid>,
    pub callback_url: String,
    pub event_mask: String,
    pub event_names: Vec<String>,
    pub headers: Value,
    pub request_params: Value,
    pub is_active: bool,
    pub send_data: bool,
    pub is_global: bool,
    pub protected: bool,
    pub signing_secret: Option<SigningSecret>,
}

impl From<&Webhook> for WebhookWrite {
    fn from(w: &Webhook) -> Self {
        Self {
            property_id: w.property_id,
            callback_url: w.callback_url.clone(),
            event_mask: w.event_mask.clone(),
            event_names: w.event_names.clone(),
            headers: w.headers.clone(),
            request_params: w.request_params.clone(),
            is_active: w.is_active,
            send_data: w.send_data,
            is_global: w.is_global,
            protected: w.protected,
            signing_secret: w.signing_secret.clone(),
        }
    }
}

const COLUMNS: &str = r#"id, user_id, property_id, callback_url, event_mask, event_names, headers,
    request_params, is_active, send_data, is_global, protected, signing_secret, inserted_at,
    updated_at"#;

pub async fn insert(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
    w: &WebhookWrite,
) -> sqlx::Result<Webhook> {
    sqlx::query_as(&format!(
        r#"insert into webhooks (id, user_id, property_id, callback_url, event_mask, event_names,
             headers, request_params, is_active, send_data, is_global, protected, signing_secret)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
           returning {COLUMNS}"#
    ))
    .bind(Uuid::new_v4())
    .bind(user_id)
    .bind(w.property_id)
    .bind(&w.callback_url)
    .bind(&w.event_mask)
    .bind(&w.event_names)
    .bind(&w.headers)
    .bind(&w.request_params)
    .bind(w.is_active)
    .bind(w.send_data)
    .bind(w.is_global)
    .bind(w.protected)
    .bind(&w.signing_secret)
    .fetch_one(db)
    .await
}

pub async fn get(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<Webhook>> {
    sqlx::query_as(&format!("select {COLUMNS} from webhooks where id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await
}

/// The webhook, locked until the transaction ends, so concurrent partial updates apply one
/// after the other. `no key update`: events fanned out meanwhile (whose deliveries reference
/// the webhook) are not held up.
pub async fn lock(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<Webhook>> {
    sqlx::query_as(&format!(
        "select {COLUMNS} from webhooks where id = $1 for no key update"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await
}

pub async fn update(db: impl PgExecutor<'_>, id: Uuid, w: &WebhookWrite) -> sqlx::Result<Webhook> {
    sqlx::query_as(&format!(
        r#"update webhooks set property_id = $2, callback_url = $3, event_mask = $4,
             event_names = $5, headers = $6, request_params = $7, is_active = $8,
             send_data = $9, is_global = $10, protected = $11, signing_secret = $12,
             updated_at = now()
           where id = $1 returning {COLUMNS}"#
    ))
    .bind(id)
    .bind(w.property_id)
    .bind(&w.callback_url)
    .bind(&w.event_mask)
    .bind(&w.event_names)
    .bind(&w.headers)
    .bind(&w.request_params)
    .bind(w.is_active)
    .bind(w.send_data)
    .bind(w.is_global)
    .bind(w.protected)
    .bind(&w.signing_secret)
    .fetch_one(db)
    .await
}

/// Deletes a webhook with its pending deliveries and its attempt log.
pub async fn delete(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<()> {
    sqlx::query("delete from webhooks where id = $1")
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// A page of the webhooks the principal sees, newest first unless `ascending`, and their
/// total: the user's webhooks; a key limited to some properties sees only their property
/// webhooks.
pub async fn list_visible(
    db: impl PgExecutor<'_> + Copy,
    principal: &Principal,
    ascending: bool,
    limit: i64,
    offset: i64,
) -> sqlx::Result<(Vec<Webhook>, i64)> {
    const VISIBLE: &str = r#"from webhooks where user_id = $1
        and ($2::uuid[] is null or (not is_global and property_id = any($2)))"#;
    let dir = if ascending { "asc" } else { "desc" };
    let rows = sqlx::query_as(&format!(
        "select {COLUMNS} {VISIBLE} order by inserted_at {dir}, id {dir} limit $3 offset $4"
    ))
    .bind(principal.user_id)
    .bind(principal.listed())
    .bind(limit)
    .bind(offset)
    .fetch_all(db)
    .await?;
    let total = sqlx::query_scalar(&format!("select count(*) {VISIBLE}"))
        .bind(principal.user_id)
        .bind(principal.listed())
        .fetch_one(db)
        .await?;
    Ok((rows, total))
}
