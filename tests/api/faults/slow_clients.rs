//! Slow and half-open clients against the real server process: a half-sent head or body cannot
//! hold the server, the connection cap holds, and SIGTERM ends the process within the grace.

use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::process::{ServerProcess, read_until_closed};

async fn connect(server: &ServerProcess) -> TcpStream {
    TcpStream::connect(&server.addr).await.unwrap()
}

/// The head of `POST /api/v1/properties` announcing `length` bytes of body.
fn post_head(key: &str, length: usize) -> String {
    format!(
        "POST /api/v1/properties HTTP/1.1\r\nhost: ota-inbox\r\nuser-api-key: {key}\r\n\
         content-type: application/json\r\ncontent-length: {length}\r\n\r\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_half_sent_requests_open_exits_0_within_the_grace_period() {
    let grace = Duration::from_secs(2);
    let mut server = ServerProcess::start(&[
        ("SHUTDOWN_GRACE", "2s"),
        // Longer than the test: only the grace period can end these connections.
        ("HEADER_READ_TIMEOUT", "10m"),
        ("BODY_READ_TIMEOUT", "10m"),
    ])
    .await;
    let key = server.api_key().await;
    // Half a head...
    let mut half_head = connect(&server).await;
    half_head
        .write_all(b"GET /api/v1/properties HTTP/1.1\r\nhost: ota-inbox\r\n")
        .await
        .unwrap();
    // ...and a whole head with half a body: a request in flight that will not finish.
    let mut half_body = connect(&server).await;
    half_body
        .write_all(format!("{}{{\"property\":", post_head(&key, 100)).as_bytes())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    server.signal("TERM");
    let (code, took) = server.exit_within(grace * 10).await;
    assert_eq!(code, Some(0), "{}", server.log());
    assert!(
        took < grace + Duration::from_secs(5),
        "exited after {took:?}"
    );
    let log = server.log();
    let cut = log
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|line| line["message"] == "shutdown grace period over: connections cut")
        .and_then(|line| line["cut"].as_u64());
    assert!(
        cut.is_some_and(|cut| cut >= 1),
        "the connections still open were cut and counted in the log: {log}"
    );
    // Both connections were closed, not left hanging.
    read_until_closed(&mut half_head, Duration::from_secs(5)).await;
    read_until_closed(&mut half_body, Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_sent_body_gets_a_408_in_the_contracts_format() {
    let server = ServerProcess::start(&[("BODY_READ_TIMEOUT", "1s")]).await;
    let key = server.api_key().await;
    let mut stream = connect(&server).await;
    stream
        .write_all(format!("{}{{\"property\": {{", post_head(&key, 200)).as_bytes())
        .await
        .unwrap();
    let answer = read_until_closed(&mut stream, Duration::from_secs(20)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json; charset=utf-8"),
        "{head}"
    );
    let body: Value = serde_json::from_str(body).unwrap();
    assert_eq!(body["errors"]["code"], "request_timeout");
    assert_eq!(body["errors"]["title"], "Request Timeout");
    // Nothing was created from half a body.
    let properties: i64 = sqlx::query_scalar("select count(*) from properties")
        .fetch_one(&server.db)
        .await
        .unwrap();
    assert_eq!(properties, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_sent_head_is_closed_after_the_header_read_timeout() {
    let server = ServerProcess::start(&[("HEADER_READ_TIMEOUT", "1s")]).await;
    let mut stream = connect(&server).await;
    stream
        .write_all(b"GET /health HTTP/1.1\r\nhost: ota-inbox\r\n")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    read_until_closed(&mut stream, Duration::from_secs(20)).await;
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_cap_wait_until_one_closes() {
    let server =
        ServerProcess::start(&[("MAX_CONNECTIONS", "2"), ("HEADER_READ_TIMEOUT", "10m")]).await;
    // Two idle connections take both places.
    let first = connect(&server).await;
    let _second = connect(&server).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut third = connect(&server).await;
    third
        .write_all(b"GET /health HTTP/1.1\r\nhost: ota-inbox\r\n\r\n")
        .await
        .unwrap();
    let mut buffer = [0u8; 512];
    let early = tokio::time::timeout(Duration::from_secs(2), third.read(&mut buffer)).await;
    assert!(
        early.is_err(),
        "answered past the cap: {:?}",
        early.map(|n| String::from_utf8_lossy(&buffer[..n.unwrap_or(0)]).into_owned())
    );
    // A place frees up: the waiting connection is served.
    drop(first);
    let n = tokio::time::timeout(Duration::from_secs(20), third.read(&mut buffer))
        .await
        .expect("served once a place was free")
        .unwrap();
    let answer = String::from_utf8_lossy(&buffer[..n]);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn handlers_see_the_clients_address_and_a_drain_with_nothing_open_cuts_nothing() {
    use axum::Router;
    use axum::extract::ConnectInfo;
    use axum::routing::get;
    use ota_inbox::http::serve::{Drained, ServeOptions, serve};
    use std::net::SocketAddr;
    use tokio_util::sync::CancellationToken;

    let router = Router::new().route(
        "/who",
        get(|ConnectInfo(addr): ConnectInfo<SocketAddr>| async move { addr.to_string() }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let options = ServeOptions {
        header_read_timeout: Duration::from_secs(5),
        max_connections: 4,
        grace: Duration::from_secs(5),
    };
    let server = tokio::spawn(serve(listener, router, options, shutdown.clone()));
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let local = stream.local_addr().unwrap();
    stream
        .write_all(b"GET /who HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let answer = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(answer.ends_with(&local.to_string()), "{answer}");
    shutdown.cancel();
    assert_eq!(server.await.unwrap(), Drained { cut: 0 });
    // The listener is closed: nothing is accepted any more.
    assert!(TcpStream::connect(addr).await.is_err());
}
