//! The chat iframe (§12) and live events (§13): one-time tokens, the exchange, chat sessions,
//! the SSE streams with their hub, the pull feed, the console's admin reads and the assets.

mod assets;
mod console;
mod exchange;
mod feed;
mod sessions;
mod stream;
mod tokens;

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use ota_inbox::events::HubConfig;
use ota_inbox::{AppState, app};
use serde_json::{Value, json};
use sqlx::PgPool;
use tower::ServiceExt;
use uuid::Uuid;

use crate::support::{ADMIN_TOKEN, Account, MAX_ATTACHMENT_BYTES, TestApp, fresh_database};

/// Hub settings for tests: quick keep-alives and credential checks.
pub fn quick() -> HubConfig {
    HubConfig {
        keep_alive: Duration::from_millis(200),
        recheck: Duration::from_millis(200),
        ..HubConfig::default()
    }
}

/// The application with its event hub running, as the server runs it.
pub struct Live {
    pub app: TestApp,
    pub state: AppState,
}

impl Live {
    pub async fn new() -> Self {
        Self::with(quick()).await
    }

    pub async fn with(config: HubConfig) -> Self {
        let (db, _) = fresh_database().await;
        Self::on(db, config).await
    }

    /// Another "process" on the same database: its own pool and hub.
    pub async fn on(db: PgPool, config: HubConfig) -> Self {
        let state =
            AppState::new(db.clone(), Some(ADMIN_TOKEN), MAX_ATTACHMENT_BYTES).with_events(config);
        state.start_events().await.expect("starting the event hub");
        let router = app(state.clone());
        Self {
            app: TestApp { db, router },
            state,
        }
    }
}

impl std::ops::Deref for Live {
    type Target = TestApp;

    fn deref(&self) -> &TestApp {
        &self.app
    }
}

/// A user with a property that has the Messages app and a Booking.com booking.
pub struct Scene {
    pub account: Account,
    pub property: Uuid,
    pub booking: Uuid,
}

pub async fn scene(app: &TestApp) -> Scene {
    let account = app.user().await;
    let property = app.property(&account, true).await;
    let booking = app.booking(property, "BookingCom").await;
    Scene {
        account,
        property,
        booking,
    }
}

/// A one-time token for the property, minted with `key`.
pub async fn one_time_token(app: &TestApp, key: &str, property: Uuid, username: &str) -> String {
    let response = app
        .post("/api/v1/auth/one_time_token")
        .key(key)
        .json(json!({"one_time_token": {"property_id": property, "username": username}}))
        .send()
        .await
        .expect_status(StatusCode::OK);
    response.json()["data"]["token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The exchange URL of a token, Channex style.
pub fn exchange_url(token: &str, property: Uuid, redirect_to: &str, extra: &str) -> String {
    format!(
        "/auth/exchange?oauth_session_key={token}&app_mode=headless&redirect_to={redirect_to}\
         &property_id={property}{extra}"
    )
}

/// The boot data of a chat page.
pub fn boot_of(page: &str) -> Value {
    let start = r#"<script id="ota-boot" type="application/json">"#;
    let from = page.find(start).expect("the boot element") + start.len();
    let to = from + page[from..].find("</script>").expect("its end");
    serde_json::from_str(&page[from..to]).expect("boot JSON")
}

/// Exchanges a fresh token for a chat session; answers the session token.
pub async fn chat_session(app: &TestApp, key: &str, property: Uuid) -> String {
    let token = one_time_token(app, key, property, "Front desk").await;
    let page = app
        .get(&exchange_url(&token, property, "/messages", ""))
        .send()
        .await
        .expect_status(StatusCode::OK);
    boot_of(&String::from_utf8(page.body).unwrap())["session_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// One event of a stream (or a comment, `event == ""` and `comment` set).
#[derive(Debug, Clone)]
pub struct SseEvent {
    pub id: Option<i64>,
    pub event: String,
    pub data: Value,
    pub comment: Option<String>,
}

impl SseEvent {
    /// An id-only frame: no event for the client (SSE dispatches none), only its last id.
    pub fn is_position(&self) -> bool {
        self.id.is_some() && self.event.is_empty() && self.data.is_null() && self.comment.is_none()
    }
}

/// An open SSE response, read frame by frame.
pub struct Sse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    body: Body,
    buffer: String,
    ended: bool,
}

/// Opens a stream through the router with these headers.
pub async fn open(router: &Router, path: &str, headers: &[(&str, &str)]) -> Sse {
    let mut builder = Request::builder().method(Method::GET).uri(path);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let response = router
        .clone()
        .oneshot(builder.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    Sse {
        status,
        headers,
        body: response.into_body(),
        buffer: String::new(),
        ended: false,
    }
}

/// A stream of `key` (API key or chat session), optionally resuming after `last`.
pub async fn stream(router: &Router, key: &str, last: Option<i64>) -> Sse {
    let last = last.map(|id| id.to_string());
    let mut headers = vec![("authorization", format!("Bearer {key}"))];
    if let Some(last) = &last {
        headers.push(("last-event-id", last.clone()));
    }
    let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let sse = open(router, "/api/v1/events/stream", &headers).await;
    assert_eq!(sse.status, StatusCode::OK, "opening the stream");
    sse
}

impl Sse {
    /// The body of a refused stream.
    pub async fn error_body(self) -> Value {
        let bytes = self.body.collect().await.unwrap().to_bytes();
        serde_json::from_slice(&bytes).unwrap()
    }

    /// The next frame (event or comment) within `patience`; `None` when the stream ended or
    /// nothing came.
    pub async fn frame(&mut self, patience: Duration) -> Option<SseEvent> {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                return Some(parse(&block));
            }
            if self.ended {
                return None;
            }
            match tokio::time::timeout_at(deadline, self.body.frame()).await {
                Err(_) => return None,
                Ok(None) => self.ended = true,
                Ok(Some(frame)) => {
                    let frame = frame.expect("a body frame");
                    if let Ok(data) = frame.into_data() {
                        self.buffer.push_str(std::str::from_utf8(&data).unwrap());
                    }
                }
            }
        }
    }

    /// The next event (comments and id-only frames skipped) within `patience`.
    pub async fn event(&mut self, patience: Duration) -> Option<SseEvent> {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let frame = self.frame(left).await?;
            if frame.comment.is_none() && !frame.is_position() {
                return Some(frame);
            }
        }
    }

    /// The next `n` events; panics when they do not come within `patience` each.
    pub async fn events(&mut self, n: usize, patience: Duration) -> Vec<SseEvent> {
        let mut out = Vec::new();
        while out.len() < n {
            match self.event(patience).await {
                Some(event) => out.push(event),
                None => panic!("only {} of {n} events came: {out:#?}", out.len()),
            }
        }
        out
    }

    /// Whether the stream has ended (within `patience`), skipping what still comes.
    pub async fn ends_within(&mut self, patience: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if self.frame(left).await.is_none() {
                return self.ended;
            }
        }
    }
}

fn parse(block: &str) -> SseEvent {
    let mut event = SseEvent {
        id: None,
        event: String::new(),
        data: Value::Null,
        comment: None,
    };
    let mut data = String::new();
    for line in block.lines() {
        if let Some(comment) = line.strip_prefix(':') {
            event.comment = Some(comment.trim().to_owned());
        } else if let Some((field, value)) = line.split_once(':') {
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "id" => event.id = Some(value.parse().expect("a numeric id")),
                "event" => event.event = value.to_owned(),
                "data" => data.push_str(value),
                _ => {}
            }
        }
    }
    if !data.is_empty() {
        event.data = serde_json::from_str(&data).expect("JSON data");
    }
    event
}

/// Patience for things that must happen now.
pub const SOON: Duration = Duration::from_secs(5);
/// How long to watch for something that must not happen.
pub const QUIET: Duration = Duration::from_millis(400);
