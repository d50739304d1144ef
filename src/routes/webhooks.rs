//! The webhook collection (§10), with a user key.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::Utc;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::AppState;
use crate::db;
use crate::db::webhook_deliveries::TestRecord;
use crate::db::webhooks::{Webhook, WebhookWrite};
use crate::error::ApiError;
use crate::http::auth::{Principal, Scope};
use crate::http::deadline::{self, Clock};
use crate::http::envelope;
use crate::http::fields::{BLANK, Fields, INVALID};
use crate::http::json::{JsonBody, OptionalJsonBody};
use crate::http::list::{Direction, ListQuery, Order};
use crate::http::path::Id;
use crate::webhooks::client::{Callback, Outcome, Verdict};
use crate::webhooks::envelope::Envelope;
use crate::webhooks::form::{self, Mode};
use crate::webhooks::views;

/// Who may see a webhook (§2): the owner's key, limited keys only for property webhooks of
/// their properties. Another user's property webhook is a resource whose property the key
/// cannot see (401); another user's global webhook is simply not found (404).
pub fn access(principal: &Principal, webhook: &Webhook) -> Result<(), ApiError> {
    if webhook.user_id != principal.user_id {
        return Err(if webhook.is_global {
            ApiError::NotFound
        } else {
            ApiError::Unauthorized
        });
    }
    let visible = match (webhook.is_global, webhook.property_id) {
        (true, _) => principal.scope == Scope::All,
        (false, Some(property_id)) => principal.can_see(webhook.user_id, property_id),
        (false, None) => false,
    };
    if visible {
        Ok(())
    } else {
        Err(ApiError::Unauthorized)
    }
}

/// Gates 3 to 5 for `/webhooks/{id}`: 404, 401, then 403 when its property lacks the app.
async fn visible_webhook(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
) -> Result<Webhook, ApiError> {
    let webhook = db::webhooks::get(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    access(principal, &webhook)?;
    if let Some(property_id) = webhook.property_id {
        require_messages_app(state, property_id).await?;
    }
    Ok(webhook)
}

async fn require_messages_app(state: &AppState, property_id: Uuid) -> Result<(), ApiError> {
    if db::applications::messages_installed(&state.db, property_id).await? {
        Ok(())
    } else {
        Err(ApiError::Forbidden)
    }
}

/// A `property_id` of a body: a property the key cannot see is 401, one without the Messages
/// app 403; one that does not exist is a field error.
async fn check_property(
    state: &AppState,
    principal: &Principal,
    property_id: Uuid,
    f: &mut Fields,
) -> Result<(), ApiError> {
    match db::properties::get(&state.db, property_id).await? {
        None => f.error("property_id", INVALID),
        Some(property) => {
            if !principal.can_see(property.user_id, property.id) {
                return Err(ApiError::Unauthorized);
            }
            require_messages_app(state, property.id).await?;
        }
    }
    Ok(())
}

/// A property deleted between its check and the write: the field is invalid after all.
fn property_gone(err: sqlx::Error) -> ApiError {
    if db::violated_constraint(&err) == Some("webhooks_property_id_fkey") {
        ApiError::invalid("property_id", INVALID)
    } else {
        err.into()
    }
}

/// The rules on a webhook's whole state, after a create's defaults or an update's merge.
fn check_scope(principal: &Principal, w: &WebhookWrite, f: &mut Fields) -> Result<(), ApiError> {
    // A global webhook sees every property of the user: a limited key may not make one.
    if w.is_global && principal.scope != Scope::All {
        return Err(ApiError::Unauthorized);
    }
    if w.property_id.is_none() && !w.is_global && !f.has_error("property_id") {
        f.error("property_id", BLANK);
    }
    Ok(())
}

/// GET /api/v1/webhooks: newest first.
#[utoipa::path(
    get,
    path = "/webhooks",
    tag = "Webhooks",
    summary = "List webhooks",
    params(crate::openapi::params::WebhookListParams),
    responses((status = 200, description = "The webhooks, newest first.", body = crate::openapi::schemas::WebhookList))
)]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    query: ListQuery,
) -> Result<Response, ApiError> {
    let order = query.order(
        &["inserted_at"],
        Order {
            field: "inserted_at",
            direction: Direction::Desc,
        },
    )?;
    let (rows, total) = db::webhooks::list_visible(
        &state.db,
        &principal,
        order.direction == Direction::Asc,
        query.limit.into(),
        query.offset(),
    )
    .await?;
    Ok(envelope::list(
        rows.iter().map(views::webhook).collect(),
        query.meta_ordered(total, order),
    ))
}

/// POST /api/v1/webhooks
#[utoipa::path(
    post,
    path = "/webhooks",
    tag = "Webhooks",
    summary = "Create a webhook",
    request_body = crate::openapi::schemas::WebhookWrite,
    responses((status = 201, description = "The webhook.", body = crate::openapi::schemas::WebhookData))
)]
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let (patch, mut f) = form::read(body, Mode::Create)?;
    let new = patch.into_new();
    if let Some(property_id) = new.property_id {
        check_property(&state, &principal, property_id, &mut f).await?;
    }
    check_scope(&principal, &new, &mut f)?;
    f.finish()?;
    let webhook = db::webhooks::insert(&state.db, principal.user_id, &new)
        .await
        .map_err(property_gone)?;
    Ok(envelope::single(
        StatusCode::CREATED,
        views::webhook(&webhook),
    ))
}

/// GET /api/v1/webhooks/{id}
#[utoipa::path(
    get,
    path = "/webhooks/{id}",
    tag = "Webhooks",
    summary = "Show a webhook",
    params(crate::openapi::params::IdPath),
    responses((status = 200, description = "The webhook.", body = crate::openapi::schemas::WebhookData))
)]
pub async fn show(
    State(state): State<AppState>,
    principal: Principal,
    Id(id): Id,
) -> Result<Response, ApiError> {
    let webhook = visible_webhook(&state, &principal, id).await?;
    Ok(envelope::single(StatusCode::OK, views::webhook(&webhook)))
}

/// PUT /api/v1/webhooks/{id}: any subset of the fields.
#[utoipa::path(
    put,
    path = "/webhooks/{id}",
    tag = "Webhooks",
    summary = "Update a webhook (any subset of its fields)",
    params(crate::openapi::params::IdPath),
    request_body = crate::openapi::schemas::WebhookWrite,
    responses((status = 200, description = "The webhook.", body = crate::openapi::schemas::WebhookData))
)]
pub async fn update(
    State(state): State<AppState>,
    principal: Principal,
    Id(id): Id,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    visible_webhook(&state, &principal, id).await?;
    let (patch, mut f) = form::read(body, Mode::Update)?;
    let mut tx = state.db.begin().await?;
    // Locked and checked again: it may have changed since the gates above.
    let current = db::webhooks::lock(&mut tx, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    access(&principal, &current)?;
    let merged = patch.apply_to(WebhookWrite::from(&current));
    if let Some(property_id) = merged
        .property_id
        .filter(|p| Some(*p) != current.property_id)
    {
        check_property(&state, &principal, property_id, &mut f).await?;
    }
    check_scope(&principal, &merged, &mut f)?;
    f.finish()?;
    let webhook = db::webhooks::update(&mut *tx, id, &merged)
        .await
        .map_err(property_gone)?;
    tx.commit().await?;
    Ok(envelope::single(StatusCode::OK, views::webhook(&webhook)))
}

/// DELETE /api/v1/webhooks/{id}
#[utoipa::path(
    delete,
    path = "/webhooks/{id}",
    tag = "Webhooks",
    summary = "Delete a webhook",
    params(crate::openapi::params::IdPath),
    responses((status = 200, description = "Deleted.", body = crate::openapi::schemas::Success))
)]
pub async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    Id(id): Id,
) -> Result<Response, ApiError> {
    visible_webhook(&state, &principal, id).await?;
    db::webhooks::delete(&state.db, id).await?;
    Ok(envelope::success())
}

/// GET /api/v1/webhooks/{id}/deliveries: every attempt, newest first.
#[utoipa::path(
    get,
    path = "/webhooks/{id}/deliveries",
    tag = "Webhooks",
    summary = "List the delivery attempts of a webhook",
    params(crate::openapi::params::IdPath, crate::openapi::params::AttemptListParams),
    responses((status = 200, description = "The attempts, newest first.", body = crate::openapi::schemas::AttemptList))
)]
pub async fn deliveries(
    State(state): State<AppState>,
    principal: Principal,
    Id(id): Id,
    query: ListQuery,
) -> Result<Response, ApiError> {
    let webhook = visible_webhook(&state, &principal, id).await?;
    let order = query.order(
        &["attempted_at"],
        Order {
            field: "attempted_at",
            direction: Direction::Desc,
        },
    )?;
    let (rows, total) = db::webhook_deliveries::list_attempts(
        &state.db,
        webhook.id,
        order.direction == Direction::Asc,
        query.limit.into(),
        query.offset(),
    )
    .await?;
    Ok(envelope::list(
        rows.iter().map(views::attempt).collect(),
        query.meta_ordered(total, order),
    ))
}

/// POST /api/v1/webhooks/test: sends one `test` event to the given callback, as a delivery
/// would (query parameters, headers, signature), and answers what the callback answered.
#[utoipa::path(
    post,
    path = "/webhooks/test",
    tag = "Webhooks",
    summary = "Send a test event to a callback",
    request_body = crate::openapi::schemas::WebhookWrite,
    responses((status = 200, description = "What the callback answered.", body = crate::openapi::schemas::WebhookTestAnswer))
)]
pub async fn test(
    State(state): State<AppState>,
    principal: Principal,
    clock: Option<Extension<Clock>>,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let (patch, mut f) = form::read(body, Mode::Test)?;
    let webhook = patch.into_new();
    if let Some(property_id) = webhook.property_id {
        check_property(&state, &principal, property_id, &mut f).await?;
    }
    f.finish()?;
    let outcome = call(&state, &clock, &webhook, principal.user_id, Uuid::new_v4()).await?;
    Ok(answer(outcome))
}

/// POST /api/v1/webhooks/{id}/test: sends one `test` event to a stored webhook (active or
/// not), whose `callback_url`, `headers` and `request_params` the body may override, and logs
/// the attempt among its deliveries with `is_test: true`.
#[utoipa::path(
    post,
    path = "/webhooks/{id}/test",
    tag = "Webhooks",
    summary = "Send a test event to a stored webhook",
    params(crate::openapi::params::IdPath),
    responses((status = 200, description = "What the callback answered.", body = crate::openapi::schemas::WebhookTestAnswer)),
    request_body(content = crate::openapi::schemas::WebhookTestOverrides, description = "Optional overrides; an empty body sends to the stored webhook.", content_type = "application/json")
)]
pub async fn test_stored(
    State(state): State<AppState>,
    principal: Principal,
    clock: Option<Extension<Clock>>,
    Id(id): Id,
    OptionalJsonBody(body): OptionalJsonBody,
) -> Result<Response, ApiError> {
    let stored = visible_webhook(&state, &principal, id).await?;
    let overrides = form::read_test_overrides(body)?;
    let webhook = overrides.apply_to(WebhookWrite::from(&stored));
    let attempt_id = Uuid::new_v4();
    let attempted_at = Utc::now();
    let outcome = call(&state, &clock, &webhook, stored.user_id, attempt_id).await?;
    let record = TestRecord {
        id: attempt_id,
        webhook_id: stored.id,
        attempted_at,
        duration_ms: i32::try_from(outcome.duration.as_millis()).unwrap_or(i32::MAX),
        status_code: outcome.status.map(i32::from),
        error: outcome.error.as_deref(),
        delivered: outcome.verdict() == Verdict::Delivered,
    };
    db::webhook_deliveries::record_test(&state.db, &record).await?;
    Ok(answer(outcome))
}

/// One `test` event to a webhook, sent with `delivery_id` as its `X-Ota-Inbox-Delivery`.
async fn call(
    state: &AppState,
    clock: &Option<Extension<Clock>>,
    webhook: &WebhookWrite,
    user_id: Uuid,
    delivery_id: Uuid,
) -> Result<Outcome, ApiError> {
    let payload = json!({
        "message": "This is a test event from ota-inbox.",
        "event_mask": webhook.event_mask,
    });
    let body = Envelope {
        event: "test",
        payload: webhook.send_data.then_some(&payload),
        property_id: webhook.property_id,
        user_id,
        timestamp: Utc::now(),
    }
    .to_bytes();
    let outbound = state.webhook_test_client.get().await?;
    let callback = Callback {
        url: &webhook.callback_url,
        request_params: &webhook.request_params,
        headers: &webhook.headers,
        delivery_id,
        signing_secret: webhook.signing_secret.as_ref().map(|s| s.0.as_str()),
        body: &body,
    };
    // The call has its own limit (WEBHOOK_TIMEOUT): it does not count against the request's.
    let clock = clock.as_ref().map(|Extension(clock)| clock);
    Ok(deadline::excluding(clock, outbound.post(&callback)).await)
}

/// `{"status_code", "body", "error"?}`: what the callback answered (as Channex answers).
fn answer(outcome: Outcome) -> Response {
    let mut answer = json!({
        "status_code": outcome.status,
        "body": outcome.status.map(|_| String::from_utf8_lossy(&outcome.body).into_owned()),
    });
    if let Some(error) = outcome.error {
        answer["error"] = Value::String(error);
    }
    (StatusCode::OK, Json(answer)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::webhooks::Webhook;
    use chrono::Utc;

    fn webhook(user_id: Uuid, property_id: Option<Uuid>, is_global: bool) -> Webhook {
        Webhook {
            id: Uuid::new_v4(),
            user_id,
            property_id,
            callback_url: "http://a/".into(),
            event_mask: "*".into(),
            event_names: vec!["*".into()],
            headers: json!({}),
            request_params: json!({}),
            is_active: true,
            send_data: true,
            is_global,
            protected: false,
            signing_secret: None,
            inserted_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn access_follows_owner_scope_and_globality() {
        let (user, other, p1, p2) = (
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
        );
        let all = Principal {
            key_id: Uuid::new_v4(),
            user_id: user,
            scope: Scope::All,
            messages_app_everywhere: true,
        };
        let listed = Principal {
            scope: Scope::Listed(vec![p1]),
            ..all.clone()
        };
        let cases = [
            (&all, webhook(user, Some(p1), false), Ok(())),
            (&all, webhook(user, None, true), Ok(())),
            (&all, webhook(user, Some(p2), true), Ok(())),
            (&listed, webhook(user, Some(p1), false), Ok(())),
            (&listed, webhook(user, Some(p2), false), Err(401)),
            (&listed, webhook(user, None, true), Err(401)),
            (&listed, webhook(user, Some(p1), true), Err(401)),
            (&all, webhook(other, Some(p1), false), Err(401)),
            (&all, webhook(other, None, true), Err(404)),
        ];
        for (principal, webhook, expected) in cases {
            let got = access(principal, &webhook).map_err(|e| e.status().as_u16());
            assert_eq!(
                got, expected,
                "{:?} {:?}",
                webhook.property_id, webhook.is_global
            );
        }
    }
}
