//! A real HTTP receiver for callbacks: an axum app on 127.0.0.1:0 that records every request
//! and answers from a script (then 200).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tokio::time::Instant;

/// How long a test waits for something that should happen.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// One answer of the receiver.
#[derive(Debug, Clone)]
pub enum Reply {
    Status(u16),
    /// A status and a body.
    Body(u16, Vec<u8>),
    /// Never answers (well, not for a minute).
    Hang,
}

/// A request as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// When its body had arrived.
    pub at: Instant,
    pub at_utc: chrono::DateTime<chrono::Utc>,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

struct Shared {
    received: Mutex<Vec<Received>>,
    /// When each request ended: answered, or its connection closed by the sender.
    ended: Mutex<Vec<Option<Instant>>>,
    script: Mutex<VecDeque<Reply>>,
}

/// Notes when a request ends, however it ends.
struct EndOf {
    shared: Arc<Shared>,
    index: usize,
}

impl Drop for EndOf {
    fn drop(&mut self) {
        if let Ok(mut ended) = self.shared.ended.lock()
            && let Some(slot) = ended.get_mut(self.index)
        {
            *slot = Some(Instant::now());
        }
    }
}

pub struct Receiver {
    /// `http://127.0.0.1:<port>`
    pub base: String,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Receiver {
    /// A receiver that answers 200 to everything.
    pub async fn start() -> Self {
        Self::scripted(vec![]).await
    }

    /// A receiver that gives these answers in order, then 200.
    pub async fn scripted(replies: Vec<Reply>) -> Self {
        let shared = Arc::new(Shared {
            received: Mutex::new(Vec::new()),
            ended: Mutex::new(Vec::new()),
            script: Mutex::new(replies.into()),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let router = Router::new().fallback(record).with_state(shared.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Self {
            base,
            shared,
            server,
        }
    }

    /// A callback URL on this receiver.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    /// When each request ended, in the order they arrived (`None`: still running).
    pub fn ended(&self) -> Vec<Option<Instant>> {
        self.shared.ended.lock().unwrap().clone()
    }

    /// Waits until at least `n` requests arrived; panics after [`PATIENCE`].
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let received = self.received();
            if received.len() >= n {
                return received;
            }
            assert!(
                Instant::now() < deadline,
                "waited for {n} requests, got {}",
                received.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn record(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = to_bytes(body, 16 * 1024 * 1024).await.unwrap_or_default();
    let index = {
        let mut received = shared.received.lock().unwrap();
        received.push(Received {
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().map(str::to_owned),
            headers: parts.headers,
            body: body.to_vec(),
            at: Instant::now(),
            at_utc: chrono::Utc::now(),
        });
        shared.ended.lock().unwrap().push(None);
        received.len() - 1
    };
    let _end = EndOf {
        shared: shared.clone(),
        index,
    };
    let reply = shared
        .script
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or(Reply::Status(200));
    match reply {
        Reply::Status(status) => StatusCode::from_u16(status).unwrap().into_response(),
        Reply::Body(status, bytes) => {
            (StatusCode::from_u16(status).unwrap(), Body::from(bytes)).into_response()
        }
        Reply::Hang => {
            tokio::time::sleep(Duration::from_secs(60)).await;
            StatusCode::OK.into_response()
        }
    }
}
