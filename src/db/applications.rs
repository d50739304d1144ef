use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use crate::http::auth::Principal;

/// The application code of the Messages app.
pub const MESSAGES_APP: &str = "channex_messages";
/// The fixed application id of the Messages app.
pub const MESSAGES_APP_ID: Uuid = Uuid::from_u128(0x8f3c_1a6e_52b4_4d0e_9a77_1c0d_5e2b_6a41);

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Installation {
    pub id: Uuid,
    pub property_id: Uuid,
    pub application_code: String,
    pub settings: Value,
    pub inserted_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, property_id, application_code, settings, inserted_at";

/// Installs an application on a property; installing twice answers the existing installation.
pub async fn install(
    conn: &mut PgConnection,
    property_id: Uuid,
    code: &str,
) -> sqlx::Result<Installation> {
    // `do update` (a no-op) rather than `do nothing`: one statement that always returns the
    // installation, even when another transaction installs or uninstalls at the same moment.
    sqlx::query_as(&format!(
        r#"insert into application_installations (id, property_id, application_code)
           values ($1, $2, $3)
           on conflict (property_id, application_code)
             do update set application_code = excluded.application_code
           returning {COLUMNS}"#
    ))
    .bind(Uuid::new_v4())
    .bind(property_id)
    .bind(code)
    .fetch_one(conn)
    .await
}

/// An installation with the owner of its property.
pub async fn get(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<(Installation, Uuid)>> {
    let row: Option<(Uuid, Uuid, String, Value, DateTime<Utc>, Uuid)> = sqlx::query_as(
        r#"select i.id, i.property_id, i.application_code, i.settings, i.inserted_at, p.user_id
           from application_installations i join properties p on p.id = i.property_id
           where i.id = $1"#,
    )
    .bind(id)
    .fetch_optional(db)
    .await?;
    Ok(row.map(
        |(id, property_id, application_code, settings, inserted_at, owner)| {
            (
                Installation {
                    id,
                    property_id,
                    application_code,
                    settings,
                    inserted_at,
                },
                owner,
            )
        },
    ))
}

pub async fn delete(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<()> {
    sqlx::query("delete from application_installations where id = $1")
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// A page of the installations on the properties the principal sees, and their total.
pub async fn list_visible(
    db: impl PgExecutor<'_> + Copy,
    principal: &Principal,
    limit: i64,
    offset: i64,
) -> sqlx::Result<(Vec<Installation>, i64)> {
    const VISIBLE: &str = r#"from application_installations i join properties p on p.id = i.property_id
        where p.user_id = $1 and ($2::uuid[] is null or p.id = any($2))"#;
    let rows = sqlx::query_as(&format!(
        r#"select i.id, i.property_id, i.application_code, i.settings, i.inserted_at {VISIBLE}
           order by i.inserted_at, i.id limit $3 offset $4"#
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

/// Whether the Messages app is installed on a property.
pub async fn messages_installed(db: impl PgExecutor<'_>, property_id: Uuid) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        r#"select exists (select 1 from application_installations
           where property_id = $1 and application_code = $2)"#,
    )
    .bind(property_id)
    .bind(MESSAGES_APP)
    .fetch_one(db)
    .await
}

/// The properties with the Messages app among those a principal sees: `All` when that is every
/// property of the user (the user's counters, read with the key), else the list (maybe empty).
pub async fn messaging_properties(
    db: impl PgExecutor<'_> + Copy,
    principal: &Principal,
) -> sqlx::Result<Messaging> {
    if principal.listed().is_none() && principal.messages_app_everywhere {
        return Ok(Messaging::All);
    }
    Ok(Messaging::Listed(visible_with_app(db, principal).await?))
}

/// Which of the visible properties have the Messages app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Messaging {
    /// Every property of the user.
    All,
    Listed(Vec<Uuid>),
}

impl Messaging {
    pub fn is_empty(&self) -> bool {
        matches!(self, Messaging::Listed(ids) if ids.is_empty())
    }
}

/// The properties a principal sees that have the Messages app.
async fn visible_with_app(
    db: impl PgExecutor<'_>,
    principal: &Principal,
) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar(
        r#"select p.id from properties p
           join application_installations i
             on i.property_id = p.id and i.application_code = 'channex_messages'
           where p.user_id = $1 and ($2::uuid[] is null or p.id = any($2))"#,
    )
    .bind(principal.user_id)
    .bind(principal.listed())
    .fetch_all(db)
    .await
}

/// For each of `ids` that exists: its owner and whether the Messages app is installed.
pub async fn properties_with_app(
    db: impl PgExecutor<'_>,
    ids: &[Uuid],
) -> sqlx::Result<Vec<(Uuid, Uuid, bool)>> {
    sqlx::query_as(
        r#"select p.id, p.user_id, exists (
             select 1 from application_installations i
             where i.property_id = p.id and i.application_code = 'channex_messages')
           from properties p where p.id = any($1)"#,
    )
    .bind(ids)
    .fetch_all(db)
    .await
}
