use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{FromRow, PgExecutor, Row};
use uuid::Uuid;

use crate::http::auth::Principal;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Property {
    pub id: Uuid,
    pub user_id: Uuid,
    pub title: String,
    pub currency: Option<String>,
    pub timezone: Option<String>,
    pub is_active: bool,
    pub inserted_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, user_id, title, currency, timezone, is_active, inserted_at, updated_at";

pub async fn insert(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
    title: &str,
    currency: Option<&str>,
    timezone: Option<&str>,
) -> sqlx::Result<Property> {
    sqlx::query_as(&format!(
        r#"insert into properties (id, user_id, title, currency, timezone)
           values ($1, $2, $3, $4, $5) returning {COLUMNS}"#
    ))
    .bind(Uuid::new_v4())
    .bind(user_id)
    .bind(title)
    .bind(currency)
    .bind(timezone)
    .fetch_one(db)
    .await
}

pub async fn get(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<Property>> {
    sqlx::query_as(&format!("select {COLUMNS} from properties where id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await
}

/// A page of the properties the principal sees, oldest first, and their total: one statement.
pub async fn list_visible(
    db: impl PgExecutor<'_>,
    principal: &Principal,
    limit: i64,
    offset: i64,
) -> sqlx::Result<(Vec<Property>, i64)> {
    const VISIBLE: &str = "user_id = $1 and ($2::uuid[] is null or id = any($2))";
    let rows: Vec<PgRow> = sqlx::query(&format!(
        r#"select h.total, p.*
           from (select count(*) as total from properties where {VISIBLE}) h
           left join lateral (
             select {COLUMNS} from properties where {VISIBLE}
             order by inserted_at, id limit $3 offset $4) p on true
           order by p.inserted_at, p.id"#
    ))
    .bind(principal.user_id)
    .bind(principal.listed())
    .bind(limit)
    .bind(offset)
    .fetch_all(db)
    .await?;
    let total = match rows.first() {
        Some(row) => row.try_get("total")?,
        None => 0,
    };
    let mut properties = Vec::with_capacity(rows.len());
    for row in &rows {
        if row.try_get::<Option<Uuid>, _>("id")?.is_some() {
            properties.push(Property::from_row(row)?);
        }
    }
    Ok((properties, total))
}

/// How many of `ids` the user owns.
pub async fn count_owned(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
    ids: &[Uuid],
) -> sqlx::Result<i64> {
    sqlx::query_scalar("select count(*) from properties where user_id = $1 and id = any($2)")
        .bind(user_id)
        .bind(ids)
        .fetch_one(db)
        .await
}
