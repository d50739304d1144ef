//! The accept loop: HTTP/1.1 connections with a time limit on each request head (and on idle
//! kept-alive connections), a cap on the connections open at once, and a bounded drain at
//! shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::Request;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// How the server treats its connections.
#[derive(Debug, Clone, Copy)]
pub struct ServeOptions {
    /// `HEADER_READ_TIMEOUT`: longest wait for a request head, idle keep-alive included.
    pub header_read_timeout: Duration,
    /// `MAX_CONNECTIONS`: connections open at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// `SHUTDOWN_GRACE`: how long the requests in flight may take to finish after `shutdown`.
    pub grace: Duration,
}

/// What a drain ended with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Drained {
    /// Connections still open when the grace period ended, closed without their answer.
    pub cut: usize,
}

/// Serves `router` on `listener` until `shutdown` is cancelled, then stops accepting, lets the
/// connections finish their requests (at most `grace`), and cuts the rest.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    options: ServeOptions,
    shutdown: CancellationToken,
) -> Drained {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout)
        .keep_alive(true);
    let slots = Arc::new(Semaphore::new(options.max_connections.max(1)));
    let mut connections = JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        // A free slot before accepting: past the cap, new connections wait in the kernel's
        // backlog rather than being accepted and starved.
        let slot = tokio::select! {
            () = shutdown.cancelled() => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
        };
        let (stream, addr) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors and the like: pause rather than spin.
                    tracing::warn!(error = %err, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        connections.spawn(connection(
            stream,
            addr,
            router.clone(),
            http.clone(),
            shutdown.clone(),
            slot,
        ));
    }
    drop(listener);
    drain(connections, options.grace).await
}

async fn drain(mut connections: JoinSet<()>, grace: Duration) -> Drained {
    while connections.try_join_next().is_some() {}
    if !connections.is_empty() {
        tracing::info!(open = connections.len(), "draining connections");
    }
    let all_done = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(grace, all_done).await.is_ok() {
        return Drained { cut: 0 };
    }
    while connections.try_join_next().is_some() {}
    let cut = connections.len();
    connections.shutdown().await;
    tracing::warn!(
        cut,
        grace_ms = grace.as_millis() as u64,
        "shutdown grace period over: connections cut"
    );
    Drained { cut }
}

/// One connection, until the client or the server ends it.
async fn connection(
    stream: TcpStream,
    addr: SocketAddr,
    router: Router,
    http: http1::Builder,
    shutdown: CancellationToken,
    _slot: OwnedSemaphorePermit,
) {
    let _ = stream.set_nodelay(true);
    // Handlers and limiters may ask who is calling.
    let service = router.map_request(move |mut req: Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(addr));
        req
    });
    let conn = http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
    tokio::pin!(conn);
    let result = tokio::select! {
        result = conn.as_mut() => result,
        () = shutdown.cancelled() => {
            // Finish the request in flight, if any, then close.
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(err) = result {
        // Slow or vanished clients: their business, not an error of the server.
        tracing::debug!(error = %err, %addr, "connection ended");
    }
}
