//! A database that stops answering altogether (a frozen host, a stalled network): no server-side
//! timeout can fire, so the request's own time limit answers 503, and the pool recovers once the
//! database answers again. The freeze is a real TCP relay between the pool and PostgreSQL that
//! stops passing bytes, as SIGSTOP on the server would look from here.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use ota_inbox::db::{self, SessionTimeouts};
use ota_inbox::http::deadline::Limits;
use sqlx::postgres::PgConnectOptions;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::support::{TestApp, fresh_database};

/// A TCP relay to PostgreSQL that can be frozen and thawed.
struct Relay {
    port: u16,
    frozen: Arc<watch::Sender<bool>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Relay {
    async fn to(options: &PgConnectOptions) -> Self {
        let target = (options.get_host().to_owned(), options.get_port());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let frozen = Arc::new(watch::channel(false).0);
        let gate = frozen.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let gate = gate.clone();
                let target = target.clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect((target.0.as_str(), target.1)).await else {
                        return;
                    };
                    let (client_read, client_write) = client.into_split();
                    let (server_read, server_write) = server.into_split();
                    tokio::select! {
                        () = pass(client_read, server_write, gate.subscribe()) => {}
                        () = pass(server_read, client_write, gate.subscribe()) => {}
                    }
                });
            }
        });
        Self { port, frozen, task }
    }

    fn freeze(&self, frozen: bool) {
        self.frozen.send_replace(frozen);
    }
}

/// Copies bytes one way, holding them while frozen.
async fn pass(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    mut frozen: watch::Receiver<bool>,
) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let Ok(n) = from.read(&mut buffer).await else {
            return;
        };
        if n == 0 || frozen.wait_for(|frozen| !frozen).await.is_err() {
            return;
        }
        if to.write_all(&buffer[..n]).await.is_err() {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_database_answers_503_within_the_request_time_limit_and_the_pool_recovers() {
    let (_, options) = fresh_database().await;
    if options.get_host().starts_with('/') {
        // A Unix socket cannot be relayed over TCP here; the embedded cluster and CI use TCP.
        return;
    }
    let relay = Relay::to(&options).await;
    let through_relay =
        SessionTimeouts::default().apply(options.clone().host("127.0.0.1").port(relay.port));
    let pool = db::connect(through_relay, 4).await.unwrap();
    let limit = Duration::from_secs(1);
    let app = TestApp::over(pool, |state| {
        state.with_limits(Limits {
            request: limit,
            ..Limits::default()
        })
    });
    let account = app.user().await;
    app.property(&account, true).await;

    relay.freeze(true);
    for _ in 0..3 {
        let started = Instant::now();
        let response = tokio::time::timeout(
            Duration::from_secs(30),
            app.get("/api/v1/properties").key(&account.key).send(),
        )
        .await
        .expect("the request waited on the frozen database");
        response.expect_error(503, "service_unavailable");
        assert!(response.headers.contains_key("retry-after"));
        let took = started.elapsed();
        assert!(
            took >= limit && took < limit + Duration::from_secs(3),
            "answered after {took:?}"
        );
    }
    // The liveness check needs no database.
    app.get("/health")
        .send()
        .await
        .expect_status(StatusCode::OK);

    relay.freeze(false);
    // The connections caught mid-statement are drained or replaced; every request succeeds.
    let started = Instant::now();
    for _ in 0..10 {
        let response = app.get("/api/v1/properties").key(&account.key).send().await;
        let response = response.expect_status(StatusCode::OK);
        assert_eq!(response.json()["meta"]["total"], 1);
    }
    assert!(started.elapsed() < Duration::from_secs(10));
}
