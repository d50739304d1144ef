use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use crate::http::auth::{Principal, Scope};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApiKey {
    pub id: Uuid,
    pub user_id: Uuid,
    pub all_properties: bool,
    pub property_ids: Vec<Uuid>,
    pub inserted_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Stores a key by its hash; `property_ids: None` sees every property of the user.
pub async fn insert(
    conn: &mut PgConnection,
    user_id: Uuid,
    key_hash: &[u8; 32],
    property_ids: Option<&[Uuid]>,
) -> sqlx::Result<ApiKey> {
    let id = Uuid::new_v4();
    let (inserted_at,): (DateTime<Utc>,) = sqlx::query_as(
        r#"insert into api_keys (id, user_id, key_hash, all_properties) values ($1, $2, $3, $4)
           returning inserted_at"#,
    )
    .bind(id)
    .bind(user_id)
    .bind(&key_hash[..])
    .bind(property_ids.is_none())
    .fetch_one(&mut *conn)
    .await?;
    let listed = property_ids.unwrap_or_default();
    sqlx::query(
        r#"insert into api_key_properties (api_key_id, property_id)
           select $1, unnest($2::uuid[]) on conflict do nothing"#,
    )
    .bind(id)
    .bind(listed)
    .execute(&mut *conn)
    .await?;
    Ok(ApiKey {
        id,
        user_id,
        all_properties: property_ids.is_none(),
        property_ids: listed.to_vec(),
        inserted_at,
        revoked_at: None,
    })
}

/// Marks a key revoked (keeping the first revocation time); `None` if there is no such key.
pub async fn revoke(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<ApiKey>> {
    sqlx::query_as(
        r#"update api_keys set revoked_at = coalesce(revoked_at, now()) where id = $1
           returning id, user_id, all_properties, inserted_at, revoked_at,
             array(select property_id from api_key_properties where api_key_id = $1) as property_ids"#,
    )
    .bind(id)
    .fetch_optional(db)
    .await
}

/// The principal of a live (not revoked) key, by the key's hash.
pub async fn find_principal(
    db: impl PgExecutor<'_>,
    key_hash: &[u8; 32],
) -> sqlx::Result<Option<Principal>> {
    let row: Option<(Uuid, Uuid, bool, Vec<Uuid>, bool)> = sqlx::query_as(
        r#"select k.id, k.user_id, k.all_properties,
             array(select property_id from api_key_properties where api_key_id = k.id
                   order by property_id),
             u.messages_app_count > 0 and u.messages_app_count = u.properties_count
           from api_keys k join users u on u.id = k.user_id
           where k.key_hash = $1 and k.revoked_at is null"#,
    )
    .bind(&key_hash[..])
    .fetch_optional(db)
    .await?;
    Ok(
        row.map(|(key_id, user_id, all, listed, app_everywhere)| Principal {
            key_id,
            user_id,
            scope: if all {
                Scope::All
            } else {
                Scope::Listed(listed)
            },
            messages_app_everywhere: app_everywhere,
        }),
    )
}
