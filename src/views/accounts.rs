//! The server's own accounts and the Channex-shaped provisioning resources: `property`,
//! `application_installation`, `user`, `api_key`, and the admin outbox entries.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use crate::db;
use crate::http::envelope::Resource;
use crate::http::time;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PropertyAttributes {
    pub title: String,
    pub currency: Option<String>,
    pub timezone: Option<String>,
    pub is_active: bool,
}

pub fn property(p: &db::properties::Property) -> Resource<PropertyAttributes> {
    Resource {
        id: p.id,
        kind: "property",
        attributes: PropertyAttributes {
            title: p.title.clone(),
            currency: p.currency.clone(),
            timezone: p.timezone.clone(),
            is_active: p.is_active,
        },
        relationships: None,
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct InstallationAttributes {
    pub id: Uuid,
    #[schema(value_type = Object)]
    pub settings: Value,
    pub property_id: Uuid,
    pub is_active: bool,
    pub application_id: Uuid,
    pub application_code: String,
}

pub fn installation(i: &db::applications::Installation) -> Resource<InstallationAttributes> {
    Resource {
        id: i.id,
        kind: "application_installation",
        attributes: InstallationAttributes {
            id: i.id,
            settings: i.settings.clone(),
            property_id: i.property_id,
            is_active: true,
            application_id: db::applications::MESSAGES_APP_ID,
            application_code: i.application_code.clone(),
        },
        relationships: None,
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserAttributes {
    pub email: String,
    pub name: Option<String>,
    #[serde(serialize_with = "time::serialize")]
    #[schema(value_type = String, example = "2021-07-28T04:25:15.000000")]
    pub inserted_at: DateTime<Utc>,
    #[serde(serialize_with = "time::serialize")]
    #[schema(value_type = String, example = "2021-07-28T04:25:15.000000")]
    pub updated_at: DateTime<Utc>,
}

pub fn user(u: &db::users::User) -> Resource<UserAttributes> {
    Resource {
        id: u.id,
        kind: "user",
        attributes: UserAttributes {
            email: u.email.clone(),
            name: u.name.clone(),
            inserted_at: u.inserted_at,
            updated_at: u.updated_at,
        },
        relationships: None,
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ApiKeyAttributes {
    /// The plaintext key: present only in the answer to its creation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub user_id: Uuid,
    /// `null` when the key sees every property of its user.
    pub property_ids: Option<Vec<Uuid>>,
    #[serde(serialize_with = "time::serialize")]
    #[schema(value_type = String, example = "2021-07-28T04:25:15.000000")]
    pub inserted_at: DateTime<Utc>,
    #[serde(serialize_with = "time::serialize_opt")]
    #[schema(value_type = Option<String>, example = "2021-07-28T04:25:15.000000")]
    pub revoked_at: Option<DateTime<Utc>>,
}

pub fn api_key(k: &db::api_keys::ApiKey, plaintext: Option<String>) -> Resource<ApiKeyAttributes> {
    Resource {
        id: k.id,
        kind: "api_key",
        attributes: ApiKeyAttributes {
            key: plaintext,
            user_id: k.user_id,
            property_ids: (!k.all_properties).then(|| k.property_ids.clone()),
            inserted_at: k.inserted_at,
            revoked_at: k.revoked_at,
        },
        relationships: None,
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OutboxAttributes {
    pub kind: String,
    pub property_id: Uuid,
    pub message_thread_id: Uuid,
    pub message_id: Option<Uuid>,
    #[schema(value_type = Object)]
    pub payload: Value,
    #[serde(serialize_with = "time::serialize")]
    #[schema(value_type = String, example = "2021-07-28T04:25:15.000000")]
    pub inserted_at: DateTime<Utc>,
}

pub fn outbox_entry(e: &db::outbox::OutboxEntry) -> Resource<OutboxAttributes> {
    Resource {
        id: e.id,
        kind: "outbox_entry",
        attributes: OutboxAttributes {
            kind: e.kind.clone(),
            property_id: e.property_id,
            message_thread_id: e.message_thread_id,
            message_id: e.message_id,
            payload: e.payload.clone(),
            inserted_at: e.inserted_at,
        },
        relationships: None,
    }
}
