//! Bookings, read side (§6, §8): the list a PMS searches by reservation code before it sends,
//! and one booking. No Messages-app gate: a key sees the bookings of every property it sees.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::NaiveDate;

use crate::AppState;
use crate::db;
use crate::db::bookings::{BookingFilter, Named};
use crate::error::ApiError;
use crate::http::auth::Principal;
use crate::http::envelope;
use crate::http::list::{Direction, ListQuery, Order};
use crate::http::path::Id;
use crate::routes::threads::parse_timestamp;
use crate::views;

pub(crate) const ORDERABLE: [&str; 4] = [
    "inserted_at",
    "updated_at",
    "arrival_date",
    "departure_date",
];
const DEFAULT_ORDER: Order = Order {
    field: "inserted_at",
    direction: Direction::Desc,
};
pub(crate) const STATUSES: [&str; 3] = ["new", "modified", "cancelled"];
/// Date columns that take ranges.
pub(crate) const DATE_RANGES: [&str; 2] = ["arrival_date", "departure_date"];
/// Timestamp columns that take ranges.
pub(crate) const TIME_RANGES: [&str; 2] = ["inserted_at", "updated_at"];

/// GET /api/v1/bookings: one statement, which also checks the properties of
/// `filter[property_id]`.
#[utoipa::path(
    get,
    path = "/bookings",
    tag = "Bookings",
    summary = "List bookings",
    params(crate::openapi::params::BookingListParams),
    responses((status = 200, description = "The bookings, newest first by default.", body = crate::openapi::schemas::BookingList))
)]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    query: ListQuery,
) -> Result<Response, ApiError> {
    let order = query.order(&ORDERABLE, DEFAULT_ORDER)?;
    let mut filter = read_filter(&query, principal.user_id)?;
    let named = query.uuid_filter("property_id")?.map(|mut ids| {
        ids.sort_unstable();
        ids.dedup();
        ids
    });
    let count = named.as_ref().map(Vec::len);
    filter.property_ids = match named {
        Some(ids) => {
            filter.named = Some(Named {
                listed: principal.listed().map(<[_]>::to_vec),
            });
            Some(ids)
        }
        None => principal.listed().map(<[_]>::to_vec),
    };
    let (rows, total, check) = db::bookings::list(
        &state.db,
        &filter,
        order,
        query.limit.into(),
        query.offset(),
    )
    .await?;
    // Each named property exists and the key sees it, else 401 (as a resource of a property
    // the key cannot see).
    if let Some(count) = count {
        let count = i64::try_from(count).unwrap_or(i64::MAX);
        if check.found != count || check.visible != count {
            return Err(ApiError::Unauthorized);
        }
    }
    Ok(envelope::list(
        rows.iter().map(views::booking).collect(),
        query.meta_ordered(total, order),
    ))
}

/// The filters of §8 other than `property_id`; malformed values are a 422 naming the parameter.
fn read_filter(query: &ListQuery, user_id: uuid::Uuid) -> Result<BookingFilter, ApiError> {
    let statuses = match query.filters.get("status") {
        None => None,
        Some(values) if values.iter().all(|v| STATUSES.contains(&v.as_str())) => {
            Some(values.clone())
        }
        Some(_) => return Err(ApiError::bad_param("filter[status]")),
    };
    let ota_keys = query.filters.get("ota_name").map(|names| {
        names
            .iter()
            .map(|name| {
                name.chars()
                    .filter(char::is_ascii_alphanumeric)
                    .collect::<String>()
                    .to_ascii_lowercase()
            })
            .collect()
    });
    let reservation_codes = query.filters.get("ota_reservation_code").cloned();
    // PostgreSQL text holds no NUL: such a code cannot even be compared.
    if reservation_codes
        .as_ref()
        .is_some_and(|codes| codes.iter().any(|code| code.contains('\0')))
    {
        return Err(ApiError::bad_param("filter[ota_reservation_code]"));
    }
    let mut filter = BookingFilter {
        user_id,
        reservation_codes,
        ota_keys,
        statuses,
        ..BookingFilter::default()
    };
    for ((field, op), value) in &query.ranges {
        let name = || format!("filter[{field}][{op}]");
        let sql_op = match op.as_str() {
            "gt" => ">",
            "gte" => ">=",
            "lt" => "<",
            _ => "<=",
        };
        if let Some(column) = DATE_RANGES.iter().find(|c| **c == field.as_str()) {
            let date = parse_date(value).ok_or_else(|| ApiError::bad_param(&name()))?;
            filter.date_ranges.push((column, sql_op, date));
        } else if let Some(column) = TIME_RANGES.iter().find(|c| **c == field.as_str()) {
            let at = parse_timestamp(value).ok_or_else(|| ApiError::bad_param(&name()))?;
            filter.time_ranges.push((column, sql_op, at));
        } else {
            return Err(ApiError::bad_param(&name()));
        }
    }
    Ok(filter)
}

/// A date `YYYY-MM-DD`, or the (UTC) date of a timestamp.
fn parse_date(value: &str) -> Option<NaiveDate> {
    parse_timestamp(value).map(|at| at.date_naive())
}

/// GET /api/v1/bookings/{id}
#[utoipa::path(
    get,
    path = "/bookings/{id}",
    tag = "Bookings",
    summary = "Show a booking",
    params(crate::openapi::params::IdPath),
    responses((status = 200, description = "The booking.", body = crate::openapi::schemas::BookingData))
)]
pub async fn show(
    State(state): State<AppState>,
    principal: Principal,
    Id(id): Id,
) -> Result<Response, ApiError> {
    let booking = db::bookings::get(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if !principal.can_see(booking.owner_id, booking.property_id) {
        return Err(ApiError::Unauthorized);
    }
    Ok(envelope::single(StatusCode::OK, views::booking(&booking)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(query: &str) -> Result<BookingFilter, ApiError> {
        read_filter(&ListQuery::parse(query).unwrap(), uuid::Uuid::nil())
    }

    fn bad_name(query: &str) -> String {
        match filter(query) {
            Err(ApiError::BadRequest(fields)) => fields.into_keys().collect(),
            other => panic!("{query}: {other:?}"),
        }
    }

    #[test]
    fn filters_are_read_and_checked() {
        let f = filter(
            "filter[ota_reservation_code]=4125638921&filter[ota_name]=Booking.com,Airbnb\
             &filter[status]=new,cancelled&filter[arrival_date][gte]=2021-01-01\
             &filter[departure_date][lt]=2021-02-01&filter[inserted_at][gt]=2021-01-01T10:00:00",
        )
        .unwrap();
        assert_eq!(f.reservation_codes, Some(vec!["4125638921".to_owned()]));
        assert_eq!(
            f.ota_keys,
            Some(vec!["bookingcom".to_owned(), "airbnb".to_owned()])
        );
        assert_eq!(
            f.statuses,
            Some(vec!["new".to_owned(), "cancelled".to_owned()])
        );
        assert_eq!(f.date_ranges.len(), 2);
        assert_eq!(f.time_ranges.len(), 1);

        for (query, name) in [
            ("filter[status]=open", "filter[status]"),
            (
                "filter[arrival_date][gte]=soon",
                "filter[arrival_date][gte]",
            ),
            (
                "filter[inserted_at][lt]=2021-13-01",
                "filter[inserted_at][lt]",
            ),
            ("filter[amount][gt]=5", "filter[amount][gt]"),
        ] {
            assert_eq!(bad_name(query), name, "{query}");
        }
    }
}
