//! `ota-inbox users create`, `ota-inbox keys create` and `ota-inbox keys revoke`.

use anyhow::{Context, bail};
use sqlx::PgPool;
use uuid::Uuid;

use super::{Database, DbArgs};
use crate::db;
use crate::http::auth;
use crate::routes::admin::is_email;

/// Longest email and name, as in the admin API.
const MAX_EMAIL: usize = 254;
const MAX_NAME: usize = 255;

/// `ota-inbox users create --email … [--name …]`: prints the new user's id.
pub async fn create_user(args: DbArgs, email: &str, name: Option<&str>) -> anyhow::Result<()> {
    let email = email.trim();
    if email.chars().count() > MAX_EMAIL || !is_email(email) || email.contains('\0') {
        bail!("--email: '{email}' is not an email address");
    }
    let name = name.map(str::trim).filter(|n| !n.is_empty());
    if name.is_some_and(|n| n.chars().count() > MAX_NAME || n.contains('\0')) {
        bail!("--name: at most {MAX_NAME} characters");
    }
    Database::open(&args, "users create")
        .await?
        .run(|pool| async move {
            match db::users::insert(&pool, email, name).await {
                Ok(user) => {
                    eprintln!("created user {} ({})", user.email, user.id);
                    println!("{}", user.id);
                    Ok(())
                }
                Err(err) if db::violated_constraint(&err) == Some(db::users::EMAIL_TAKEN) => {
                    let existing = db::users::find_by_email(&pool, email).await?;
                    match existing {
                        Some(user) => bail!("a user with the email {email} exists: {}", user.id),
                        None => bail!("a user with the email {email} exists"),
                    }
                }
                Err(err) => Err(err).context("creating the user"),
            }
        })
        .await
}

/// `ota-inbox keys create --user <id|email> [--property <id> …]`: prints the key, once.
pub async fn create_key(args: DbArgs, user: &str, properties: &[Uuid]) -> anyhow::Result<()> {
    let user = user.trim().to_owned();
    let mut listed = properties.to_vec();
    listed.sort_unstable();
    listed.dedup();
    Database::open(&args, "keys create")
        .await?
        .run(|pool| async move {
            let user_id = find_user(&pool, &user).await?;
            let scope = (!listed.is_empty()).then_some(listed.as_slice());
            let mut tx = pool.begin().await?;
            if let Some(ids) = scope {
                let owned = db::properties::count_owned(&mut *tx, user_id, ids).await?;
                if usize::try_from(owned).ok() != Some(ids.len()) {
                    bail!("--property: every property must exist and belong to user {user}");
                }
            }
            let (key, hash) = auth::generate_key();
            let api_key = db::api_keys::insert(&mut tx, user_id, &hash, scope).await?;
            tx.commit().await?;
            let sees = match scope {
                None => "every property of the user".to_owned(),
                Some(ids) => format!("{} listed properties", ids.len()),
            };
            eprintln!(
                "created API key {} of user {user_id}, which sees {sees}. It is shown this once:",
                api_key.id
            );
            println!("{key}");
            Ok(())
        })
        .await
}

/// `ota-inbox keys revoke <key id>`
pub async fn revoke_key(args: DbArgs, key_id: Uuid) -> anyhow::Result<()> {
    Database::open(&args, "keys revoke")
        .await?
        .run(|pool| async move {
            match db::api_keys::revoke(&pool, key_id).await? {
                Some(key) => {
                    let at = key.revoked_at.map(|t| t.to_rfc3339()).unwrap_or_default();
                    eprintln!("API key {key_id} is revoked (since {at})");
                    Ok(())
                }
                None => bail!("there is no API key {key_id}"),
            }
        })
        .await
}

/// A user by id or email.
async fn find_user(pool: &PgPool, user: &str) -> anyhow::Result<Uuid> {
    if let Ok(id) = user.parse::<Uuid>() {
        if db::users::exists(pool, id).await? {
            return Ok(id);
        }
        bail!("--user: there is no user {id}");
    }
    match db::users::find_by_email(pool, user).await? {
        Some(found) => Ok(found.id),
        None => bail!("--user: there is no user with the email {user}"),
    }
}
