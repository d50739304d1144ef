//! JSON:API-like envelopes: `{"data": {...}}`, `{"data": [...], "meta": {...}}`, relationships.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};
use uuid::Uuid;

/// `{"data": {"id", "type"}}`
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Relationship {
    pub data: Related,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Related {
    pub id: Uuid,
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    pub kind: &'static str,
}

impl Relationship {
    pub fn new(kind: &'static str, id: Uuid) -> Self {
        Self {
            data: Related { id, kind },
        }
    }
}

/// One resource object: `{"id", "type", "attributes", "relationships"?}`.
#[derive(Debug, Serialize)]
pub struct Resource<A, R = Value> {
    pub id: Uuid,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub attributes: A,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relationships: Option<R>,
}

/// `{"data": resource}` with a status.
pub fn single<T: Serialize>(status: StatusCode, data: T) -> Response {
    (status, Json(json!({ "data": data }))).into_response()
}

/// `{"data": [...], "meta": meta}`.
pub fn list<T: Serialize>(data: Vec<T>, meta: Value) -> Response {
    Json(json!({ "data": data, "meta": meta })).into_response()
}

/// `{"meta": {"message": "Success"}}`.
pub fn success() -> Response {
    Json(json!({ "meta": { "message": "Success" } })).into_response()
}
