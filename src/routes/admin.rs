//! The admin API (§9): the OTA side and the server's own accounts.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::AppState;
use crate::config::parse_flag;
use crate::db;
use crate::db::bookings::NewBooking;
use crate::error::ApiError;
use crate::http::auth;
use crate::http::envelope;
use crate::http::fields::Fields;
use crate::http::json::JsonBody;
use crate::http::list::ListQuery;
use crate::http::path::Id;
use crate::ota::{self, Provider};
use crate::routes::booking_form;
use crate::views;

/// Most properties one key may list.
const MAX_KEY_PROPERTIES: usize = 1000;

/// POST /admin/reset (`?demo=true`: and seed the demo again)
#[utoipa::path(
    post,
    path = "/reset",
    tag = "Admin",
    summary = "Wipe every table (and seed the demo again with `?demo=true`)",
    params(("demo" = Option<bool>, Query, description = "Seed the demo again (true/false, 1/0, yes/no, on/off).")),
    responses((status = 200, description = "Wiped.", body = crate::openapi::schemas::ResetAnswer))
)]
pub async fn reset(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let demo = demo_param(query.as_deref())?;
    let mut tx = state.db.begin().await?;
    db::reset(&mut *tx).await?;
    let seeded = if demo {
        Some(
            crate::demo::seed(&mut tx)
                .await
                .map_err(ApiError::Internal)?,
        )
    } else {
        None
    };
    tx.commit().await?;
    state.principals.clear();
    Ok(match seeded {
        None => envelope::success(),
        Some(demo) => Json(json!({
            "data": {
                "api_key": demo.api_key,
                "user_id": demo.user_id,
                "email": crate::demo::DEMO_EMAIL,
                "property_id": demo.property_id,
            },
            "meta": {"message": "Success"},
        }))
        .into_response(),
    })
}

/// `demo` of the query string: absent is false; true/false, 1/0, yes/no, on/off.
fn demo_param(query: Option<&str>) -> Result<bool, ApiError> {
    let value = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(name, _)| name == "demo")
        .map(|(_, value)| value);
    match value {
        None => Ok(false),
        Some(value) => parse_flag(&value).map_err(|_| ApiError::bad_param("demo")),
    }
}

/// POST /admin/users
#[utoipa::path(
    post,
    path = "/users",
    tag = "Admin",
    summary = "Create a user",
    request_body = crate::openapi::schemas::UserCreate,
    responses((status = 201, description = "The user.", body = crate::openapi::schemas::UserData))
)]
pub async fn create_user(
    State(state): State<AppState>,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let mut f = Fields::envelope(body, "user")?;
    let email = f.required_string("email", 254).map(|e| e.trim().to_owned());
    if email.as_deref().is_some_and(|e| !is_email(e)) {
        f.error("email", "is invalid");
    }
    let name = f.string("name", 255);
    f.finish()?;
    let email = email.unwrap_or_default();
    match db::users::insert(&state.db, &email, name.as_deref()).await {
        Ok(user) => Ok(envelope::single(StatusCode::CREATED, views::user(&user))),
        Err(err) if db::violated_constraint(&err) == Some(db::users::EMAIL_TAKEN) => {
            Err(ApiError::invalid("email", "has already been taken"))
        }
        Err(err) => Err(err.into()),
    }
}

/// Something `local@domain` without spaces: enough to catch mistakes, not a full RFC 5322 parser.
pub fn is_email(email: &str) -> bool {
    email.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty() && !domain.is_empty() && !domain.contains('@')
    }) && !email.chars().any(char::is_whitespace)
}

/// POST /admin/api_keys
#[utoipa::path(
    post,
    path = "/api_keys",
    tag = "Admin",
    summary = "Create an API key (the key is shown once)",
    request_body = crate::openapi::schemas::ApiKeyCreate,
    responses((status = 201, description = "The key.", body = crate::openapi::schemas::ApiKeyData))
)]
pub async fn create_api_key(
    State(state): State<AppState>,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let mut f = Fields::envelope(body, "api_key")?;
    let user_id = f.required_uuid("user_id");
    let property_ids = f.uuid_list("property_ids", MAX_KEY_PROPERTIES);
    f.finish()?;
    let user_id = user_id.unwrap_or_default();

    let mut tx = state.db.begin().await?;
    if !db::users::exists(&mut *tx, user_id).await? {
        return Err(ApiError::invalid("user_id", "not found"));
    }
    let mut listed = property_ids;
    if let Some(ids) = listed.as_mut() {
        ids.sort_unstable();
        ids.dedup();
        let owned = db::properties::count_owned(&mut *tx, user_id, ids).await?;
        if usize::try_from(owned).ok() != Some(ids.len()) {
            return Err(ApiError::invalid(
                "property_ids",
                "must be properties of the user",
            ));
        }
    }
    let (key, hash) = auth::generate_key();
    let api_key = db::api_keys::insert(&mut tx, user_id, &hash, listed.as_deref()).await?;
    tx.commit().await?;
    Ok(envelope::single(
        StatusCode::CREATED,
        views::api_key(&api_key, Some(key)),
    ))
}

/// DELETE /admin/api_keys/{id}
#[utoipa::path(
    delete,
    path = "/api_keys/{id}",
    tag = "Admin",
    summary = "Revoke an API key",
    params(crate::openapi::params::IdPath),
    responses((status = 200, description = "Revoked.", body = crate::openapi::schemas::Success))
)]
pub async fn revoke_api_key(
    State(state): State<AppState>,
    Id(id): Id,
) -> Result<Response, ApiError> {
    let key = db::api_keys::revoke(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    // Other processes learn it through NOTIFY; this one at once.
    state.principals.forget_user(key.user_id);
    Ok(envelope::success())
}

/// POST /admin/bookings
#[utoipa::path(
    post,
    path = "/bookings",
    tag = "Admin",
    summary = "Create a booking (as the OTA)",
    request_body = crate::openapi::schemas::BookingCreate,
    responses((status = 201, description = "The booking.", body = crate::openapi::schemas::BookingData))
)]
pub async fn create_booking(
    State(state): State<AppState>,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let form = booking_form::read(body)?;
    let mut tx = state.db.begin().await?;
    let property = db::properties::get(&mut *tx, form.property_id)
        .await?
        .ok_or_else(|| ApiError::invalid("property_id", "not found"))?;
    let code = form
        .ota_reservation_code
        .clone()
        .unwrap_or_else(|| ota::reservation_code(&form.ota_name));
    let ota_thread_id = form
        .ota_message_thread_id
        .clone()
        .or_else(|| Provider::for_ota(&form.ota_name).map(Provider::new_thread_id));
    let currency = form.currency.clone().or(property.currency.clone());
    let booking = db::bookings::insert(
        &mut tx,
        &NewBooking {
            property_id: property.id,
            ota_name: &form.ota_name,
            ota_reservation_code: &code,
            arrival_date: form.arrival_date,
            departure_date: form.departure_date,
            customer: &form.customer,
            currency: currency.as_deref(),
            amount: form.amount.as_deref(),
            occupancy: form.occupancy,
            notes: form.notes.as_deref(),
            ota_message_thread_id: ota_thread_id.as_deref(),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(envelope::single(
        StatusCode::CREATED,
        views::booking(&booking),
    ))
}

/// GET /admin/outbox
#[utoipa::path(
    get,
    path = "/outbox",
    tag = "Admin",
    summary = "What properties sent to the OTA",
    params(crate::openapi::params::OutboxListParams),
    responses((status = 200, description = "The outbox, oldest first by default.", body = crate::openapi::schemas::OutboxList))
)]
pub async fn outbox(State(state): State<AppState>, query: ListQuery) -> Result<Response, ApiError> {
    let order = query.order(
        &["inserted_at"],
        crate::http::list::Order {
            field: "inserted_at",
            direction: crate::http::list::Direction::Asc,
        },
    )?;
    let filter = db::outbox::OutboxFilter {
        property_ids: query.uuid_filter("property_id")?,
        thread_ids: query.uuid_filter("message_thread_id")?,
        descending: order.direction == crate::http::list::Direction::Desc,
    };
    let (rows, total) =
        db::outbox::list(&state.db, &filter, query.limit.into(), query.offset()).await?;
    Ok(envelope::list(
        rows.iter().map(views::outbox_entry).collect(),
        query.meta_ordered(total, order),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_need_one_at_and_no_spaces() {
        for ok in ["a@b", "demo@example.com", "x.y+z@sub.example.org"] {
            assert!(is_email(ok), "{ok}");
        }
        for bad in ["", "a", "@b", "a@", "a@b@c", "a b@c", "a@b c"] {
            assert!(!is_email(bad), "{bad}");
        }
    }

    #[test]
    fn the_demo_parameter_is_a_yes_no_flag() {
        assert!(!demo_param(None).unwrap());
        assert!(!demo_param(Some("other=1")).unwrap());
        assert!(demo_param(Some("demo=true")).unwrap());
        assert!(demo_param(Some("x=y&demo=1")).unwrap());
        assert!(!demo_param(Some("demo=off")).unwrap());
        assert!(matches!(
            demo_param(Some("demo=maybe")),
            Err(ApiError::BadRequest(_))
        ));
        assert!(matches!(
            demo_param(Some("demo=")),
            Err(ApiError::BadRequest(_))
        ));
    }
}
