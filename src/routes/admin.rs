//! The admin API (§9): the OTA side and the server's own accounts.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use rand::Rng;

use crate::AppState;
use crate::db;
use crate::db::bookings::NewBooking;
use crate::error::ApiError;
use crate::http::auth;
use crate::http::envelope;
use crate::http::fields::Fields;
use crate::http::json::JsonBody;
use crate::http::list::ListQuery;
use crate::http::path::Id;
use crate::views;

/// Most properties one key may list.
const MAX_KEY_PROPERTIES: usize = 1000;

/// POST /admin/reset
pub async fn reset(State(state): State<AppState>) -> Result<Response, ApiError> {
    db::reset(&state.db).await?;
    state.principals.clear();
    Ok(envelope::success())
}

/// POST /admin/users
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
fn is_email(email: &str) -> bool {
    email.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty() && !domain.is_empty() && !domain.contains('@')
    }) && !email.chars().any(char::is_whitespace)
}

/// POST /admin/api_keys
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
pub async fn create_booking(
    State(state): State<AppState>,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let mut f = Fields::envelope(body, "booking")?;
    let property_id = f.required_uuid("property_id");
    let ota_name = f
        .required_string("ota_name", 100)
        .map(|s| s.trim().to_owned());
    let code = f
        .string("ota_reservation_code", 100)
        .map(|s| s.trim().to_owned());
    let arrival = f.required_date("arrival_date");
    let departure = f.required_date("departure_date");
    if let (Some(a), Some(d)) = (arrival, departure)
        && d <= a
    {
        f.error("departure_date", "must be after arrival_date");
    }
    let mut customer = f.object("customer");
    let (name, surname) = match customer.as_mut() {
        Some(c) => (c.required_string("name", 255), c.string("surname", 255)),
        None => {
            if !f.has_error("customer") {
                f.error("customer", "can't be blank");
            }
            (None, None)
        }
    };
    if let Some(c) = customer {
        f.absorb("customer", c);
    }
    f.finish()?;
    let code = code
        .filter(|c| !c.is_empty())
        .unwrap_or_else(reservation_code);

    let mut tx = state.db.begin().await?;
    db::properties::get(&mut *tx, property_id.unwrap_or_default())
        .await?
        .ok_or_else(|| ApiError::invalid("property_id", "not found"))?;
    let booking = db::bookings::insert(
        &mut tx,
        &NewBooking {
            property_id: property_id.unwrap_or_default(),
            ota_name: ota_name.as_deref().unwrap_or_default(),
            ota_reservation_code: &code,
            arrival_date: arrival.unwrap_or_default(),
            departure_date: departure.unwrap_or_default(),
            customer_name: name.as_deref().unwrap_or_default().trim(),
            customer_surname: surname.as_deref().map(str::trim).filter(|s| !s.is_empty()),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(envelope::single(
        StatusCode::CREATED,
        views::booking(&booking),
    ))
}

/// A reservation code like the OTAs': ten digits.
fn reservation_code() -> String {
    let mut rng = rand::rng();
    (0..10)
        .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
        .collect()
}

/// GET /admin/outbox
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
    fn reservation_codes_are_ten_digits() {
        let code = reservation_code();
        assert_eq!(code.len(), 10);
        assert!(code.bytes().all(|b| b.is_ascii_digit()));
    }
}
