//! Connections: TCP, TLS over TCP, and `CONNECT` tunnels through an HTTP proxy.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{ClientConfig, RootCertStore, crypto};

use super::proxy::Proxy;
use super::response::{self, ReadError};
use super::{Failure, Origin};

/// An open connection to an origin (possibly through a proxy's tunnel).
pub enum Conn {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Conn {
    fn tcp(&self) -> &TcpStream {
        match self {
            Conn::Plain(tcp) => tcp,
            Conn::Tls(tls) => tls.get_ref().0,
        }
    }

    /// Whether a kept connection still looks usable: nothing may arrive on an idle HTTP/1.1
    /// connection, so anything to read (bytes, or the end) means the other side closed it or
    /// broke it. A non-blocking peek: it neither waits nor consumes.
    pub fn is_idle_and_open(&self) -> bool {
        let mut cx = Context::from_waker(Waker::noop());
        let mut byte = [0u8; 1];
        let mut buf = ReadBuf::new(&mut byte);
        matches!(self.tcp().poll_peek(&mut cx, &mut buf), Poll::Pending)
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(tcp) => Pin::new(tcp).poll_read(cx, buf),
            Conn::Tls(tls) => Pin::new(tls.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(tcp) => Pin::new(tcp).poll_write(cx, buf),
            Conn::Tls(tls) => Pin::new(tls.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(tcp) => Pin::new(tcp).poll_flush(cx),
            Conn::Tls(tls) => Pin::new(tls.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(tcp) => Pin::new(tcp).poll_shutdown(cx),
            Conn::Tls(tls) => Pin::new(tls.as_mut()).poll_shutdown(cx),
        }
    }
}

/// TLS with the Mozilla root certificates built into the binary (the roots reqwest used
/// before), TLS 1.2 and 1.3, HTTP/1.1 announced by ALPN.
pub fn tls_connector() -> anyhow::Result<TlsConnector> {
    let roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let mut config =
        ClientConfig::builder_with_provider(Arc::new(crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsConnector::from(Arc::new(config)))
}

/// A new connection to `origin`, through `proxy` when there is one.
pub async fn open(
    tls: &TlsConnector,
    origin: &Origin,
    proxy: Option<&Proxy>,
) -> Result<Conn, Failure> {
    let connect_err = |err: io::Error| Failure::Connect(err.to_string());
    let tcp = match proxy {
        None => TcpStream::connect((origin.connect_host(), origin.port))
            .await
            .map_err(connect_err)?,
        Some(proxy) => TcpStream::connect((proxy.connect_host(), proxy.port))
            .await
            .map_err(|err| Failure::Connect(format!("proxy: {err}")))?,
    };
    // Small requests: send them at once rather than waiting for more to write.
    let _ = tcp.set_nodelay(true);
    if !origin.https {
        return Ok(Conn::Plain(tcp));
    }
    let tcp = match proxy {
        Some(proxy) => tunnel(tcp, origin, proxy).await?,
        None => tcp,
    };
    let name = ServerName::try_from(origin.connect_host().to_owned())
        .map_err(|err| Failure::Connect(format!("TLS: {err}")))?;
    let stream = tls
        .connect(name, tcp)
        .await
        .map_err(|err| Failure::Connect(format!("TLS: {err}")))?;
    Ok(Conn::Tls(Box::new(stream)))
}

/// `CONNECT host:port` through the proxy; a 2xx answer opens the tunnel.
async fn tunnel(tcp: TcpStream, origin: &Origin, proxy: &Proxy) -> Result<TcpStream, Failure> {
    let authority = origin.authority(true);
    let mut head = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
    if let Some(auth) = proxy.authorization() {
        head.push_str(&format!("Proxy-Authorization: {auth}\r\n"));
    }
    head.push_str("\r\n");
    let mut conn = Conn::Plain(tcp);
    conn.write_all(head.as_bytes())
        .await
        .map_err(|err| Failure::Connect(format!("proxy: {err}")))?;
    let status = response::read_tunnel_answer(&mut conn)
        .await
        .map_err(|err| match err {
            ReadError::NothingCame(why) | ReadError::Invalid(why) => {
                Failure::Connect(format!("proxy: {why}"))
            }
        })?;
    if !(200..300).contains(&status) {
        return Err(Failure::Connect(format!(
            "proxy: CONNECT answered {status}"
        )));
    }
    match conn {
        Conn::Plain(tcp) => Ok(tcp),
        Conn::Tls(_) => Err(Failure::Connect("proxy: unexpected TLS".into())),
    }
}
