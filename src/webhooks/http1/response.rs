//! Reading an answer: its head, then at most `max_body` bytes of its body, framed by
//! `Content-Length`, chunked, or the end of the connection.

use tokio::io::AsyncReadExt;

use super::conn::Conn;

/// The longest head (status line and headers) read.
const MAX_HEAD: usize = 64 * 1024;
/// The longest chunk-size or trailer line read.
const MAX_LINE: usize = 4096;
/// Most headers of one answer.
const MAX_HEADERS: usize = 128;

/// An answer read.
#[derive(Debug)]
pub struct Read {
    pub status: u16,
    pub body: Vec<u8>,
    pub body_error: Option<String>,
    /// Whether the connection may carry another request.
    pub reusable: bool,
}

#[derive(Debug)]
pub enum ReadError {
    /// The connection ended (or broke) before any byte of an answer.
    NothingCame(String),
    /// What came is not an HTTP answer, or stopped in the middle of its head.
    Invalid(String),
}

/// A status line and what the framing needs of the headers.
struct Head {
    status: u16,
    /// HTTP/1.1 (rather than 1.0).
    minor_1: bool,
    content_length: Option<u64>,
    chunked: bool,
    close: bool,
}

/// Buffered reads from a connection.
struct Reader<'a> {
    conn: &'a mut Conn,
    buf: Vec<u8>,
    /// Bytes of `buf` already used.
    pos: usize,
    /// Whether the other side closed.
    eof: bool,
}

impl<'a> Reader<'a> {
    fn new(conn: &'a mut Conn) -> Self {
        Self {
            conn,
            buf: Vec::with_capacity(8 * 1024),
            pos: 0,
            eof: false,
        }
    }

    fn available(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    /// Reads more bytes; `Ok(false)` at the end of the connection.
    async fn fill(&mut self) -> std::io::Result<bool> {
        if self.pos > 0 && self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
        let mut chunk = [0u8; 8 * 1024];
        let n = self.conn.read(&mut chunk).await?;
        if n == 0 {
            self.eof = true;
            return Ok(false);
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(true)
    }

    /// One head; 1xx interim answers are skipped.
    async fn head(&mut self) -> Result<Head, ReadError> {
        loop {
            let head = loop {
                match parse_head(self.available())? {
                    Some((head, len)) => {
                        self.pos += len;
                        break head;
                    }
                    None if self.available().len() > MAX_HEAD => {
                        return Err(ReadError::Invalid("the answer's head is too long".into()));
                    }
                    None => {
                        let nothing_yet = self.available().is_empty();
                        match self.fill().await {
                            Ok(true) => {}
                            Ok(false) if nothing_yet => {
                                return Err(ReadError::NothingCame(
                                    "the connection closed before an answer".into(),
                                ));
                            }
                            Ok(false) => {
                                return Err(ReadError::Invalid(
                                    "the connection closed in the middle of the answer".into(),
                                ));
                            }
                            Err(err) if nothing_yet => {
                                return Err(ReadError::NothingCame(err.to_string()));
                            }
                            Err(err) => return Err(ReadError::Invalid(err.to_string())),
                        }
                    }
                }
            };
            match head.status {
                101 => return Err(ReadError::Invalid("unexpected protocol switch".into())),
                100..=199 => continue,
                _ => return Ok(head),
            }
        }
    }

    /// Up to `n` bytes into `sink` (at most `room` of them kept); `Ok(false)` when the
    /// connection ended first.
    async fn take(&mut self, mut n: u64, sink: &mut Sink) -> std::io::Result<bool> {
        while n > 0 {
            if self.available().is_empty() && !self.fill().await? {
                return Ok(false);
            }
            let have = self
                .available()
                .len()
                .min(usize::try_from(n).unwrap_or(usize::MAX));
            sink.push(&self.buf[self.pos..self.pos + have]);
            self.pos += have;
            n -= have as u64;
            if sink.full() {
                return Ok(true);
            }
        }
        Ok(true)
    }

    /// A line ending in CRLF (or LF), without it.
    async fn line(&mut self) -> Result<String, String> {
        loop {
            if let Some(end) = self.available().iter().position(|b| *b == b'\n') {
                let line = &self.buf[self.pos..self.pos + end];
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                let text = String::from_utf8_lossy(line).into_owned();
                self.pos += end + 1;
                return Ok(text);
            }
            if self.available().len() > MAX_LINE {
                return Err("a chunk line is too long".into());
            }
            match self.fill().await {
                Ok(true) => {}
                Ok(false) => return Err("the connection closed in the middle of the body".into()),
                Err(err) => return Err(err.to_string()),
            }
        }
    }
}

/// The body kept: at most `room` bytes.
struct Sink {
    body: Vec<u8>,
    room: usize,
}

impl Sink {
    fn push(&mut self, bytes: &[u8]) {
        let keep = bytes.len().min(self.room - self.body.len());
        self.body.extend_from_slice(&bytes[..keep]);
    }

    fn full(&self) -> bool {
        self.body.len() >= self.room
    }
}

fn parse_head(bytes: &[u8]) -> Result<Option<(Head, usize)>, ReadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut answer = httparse::Response::new(&mut headers);
    let len = match answer.parse(bytes) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(err) => return Err(ReadError::Invalid(format!("not an HTTP answer: {err}"))),
    };
    let mut head = Head {
        status: answer.code.unwrap_or(0),
        minor_1: answer.version == Some(1),
        content_length: None,
        chunked: false,
        close: false,
    };
    for header in answer.headers.iter() {
        let value = String::from_utf8_lossy(header.value);
        if header.name.eq_ignore_ascii_case("content-length") {
            let length = value
                .trim()
                .parse::<u64>()
                .map_err(|_| ReadError::Invalid("a bad Content-Length".into()))?;
            if head.content_length.is_some_and(|l| l != length) {
                return Err(ReadError::Invalid("two different Content-Lengths".into()));
            }
            head.content_length = Some(length);
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            head.chunked = value
                .rsplit(',')
                .next()
                .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
        } else if header.name.eq_ignore_ascii_case("connection") {
            head.close |= value
                .split(',')
                .any(|token| token.trim().eq_ignore_ascii_case("close"));
        }
    }
    Ok(Some((head, len)))
}

/// The answer to a `POST`.
pub async fn read(conn: &mut Conn, max_body: usize) -> Result<Read, ReadError> {
    let mut reader = Reader::new(conn);
    let head = reader.head().await?;
    let mut sink = Sink {
        body: Vec::new(),
        room: max_body,
    };
    let keep_alive = head.minor_1 && !head.close;
    let (complete, body_error) = if matches!(head.status, 204 | 304) {
        (true, None)
    } else if head.chunked {
        match chunked(&mut reader, &mut sink).await {
            Ok(complete) => (complete, None),
            Err(why) => (false, Some(why)),
        }
    } else if let Some(length) = head.content_length {
        match reader.take(length, &mut sink).await {
            Ok(true) => (sink.body.len() as u64 == length, None),
            Ok(false) => (
                false,
                Some("the connection closed in the middle of the body".to_owned()),
            ),
            Err(err) => (false, Some(err.to_string())),
        }
    } else {
        // Until the connection closes.
        match reader.take(u64::MAX, &mut sink).await {
            Ok(_) => (false, None),
            Err(err) => (false, Some(err.to_string())),
        }
    };
    // Reusable only with the whole answer read and nothing more after it.
    let reusable = keep_alive && complete && reader.available().is_empty() && !reader.eof;
    Ok(Read {
        status: head.status,
        body: sink.body,
        body_error,
        reusable,
    })
}

/// A chunked body; `Ok(true)` when read to its last chunk, `Ok(false)` when the room ran out.
async fn chunked(reader: &mut Reader<'_>, sink: &mut Sink) -> Result<bool, String> {
    loop {
        let line = reader.line().await?;
        let size = line.split(';').next().unwrap_or_default().trim();
        let size = u64::from_str_radix(size, 16).map_err(|_| "a bad chunk size".to_owned())?;
        if size == 0 {
            // Trailers, up to the empty line.
            while !reader.line().await?.is_empty() {}
            return Ok(true);
        }
        match reader.take(size, sink).await {
            Ok(true) if sink.full() => return Ok(false),
            Ok(true) => {}
            Ok(false) => return Err("the connection closed in the middle of the body".into()),
            Err(err) => return Err(err.to_string()),
        }
        if !reader.line().await?.is_empty() {
            return Err("a chunk does not end where its size says".into());
        }
    }
}

/// A proxy's answer to `CONNECT`: its status (its body, if any, is not read).
pub async fn read_tunnel_answer(conn: &mut Conn) -> Result<u16, ReadError> {
    let mut reader = Reader::new(conn);
    let head = reader.head().await?;
    if (200..300).contains(&head.status) && !reader.available().is_empty() {
        return Err(ReadError::Invalid("bytes after the tunnel's answer".into()));
    }
    Ok(head.status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_give_status_and_framing() {
        let (head, len) = parse_head(
            b"HTTP/1.1 201 Created\r\nContent-Length: 5\r\nConnection: keep-alive, Close\r\n\r\nhello",
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            (head.status, head.content_length, head.close, len),
            (201, Some(5), true, 74)
        );
        let (head, _) = parse_head(b"HTTP/1.0 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(head.chunked && !head.minor_1);
        assert!(
            parse_head(b"HTTP/1.1 200 OK\r\nContent-Le")
                .unwrap()
                .is_none()
        );
        for bad in [
            &b"garbage\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        ] {
            assert!(parse_head(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn the_sink_keeps_at_most_its_room() {
        let mut sink = Sink {
            body: Vec::new(),
            room: 4,
        };
        sink.push(b"ab");
        assert!(!sink.full());
        sink.push(b"cdef");
        assert!(sink.full());
        assert_eq!(sink.body, b"abcd");
    }
}
