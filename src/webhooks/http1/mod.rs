//! A small HTTP/1.1 client for callbacks. It exists for one reason: header names go on the
//! wire exactly as the webhook's owner wrote them (`X-Api-KEY`, not `x-api-key`). reqwest and
//! hyper write every name in lowercase and offer no public way to keep a name's case (hyper's
//! `preserve_header_case` reads a private extension type), and some receivers compare names
//! case-sensitively.
//!
//! It does what a callback needs and no more: one `POST` with a `Content-Length` body, over
//! TCP or TLS (rustls with the Mozilla roots), directly or through an HTTP proxy (absolute
//! form for `http`, `CONNECT` for `https`); the answer's status and at most `max_body` bytes of
//! its body (`Content-Length`, chunked, or until close). No redirects are followed. Idle
//! connections are kept per origin for reuse; the caller bounds the whole exchange with a
//! timeout.

mod conn;
mod proxy;
mod response;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use reqwest::Url;
use tokio::io::AsyncWriteExt;

pub use proxy::{Proxies, Proxy};

use conn::Conn;
use response::ReadError;

/// How long an idle connection is kept for reuse.
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// Most idle connections kept per origin.
const MAX_IDLE_PER_ORIGIN: usize = 32;

/// An answer: its status and (the start of) its body.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    /// At most `max_body` bytes.
    pub body: Vec<u8>,
    /// Why the body could not be read to its end (the status is still the answer's).
    pub body_error: Option<String>,
}

/// Why no answer came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// No connection (refused, unknown host, TLS, proxy).
    Connect(String),
    /// The request could not be sent.
    Send(String),
    /// The answer could not be read (none, or not HTTP).
    Read(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Connect(why) => write!(f, "connection failed: {why}"),
            Failure::Send(why) => write!(f, "request failed: {why}"),
            Failure::Read(why) => write!(f, "reading the answer failed: {why}"),
        }
    }
}

/// Where a request goes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Origin {
    https: bool,
    /// As the URL writes it (an IPv6 address in brackets).
    host: String,
    port: u16,
}

impl Origin {
    fn of(url: &Url) -> Option<Self> {
        let https = match url.scheme() {
            "http" => false,
            "https" => true,
            _ => return None,
        };
        Some(Self {
            https,
            host: url.host_str()?.to_owned(),
            port: url.port_or_known_default()?,
        })
    }

    /// `Host:` (and `CONNECT`'s target): the port only when it is not the scheme's own.
    fn authority(&self, explicit: bool) -> String {
        let default = if self.https { 443 } else { 80 };
        if explicit || self.port != default {
            format!("{}:{}", self.host, self.port)
        } else {
            self.host.clone()
        }
    }

    /// The host to connect to: without the brackets of an IPv6 address.
    fn connect_host(&self) -> &str {
        self.host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(&self.host)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct PoolKey {
    origin: Origin,
    /// The proxy the connection goes through.
    proxy: Option<String>,
}

struct Idle {
    conn: Conn,
    since: Instant,
}

/// The client: TLS settings, proxies and the idle connections.
pub struct Http1 {
    tls: tokio_rustls::TlsConnector,
    proxies: Proxies,
    idle: Mutex<HashMap<PoolKey, Vec<Idle>>>,
}

impl std::fmt::Debug for Http1 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http1")
            .field("proxies", &self.proxies)
            .finish_non_exhaustive()
    }
}

impl Http1 {
    pub fn new(proxies: Proxies) -> anyhow::Result<Self> {
        Ok(Self {
            tls: conn::tls_connector()?,
            proxies,
            idle: Mutex::new(HashMap::new()),
        })
    }

    /// POSTs `body` to `url` with `headers`, sent in this order and exactly as written (the
    /// caller checked them; entries that are not valid HTTP are skipped all the same), plus
    /// `Host` and `Content-Length`. Answers the status and at most `max_body` bytes of the body.
    pub async fn post(
        &self,
        url: &Url,
        headers: &[(String, String)],
        body: &[u8],
        max_body: usize,
    ) -> Result<Answer, Failure> {
        let origin = Origin::of(url).ok_or_else(|| Failure::Connect("unsupported URL".into()))?;
        let proxy = self.proxies.for_host(origin.https, origin.connect_host());
        let key = PoolKey {
            origin: origin.clone(),
            proxy: proxy.map(|p| p.address()),
        };
        // Through an HTTP proxy, a plain-HTTP request names the whole URL and carries the
        // proxy's credentials; everything else speaks to the origin itself.
        let forward = proxy.filter(|_| !origin.https);
        let head = request_head(url, &origin, forward, headers, body.len());
        let mut pooled = self.take_idle(&key);
        loop {
            let from_pool = pooled.is_some();
            let mut conn = match pooled.take() {
                Some(conn) => conn,
                None => conn::open(&self.tls, &origin, proxy).await?,
            };
            match exchange(&mut conn, &head, body, max_body).await {
                Ok((answer, reusable)) => {
                    if reusable {
                        self.put_idle(key, conn);
                    }
                    return Ok(answer);
                }
                // A kept connection the other side closed meanwhile: once more on a new one.
                Err(Exchange::Stale(_)) if from_pool => continue,
                Err(Exchange::Stale(failure) | Exchange::Failed(failure)) => return Err(failure),
            }
        }
    }

    fn take_idle(&self, key: &PoolKey) -> Option<Conn> {
        let mut idle = self.idle.lock().ok()?;
        let conns = idle.get_mut(key)?;
        while let Some(entry) = conns.pop() {
            if entry.since.elapsed() < IDLE_TIMEOUT && entry.conn.is_idle_and_open() {
                return Some(entry.conn);
            }
        }
        idle.remove(key);
        None
    }

    fn put_idle(&self, key: PoolKey, conn: Conn) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.retain(|_, conns| {
                conns.retain(|c| c.since.elapsed() < IDLE_TIMEOUT);
                !conns.is_empty()
            });
            let conns = idle.entry(key).or_default();
            if conns.len() < MAX_IDLE_PER_ORIGIN {
                conns.push(Idle {
                    conn,
                    since: Instant::now(),
                });
            }
        }
    }
}

/// A header name: an RFC 9110 token.
pub fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A header value: visible characters, spaces and tabs (no CR, LF or NUL).
pub fn is_field_value(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b == b'\t' || (b' '..=b'~').contains(&b) || b >= 0x80)
}

/// The request line and headers.
fn request_head(
    url: &Url,
    origin: &Origin,
    forward: Option<&Proxy>,
    headers: &[(String, String)],
    content_length: usize,
) -> Vec<u8> {
    let mut target = url.path().to_owned();
    if let Some(query) = url.query() {
        target.push('?');
        target.push_str(query);
    }
    if forward.is_some() {
        target = format!("http://{}{target}", origin.authority(false));
    }
    let mut head = format!(
        "POST {target} HTTP/1.1\r\nHost: {}\r\n",
        origin.authority(false)
    );
    for (name, value) in headers {
        if is_token(name) && is_field_value(value) {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    if let Some(auth) = forward.and_then(Proxy::authorization) {
        head.push_str(&format!("Proxy-Authorization: {auth}\r\n"));
    }
    head.push_str(&format!("Content-Length: {content_length}\r\n\r\n"));
    head.into_bytes()
}

enum Exchange {
    /// The request could not be sent, or nothing came back: on a kept connection, the other
    /// side may have closed it while it was idle.
    Stale(Failure),
    Failed(Failure),
}

/// Sends one request and reads its answer; answers whether the connection can be reused.
async fn exchange(
    conn: &mut Conn,
    head: &[u8],
    body: &[u8],
    max_body: usize,
) -> Result<(Answer, bool), Exchange> {
    let sent = async {
        conn.write_all(head).await?;
        conn.write_all(body).await?;
        conn.flush().await
    }
    .await;
    if let Err(err) = sent {
        return Err(Exchange::Stale(Failure::Send(err.to_string())));
    }
    match response::read(conn, max_body).await {
        Ok(read) => Ok((
            Answer {
                status: read.status,
                body: read.body,
                body_error: read.body_error,
            },
            read.reusable,
        )),
        Err(ReadError::NothingCame(why)) => Err(Exchange::Stale(Failure::Read(why))),
        Err(ReadError::Invalid(why)) => Err(Exchange::Failed(Failure::Read(why))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_head_keeps_header_names_as_written() {
        let url = Url::parse("https://pms.example:8443/hook?a=1&b=2#frag").unwrap();
        let origin = Origin::of(&url).unwrap();
        let headers = vec![
            ("Content-Type".to_owned(), "application/json".to_owned()),
            ("X-Api-KEY".to_owned(), "s3cret".to_owned()),
            ("bad name".to_owned(), "skipped".to_owned()),
            ("X-Injected".to_owned(), "a\r\nHost: evil".to_owned()),
        ];
        let head = String::from_utf8(request_head(&url, &origin, None, &headers, 12)).unwrap();
        assert_eq!(
            head,
            "POST /hook?a=1&b=2 HTTP/1.1\r\nHost: pms.example:8443\r\n\
             Content-Type: application/json\r\nX-Api-KEY: s3cret\r\nContent-Length: 12\r\n\r\n"
        );
    }

    #[test]
    fn through_a_proxy_plain_http_names_the_whole_url() {
        let url = Url::parse("http://[::1]/hook").unwrap();
        let origin = Origin::of(&url).unwrap();
        assert_eq!(origin.connect_host(), "::1");
        let proxy = Proxy::parse("http://user:pa%20ss@proxy.example:3128").unwrap();
        let head = String::from_utf8(request_head(&url, &origin, Some(&proxy), &[], 0)).unwrap();
        assert_eq!(
            head,
            "POST http://[::1]/hook HTTP/1.1\r\nHost: [::1]\r\n\
             Proxy-Authorization: Basic dXNlcjpwYSBzcw==\r\nContent-Length: 0\r\n\r\n"
        );
    }

    #[test]
    fn header_names_are_tokens_and_values_have_no_line_breaks() {
        for ok in ["X-Api-KEY", "authorization", "x_under", "A!#$%&'*+-.^`|~"] {
            assert!(is_token(ok), "{ok}");
        }
        for bad in ["", "a b", "a:b", "a\r\n", "é"] {
            assert!(!is_token(bad), "{bad:?}");
        }
        assert!(is_field_value("Bearer abc\tdef é"));
        for bad in ["a\rb", "a\nb", "a\0b"] {
            assert!(!is_field_value(bad), "{bad:?}");
        }
    }
}
