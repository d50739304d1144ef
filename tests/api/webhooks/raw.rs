//! A receiver that speaks HTTP/1.1 by hand over TCP, to see requests byte for byte (header
//! names in the case they were sent) and to answer in ways a framework would not (chunked,
//! without a length, closing a kept connection).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

use super::receiver::PATIENCE;

/// How the receiver answers each request, in order (the last one repeats).
#[derive(Debug, Clone)]
pub enum RawReply {
    /// These bytes, then the connection stays open for the next request.
    KeepOpen(Vec<u8>),
    /// These bytes, then the connection is closed.
    ThenClose(Vec<u8>),
}

/// A request as it arrived.
#[derive(Debug, Clone)]
pub struct RawRequest {
    /// The request line and headers, exactly as sent.
    pub head: String,
    pub body: Vec<u8>,
    /// Which accepted connection it came on (0, 1, ...).
    pub connection: usize,
}

impl RawRequest {
    /// The header lines, as sent (`Name: value`).
    pub fn header_lines(&self) -> Vec<&str> {
        self.head
            .split("\r\n")
            .skip(1)
            .filter(|l| !l.is_empty())
            .collect()
    }

    pub fn request_line(&self) -> &str {
        self.head.split("\r\n").next().unwrap_or_default()
    }
}

#[derive(Default)]
struct Shared {
    requests: Vec<RawRequest>,
    connections: usize,
}

pub struct RawReceiver {
    /// `127.0.0.1:<port>`
    pub addr: String,
    shared: Arc<Mutex<Shared>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RawReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RawReceiver {
    pub async fn start(replies: Vec<RawReply>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let shared = Arc::new(Mutex::new(Shared::default()));
        let replies = Arc::new(Mutex::new(replies));
        let task = {
            let shared = shared.clone();
            tokio::spawn(async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        return;
                    };
                    let connection = {
                        let mut s = shared.lock().unwrap();
                        s.connections += 1;
                        s.connections - 1
                    };
                    tokio::spawn(serve(stream, connection, shared.clone(), replies.clone()));
                }
            })
        };
        Self { addr, shared, task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn requests(&self) -> Vec<RawRequest> {
        self.shared.lock().unwrap().requests.clone()
    }

    pub fn connections(&self) -> usize {
        self.shared.lock().unwrap().connections
    }

    pub async fn wait_for(&self, n: usize) -> Vec<RawRequest> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let requests = self.requests();
            if requests.len() >= n {
                return requests;
            }
            assert!(Instant::now() < deadline, "waited for {n} raw requests");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// `HTTP/1.1 <status>` with a `Content-Length` body.
pub fn answer(status: u16, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status} Whatever\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

async fn serve(
    mut stream: TcpStream,
    connection: usize,
    shared: Arc<Mutex<Shared>>,
    replies: Arc<Mutex<Vec<RawReply>>>,
) {
    let mut buf = Vec::new();
    loop {
        // The head.
        let head_end = loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break end + 4;
            }
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let length: usize = head
            .split("\r\n")
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse().ok())?
            })
            .unwrap_or(0);
        while buf.len() < head_end + length {
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body = buf[head_end..head_end + length].to_vec();
        buf.drain(..head_end + length);
        shared.lock().unwrap().requests.push(RawRequest {
            head: head.trim_end_matches("\r\n").to_owned(),
            body,
            connection,
        });
        let reply = {
            let mut replies = replies.lock().unwrap();
            if replies.len() > 1 {
                replies.remove(0)
            } else {
                replies
                    .first()
                    .cloned()
                    .unwrap_or(RawReply::KeepOpen(answer(200, "ok")))
            }
        };
        match reply {
            RawReply::KeepOpen(bytes) => {
                if stream.write_all(&bytes).await.is_err() {
                    return;
                }
            }
            RawReply::ThenClose(bytes) => {
                let _ = stream.write_all(&bytes).await;
                let _ = stream.shutdown().await;
                return;
            }
        }
    }
}
