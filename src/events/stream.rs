//! The Server-Sent Events streams: `GET /api/v1/events/stream` (a key or a chat session, the
//! events it may see) and `GET /admin/events/stream` (every event, plus the console's hints).
//!
//! A stream subscribes to the hub first, then replays from the database what came after the
//! client's `Last-Event-ID`, then sends what the hub publishes, skipping ids it has sent. When
//! it falls behind the hub, it catches up from the database the same way.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Uri};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::{Instant, sleep_until};
use uuid::Uuid;

use super::hub::{Hint, Published};
use crate::AppState;
use crate::db;
use crate::db::events::{StreamEvent, Visibility};
use crate::error::ApiError;
use crate::http::auth::{Credential, Principal};
use crate::http::gate;
use crate::http::list::ListQuery;

/// Events read from the database per query of a replay.
const REPLAY_PAGE: i64 = 500;

/// `Last-Event-ID`, or the `last_event_id` query parameter: where a reconnecting client was.
pub fn last_event_id(headers: &HeaderMap, uri: &Uri) -> Result<Option<i64>, ApiError> {
    if let Some(value) = headers.get("last-event-id") {
        let text = value.to_str().map(str::trim).unwrap_or("-");
        if !text.is_empty() {
            return parse_id(text)
                .map(Some)
                .ok_or_else(|| ApiError::bad_param("Last-Event-ID"));
        }
    }
    let query = uri.query().unwrap_or_default();
    match form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "last_event_id") {
        None => Ok(None),
        Some((_, value)) if value.trim().is_empty() => Ok(None),
        Some((_, value)) => parse_id(value.trim())
            .map(Some)
            .ok_or_else(|| ApiError::bad_param("last_event_id")),
    }
}

/// A stream id: a non-negative integer that fits a `bigint`.
pub fn parse_id(text: &str) -> Option<i64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<i64>().ok()
}

/// What a stream sends and to whom.
pub struct Spec {
    pub visibility: Visibility,
    /// Where the client was (`None`: from now on).
    pub after: Option<i64>,
    /// Checked again every `recheck`: the stream ends when it no longer holds.
    pub credential: Option<Credential>,
    /// Whether to send the console's hints.
    pub hints: bool,
}

/// The visibility of a key or a chat session: its properties (all of its user's, or those
/// listed), narrowed by `filter[property_id]` (each visible, else 401, with the Messages app,
/// else 403), and only properties with the Messages app. A principal that sees no property with
/// the app is refused (403), as thread lists are.
pub async fn visibility_of(
    state: &AppState,
    principal: &Principal,
    query: &ListQuery,
) -> Result<Visibility, ApiError> {
    let property_ids = match query.uuid_filter("property_id")? {
        Some(ids) => Some(gate::checked_properties(state, principal, ids).await?),
        None => {
            if db::applications::messaging_properties(&state.db, principal)
                .await?
                .is_empty()
            {
                return Err(ApiError::Forbidden);
            }
            principal.listed().map(<[_]>::to_vec)
        }
    };
    Ok(Visibility {
        user_id: Some(principal.user_id),
        property_ids,
        messages_app_only: true,
    })
}

/// The SSE response of a stream.
pub async fn respond(state: AppState, spec: Spec) -> Result<Response, ApiError> {
    // An id this database never handed out (a client that kept its id across a new database)
    // would hide every event until the ids caught up: such a stream starts from now instead,
    // and its first frame tells the client the id to keep.
    let after = match spec.after {
        Some(after) if after > db::events::last_id(&state.db).await? => None,
        after => after,
    };
    let (events, position) = state
        .events
        .subscribe()
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("the event hub is not running")))?;
    let keep_alive = state.events.config().keep_alive;
    let recheck = state.events.config().recheck;
    let reader = Reader {
        hints: spec.hints.then(|| state.events.hints()),
        credential_changes: spec
            .credential
            .is_some()
            .then(|| state.events.credential_changes()),
        cursor: after.unwrap_or(position),
        replay: after.is_some(),
        announce: after.is_none().then_some(position),
        backlog: VecDeque::new(),
        recheck_at: Instant::now() + recheck,
        recheck,
        visibility: spec.visibility,
        credential: spec.credential,
        events,
        state,
        _open: crate::metrics::stream_opened(),
    };
    let stream = futures_util::stream::unfold(reader, |mut reader| async move {
        reader
            .next()
            .await
            .map(|event| (Ok::<_, Infallible>(event), reader))
    });
    let mut response = Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(keep_alive).text("keep-alive"))
        .into_response();
    // Proxies must pass events on at once.
    response.headers_mut().insert(
        HeaderName::from_static("x-accel-buffering"),
        HeaderValue::from_static("no"),
    );
    Ok(response)
}

struct Reader {
    state: AppState,
    /// Counts the stream as open (`ota_inbox_event_streams_open`) while it lives.
    _open: crate::metrics::StreamGuard,
    visibility: Visibility,
    credential: Option<Credential>,
    events: broadcast::Receiver<Arc<Published>>,
    hints: Option<broadcast::Receiver<Hint>>,
    /// Users whose credentials changed: the stream checks its own at once when it is theirs.
    credential_changes: Option<broadcast::Receiver<Option<Uuid>>>,
    /// The last id sent, or known to be behind the client.
    cursor: i64,
    /// Whether events after the cursor must be read from the database first.
    replay: bool,
    /// A stream opened without `Last-Event-ID` first tells the client where it starts (an
    /// id-only frame), so that a reconnect resumes from there even before any event came.
    announce: Option<i64>,
    backlog: VecDeque<StreamEvent>,
    recheck_at: Instant,
    recheck: std::time::Duration,
}

impl Reader {
    /// The next SSE event; `None` ends the stream (shutdown, a dead credential, an error).
    async fn next(&mut self) -> Option<Event> {
        if let Some(start) = self.announce.take() {
            return Some(Event::default().id(start.to_string()));
        }
        loop {
            if let Some(event) = self.backlog.pop_front() {
                if event.seq > self.cursor {
                    self.cursor = event.seq;
                    return Some(frame(event.seq, &event.event, &event.payload.to_string()));
                }
                continue;
            }
            if self.replay {
                self.replay_page().await?;
                continue;
            }
            let shutdown = self.state.shutdown.clone();
            tokio::select! {
                biased;
                () = shutdown.cancelled() => return None,
                () = sleep_until(self.recheck_at), if self.credential.is_some() => {
                    self.check_credential(false).await?;
                }
                changed = recv_change(&mut self.credential_changes) => {
                    let mine = self.visibility.user_id;
                    if changed.is_none() || mine.is_none() || changed == mine {
                        self.check_credential(true).await?;
                    }
                }
                received = self.events.recv() => match received {
                    Ok(published) => {
                        let event = &published.event;
                        if event.seq > self.cursor && self.visibility.admits(event) {
                            self.cursor = event.seq;
                            return Some(frame(event.seq, &event.event, &published.data));
                        }
                    }
                    Err(RecvError::Lagged(_)) => self.replay = true,
                    Err(RecvError::Closed) => return None,
                },
                hint = recv_hint(&mut self.hints) => {
                    if let Some(hint) = hint {
                        return Some(Event::default().event(hint.name()).data("{}"));
                    }
                }
            }
        }
    }

    /// Reads the next page after the cursor; answers `None` when the stream must end.
    async fn replay_page(&mut self) -> Option<()> {
        let page = db::events::list_visible(
            &self.state.db,
            &self.visibility,
            self.cursor,
            false,
            REPLAY_PAGE,
            0,
        )
        .await;
        match page {
            Ok(events) => {
                self.replay = events.len() as i64 >= REPLAY_PAGE;
                self.backlog.extend(events);
                Some(())
            }
            Err(err) => {
                // The client reconnects with its Last-Event-ID and misses nothing.
                tracing::warn!(error = %err, "replaying events failed; ending the stream");
                None
            }
        }
    }

    /// Ends the stream when the key was revoked or the chat session died; keeps a session
    /// alive while its page listens. `announced`: a change of the credential's user was just
    /// announced, so the key is read from the database, not from the principal cache.
    async fn check_credential(&mut self, announced: bool) -> Option<()> {
        self.recheck_at = Instant::now() + self.recheck;
        let credential = self.credential?;
        let principal = if announced {
            credential.principal_uncached(&self.state).await
        } else {
            credential.principal(&self.state).await
        };
        match principal {
            Ok(Some(_)) => Some(()),
            Ok(None) => None,
            // The database is away: keep streaming what the hub has, check again later.
            Err(err) => {
                tracing::warn!(error = %err, "checking a stream's credential failed");
                Some(())
            }
        }
    }
}

/// The next hint, or never when the stream sends none. `None` after a lag (hints are only
/// wake-ups: a missed one is as good as the next).
async fn recv_hint(hints: &mut Option<broadcast::Receiver<Hint>>) -> Option<Hint> {
    match hints {
        None => std::future::pending().await,
        Some(receiver) => match receiver.recv().await {
            Ok(hint) => Some(hint),
            Err(RecvError::Lagged(_)) => Some(Hint::Outbox),
            Err(RecvError::Closed) => {
                *hints = None;
                None
            }
        },
    }
}

/// The next credential change (a user, or `None` for anyone's, also after a lag), or never
/// when the stream has no credential to check.
async fn recv_change(changes: &mut Option<broadcast::Receiver<Option<Uuid>>>) -> Option<Uuid> {
    let Some(receiver) = changes else {
        return std::future::pending().await;
    };
    match receiver.recv().await {
        Ok(user) => user,
        Err(RecvError::Lagged(_)) => None,
        Err(RecvError::Closed) => std::future::pending().await,
    }
}

fn frame(id: i64, name: &str, data: &str) -> Event {
    Event::default().id(id.to_string()).event(name).data(data)
}

/// `GET /api/v1/events/stream`
#[utoipa::path(
    get,
    path = "/events/stream",
    tag = "Events",
    summary = "Live events (Server-Sent Events)",
    params(crate::openapi::params::StreamParams, crate::openapi::params::ResumeParams),
    responses((status = 200, description = "A `text/event-stream` of events; it ends when the credential is revoked or the server stops.", content_type = "text/event-stream", body = String))
)]
pub async fn api_stream(
    State(state): State<AppState>,
    principal: Principal,
    Extension(credential): Extension<Credential>,
    query: ListQuery,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, ApiError> {
    let after = last_event_id(&headers, &uri)?;
    let visibility = visibility_of(&state, &principal, &query).await?;
    respond(
        state,
        Spec {
            visibility,
            after,
            credential: Some(credential),
            hints: false,
        },
    )
    .await
}

/// `GET /admin/events/stream`
#[utoipa::path(
    get,
    path = "/events/stream",
    tag = "Console",
    summary = "Live events of every user (Server-Sent Events)",
    params(crate::openapi::params::StreamParams, crate::openapi::params::ResumeParams),
    responses((status = 200, description = "A `text/event-stream` of events; it ends when the credential is revoked or the server stops.", content_type = "text/event-stream", body = String))
)]
pub async fn admin_stream(
    State(state): State<AppState>,
    query: ListQuery,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, ApiError> {
    let after = last_event_id(&headers, &uri)?;
    let visibility = Visibility {
        property_ids: query.uuid_filter("property_id")?,
        ..Visibility::default()
    };
    respond(
        state,
        Spec {
            visibility,
            after,
            credential: None,
            hints: true,
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(uri: &str, header: Option<&str>) -> Result<Option<i64>, ApiError> {
        let mut headers = HeaderMap::new();
        if let Some(value) = header {
            headers.insert("last-event-id", HeaderValue::from_str(value).unwrap());
        }
        last_event_id(&headers, &uri.parse().unwrap())
    }

    #[test]
    fn the_header_wins_over_the_query_and_bad_values_name_their_source() {
        assert_eq!(read("/s", None).unwrap(), None);
        assert_eq!(read("/s", Some("42")).unwrap(), Some(42));
        assert_eq!(read("/s?last_event_id=7", Some("42")).unwrap(), Some(42));
        assert_eq!(read("/s?last_event_id=7", None).unwrap(), Some(7));
        assert_eq!(read("/s?last_event_id=", Some("")).unwrap(), None);
        for (uri, header, name) in [
            ("/s", Some("-1"), "Last-Event-ID"),
            ("/s", Some("abc"), "Last-Event-ID"),
            ("/s", Some("99999999999999999999"), "Last-Event-ID"),
            ("/s?last_event_id=1.5", None, "last_event_id"),
            ("/s?last_event_id=%2B3", None, "last_event_id"),
        ] {
            match read(uri, header) {
                Err(ApiError::BadRequest(fields)) => {
                    assert!(fields.contains_key(name), "{uri} {header:?}: {fields:?}")
                }
                other => panic!("{uri} {header:?}: {other:?}"),
            }
        }
    }
}
