//! [`RawServer`]: a TCP server that answers with whatever bytes a test
//! writes, for malformed, truncated and slow responses.

use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::accept::Acceptor;
use crate::http_server::join_url;

/// How long a single read or write on a [`RawConn`] may take by default.
pub const DEFAULT_IO_TIMEOUT: Duration = Duration::from_secs(10);

/// Largest request head [`RawConn`] accepts.
const MAX_HEAD: usize = 1024 * 1024;
/// Largest single line (chunk-size line, trailer) inside a body.
const MAX_LINE: usize = 64 * 1024;
/// Largest request body [`RawConn`] accepts.
const MAX_BODY: usize = 64 * 1024 * 1024;

/// One HTTP/1.x request as read by [`RawConn`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRequest {
    /// The head exactly as received: request line, header lines and the
    /// terminating empty line.
    pub head: Vec<u8>,
    /// The method token, e.g. `GET`.
    pub method: String,
    /// The request target as sent, e.g. `/a?b=c` (or an absolute URL).
    pub path: String,
    /// The protocol version token, e.g. `HTTP/1.1`.
    pub version: String,
    /// Header fields in arrival order, names in their original case and
    /// values with surrounding whitespace removed.
    pub headers: Vec<(String, String)>,
    /// The body after transfer decoding (chunk framing removed).
    pub body: Vec<u8>,
    /// The body bytes exactly as received (with chunk framing, if any).
    pub raw_body: Vec<u8>,
    /// Whether the body used `Transfer-Encoding: chunked`.
    pub chunked: bool,
    /// Trailer fields of a chunked body, in arrival order.
    pub trailers: Vec<(String, String)>,
    /// 0-based accept order of the connection the request arrived on.
    pub connection: usize,
    /// Index of this request in its server's record, if recorded.
    record: Option<usize>,
}

impl RawRequest {
    /// The value of the first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// The values of every header named `name` (case-insensitive), in order.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The head as (lossily decoded) text.
    pub fn head_str(&self) -> String {
        String::from_utf8_lossy(&self.head).into_owned()
    }

    /// The body as (lossily decoded) text.
    pub fn body_str(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

#[derive(Debug, Default)]
struct Shared {
    requests: Mutex<Vec<RawRequest>>,
}

impl Shared {
    fn requests(&self) -> MutexGuard<'_, Vec<RawRequest>> {
        // A handler that panicked while holding the lock left whole
        // entries behind; the record is still usable.
        self.requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// One accepted connection of a [`RawServer`].
///
/// Every read and write is bounded by an I/O timeout
/// ([`DEFAULT_IO_TIMEOUT`] unless changed with
/// [`set_io_timeout`](Self::set_io_timeout)), so a handler cannot hang
/// forever on a silent client. The timeouts use tokio's clock.
#[derive(Debug)]
pub struct RawConn {
    stream: TcpStream,
    buf: Vec<u8>,
    index: usize,
    peer: SocketAddr,
    io_timeout: Duration,
    shared: Arc<Shared>,
}

impl RawConn {
    /// 0-based accept order of this connection on its server.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The client's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    /// Changes the bound on each single read or write.
    pub fn set_io_timeout(&mut self, timeout: Duration) {
        self.io_timeout = timeout;
    }

    /// Reads one request: its head up to the empty line, then its body by
    /// `Content-Length` or chunked decoding. Returns `None` when the client
    /// closed before sending a byte, and also on a read error, a timeout or
    /// a malformed request (see [`try_read_request`](Self::try_read_request)
    /// to tell these apart). The request is added to the server's
    /// [`requests`](RawServer::requests).
    pub async fn read_request(&mut self) -> Option<RawRequest> {
        self.try_read_request().await.ok().flatten()
    }

    /// Like [`read_request`](Self::read_request), but reports why no
    /// request could be read: `Ok(None)` is a clean close before any byte.
    pub async fn try_read_request(&mut self) -> io::Result<Option<RawRequest>> {
        let Some(mut req) = self.read_head().await? else {
            return Ok(None);
        };
        self.read_body_inner(&mut req).await?;
        let mut record = self.shared.requests();
        req.record = Some(record.len());
        record.push(req.clone());
        Ok(Some(req))
    }

    /// Reads only a request head and leaves the body unread (for
    /// `Expect: 100-continue`). The request is recorded with an empty body;
    /// [`read_body`](Self::read_body) completes it. `None` as for
    /// [`read_request`](Self::read_request).
    pub async fn read_head_only(&mut self) -> Option<RawRequest> {
        self.try_read_head_only().await.ok().flatten()
    }

    /// Like [`read_head_only`](Self::read_head_only), with the error.
    pub async fn try_read_head_only(&mut self) -> io::Result<Option<RawRequest>> {
        let Some(mut req) = self.read_head().await? else {
            return Ok(None);
        };
        let mut record = self.shared.requests();
        req.record = Some(record.len());
        record.push(req.clone());
        Ok(Some(req))
    }

    /// Reads the body belonging to `req`, a head returned by
    /// [`read_head_only`](Self::read_head_only), into it, and updates the
    /// server's record of it.
    pub async fn read_body(&mut self, req: &mut RawRequest) -> io::Result<()> {
        self.read_body_inner(req).await?;
        if let Some(i) = req.record {
            if let Some(slot) = self.shared.requests().get_mut(i) {
                *slot = req.clone();
            }
        }
        Ok(())
    }

    /// Reads and returns everything the client sends until it closes its
    /// side (including bytes already buffered). Stops with what it has on
    /// a read error or when a read times out.
    pub async fn read_until_close(&mut self) -> Vec<u8> {
        loop {
            match self.fill().await {
                Ok(0) | Err(_) => return std::mem::take(&mut self.buf),
                Ok(_) if self.buf.len() > MAX_BODY => {
                    return std::mem::take(&mut self.buf);
                }
                Ok(_) => {}
            }
        }
    }

    /// Writes all of `bytes` and flushes.
    pub async fn write(&mut self, bytes: impl AsRef<[u8]>) -> io::Result<()> {
        let bytes = bytes.as_ref();
        let timeout = self.io_timeout;
        let stream = &mut self.stream;
        bounded(timeout, async move {
            stream.write_all(bytes).await?;
            stream.flush().await
        })
        .await
    }

    /// Writes `bytes` in pieces of `chunk_size` bytes (at least 1), flushing
    /// each and sleeping `delay` between them.
    pub async fn write_slowly(
        &mut self,
        bytes: impl AsRef<[u8]>,
        chunk_size: usize,
        delay: Duration,
    ) -> io::Result<()> {
        let mut pieces = bytes.as_ref().chunks(chunk_size.max(1)).peekable();
        while let Some(piece) = pieces.next() {
            self.write(piece).await?;
            if pieces.peek().is_some() {
                tokio::time::sleep(delay).await;
            }
        }
        Ok(())
    }

    /// Sleeps for `d` (tokio's clock).
    pub async fn sleep(&self, d: Duration) {
        tokio::time::sleep(d).await;
    }

    /// Closes the write side (sends FIN); reading stays possible.
    pub async fn shutdown(&mut self) -> io::Result<()> {
        let timeout = self.io_timeout;
        bounded(timeout, self.stream.shutdown()).await
    }

    /// Closes the connection abruptly: `SO_LINGER` is set to zero so the
    /// close sends a TCP reset (RST) instead of a FIN, and unread data is
    /// discarded. The client sees "connection reset by peer".
    pub fn reset(self) {
        // If the option cannot be set the close is an ordinary FIN; the
        // test then sees the connection closed rather than reset.
        let _ = socket2::SockRef::from(&self.stream).set_linger(Some(Duration::ZERO));
        drop(self.stream);
    }

    /// The underlying stream. Bytes already read from it but not yet
    /// consumed are in [`buffered`](Self::buffered).
    pub fn stream_mut(&mut self) -> &mut TcpStream {
        &mut self.stream
    }

    /// Bytes received but not yet consumed by a `read_*` call (for example
    /// a pipelined next request).
    pub fn buffered(&self) -> &[u8] {
        &self.buf
    }

    /// Gives up the connection: the stream and the received but
    /// unconsumed bytes.
    pub fn into_inner(self) -> (TcpStream, Vec<u8>) {
        (self.stream, self.buf)
    }

    /// Reads more bytes into the buffer; `Ok(0)` on EOF.
    async fn fill(&mut self) -> io::Result<usize> {
        let timeout = self.io_timeout;
        bounded(timeout, self.stream.read_buf(&mut self.buf)).await
    }

    /// Makes sure at least `n` bytes are buffered.
    async fn fill_to(&mut self, n: usize) -> io::Result<()> {
        while self.buf.len() < n {
            if self.fill().await? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed in the middle of a request",
                ));
            }
        }
        Ok(())
    }

    /// Removes and returns the next `n` bytes.
    async fn take_exact(&mut self, n: usize) -> io::Result<Vec<u8>> {
        self.fill_to(n).await?;
        Ok(self.buf.drain(..n).collect())
    }

    /// Removes and returns the next line, CRLF included.
    async fn take_line(&mut self) -> io::Result<Vec<u8>> {
        let mut searched = 0;
        loop {
            if let Some(pos) = find(&self.buf[searched..], b"\r\n") {
                let end = searched + pos + 2;
                return Ok(self.buf.drain(..end).collect());
            }
            if self.buf.len() > MAX_LINE {
                return Err(invalid("line in request body too long"));
            }
            searched = self.buf.len().saturating_sub(1);
            self.fill_to(self.buf.len() + 1).await?;
        }
    }

    async fn read_head(&mut self) -> io::Result<Option<RawRequest>> {
        let mut searched = 0;
        let end = loop {
            // Empty lines before a request line are ignored (RFC 9112 2.2).
            while self.buf.starts_with(b"\r\n") {
                self.buf.drain(..2);
                searched = 0;
            }
            if let Some(pos) = find(&self.buf[searched..], b"\r\n\r\n") {
                break searched + pos + 4;
            }
            if self.buf.len() > MAX_HEAD {
                return Err(invalid("request head too long"));
            }
            searched = self.buf.len().saturating_sub(3);
            if self.fill().await? == 0 {
                if self.buf.is_empty() {
                    return Ok(None);
                }
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed in the middle of a request head",
                ));
            }
        };
        let head: Vec<u8> = self.buf.drain(..end).collect();
        let mut req = parse_head(head)?;
        req.connection = self.index;
        Ok(Some(req))
    }

    async fn read_body_inner(&mut self, req: &mut RawRequest) -> io::Result<()> {
        let chunked = req
            .header_all("transfer-encoding")
            .iter()
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .rfind(|t| !t.is_empty())
            .is_some_and(|t| t.eq_ignore_ascii_case("chunked"));
        if chunked {
            req.chunked = true;
            return self.read_chunked(req).await;
        }
        let Some(len) = req.header("content-length") else {
            return Ok(());
        };
        let len: usize = len
            .parse()
            .map_err(|_| invalid("bad Content-Length in request"))?;
        if len > MAX_BODY {
            return Err(invalid("request body too large"));
        }
        let body = self.take_exact(len).await?;
        req.raw_body.clone_from(&body);
        req.body = body;
        Ok(())
    }

    async fn read_chunked(&mut self, req: &mut RawRequest) -> io::Result<()> {
        loop {
            let line = self.take_line().await?;
            req.raw_body.extend_from_slice(&line);
            let text = String::from_utf8_lossy(&line[..line.len() - 2]).into_owned();
            let size_text = text.split(';').next().unwrap_or_default().trim();
            let size = usize::from_str_radix(size_text, 16)
                .map_err(|_| invalid("bad chunk size in request"))?;
            if size == 0 {
                loop {
                    let line = self.take_line().await?;
                    req.raw_body.extend_from_slice(&line);
                    if line == b"\r\n" {
                        return Ok(());
                    }
                    let text = String::from_utf8_lossy(&line[..line.len() - 2]).into_owned();
                    if let Some((name, value)) = text.split_once(':') {
                        req.trailers
                            .push((name.to_owned(), value.trim().to_owned()));
                    }
                }
            }
            if req.body.len().saturating_add(size) > MAX_BODY {
                return Err(invalid("request body too large"));
            }
            let data = self.take_exact(size).await?;
            req.raw_body.extend_from_slice(&data);
            req.body.extend_from_slice(&data);
            let crlf = self.take_exact(2).await?;
            req.raw_body.extend_from_slice(&crlf);
            if crlf != b"\r\n" {
                return Err(invalid("chunk data not followed by CRLF"));
            }
        }
    }
}

/// Parses a head that ends with CRLFCRLF. Tolerant: a line without a colon
/// that starts with whitespace continues the previous value; other lines
/// without a colon are kept as a name with an empty value.
fn parse_head(head: Vec<u8>) -> io::Result<RawRequest> {
    let text = String::from_utf8_lossy(&head[..head.len() - 4]).into_owned();
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.splitn(3, ' ');
    let method = parts.next().unwrap_or_default().to_owned();
    let path = parts.next().unwrap_or_default().to_owned();
    let version = parts.next().unwrap_or_default().to_owned();
    if method.is_empty() || path.is_empty() {
        return Err(invalid("malformed request line"));
    }
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in lines {
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = headers.last_mut() {
                if !value.is_empty() {
                    value.push(' ');
                }
                value.push_str(line.trim());
                continue;
            }
        }
        match line.split_once(':') {
            Some((name, value)) => headers.push((name.to_owned(), value.trim().to_owned())),
            None => headers.push((line.to_owned(), String::new())),
        }
    }
    Ok(RawRequest {
        head,
        method,
        path,
        version,
        headers,
        body: Vec::new(),
        raw_body: Vec::new(),
        chunked: false,
        trailers: Vec::new(),
        connection: 0,
        record: None,
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn invalid(msg: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

async fn bounded<T>(timeout: Duration, fut: impl Future<Output = io::Result<T>>) -> io::Result<T> {
    match tokio::time::timeout(timeout, fut).await {
        Ok(res) => res,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "test-support: I/O on a raw connection timed out",
        )),
    }
}

/// A raw TCP server on a loopback address: each accepted connection is
/// handed to the handler as a [`RawConn`], in its own task.
///
/// Dropping the server stops accepting and aborts the connection tasks; if
/// a handler panicked, it then panics too (see [`RawServer::check`]).
#[derive(Debug)]
pub struct RawServer {
    acceptor: Acceptor,
    shared: Arc<Shared>,
}

impl RawServer {
    /// Starts a server on `127.0.0.1:0`; `handler` runs once per accepted
    /// connection. The connection is closed when the handler returns
    /// (unless it kept the stream via [`RawConn::into_inner`]).
    ///
    /// # Panics
    ///
    /// Panics if no loopback port can be bound.
    pub async fn start<H, Fut>(handler: H) -> Self
    where
        H: Fn(RawConn) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        match Self::start_on(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), handler).await {
            Ok(server) => server,
            Err(e) => panic!("test-support: cannot bind 127.0.0.1:0: {e}"),
        }
    }

    /// Starts a server on `[::1]:0`. Fails where IPv6 loopback is not
    /// available; tests check [`skip_without_ipv6`](crate::skip_without_ipv6)
    /// first.
    pub async fn start_ipv6<H, Fut>(handler: H) -> io::Result<Self>
    where
        H: Fn(RawConn) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        Self::start_on(SocketAddr::from((Ipv6Addr::LOCALHOST, 0)), handler).await
    }

    /// Starts a server bound to `addr` (use port 0 for a free port).
    pub async fn start_on<H, Fut>(addr: SocketAddr, handler: H) -> io::Result<Self>
    where
        H: Fn(RawConn) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let shared = Arc::new(Shared::default());
        let for_conns = Arc::clone(&shared);
        let acceptor = Acceptor::bind(addr, move |stream, accepted| {
            handler(RawConn {
                stream,
                buf: Vec::new(),
                index: accepted.index,
                peer: accepted.peer,
                io_timeout: DEFAULT_IO_TIMEOUT,
                shared: Arc::clone(&for_conns),
            })
        })
        .await?;
        Ok(Self { acceptor, shared })
    }

    /// A server that, on every connection, reads requests one after the
    /// other and answers each with `response` (written verbatim), until
    /// the client closes or sends something that is not a request.
    pub async fn reply(response: impl Into<Vec<u8>>) -> Self {
        let response: Arc<[u8]> = response.into().into();
        Self::start(move |mut conn| {
            let response = Arc::clone(&response);
            async move {
                while conn.read_request().await.is_some() {
                    if conn.write(&response[..]).await.is_err() {
                        break;
                    }
                }
            }
        })
        .await
    }

    /// A server that, on every connection, reads one request, writes
    /// `response` verbatim and closes its write side. It then keeps reading
    /// (and discarding) until the client closes, so the response is not
    /// lost to a reset.
    pub async fn reply_once_and_close(response: impl Into<Vec<u8>>) -> Self {
        let response: Arc<[u8]> = response.into().into();
        Self::start(move |mut conn| {
            let response = Arc::clone(&response);
            async move {
                if conn.read_request().await.is_none() {
                    return;
                }
                if conn.write(&response[..]).await.is_ok() && conn.shutdown().await.is_ok() {
                    conn.read_until_close().await;
                }
            }
        })
        .await
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.acceptor.addr()
    }

    /// `http://ADDR/path` for this server; a missing leading `/` is added.
    pub fn url(&self, path: &str) -> String {
        join_url(self.addr(), path)
    }

    /// Panics if a connection handler has panicked so far, with the
    /// handlers' panic messages.
    ///
    /// Dropping the server does the same check, so a failed assertion in a
    /// handler fails the test that owns the server; call this to fail at a
    /// given point instead, for example before the test waits on something
    /// that the handler's failure would prevent.
    ///
    /// ```no_run
    /// # async fn demo() {
    /// use test_support::RawServer;
    ///
    /// let server = RawServer::reply("HTTP/1.1 204 No Content\r\n\r\n").await;
    /// // ... requests ...
    /// server.check();
    /// # }
    /// ```
    pub fn check(&self) {
        self.acceptor.panics().check();
    }

    /// The messages of the connection handlers' panics so far, oldest
    /// first.
    ///
    /// ```no_run
    /// # async fn demo() {
    /// use test_support::RawServer;
    ///
    /// let server = RawServer::reply("HTTP/1.1 204 No Content\r\n\r\n").await;
    /// assert!(server.handler_panics().is_empty());
    /// # }
    /// ```
    pub fn handler_panics(&self) -> Vec<String> {
        self.acceptor.panics().messages()
    }

    /// How many TCP connections have been accepted so far.
    pub fn connections_accepted(&self) -> usize {
        self.acceptor.stats().accepted()
    }

    /// How many TCP connections are open now (their handler has not
    /// returned).
    pub fn open_connections(&self) -> usize {
        self.acceptor.stats().open()
    }

    /// The largest number of connections that were open at the same time.
    pub fn max_open_connections(&self) -> usize {
        self.acceptor.stats().max_open()
    }

    /// Every request read so far on any connection, in the order they were
    /// read.
    pub fn requests(&self) -> Vec<RawRequest> {
        self.shared.requests().clone()
    }

    /// Waits until [`open_connections`](Self::open_connections) equals `n`;
    /// returns `false` if it still differs after `timeout`.
    pub async fn wait_for_open_connections(&self, n: usize, timeout: Duration) -> bool {
        self.acceptor.wait_open(n, timeout).await
    }

    /// Aborts every connection handler (closing its socket) and keeps
    /// accepting. Returns once the handlers are gone.
    pub async fn close_connections(&self) {
        self.acceptor.close_connections().await;
    }

    /// Stops accepting and aborts every connection handler; returns once
    /// the listener and the handlers are gone.
    pub async fn shutdown(self) {
        self.acceptor.shutdown().await;
    }
}
