use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub name: Option<String>,
    pub inserted_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub const EMAIL_TAKEN: &str = "users_email_key";

pub async fn insert(
    db: impl PgExecutor<'_>,
    email: &str,
    name: Option<&str>,
) -> sqlx::Result<User> {
    sqlx::query_as(
        r#"insert into users (id, email, name) values ($1, $2, $3)
           returning id, email, name, inserted_at, updated_at"#,
    )
    .bind(Uuid::new_v4())
    .bind(email)
    .bind(name)
    .fetch_one(db)
    .await
}

pub async fn exists(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<bool> {
    sqlx::query_scalar("select exists (select 1 from users where id = $1)")
        .bind(id)
        .fetch_one(db)
        .await
}

pub async fn find_by_email(db: impl PgExecutor<'_>, email: &str) -> sqlx::Result<Option<User>> {
    sqlx::query_as(
        "select id, email, name, inserted_at, updated_at from users where lower(email) = lower($1)",
    )
    .bind(email)
    .fetch_optional(db)
    .await
}

pub async fn count(db: impl PgExecutor<'_>) -> sqlx::Result<i64> {
    sqlx::query_scalar("select count(*) from users")
        .fetch_one(db)
        .await
}

/// How a user signs messages: the name, or the email address when the user has none.
pub async fn display_name(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("select coalesce(nullif(btrim(name), ''), email) from users where id = $1")
        .bind(id)
        .fetch_optional(db)
        .await
}
