//! `GET /auth/exchange` (§12): spends a one-time token and answers the chat page with a fresh
//! chat session, directly (no redirect carries a secret). Whatever is wrong answers an error
//! page in the asked language, opens nothing and creates no session.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::Uri;
use axum::response::Response;
use uuid::Uuid;

use super::i18n::{Lang, Problem, primary_subtag};
use super::pages::{self, Boot};
use crate::AppState;
use crate::db;
use crate::error::is_unavailable;
use crate::http::auth::{SESSION_PREFIX, generate_secret, hash_secret};
use crate::http::path::parse_uuid;

/// The API base the chat page calls.
const API_BASE: &str = "/api/v1";

/// The query of an exchange, checked.
#[derive(Debug, PartialEq, Eq)]
pub struct Request {
    pub token: String,
    pub property_id: Uuid,
    pub thread_id: Option<Uuid>,
    pub lng: String,
    pub show_booking: bool,
    pub hide_attach: bool,
}

/// Reads the query: the first value of each parameter counts. `lng` defaults to `en`.
pub fn read(query: &str) -> Result<Request, Problem> {
    let mut params: HashMap<String, String> = HashMap::new();
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        params.entry(key.into_owned()).or_insert(value.into_owned());
    }
    let token = params
        .get("oauth_session_key")
        .map(|t| t.trim())
        .filter(|t| !t.is_empty())
        .ok_or(Problem::InvalidLink)?;
    let property_id = params
        .get("property_id")
        .and_then(|id| parse_uuid(id.trim()))
        .ok_or(Problem::InvalidLink)?;
    let thread_id = match params.get("redirect_to") {
        None => None,
        Some(target) => redirect_target(target).ok_or(Problem::InvalidLink)?,
    };
    let flag = |name: &str| {
        params
            .get(name)
            .is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
    };
    Ok(Request {
        token: token.to_owned(),
        property_id,
        thread_id,
        lng: params
            .get("lng")
            .and_then(|l| primary_subtag(l))
            .unwrap_or_else(|| "en".to_owned()),
        show_booking: flag("messages_show_booking"),
        hide_attach: flag("hide_messages_attach_btn"),
    })
}

/// `/messages` (the thread list) or `/messages/<thread id>`: `Some(thread)`; anything else is
/// malformed (`None`).
fn redirect_target(target: &str) -> Option<Option<Uuid>> {
    let rest = target.strip_prefix("/messages")?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.is_empty() {
        return Some(None);
    }
    let id = rest.strip_prefix('/')?;
    parse_uuid(id).map(Some)
}

/// GET /auth/exchange
#[utoipa::path(
    get,
    path = "/auth/exchange",
    tag = "Chat",
    summary = "Open the chat with a one-time token",
    params(
        ("oauth_session_key" = String, Query, pattern = "\\S", description = "The one-time token (`ott_…`)."),
        ("property_id" = String, Query, format = Uuid, pattern = "^[ \\t]*[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}[ \\t]*$", description = "The token's property."),
        ("redirect_to" = Option<String>, Query, pattern = "^/messages(/|/[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}/?)?$", description = "`/messages` (the thread list) or `/messages/{thread id}`."),
        ("app_mode" = Option<String>, Query, description = "`headless`: no frame around the chat."),
        ("lng" = Option<String>, Query, description = "Language of the page (`en` by default)."),
        ("messages_show_booking" = Option<bool>, Query),
        ("hide_messages_attach_btn" = Option<bool>, Query),
    ),
    responses((status = 200, description = "The chat page (a chat session was opened).", content_type = "text/html", body = String), (status = 400, description = "The request is not a valid exchange.", content_type = "text/html", body = String), (status = 403, description = "The token is unknown, used or expired, or the property has no Messages app.", content_type = "text/html", body = String), (status = 404, description = "Not found.", content_type = "text/html", body = String), (status = 503, description = "The database cannot be reached.", content_type = "text/html", body = String))
)]
pub async fn exchange(State(state): State<AppState>, uri: Uri) -> Response {
    let query = uri.query().unwrap_or_default();
    let lang = Lang::from_lng(
        form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == "lng")
            .map(|(_, v)| v.into_owned())
            .as_deref(),
    );
    match open(&state, query).await {
        Ok(response) => response,
        Err(problem) => pages::error(problem, lang, &state.frame_ancestors),
    }
}

async fn open(state: &AppState, query: &str) -> Result<Response, Problem> {
    let request = read(query)?;
    let token_hash = hash_secret(&request.token);
    let token = db::one_time_tokens::state(&state.db, &token_hash)
        .await
        .map_err(problem)?
        .ok_or(Problem::LinkUnknown)?;
    if token.property_id != request.property_id || token.key_revoked {
        return Err(Problem::LinkUnknown);
    }
    if token.used_at.is_some() {
        return Err(Problem::LinkUsed);
    }
    if token.expired {
        return Err(Problem::LinkExpired);
    }
    if !db::applications::messages_installed(&state.db, request.property_id)
        .await
        .map_err(problem)?
    {
        return Err(Problem::NoMessagesApp);
    }
    if let Some(thread_id) = request.thread_id {
        let thread = db::threads::get(&state.db, thread_id)
            .await
            .map_err(problem)?;
        if thread.is_none_or(|t| t.property_id != request.property_id) {
            return Err(Problem::ThreadNotFound);
        }
    }

    // Spending and the session commit together: a failure leaves the token unspent.
    let mut tx = state.db.begin().await.map_err(problem)?;
    let Some(spent) = db::one_time_tokens::spend(&mut *tx, &token_hash, request.property_id)
        .await
        .map_err(problem)?
    else {
        // Spent (or expired) since it was read: another exchange won.
        return Err(Problem::LinkUsed);
    };
    let (session_token, session_hash) = generate_secret(SESSION_PREFIX);
    db::chat_sessions::insert(&mut *tx, &session_hash, &spent)
        .await
        .map_err(problem)?;
    tx.commit().await.map_err(problem)?;

    let boot = Boot {
        session_token: &session_token,
        api_base: API_BASE,
        property_id: request.property_id,
        thread_id: request.thread_id,
        lng: &request.lng,
        show_booking: request.show_booking,
        hide_attach: request.hide_attach,
        username: &spent.username,
    };
    Ok(pages::chat(
        &boot,
        &state.frame_ancestors,
        Lang::from_lng(Some(&request.lng)),
    ))
}

/// The page for a database failure: "try again" when it is unreachable, else a logged 500.
fn problem(err: sqlx::Error) -> Problem {
    if is_unavailable(&err) {
        tracing::warn!(error = %err, "database unavailable");
        Problem::Unavailable
    } else {
        tracing::error!(error = ?err, "internal error");
        Problem::Internal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROPERTY: &str = "5848b518-07a4-4c8c-a998-2784d638ba30";
    const THREAD: &str = "0a6a8f8e-8b5e-4d87-9d8a-3a4bd4b2d2a1";

    #[test]
    fn channex_iframe_urls_are_read() {
        let request = read(&format!(
            "oauth_session_key=ott_abc&app_mode=headless&redirect_to=/messages/{THREAD}\
             &property_id={PROPERTY}&lng=pt-BR&messages_show_booking=true&hide_messages_attach_btn=true"
        ))
        .unwrap();
        assert_eq!(
            request,
            Request {
                token: "ott_abc".to_owned(),
                property_id: PROPERTY.parse().unwrap(),
                thread_id: Some(THREAD.parse().unwrap()),
                lng: "pt".to_owned(),
                show_booking: true,
                hide_attach: true,
            }
        );
        let plain = read(&format!(
            "oauth_session_key=t&redirect_to=%2Fmessages&property_id={PROPERTY}"
        ))
        .unwrap();
        assert_eq!(
            (
                plain.thread_id,
                plain.lng.as_str(),
                plain.show_booking,
                plain.hide_attach
            ),
            (None, "en", false, false)
        );
    }

    #[test]
    fn malformed_links_are_refused() {
        for query in [
            format!("property_id={PROPERTY}"),
            format!("oauth_session_key=&property_id={PROPERTY}"),
            "oauth_session_key=t".to_owned(),
            "oauth_session_key=t&property_id=nope".to_owned(),
            format!("oauth_session_key=t&property_id={PROPERTY}&redirect_to=/inbox"),
            format!(
                "oauth_session_key=t&property_id={PROPERTY}&redirect_to=https://evil.example/messages"
            ),
            format!("oauth_session_key=t&property_id={PROPERTY}&redirect_to=/messages/nope"),
            format!("oauth_session_key=t&property_id={PROPERTY}&redirect_to=/messagesx"),
            format!("oauth_session_key=t&property_id={PROPERTY}&redirect_to=/messages/{THREAD}/x"),
            format!("oauth_session_key=t&property_id={PROPERTY}&redirect_to="),
        ] {
            assert_eq!(read(&query), Err(Problem::InvalidLink), "{query}");
        }
    }
}
