//! Message threads (§5, §6, §7.5, §7.6).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Utc};
use serde_json::json;

use crate::AppState;
use crate::db;
use crate::db::threads::{PropertyScope, Thread, ThreadFilter};
use crate::error::ApiError;
use crate::http::auth::Principal;
use crate::http::envelope;
use crate::http::gate::Gated;
use crate::http::list::{Direction, ListQuery, Order};
use crate::messaging::{self, ThreadChange};
use crate::ota::Provider;
use crate::views;

pub(crate) const ORDERABLE: [&str; 3] = ["inserted_at", "updated_at", "last_message_received_at"];
/// The thread with the newest message first (§5: what live Channex does).
const DEFAULT_ORDER: Order = Order {
    field: "last_message_received_at",
    direction: Direction::Desc,
};

/// GET /api/v1/message_threads: one statement, which also finds the properties the list
/// covers and what the gates need to know of them.
#[utoipa::path(
    get,
    path = "/message_threads",
    tag = "Messages",
    summary = "List message threads",
    params(crate::openapi::params::ThreadListParams),
    responses((status = 200, description = "The threads, newest activity first by default.", body = crate::openapi::schemas::ThreadList))
)]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    query: ListQuery,
) -> Result<Response, ApiError> {
    let order = query.order(&ORDERABLE, DEFAULT_ORDER)?;
    let mut filter = read_filter(&query, principal.user_id)?;
    let listed = principal.listed().map(<[_]>::to_vec);
    filter.scope = match query.uuid_filter("property_id")? {
        Some(mut ids) => {
            ids.sort_unstable();
            ids.dedup();
            PropertyScope::Named { ids, listed }
        }
        None if listed.is_none() && principal.messages_app_everywhere => PropertyScope::All,
        None => PropertyScope::WithApp { listed },
    };
    let (rows, total, check) = db::threads::list(
        &state.db,
        &filter,
        order,
        query.limit.into(),
        query.offset(),
    )
    .await?;
    match &filter.scope {
        PropertyScope::All => {}
        // Each named property exists and is visible (else 401), and has the app (else 403).
        PropertyScope::Named { ids, .. } => {
            let named = i64::try_from(ids.len()).unwrap_or(i64::MAX);
            if check.found != named || check.visible != named {
                return Err(ApiError::Unauthorized);
            }
            if check.with_app != named {
                return Err(ApiError::Forbidden);
            }
        }
        // No visible property with the app: 403.
        PropertyScope::WithApp { .. } if check.with_app == 0 => return Err(ApiError::Forbidden),
        PropertyScope::WithApp { .. } => {}
    }
    Ok(envelope::list(
        rows.iter().map(views::thread).collect(),
        query.meta_ordered(total, order),
    ))
}

/// The filters of §5 other than `property_id`; malformed values are a 422 naming the parameter.
fn read_filter(query: &ListQuery, user_id: uuid::Uuid) -> Result<ThreadFilter, ApiError> {
    let providers = match query.filters.get("provider") {
        None => None,
        Some(values) => Some(
            values
                .iter()
                .map(|v| {
                    Provider::for_ota(v)
                        .map(|p| p.as_str().to_owned())
                        .ok_or_else(|| ApiError::bad_param("filter[provider]"))
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
    };
    let is_closed = match query.filters.get("is_closed").map(|v| v.as_slice()) {
        None => None,
        Some([value]) if value == "true" => Some(true),
        Some([value]) if value == "false" => Some(false),
        Some(_) => return Err(ApiError::bad_param("filter[is_closed]")),
    };
    let mut ranges = Vec::new();
    for ((field, op), value) in &query.ranges {
        let column = ORDERABLE
            .iter()
            .find(|c| **c == field.as_str())
            .ok_or_else(|| ApiError::bad_param(&format!("filter[{field}][{op}]")))?;
        let sql_op = match op.as_str() {
            "gt" => ">",
            "gte" => ">=",
            "lt" => "<",
            _ => "<=",
        };
        let at = parse_timestamp(value)
            .ok_or_else(|| ApiError::bad_param(&format!("filter[{field}][{op}]")))?;
        ranges.push((*column, sql_op, at));
    }
    Ok(ThreadFilter {
        user_id,
        scope: PropertyScope::All,
        booking_ids: query.uuid_filter("booking_id")?,
        channel_ids: query.uuid_filter("channel_id")?,
        providers,
        is_closed,
        ranges,
    })
}

/// A UTC timestamp as the API writes them (zone optional) or a date (its midnight); also read
/// by the booking list's ranges.
pub fn parse_timestamp(value: &str) -> Option<DateTime<Utc>> {
    // Years 1 to 9999: chrono reads signed and five-digit years that PostgreSQL cannot store.
    parse_any_timestamp(value).filter(|at| (1..=9999).contains(&at.year()))
}

fn parse_any_timestamp(value: &str) -> Option<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_rfc3339(value) {
        return Some(at.with_timezone(&Utc));
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S",
    ] {
        if let Ok(at) = NaiveDateTime::parse_from_str(value, format) {
            return Some(at.and_utc());
        }
    }
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

/// GET /api/v1/message_threads/{id}
#[utoipa::path(
    get,
    path = "/message_threads/{id}",
    tag = "Messages",
    summary = "Show a message thread",
    params(crate::openapi::params::IdPath),
    responses((status = 200, description = "The thread.", body = crate::openapi::schemas::ThreadData))
)]
pub async fn show(Gated(thread): Gated<Thread>) -> Response {
    envelope::single(StatusCode::OK, views::thread(&thread))
}

/// POST /api/v1/message_threads/{id}/close
#[utoipa::path(
    post,
    path = "/message_threads/{id}/close",
    tag = "Messages",
    summary = "Close a thread",
    params(crate::openapi::params::IdPath),
    responses((status = 200, description = "The thread, closed.", body = crate::openapi::schemas::ThreadData))
)]
pub async fn close(
    State(state): State<AppState>,
    Gated(thread): Gated<Thread>,
) -> Result<Response, ApiError> {
    set_closed(&state, &thread, true).await
}

/// POST /api/v1/message_threads/{id}/reopen (ours: the chat's "reopen")
#[utoipa::path(
    post,
    path = "/message_threads/{id}/reopen",
    tag = "Messages",
    summary = "Reopen a thread",
    params(crate::openapi::params::IdPath),
    responses((status = 200, description = "The thread, open.", body = crate::openapi::schemas::ThreadData))
)]
pub async fn reopen(
    State(state): State<AppState>,
    Gated(thread): Gated<Thread>,
) -> Result<Response, ApiError> {
    set_closed(&state, &thread, false).await
}

/// Closes or reopens a thread; a change is a `message_thread_updated` event in its transaction.
async fn set_closed(state: &AppState, thread: &Thread, closed: bool) -> Result<Response, ApiError> {
    let turn = state.writers.turn(thread.id).await?;
    let mut tx = turn.begin(&state.db).await?;
    let changed = if closed {
        db::threads::close(&mut *tx, thread.id).await?
    } else {
        db::threads::reopen(&mut *tx, thread.id).await?
    };
    if changed {
        let change = if closed {
            ThreadChange::Closed
        } else {
            ThreadChange::Reopened
        };
        messaging::thread_updated(&mut tx, thread, change, closed, None).await?;
    }
    let thread = db::threads::get(&mut *tx, thread.id)
        .await?
        .ok_or(ApiError::NotFound)?;
    tx.commit().await?;
    Ok(envelope::single(StatusCode::OK, views::thread(&thread)))
}

/// POST /api/v1/message_threads/{id}/no_reply_needed
#[utoipa::path(
    post,
    path = "/message_threads/{id}/no_reply_needed",
    tag = "Messages",
    summary = "Mark a thread as needing no reply",
    params(crate::openapi::params::IdPath),
    responses((status = 200, description = "The thread.", body = crate::openapi::schemas::ThreadData))
)]
pub async fn no_reply_needed(
    State(state): State<AppState>,
    Gated(thread): Gated<Thread>,
) -> Result<Response, ApiError> {
    let turn = state.writers.turn(thread.id).await?;
    let mut tx = turn.begin(&state.db).await?;
    let thread = db::threads::lock(&mut tx, thread.id)
        .await?
        .ok_or(ApiError::NotFound)?;
    // Nothing to mark (and nothing to tell the OTA) before the guest has written.
    if let Some(message_id) = db::threads::mark_no_reply_needed(&mut *tx, thread.id).await? {
        let payload = json!({
            "message_thread_id": thread.id,
            "message_id": message_id,
            "provider": thread.provider,
            "booking_id": thread.booking_id,
        });
        db::outbox::insert(
            &mut *tx,
            thread.property_id,
            thread.id,
            Some(message_id),
            "no_reply_needed",
            &payload,
        )
        .await?;
        messaging::thread_updated(
            &mut tx,
            &thread,
            ThreadChange::NoReplyNeeded,
            thread.is_closed,
            Some(message_id),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(envelope::single(StatusCode::OK, views::thread(&thread)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_values_take_the_apis_own_timestamps_and_dates() {
        let expected = "2021-07-27T09:43:05.864520";
        for value in [
            expected,
            "2021-07-27T09:43:05.864520Z",
            "2021-07-27T10:43:05.864520+01:00",
        ] {
            let at = parse_timestamp(value).unwrap();
            assert_eq!(crate::http::time::format(&at), expected, "{value}");
        }
        assert_eq!(
            crate::http::time::format(&parse_timestamp("2021-07-27").unwrap()),
            "2021-07-27T00:00:00.000000"
        );
        for bad in [
            "",
            "yesterday",
            "2021-13-01",
            "2021-07-27T25:00:00",
            "-5000-01-01",
            "-4714-11-23T00:00:00",
            "+12345-01-01T00:00:00Z",
            "0000-01-01",
        ] {
            assert!(parse_timestamp(bad).is_none(), "{bad}");
        }
    }
}
