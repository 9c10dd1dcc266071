//! Entry points for the fuzz targets in `fuzz/` (cargo-fuzz); not part of the API.
//!
//! Each entry takes the fuzzer's bytes and drives one parser or decision of the crate that
//! sees what a server (or a proxy, or the environment) sends: the HTTP/1 head capture, a whole
//! exchange over an in-memory transport, decompression, cookies, redirects, charsets,
//! WebSocket frames and handshakes, proxy replies. An entry never panics on its own: it panics
//! only when the crate panics, or when the crate breaks a promise the entry checks with
//! `assert!` (a body decoded past its cap, a redirect to a URL without a host, a `Secure`
//! cookie sent over plain http, a parser that answers differently when the same bytes arrive
//! in other pieces, ...). Such a panic is what the fuzzer reports as a crash.
//!
//! The inputs are plain bytes taken apart front to back: a flags byte or two, sometimes a first
//! line, then the rest. Each entry documents its layout; the seed corpus in
//! `fuzz/corpus/<target>` follows it.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode, Version};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::task::JoinHandle;
use url::Url;

use crate::connector::{BoxFuture, Connector, Pool, PoolConfig, ProxySpec, SocksTarget};
use crate::cookie::{AbstractCookieJar, CookieJar};
use crate::error::{ClientError, ErrorKind};
use crate::proto::h1::{self, RawHead, TunnelError};
use crate::transport::{Io, Transport};
use crate::ws::deflate::{self, Agreed, Deflater, Inflater, Offer};
use crate::ws::frame::{self, Frame, ReadError, Reader};
use crate::ws::handshake;

/// The longest an in-memory exchange may take before it counts as hung (the peer always ends
/// its side, so nothing should ever wait this long).
const HANG: Duration = Duration::from_secs(20);

/// The fuzzer's bytes, taken apart front to back; past the end, every byte reads as 0.
struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }

    /// Up to the next `\n` (consumed, not returned), or all that is left.
    fn line(&mut self) -> &'a [u8] {
        match memchr::memchr(b'\n', self.0) {
            Some(i) => {
                let line = &self.0[..i];
                self.0 = &self.0[i + 1..];
                line
            }
            None => std::mem::take(&mut self.0),
        }
    }

    fn rest(self) -> &'a [u8] {
        self.0
    }
}

/// `data` cut into pieces whose sizes follow from `seed`: all of 1 byte, up to 2, 3, 5, 8, 17
/// or 64 bytes, or (seed 7) one piece.
fn pieces(data: &[u8], seed: u8) -> Vec<&[u8]> {
    if seed & 7 == 7 {
        return if data.is_empty() {
            Vec::new()
        } else {
            vec![data]
        };
    }
    let max = [1usize, 2, 3, 5, 8, 17, 64][usize::from(seed & 7)];
    let mut state = u32::from(seed) | 1;
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let n = (1 + (state >> 8) as usize % max).min(rest.len());
        let (piece, after) = rest.split_at(n);
        out.push(piece);
        rest = after;
    }
    out
}

/// Runs `f` to completion on this thread's current-thread runtime (built once: building one
/// per input would cost more than most inputs).
fn block_on<F: Future>(f: F) -> F::Output {
    thread_local! {
        static RUNTIME: Option<tokio::runtime::Runtime> =
            tokio::runtime::Builder::new_current_thread().enable_all().build().ok();
    }
    RUNTIME.with(|rt| match rt {
        Some(rt) => rt.block_on(f),
        None => panic!("fuzz_support: cannot build a tokio runtime"),
    })
}

/// `f`, which must finish well within [`HANG`].
async fn bounded<F: Future>(what: &str, f: F) -> F::Output {
    match tokio::time::timeout(HANG, f).await {
        Ok(out) => out,
        Err(_) => panic!("{what}: still waiting after {HANG:?} though the peer ended"),
    }
}

/// A transport that answers with scripted pieces, then the end of the stream, and swallows
/// whatever is written to it.
struct Scripted {
    pieces: std::collections::VecDeque<Bytes>,
}

impl Scripted {
    fn new(data: &[u8], seed: u8) -> Self {
        Scripted {
            pieces: pieces(data, seed)
                .into_iter()
                .map(Bytes::copy_from_slice)
                .collect(),
        }
    }
}

impl AsyncRead for Scripted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Some(piece) = self.pieces.front_mut() {
            let n = piece.len().min(buf.remaining());
            buf.put_slice(&piece.split_to(n));
            if piece.is_empty() {
                self.pieces.pop_front();
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Scripted {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// What an in-memory peer answers: segments, one a request, in order, whichever connection
/// the request comes on.
#[derive(Debug)]
struct Script {
    segments: Vec<Bytes>,
    next: std::sync::atomic::AtomicUsize,
}

impl Script {
    /// `answer` cut at every [`NEXT`].
    fn split(answer: &[u8]) -> Arc<Script> {
        let mut segments = Vec::new();
        let mut rest = answer;
        while let Some(i) = memchr::memmem::find(rest, NEXT) {
            segments.push(Bytes::copy_from_slice(&rest[..i]));
            rest = &rest[i + NEXT.len()..];
        }
        segments.push(Bytes::copy_from_slice(rest));
        Script::of(segments)
    }

    fn of(segments: Vec<Bytes>) -> Arc<Script> {
        Arc::new(Script {
            segments,
            next: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    fn take(&self) -> Option<Bytes> {
        let i = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.segments.get(i).cloned()
    }

    fn left(&self) -> bool {
        self.next.load(std::sync::atomic::Ordering::Relaxed) < self.segments.len()
    }
}

/// Where the whole-exchange entry cuts the peer's answer into one segment a request.
pub const NEXT: &[u8] = b"<<next>>";

/// How many times in a row a peer yields, with no new byte from the client, before it takes
/// the client to be waiting for it (on a current-thread runtime every other task has run by
/// then): it then ends its side, as a server ends a response delimited by the close.
const IDLE_YIELDS: usize = 64;

/// An in-memory peer on a duplex pipe. For each request it reads (up to `request_end`, or its
/// first bytes when that is empty) it writes the script's next segment in pieces, yielding
/// between them so that the client reads them apart. It ends its side once the script is
/// spent, or when the client waits for more without sending a request; then it reads
/// whatever the client still sends. Returns the client's end and the peer's task.
fn peer(
    script: Arc<Script>,
    seed: u8,
    request_end: &'static [u8],
) -> (tokio::io::DuplexStream, JoinHandle<()>) {
    use futures_util::FutureExt;
    let (client, server) = tokio::io::duplex(64 * 1024);
    let task = tokio::spawn(async move {
        let (mut rd, mut wr) = tokio::io::split(server);
        let mut received: Vec<u8> = Vec::new();
        let mut sink = [0u8; 4096];
        // Takes one request out of `received`, if a whole one is there.
        let take_request = |received: &mut Vec<u8>| -> bool {
            if request_end.is_empty() {
                let any = !received.is_empty();
                received.clear();
                return any;
            }
            match memchr::memmem::find(received, request_end) {
                Some(i) => {
                    received.drain(..i + request_end.len());
                    true
                }
                None => false,
            }
        };
        let mut first = true;
        'serve: while script.left() {
            let mut idle = 0;
            while !take_request(&mut received) {
                if first {
                    // A new connection: its request is on its way.
                    match rd.read(&mut sink).await {
                        Ok(n) if n > 0 => received.extend_from_slice(&sink[..n]),
                        _ => break 'serve,
                    }
                    continue;
                }
                match rd.read(&mut sink).now_or_never() {
                    Some(Ok(n)) if n > 0 => {
                        received.extend_from_slice(&sink[..n]);
                        idle = 0;
                    }
                    Some(_) => break 'serve,
                    None if idle < IDLE_YIELDS => {
                        idle += 1;
                        tokio::task::yield_now().await;
                    }
                    None => break 'serve,
                }
            }
            first = false;
            let Some(segment) = script.take() else {
                break;
            };
            for piece in pieces(&segment, seed) {
                if wr.write_all(piece).await.is_err() {
                    break 'serve;
                }
                tokio::task::yield_now().await;
            }
        }
        let _ = wr.shutdown().await;
        while matches!(rd.read(&mut sink).await, Ok(n) if n > 0) {}
    });
    (client, task)
}

// ---- response_head ----

/// A response head as the HTTP/1 capture kept it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapturedHead {
    /// The head, status line to blank line.
    pub head: Bytes,
    /// Its reason phrase.
    pub reason: String,
    /// Its header lines, as `raw_headers()` reports them.
    pub lines: Vec<(Bytes, Bytes)>,
}

/// The HTTP/1 head capture (`proto/h1.rs`: `CaptureState::feed`, the reason phrase, the header
/// lines) over what a server sends.
///
/// Layout: one byte says how the bytes are cut into reads; the rest is the server's stream.
///
/// Checks: the head kept is the same whether the bytes arrive whole or in pieces; it is a part
/// of the stream ending with the first blank line in it; every header line is a slice of it.
/// Under small limits (`max_line_size`, `max_field_size`, `max_headers`, chosen by the first
/// byte) the verdict is the same whatever the reads, a head kept is the one kept without
/// limits, and a refusal names a limit the stream really breaks.
///
/// ```
/// let got = aiohttp::fuzz_support::response_head(b"\x00HTTP/1.1 200 Fine\r\nA: 1\r\n\r\nbody");
/// assert_eq!(got.map(|h| h.reason).as_deref(), Some("Fine"));
/// ```
pub fn response_head(data: &[u8]) -> Option<CapturedHead> {
    let mut input = Input(data);
    let seed = input.byte();
    let wire = input.rest();
    let whole = h1::capture_head([wire]);
    let split = h1::capture_head(pieces(wire, seed));
    if wire.len() <= h1::MAX_CAPTURE {
        // The size limit applies to what is buffered between reads, so only smaller streams
        // must come out the same whatever the reads.
        assert_eq!(whole, split, "the head depends on how the reads were cut");
    }
    check_head_limits(wire, seed, whole.as_ref());
    let head = whole?;
    assert!(head.ends_with(b"\r\n\r\n"), "{head:?}");
    assert_eq!(
        memchr::memmem::find(&head, b"\r\n\r\n"),
        Some(head.len() - 4),
        "the head runs past its blank line: {head:?}"
    );
    assert!(
        memchr::memmem::find(wire, &head).is_some(),
        "the head is not in the stream"
    );
    let raw = RawHead::captured(head.clone());
    let reason = raw.reason().unwrap_or_default();
    let lines = raw.header_lines(&HeaderMap::new());
    let range = head.as_ptr_range();
    for (name, value) in &lines {
        assert!(!name.is_empty());
        for part in [name, value] {
            let r = part.as_ptr_range();
            assert!(
                part.is_empty() || (range.start <= r.start && r.end <= range.end),
                "a header line outside the head"
            );
        }
    }
    Some(CapturedHead {
        head,
        reason,
        lines,
    })
}

/// The capture under small limits agrees with itself and with the capture without limits.
fn check_head_limits(wire: &[u8], seed: u8, unlimited: Option<&Bytes>) {
    use crate::proto::{HeadLimits, LimitHit};
    let limits = HeadLimits {
        max_line_size: 12 + usize::from(seed & 0x0f) * 3,
        max_field_size: 4 + usize::from((seed >> 4) & 7) * 3,
        max_headers: if seed & 0x80 != 0 { 2 } else { 6 },
    };
    let whole = h1::capture_head_within([wire], limits);
    if wire.len() <= h1::MAX_CAPTURE {
        let split = h1::capture_head_within(pieces(wire, seed.rotate_left(3)), limits);
        assert_eq!(
            whole, split,
            "the verdict depends on how the reads were cut"
        );
    }
    let lines = || {
        wire.split(|&b| b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
    };
    match whole {
        Ok(Some(head)) => {
            assert_eq!(
                Some(&head),
                unlimited,
                "a head the limits let through differs"
            );
            let mut n = 0;
            for (i, line) in head.split(|&b| b == b'\n').enumerate() {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                if i == 0 {
                    assert!(
                        line.len() <= limits.max_line_size,
                        "a long status line kept"
                    );
                } else if !line.is_empty() {
                    n += 1;
                    let (name, value) = match memchr::memchr(b':', line) {
                        Some(c) => (&line[..c], line[c + 1..].trim_ascii()),
                        None => (line, &b""[..]),
                    };
                    assert!(
                        name.len() <= limits.max_field_size && value.len() <= limits.max_field_size,
                        "a long header line kept"
                    );
                }
            }
            assert!(n <= limits.max_headers, "{n} header lines kept");
        }
        Ok(None) => {}
        Err(LimitHit::StatusLine(max) | LimitHit::Name(max) | LimitHit::Value(max)) => {
            assert!(
                lines().any(|l| l.len() > max),
                "a refusal for a line over {max} bytes with none in the stream"
            );
        }
        Err(LimitHit::Headers(max)) => {
            assert!(
                lines().count() > max + 1,
                "a refusal for more than {max} header lines with fewer in the stream"
            );
        }
    }
}

// ---- response_full ----

/// A user connector whose every connection is a pipe to a peer answering from one script.
#[derive(Debug)]
struct ScriptedConnector {
    pool: Pool,
    script: Arc<Script>,
    seed: u8,
    peers: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Connector for ScriptedConnector {
    fn create_connection<'a>(
        &'a self,
        _key: &'a crate::ConnectionKey,
    ) -> BoxFuture<'a, Result<Transport, ClientError>> {
        Box::pin(async move {
            let (client, task) = peer(self.script.clone(), self.seed, b"\r\n\r\n");
            if let Ok(mut peers) = self.peers.lock() {
                peers.push(task);
            }
            Ok(Transport::new(client))
        })
    }

    fn pool(&self) -> &Pool {
        &self.pool
    }
}

/// What a whole exchange came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// The final response's status; `None` when the request failed.
    pub status: Option<u16>,
    /// Why the request or the reading of the body failed.
    pub error: Option<ErrorKind>,
    /// The redirects followed.
    pub redirects: usize,
    /// The body as read (at most the cap).
    pub body: Option<Bytes>,
    /// The cookies the session's jar holds afterwards.
    pub cookies: usize,
}

/// The URL the whole-exchange entry requests.
const START_URL: &str = "http://fuzz.test/start";

/// The whole client over an in-memory transport: a session with a user connector whose
/// connections lead to an in-memory server, a request that follows redirects (at most 3) and
/// decompresses, and its body read under a cap. This covers HTTP/1 framing as the crate
/// consumes it, the head capture, decoding, `Set-Cookie`, redirects and connection reuse, end
/// to end.
///
/// Layout: a flags byte — bits 0-1 how the body is read (`read()`, `text()`, `json()`, or
/// streamed with `content().readany()`); bits 2-3 the cap (`max_body_size` 64 B, 1 KiB, 64 KiB,
/// 1 MiB); bits 4 and 7 the method (GET, POST with a 4-byte body, HEAD, GET); bit 5
/// `read_until_eof(false)`; bit 6 HTTP/1.0 — then a byte for how the server cuts its writes,
/// then what the server sends: one segment a request, segments separated by [`NEXT`]
/// (`<<next>>`), in order whichever connection a request comes on. The server ends a
/// connection once the segments are spent, or when the client waits for more bytes instead of
/// sending its next request (a body delimited by the close).
///
/// Checks: the exchange ends within 20 s (the server always ends its side); a body read with
/// `read()` is never longer than the cap; at most 3 redirects are followed; the jar never
/// sends a `Secure` cookie to the http URL, nor one that would break the `Cookie` header.
///
/// ```
/// let got = aiohttp::fuzz_support::response_full(
///     b"\x00\x07HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi",
/// );
/// assert_eq!(got.status, Some(200));
/// assert_eq!(got.body.as_deref(), Some(&b"hi"[..]));
/// ```
pub fn response_full(data: &[u8]) -> Exchange {
    let mut input = Input(data);
    let flags = input.byte();
    let seed = input.byte();
    let script = Script::split(input.rest());
    let cap = [64usize, 1024, 64 * 1024, 1 << 20][usize::from((flags >> 2) & 3)];
    let peers = Arc::new(Mutex::new(Vec::new()));
    let connector = ScriptedConnector {
        // No keep-alive timeout: its reaper task would outlive the session by 30 s, and
        // thousands of them would pile up on the runtime.
        pool: Pool::new(PoolConfig {
            keepalive_timeout: None,
            ..PoolConfig::default()
        }),
        script,
        seed,
        peers: peers.clone(),
    };
    block_on(async move {
        let out = bounded("the exchange", exchange(flags, cap, connector)).await;
        let tasks: Vec<JoinHandle<()>> = match peers.lock() {
            Ok(mut p) => std::mem::take(&mut *p),
            Err(_) => Vec::new(),
        };
        for task in tasks {
            task.abort();
            let _ = task.await;
        }
        // Let the connection tasks the session aborted be dropped now.
        for _ in 0..4 {
            tokio::task::yield_now().await;
        }
        out
    })
}

async fn exchange(flags: u8, cap: usize, connector: ScriptedConnector) -> Exchange {
    let mut out = Exchange {
        status: None,
        error: None,
        redirects: 0,
        body: None,
        cookies: 0,
    };
    let session = match crate::ClientSession::builder()
        .connector(connector)
        .max_body_size(Some(cap))
        .build()
    {
        Ok(s) => s,
        Err(e) => {
            out.error = Some(e.kind());
            return out;
        }
    };
    let method = match ((flags >> 4) & 1, flags >> 7) {
        (1, 0) => Method::POST,
        (0, 1) => Method::HEAD,
        _ => Method::GET,
    };
    let mut req = session.request(method.as_str(), START_URL).max_redirects(3);
    if method == Method::POST {
        req = req.data("data");
    }
    if flags & 0x20 != 0 {
        req = req.read_until_eof(false);
    }
    if flags & 0x40 != 0 {
        req = req.version(Version::HTTP_10);
    }
    match req.await {
        Ok(mut resp) => {
            out.status = Some(resp.status().as_u16());
            out.redirects = resp.history().len();
            assert!(out.redirects <= 3, "{} redirects followed", out.redirects);
            // The lazily parsed parts of the head.
            let _ = (resp.reason(), resp.raw_headers().len(), resp.charset());
            let _ = resp.content_type();
            let read = match flags & 3 {
                0 => resp.read().await.map(Some),
                1 => resp.text().await.map(|t| Some(Bytes::from(t))),
                2 => resp
                    .json_with::<serde_json::Value>(None)
                    .await
                    .map(|_| None),
                _ => stream_at_most(resp.content(), cap).await.map(Some),
            };
            match read {
                Ok(body) => {
                    if flags & 3 == 0 {
                        let len = body.as_ref().map_or(0, Bytes::len);
                        assert!(
                            len <= cap,
                            "read() returned {len} bytes, over the cap {cap}"
                        );
                    }
                    out.body = body;
                }
                Err(e) => out.error = Some(e.kind()),
            }
        }
        Err(e) => {
            out.error = Some(e.kind());
            out.redirects = e.history().len();
        }
    }
    let jar = session.cookie_jar();
    out.cookies = jar.len();
    if let Ok(url) = Url::parse(START_URL) {
        check_sent_cookies(jar.as_ref(), &url, false);
    }
    out
}

/// The body streamed until its end or past `cap` bytes (streaming has no cap of its own).
async fn stream_at_most(
    content: &mut crate::StreamReader,
    cap: usize,
) -> Result<Bytes, ClientError> {
    let mut body = Vec::new();
    loop {
        let chunk = content.readany().await?;
        if chunk.is_empty() || body.len() > cap {
            return Ok(Bytes::from(body));
        }
        body.extend_from_slice(&chunk);
    }
}

// ---- decompress ----

/// The decoding chain (`decode.rs`) under a cap, as `read()` runs it.
///
/// Layout: a flags byte — bits 0-1 the cap (`max_body_size` 16 B, 1 KiB, 64 KiB, 1 MiB), bits
/// 2-4 how the raw body is cut into chunks — then the `Content-Encoding` value up to a `\n`,
/// then the raw body.
///
/// Checks: the decoded body is never longer than the cap; cutting the raw body into other
/// chunks changes nothing (same body, or an error both ways); a body with no coding to undo
/// comes out unchanged.
///
/// ```
/// let got = aiohttp::fuzz_support::decompress(b"\x00identity\nplain");
/// assert_eq!(got.ok().as_deref(), Some(&b"plain"[..]));
/// ```
///
/// # Errors
/// The body does not decode, or is over the cap.
pub fn decompress(data: &[u8]) -> Result<Bytes, ClientError> {
    let mut input = Input(data);
    let flags = input.byte();
    let coding = String::from_utf8_lossy(input.line()).into_owned();
    let raw = input.rest();
    let cap = [16usize, 1024, 64 * 1024, 1 << 20][usize::from(flags & 3)];
    let seed = (flags >> 2) & 7;
    let whole = block_on(decode_at_most(vec![raw], &coding, cap));
    let split = block_on(decode_at_most(pieces(raw, seed), &coding, cap));
    match (&whole, &split) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "the decoded body depends on the chunks"),
        (Ok(_), Err(e)) | (Err(e), Ok(_)) => {
            panic!("decoding succeeds or fails with the chunks: {e}")
        }
        (Err(_), Err(_)) => {}
    }
    if let Ok(body) = &whole {
        assert!(
            body.len() <= cap,
            "{} decoded bytes, over the cap {cap}",
            body.len()
        );
        if !crate::decode::is_supported(&coding) {
            assert_eq!(&body[..], raw, "a body with nothing to decode changed");
        }
    }
    whole
}

async fn decode_at_most(
    chunks: Vec<&[u8]>,
    coding: &str,
    cap: usize,
) -> Result<Bytes, ClientError> {
    let items: Vec<Result<Bytes, ClientError>> = chunks
        .into_iter()
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let raw: crate::stream::BodyStream = Box::pin(futures_util::stream::iter(items));
    let mut reader = crate::StreamReader::new(crate::decode::decompress(raw, coding));
    reader.read_to_end_at_most(cap).await
}

// ---- set_cookie ----

/// The URLs cookies come from and go to (selected by index).
const COOKIE_URLS: [&str; 8] = [
    "http://example.com/",
    "https://www.example.com/app/login",
    "http://sub.example.co.uk/a/b",
    "https://127.0.0.1:8443/",
    "http://[::1]/x/",
    "http://localhost/",
    "https://github.io/",
    "http://a.b.example.com/deep/path/page?q=1",
];

/// The origin the jar treats as secure when asked to.
const SECURE_ORIGIN: &str = "http://example.com";

/// The cookie jar (`cookie.rs`) fed `Set-Cookie` values from responses, or a cookie file.
///
/// Layout: a flags byte. With bit 7 set, the rest is the text of a cookie file for `load`.
/// Otherwise bits 0-2 pick the response URL (of 8: http and https, subdomains, a public
/// suffix, IPv4 and IPv6 addresses, `localhost`), bit 3 makes the jar `unsafe_`, bit 4 sets
/// small caps (3 per domain, 5 in all), bit 5 treats `http://example.com` as secure; the rest is
/// one `Set-Cookie` value a line, parsed as a response's are, and a line `@N` switches to the
/// N-th URL for the lines after it.
///
/// Checks: for every URL, the cookies the jar sends fit in a `Cookie` header, are never
/// `Secure` over plain http, and belong to the host's domain; the caps hold; what `save`
/// writes, `load` reads back to the same cookies.
///
/// ```
/// let n = aiohttp::fuzz_support::set_cookie(b"\x00sid=1; Path=/\nlang=en");
/// assert_eq!(n, 2);
/// ```
pub fn set_cookie(data: &[u8]) -> usize {
    let mut input = Input(data);
    let flags = input.byte();
    let small = flags & 0x10 != 0;
    let jar = new_jar(flags & 0x08 != 0, small, flags & 0x20 != 0);
    let secure_origin = flags & 0x20 != 0;
    if flags & 0x80 != 0 {
        if jar.load_file_text(input.rest()).is_err() {
            return 0;
        }
    } else {
        let mut url = cookie_url(usize::from(flags & 7));
        let mut cookies = Vec::new();
        let rest = input.rest();
        for line in rest.split(|&b| b == b'\n') {
            if let Some(n) = line.strip_prefix(b"@") {
                jar.update_cookies(&cookies, url.as_ref());
                cookies.clear();
                url = cookie_url(usize::from(n.first().copied().unwrap_or(0)));
                continue;
            }
            // As a response's `Set-Cookie` values are read.
            if let Ok(s) = std::str::from_utf8(line) {
                if let Ok(c) = cookie::Cookie::parse(s.to_string()) {
                    cookies.push(c);
                }
            }
        }
        jar.update_cookies(&cookies, url.as_ref());
    }
    check_jar(&jar, small, secure_origin);
    jar.len()
}

fn new_jar(unsafe_: bool, small: bool, secure_origin: bool) -> CookieJar {
    let mut jar = CookieJar::new().unsafe_(unsafe_);
    if small {
        jar = jar.max_cookies_per_domain(3).max_cookies(5);
    }
    if secure_origin {
        if let Ok(j) = jar.clone().treat_as_secure_origin([SECURE_ORIGIN]) {
            jar = j;
        }
    }
    jar
}

fn cookie_url(i: usize) -> Option<Url> {
    Url::parse(COOKIE_URLS[i % COOKIE_URLS.len()]).ok()
}

/// The cookies `jar` sends to `url` fit in a `Cookie` header, are `Secure` only over a secure
/// origin, and domain-match the host.
fn check_sent_cookies(jar: &dyn AbstractCookieJar, url: &Url, secure_origin: bool) {
    let secure = url.scheme() == "https"
        || (secure_origin && Url::parse(SECURE_ORIGIN).is_ok_and(|s| s.origin() == url.origin()));
    for c in jar.filter_cookies(url) {
        let clean = |s: &str| !s.bytes().any(|b| b == b';' || b < 0x20 || b == 0x7f);
        assert!(
            !c.name().is_empty() && !c.name().contains('=') && clean(c.name()) && clean(c.value()),
            "a cookie that breaks the Cookie header: {c:?}"
        );
        assert!(
            secure || c.secure() != Some(true),
            "a Secure cookie for {url}: {c:?}"
        );
        if let (Some(url::Host::Domain(host)), Some(domain)) = (url.host(), c.domain()) {
            let domain = domain.trim_start_matches('.');
            assert!(
                host == domain || host.ends_with(&format!(".{domain}")),
                "a cookie of {domain} sent to {host}"
            );
        }
    }
}

/// A cookie as compared across a save and a load.
type CookieKey = (String, String, Option<String>, Option<String>, bool, bool);

/// The cookies of `jar` that neither expire nor could expire around now, sorted.
fn lasting_cookies(jar: &CookieJar) -> Vec<CookieKey> {
    let soon = cookie::time::OffsetDateTime::now_utc() + cookie::time::Duration::minutes(1);
    let mut out: Vec<CookieKey> = jar
        .iter()
        .filter(|c| c.expires_datetime().is_none_or(|t| t > soon))
        .map(|c| {
            (
                c.name().to_string(),
                c.value().to_string(),
                c.domain().map(str::to_string),
                c.path().map(str::to_string),
                c.secure() == Some(true),
                c.http_only() == Some(true),
            )
        })
        .collect();
    out.sort();
    out
}

fn check_jar(jar: &CookieJar, small: bool, secure_origin: bool) {
    let (per_domain, total) = if small { (3, 5) } else { (50, 3000) };
    let cookies = jar.iter().collect::<Vec<_>>();
    assert!(
        cookies.len() <= total,
        "{} cookies in the jar",
        cookies.len()
    );
    let mut by_domain: std::collections::HashMap<String, usize> = Default::default();
    for c in &cookies {
        if let Some(d) = c.domain() {
            *by_domain.entry(d.to_string()).or_default() += 1;
        }
    }
    for (d, n) in by_domain {
        assert!(n <= per_domain, "{n} cookies for {d}");
    }
    for i in 0..COOKIE_URLS.len() {
        if let Some(url) = cookie_url(i) {
            check_sent_cookies(jar, &url, secure_origin);
        }
    }
    // What `save` writes loads back to the same cookies.
    let text = match jar.to_file_text() {
        Ok(t) => t,
        Err(e) => panic!("the jar cannot be saved: {e}"),
    };
    let again = new_jar(jar.is_unsafe(), small, secure_origin);
    if let Err(e) = again.load_file_text(&text) {
        panic!(
            "the jar's own file does not load: {e}\n{}",
            String::from_utf8_lossy(&text)
        );
    }
    assert_eq!(
        lasting_cookies(jar),
        lasting_cookies(&again),
        "the cookies changed through save and load"
    );
}

// ---- redirect ----

/// The URL requested when the input names none usable.
const REDIRECT_FROM: &str = "http://a.test/x/y?q=1";

/// The redirect decision (`redirect.rs`: which responses are followed, how `Location` is joined
/// and requoted, what is dropped) and the credentials of the next URL (`head.rs`).
///
/// Layout: a byte for the status (301, 302, 303, 307, 308, 200, 300, 304), a byte for the
/// method (bits 0-2: GET, POST, HEAD, PUT, DELETE, OPTIONS, PATCH, QUERY), the request body
/// (bits 4-5: none, in memory, a spent stream) and `requote_redirect_url` (bit 6), a byte for
/// the redirects already followed (mod 12, of at most 10), then the URL requested up to a `\n`
/// (the default one when it is not an http(s) URL with a host), then the `Location` value.
///
/// Checks: a redirect followed goes to an http(s) URL with a host; leaving the origin drops
/// the credentials, cookies and `Host`; https to http is a downgrade; a 303 (but for HEAD) and
/// a POST answered with 301/302 become GET without a body; a kept body is never a spent one;
/// requoting is stable (following the URL followed gives it back); the next URL's credentials
/// are taken out of it.
///
/// ```
/// let got = aiohttp::fuzz_support::redirect(b"\x01\x00\x00http://a.test/x\n/y");
/// assert_eq!(got.ok().flatten().map(|u| u.to_string()).as_deref(), Some("http://a.test/y"));
/// ```
///
/// # Errors
/// An unusable `Location`, or a body that cannot be sent again.
pub fn redirect(data: &[u8]) -> Result<Option<Url>, ClientError> {
    use crate::head::BodyState;
    use crate::redirect::{decide, location, Decision, Hop, Policy};
    let mut input = Input(data);
    let status = [301u16, 302, 303, 307, 308, 200, 300, 304][usize::from(input.byte() & 7)];
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::FOUND);
    let m = input.byte();
    let method = match m & 7 {
        0 => Method::GET,
        1 => Method::POST,
        2 => Method::HEAD,
        3 => Method::PUT,
        4 => Method::DELETE,
        5 => Method::OPTIONS,
        6 => Method::PATCH,
        _ => Method::from_bytes(b"QUERY").unwrap_or(Method::GET),
    };
    let body = match (m >> 4) & 3 {
        0 => BodyState::Empty,
        1 => BodyState::Replayable,
        _ => BodyState::Consumed,
    };
    let requote = m & 0x40 != 0;
    let followed = usize::from(input.byte() % 12);
    let from = std::str::from_utf8(input.line())
        .ok()
        .and_then(|s| Url::parse(s).ok())
        .filter(|u| {
            matches!(u.scheme(), "http" | "https") && u.host_str().is_some_and(|h| !h.is_empty())
        });
    let from = match from {
        Some(u) => u,
        None => Url::parse(REDIRECT_FROM)
            .map_err(|e| ClientError::invalid_argument("the default URL").with_source(e))?,
    };
    if let Ok((bare, auth)) = crate::head::split_credentials(from.clone()) {
        assert!(bare.username().is_empty() && bare.password().is_none());
        assert_eq!(
            auth.is_some(),
            !from.username().is_empty() || from.password().is_some()
        );
    }
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_bytes(input.rest()) {
        headers.insert(header::LOCATION, v);
    }
    let policy = Policy {
        allow: true,
        max: crate::request::DEFAULT_MAX_REDIRECTS,
        requote,
    };
    let hop = Hop {
        status,
        method: &method,
        location: location(status, &headers),
        url: &from,
        body,
        followed,
    };
    let next = match decide(&hop, &policy)? {
        Decision::Follow(next) => next,
        Decision::TooMany => {
            assert!(followed >= policy.max);
            return Ok(None);
        }
        Decision::Final => {
            assert!(
                hop.location.is_none() || !matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308)
            );
            return Ok(None);
        }
    };
    let url = &next.url;
    assert!(
        matches!(url.scheme(), "http" | "https"),
        "redirected to {url}"
    );
    assert!(
        url.host_str().is_some_and(|h| !h.is_empty()),
        "redirected to {url}"
    );
    let cross = url.origin() != from.origin();
    assert_eq!(next.cross_origin, cross, "{from} -> {url}");
    if cross {
        for h in [
            header::AUTHORIZATION,
            header::PROXY_AUTHORIZATION,
            header::COOKIE,
            header::HOST,
        ] {
            assert!(
                next.drop_headers.contains(&h),
                "{h} kept from {from} to {url}"
            );
        }
    }
    assert_eq!(
        next.downgrade,
        from.scheme() == "https" && url.scheme() == "http"
    );
    let to_get = (status == StatusCode::SEE_OTHER && method != Method::HEAD)
        || (matches!(status.as_u16(), 301 | 302) && method == Method::POST);
    if to_get {
        assert!(next.method == Method::GET && !next.keep_body);
    } else {
        assert_eq!(next.method, method);
        assert_eq!(next.keep_body, body != BodyState::Empty);
    }
    // Following the URL followed, from the same place, gives it back: requoting is stable.
    if let Ok(v) = HeaderValue::from_str(url.as_str()) {
        let again = Hop {
            location: Some(&v),
            followed: 0,
            ..hop
        };
        match decide(&again, &policy) {
            Ok(Decision::Follow(n)) => assert_eq!(n.url, *url, "requoting {url} changed it"),
            other => panic!("following {url} again: {other:?}"),
        }
    }
    if let Ok((bare, _)) = crate::head::split_credentials(url.clone()) {
        assert!(bare.username().is_empty() && bare.password().is_none());
    }
    Ok(Some(next.url))
}

// ---- charset ----

/// A body decoded as text: the `Content-Type` parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text {
    /// The media type, lowercase.
    pub media_type: String,
    /// The `charset` parameter.
    pub charset: Option<String>,
    /// The encoding detected from the body.
    pub detected: &'static str,
    /// The body decoded with the charset, else the encoding detected (what `text()` does).
    pub text: Result<String, ErrorKind>,
}

/// Charsets (`decode.rs`: `decode_text`, `detect_encoding`, labels) and `Content-Type` parsing.
///
/// Layout: the `Content-Type` value up to a `\n`, then the body.
///
/// Checks: the media type is lowercase; decoding fails only for an unknown charset label; the
/// name of the encoding detected is itself a label of that encoding (`get_encoding()` returns
/// names that `text_with_encoding` must accept), and decoding with it gives what detection
/// gives.
///
/// ```
/// let got = aiohttp::fuzz_support::charset(b"text/plain; charset=latin-1\ncaf\xe9");
/// assert_eq!(got.text.as_deref(), Ok("café"));
/// ```
pub fn charset(data: &[u8]) -> Text {
    use crate::decode::{decode_text, detect_encoding, encoding_for_label};
    let mut input = Input(data);
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_bytes(input.line()) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    let body = input.rest();
    let (media_type, charset) = crate::response::parse_content_type(&headers);
    assert_eq!(media_type, media_type.to_ascii_lowercase());
    let _ = crate::response::is_json_content_type(&media_type);
    let text = decode_text(body, charset.as_deref());
    let known = charset
        .as_deref()
        .is_none_or(|l| encoding_for_label(l).is_some());
    assert_eq!(text.is_ok(), known, "charset {charset:?}");
    let detected = detect_encoding(body);
    assert_eq!(
        encoding_for_label(detected.name()),
        Some(detected),
        "the name {} is not a label of its encoding",
        detected.name()
    );
    let guessed = decode_text(body, None).map_err(|e| e.kind());
    let named = decode_text(body, Some(detected.name())).map_err(|e| e.kind());
    assert_eq!(guessed, named, "detection and its name decode apart");
    Text {
        media_type,
        charset,
        detected: detected.name(),
        text: text.map_err(|e| e.kind()),
    }
}

// ---- ws_frames ----

/// A WebSocket message or control frame, as the reader hands it over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsFrame {
    /// A text message.
    Text(String),
    /// A binary message.
    Binary(Bytes),
    /// A ping.
    Ping(Bytes),
    /// A pong.
    Pong(Bytes),
    /// A close frame: its code and reason.
    Close(Option<u16>, String),
}

/// Why the reader stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsEnd {
    /// The server broke a rule: the close code.
    Protocol(u16),
    /// The stream ended (`mid`: in the middle of a frame or message).
    Eof {
        /// In the middle of a frame or message.
        mid: bool,
    },
    /// The transport failed.
    Io,
}

/// The WebSocket frame reader (`ws/frame.rs`: frames, fragments, UTF-8, permessage-deflate
/// under `max_msg_size`) over what a server sends.
///
/// Layout: a flags byte — bits 0-1 `max_msg_size` (16, 125, 1024, 65536 bytes), bit 2
/// permessage-deflate agreed, bit 3 with `server_no_context_takeover` — then a byte for how
/// the bytes are cut into reads, then the server's stream.
///
/// Checks: the frames and the end are the same whether the bytes arrive whole or in pieces;
/// text is UTF-8; no message is over `max_msg_size`; control frames carry at most 125 bytes;
/// close codes are valid ones; a violation closes with 1002, 1007 or 1009.
///
/// ```
/// use aiohttp::fuzz_support::{ws_frames, WsEnd, WsFrame};
/// let (frames, end) = ws_frames(b"\x03\x00\x81\x02hi");
/// assert_eq!(frames, [WsFrame::Text("hi".into())]);
/// assert_eq!(end, WsEnd::Eof { mid: false });
/// ```
pub fn ws_frames(data: &[u8]) -> (Vec<WsFrame>, WsEnd) {
    let mut input = Input(data);
    let flags = input.byte();
    let seed = input.byte();
    let wire = input.rest();
    let max = [16usize, 125, 1024, 65536][usize::from(flags & 3)];
    let agreed = (flags & 4 != 0).then_some(Agreed {
        client_window_bits: 15,
        server_window_bits: 15,
        client_no_context_takeover: false,
        server_no_context_takeover: flags & 8 != 0,
    });
    let whole = block_on(read_frames(Scripted::new(wire, 7), max, agreed));
    let split = block_on(read_frames(Scripted::new(wire, seed), max, agreed));
    assert_eq!(whole, split, "the frames depend on how the reads were cut");
    let (frames, end) = whole;
    for f in &frames {
        match f {
            WsFrame::Text(t) => assert!(t.len() <= max),
            WsFrame::Binary(b) => assert!(b.len() <= max),
            WsFrame::Ping(b) | WsFrame::Pong(b) => assert!(b.len() <= 125),
            WsFrame::Close(code, reason) => {
                assert!(code.is_none_or(frame::is_valid_close_code));
                assert!(reason.len() <= 123);
            }
        }
    }
    if let WsEnd::Protocol(code) = &end {
        assert!(matches!(code, 1002 | 1007 | 1009), "close code {code}");
    }
    (frames, end)
}

async fn read_frames(io: Scripted, max: usize, agreed: Option<Agreed>) -> (Vec<WsFrame>, WsEnd) {
    let io: Box<dyn Io> = Box::new(io);
    let (rd, _wr) = tokio::io::split(io);
    let mut reader = Reader::new(rd, Bytes::new(), max, agreed.as_ref().map(Inflater::new));
    let mut frames = Vec::new();
    loop {
        match reader.next().await {
            Ok(f) => frames.push(match f {
                Frame::Text(b) => match String::from_utf8(b.to_vec()) {
                    Ok(s) => WsFrame::Text(s),
                    Err(_) => panic!("a text message that is not UTF-8: {b:?}"),
                },
                Frame::Binary(b) => WsFrame::Binary(b),
                Frame::Ping(b) => WsFrame::Ping(b),
                Frame::Pong(b) => WsFrame::Pong(b),
                Frame::Close(code, reason) => WsFrame::Close(code, reason),
            }),
            Err(ReadError::Protocol(code, _)) => return (frames, WsEnd::Protocol(code)),
            Err(ReadError::Eof { mid }) => return (frames, WsEnd::Eof { mid }),
            Err(ReadError::Io(_)) => return (frames, WsEnd::Io),
        }
    }
}

// ---- ws_handshake ----

/// The `Sec-WebSocket-Key` of the handshake entry (RFC 6455's example); its accept value is
/// `s3pPLMBiTxaQ9kYGzzhZRbK+xOo=`.
pub const WS_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// The subprotocols the handshake entry offers.
const WS_PROTOCOLS: [&str; 2] = ["chat", "superchat"];

/// The checks of the server's answer to a WebSocket upgrade (`ws/handshake.rs`) and the
/// permessage-deflate agreement (`ws/deflate.rs`), then the agreed compression both ways.
///
/// Layout: a byte for the offer (bit 0 permessage-deflate offered; bits 1-3 the server window
/// offered, 8 to 15; bit 4 `client_no_context_takeover`; bit 5 `server_no_context_takeover`),
/// two bytes for the status (big-endian; 101 when not a status code), then header lines
/// `Name: value`; the request's key is [`WS_KEY`], the protocols offered `chat` and `superchat`.
///
/// Checks: an accepted answer is a 101; its protocol was offered; deflate is agreed only when
/// offered, with windows of 8 to 15 bits (the server's at most the one offered, when the
/// server names one) and granting the context takeover asked for;
/// with the agreed settings, messages compressed by one side inflate back on the other.
///
/// ```
/// let got = aiohttp::fuzz_support::ws_handshake(
///     b"\x00\x00\x65Upgrade: websocket\nConnection: Upgrade\n\
///       Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
/// );
/// assert_eq!(got, Ok((None, false)));
/// ```
///
/// # Errors
/// What the handshake checks say is wrong with the answer.
pub fn ws_handshake(data: &[u8]) -> Result<(Option<String>, bool), &'static str> {
    let mut input = Input(data);
    let o = input.byte();
    let offer = (o & 1 != 0).then_some(Offer {
        window_bits: 8 + ((o >> 1) & 7),
        client_no_context_takeover: o & 0x10 != 0,
        server_no_context_takeover: o & 0x20 != 0,
    });
    let code = u16::from_be_bytes([input.byte(), input.byte()]);
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::SWITCHING_PROTOCOLS);
    let mut headers = HeaderMap::new();
    for line in input.rest().split(|&b| b == b'\n') {
        let Some(colon) = memchr::memchr(b':', line) else {
            continue;
        };
        let value = line[colon + 1..].trim_ascii();
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(line[..colon].trim_ascii()),
            HeaderValue::from_bytes(value),
        ) {
            headers.append(n, v);
        }
    }
    // The agreement alone, whatever else the answer holds.
    let answers: Vec<String> = headers
        .get_all(header::SEC_WEBSOCKET_EXTENSIONS)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect();
    let answers: Vec<&str> = answers.iter().map(String::as_str).collect();
    if let Ok(Some(a)) = deflate::agree(offer.as_ref(), &answers) {
        check_agreed(offer.as_ref(), &a);
    }
    let protocols: Vec<String> = WS_PROTOCOLS.iter().map(|p| p.to_string()).collect();
    let accepted = handshake::check(status, &headers, WS_KEY, &protocols, offer.as_ref())?;
    assert_eq!(status, StatusCode::SWITCHING_PROTOCOLS);
    if let Some(p) = &accepted.protocol {
        assert!(
            WS_PROTOCOLS.contains(&p.as_str()),
            "protocol {p:?} was not offered"
        );
    }
    if let Some(a) = &accepted.deflate {
        check_agreed(offer.as_ref(), a);
        // Both directions, several messages, so that a context kept or reset shows.
        let messages: Vec<&[u8]> = data.chunks(97).collect();
        roundtrip(
            a.client_window_bits,
            a.client_no_context_takeover,
            &messages,
        );
        roundtrip(
            a.server_window_bits,
            a.server_no_context_takeover,
            &messages,
        );
    }
    Ok((accepted.protocol, accepted.deflate.is_some()))
}

fn check_agreed(offer: Option<&Offer>, a: &Agreed) {
    let Some(offer) = offer else {
        panic!("permessage-deflate agreed without an offer: {a:?}");
    };
    assert!((8..=15).contains(&a.client_window_bits), "{a:?}");
    // A server that names no `server_max_window_bits` keeps the default window of 15 even when
    // a smaller one was offered (RFC 7692 wants it named; the answer is accepted, and the
    // client inflates with a 15-bit window whatever the server uses). One it names is at most
    // the offer.
    assert!(
        (8..=offer.window_bits).contains(&a.server_window_bits) || a.server_window_bits == 15,
        "{a:?} for {offer:?}"
    );
    assert!(!offer.server_no_context_takeover || a.server_no_context_takeover);
    assert!(!offer.client_no_context_takeover || a.client_no_context_takeover);
}

/// Messages compressed with `window_bits` (and a context reset after each one, or not) inflate
/// back to themselves.
fn roundtrip(window_bits: u8, no_context_takeover: bool, messages: &[&[u8]]) {
    let a = Agreed {
        client_window_bits: window_bits,
        server_window_bits: window_bits,
        client_no_context_takeover: no_context_takeover,
        server_no_context_takeover: no_context_takeover,
    };
    let mut deflater = Deflater::new(&a);
    let mut inflater = Inflater::new(&a);
    for m in messages {
        let c = match deflater.compress(m) {
            Ok(c) => c,
            Err(e) => panic!("compressing a message failed: {e}"),
        };
        let mut out = Vec::new();
        if let Err(e) = inflater.inflate(&c, true, &mut out, usize::MAX) {
            panic!("a compressed message does not inflate: {e:?}");
        }
        assert_eq!(&out[..], *m, "a message changed through deflate");
    }
}

// ---- proxy_replies ----

/// What a proxy's answer came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxyReply {
    /// A tunnel was opened: the bytes read through it until the end.
    Tunnel(Vec<u8>),
    /// The proxy refused `CONNECT` with this status.
    Refused(u16),
    /// The handshake failed otherwise.
    Failed(ErrorKind),
    /// `NO_PROXY`: whether each host goes direct.
    Exempt(Vec<bool>),
    /// netrc: the credentials found.
    Netrc(Option<(String, String)>),
}

/// Proxies: the answer to `CONNECT` (`proto/h1.rs` `tunnel`), the SOCKS4/5 reply
/// (`connector/proxy.rs` `socks`), `NO_PROXY` (`proxy/env.rs`) and netrc (`proxy/netrc.rs`).
///
/// Layout: a byte whose bits 0-1 pick the part — 0 [`proxy_connect`], 1 [`socks_reply`], 2
/// [`no_proxy`], 3 [`netrc`] — and whose other bits, with the rest, are that part's input.
///
/// ```
/// use aiohttp::fuzz_support::{proxy_replies, ProxyReply};
/// let got = proxy_replies(b"\x1cHTTP/1.1 407 Auth\r\nContent-Length: 0\r\n\r\n");
/// assert_eq!(got, ProxyReply::Refused(407));
/// ```
pub fn proxy_replies(data: &[u8]) -> ProxyReply {
    let Some((&first, rest)) = data.split_first() else {
        return ProxyReply::Exempt(Vec::new());
    };
    let mut inner = Vec::with_capacity(data.len());
    inner.push(first >> 2);
    inner.extend_from_slice(rest);
    match first & 3 {
        0 => proxy_connect(&inner),
        1 => socks_reply(&inner),
        2 => no_proxy(rest),
        _ => netrc(rest),
    }
}

/// The bytes read through a tunnel: all of them, until the end (the peer always ends).
async fn read_through(mut io: Box<dyn Io>) -> Vec<u8> {
    let mut got = Vec::new();
    let _ = io.read_to_end(&mut got).await;
    got
}

/// A `CONNECT` to `target.test:443` through an HTTP proxy that answers with the input.
///
/// Layout: a byte for how the proxy cuts its writes, then its answer.
///
/// Checks: a tunnel is opened only on a 2xx, and what is read through it is the end of the
/// proxy's stream, byte for byte (nothing of the answer's head, nothing made up).
///
/// ```
/// use aiohttp::fuzz_support::{proxy_connect, ProxyReply};
/// let got = proxy_connect(b"\x07HTTP/1.1 200 OK\r\n\r\nhello");
/// assert_eq!(got, ProxyReply::Tunnel(b"hello".to_vec()));
/// ```
pub fn proxy_connect(data: &[u8]) -> ProxyReply {
    let mut input = Input(data);
    let seed = input.byte();
    let wire = Bytes::copy_from_slice(input.rest());
    let script = Script::of(vec![wire.clone()]);
    block_on(async move {
        let (client, task) = peer(script, seed, b"\r\n\r\n");
        let auth = [(
            header::PROXY_AUTHORIZATION,
            HeaderValue::from_static("Basic dTpw"),
        )];
        let out = bounded("CONNECT", async {
            match h1::tunnel(
                Box::new(client),
                "target.test:443",
                auth.iter().map(|(n, v)| (n, v)),
            )
            .await
            {
                Ok(io) => {
                    let got = read_through(io).await;
                    assert!(got.len() < wire.len(), "a tunnel without an answer");
                    assert!(wire.ends_with(&got), "the tunnel made bytes up");
                    ProxyReply::Tunnel(got)
                }
                Err(TunnelError::Refused(details)) => {
                    assert!(!details.status.is_success());
                    ProxyReply::Refused(details.status.as_u16())
                }
                Err(TunnelError::Lost(_)) => {
                    ProxyReply::Failed(ErrorKind::ClientProxyConnectionError)
                }
            }
        })
        .await;
        task.abort();
        let _ = task.await;
        out
    })
}

/// A SOCKS handshake through a proxy that answers with the input.
///
/// Layout: a flags byte — bits 0-1 the protocol (SOCKS4, 4a, 5, 5h), bit 2 with credentials,
/// bit 3 the target given as an address (bit 4: IPv6) rather than the name `target.test` —
/// then a byte for how the proxy cuts its writes, then its answer.
///
/// Checks: what is read through the connection after a handshake is the end of the proxy's
/// stream, byte for byte.
///
/// ```
/// use aiohttp::fuzz_support::{socks_reply, ProxyReply};
/// // SOCKS5, no credentials: "no authentication", then "succeeded" with an IPv4 address.
/// let got = socks_reply(b"\x02\x07\x05\x00\x05\x00\x00\x01\x7f\x00\x00\x01\x00\x50hi");
/// assert_eq!(got, ProxyReply::Tunnel(b"hi".to_vec()));
/// ```
pub fn socks_reply(data: &[u8]) -> ProxyReply {
    let mut input = Input(data);
    let flags = input.byte();
    let seed = input.byte();
    let scheme = ["socks4", "socks4a", "socks5", "socks5h"][usize::from(flags & 3)];
    let creds = if flags & 4 != 0 { "user:pass@" } else { "" };
    let spec = Url::parse(&format!("{scheme}://{creds}proxy.test:1080"))
        .map_err(|e| ClientError::invalid_argument("proxy URL").with_source(e))
        .and_then(|u| ProxySpec::new(&u, None, &HeaderMap::new(), None));
    let spec = match spec {
        Ok(s) => s,
        Err(e) => return ProxyReply::Failed(e.kind()),
    };
    let target = match (flags & 8 != 0, flags & 16 != 0) {
        (false, _) => SocksTarget::Name("target.test".into(), 443),
        (true, false) => SocksTarget::Addr(([192, 0, 2, 1], 443).into()),
        (true, true) => SocksTarget::Addr(
            (
                std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1),
                443,
            )
                .into(),
        ),
    };
    let wire = Bytes::copy_from_slice(input.rest());
    let script = Script::of(vec![wire.clone()]);
    block_on(async move {
        // The client speaks first (its greeting).
        let (client, task) = peer(script, seed, b"");
        let out = bounded("the SOCKS handshake", async {
            match crate::connector::socks(Box::new(client), &spec, &target).await {
                Ok(io) => {
                    let got = read_through(io).await;
                    assert!(wire.ends_with(&got), "the SOCKS connection made bytes up");
                    ProxyReply::Tunnel(got)
                }
                Err(e) => ProxyReply::Failed(e.kind()),
            }
        })
        .await;
        task.abort();
        let _ = task.await;
        out
    })
}

/// `NO_PROXY` parsed and asked about hosts.
///
/// Layout: the `NO_PROXY` value up to a `\n`, then one `host[:port]` a line.
///
/// Checks: a domain exempt is exempt with its subdomains; under `trust_env` a request goes
/// direct exactly when `NO_PROXY` exempts its host and port.
///
/// ```
/// use aiohttp::fuzz_support::{no_proxy, ProxyReply};
/// let got = no_proxy(b".internal, 10.0.0.0/8\napi.internal\nexample.com\n10.1.2.3:8080");
/// assert_eq!(got, ProxyReply::Exempt(vec![true, false, true]));
/// ```
pub fn no_proxy(data: &[u8]) -> ProxyReply {
    use crate::proxy::env::{EnvProxies, NoProxy};
    let mut input = Input(data);
    let value = String::from_utf8_lossy(input.line()).into_owned();
    let list = NoProxy::parse(&value);
    let env = EnvProxies::read(|name| match name {
        "no_proxy" => Some(value.clone()),
        "all_proxy" => Some("http://proxy.test:3128".to_string()),
        _ => None,
    });
    let mut out = Vec::new();
    for line in input.rest().split(|&b| b == b'\n') {
        let Ok(text) = std::str::from_utf8(line) else {
            continue;
        };
        let Ok(url) = Url::parse(&format!("http://{text}/")) else {
            continue;
        };
        let Some(host) = url.host() else {
            continue;
        };
        let port = url.port_or_known_default();
        let exempt = list.exempts(&host, port);
        if let url::Host::Domain(d) = host {
            let sub = format!("sub.{d}");
            assert!(
                !exempt || list.exempts(&url::Host::Domain(sub.as_str()), port),
                "{d} is exempt and {sub} is not"
            );
        }
        assert_eq!(
            env.proxy_for(&url).is_none(),
            exempt,
            "NO_PROXY={value:?} and {url}"
        );
        out.push(exempt);
    }
    ProxyReply::Exempt(out)
}

/// A netrc file's credentials for a host.
///
/// Layout: the host up to a `\n`, then the file.
///
/// Checks: host names match whatever their case.
///
/// ```
/// use aiohttp::fuzz_support::{netrc, ProxyReply};
/// let got = netrc(b"h.test\nmachine h.test login u password p");
/// assert_eq!(got, ProxyReply::Netrc(Some(("u".into(), "p".into()))));
/// ```
pub fn netrc(data: &[u8]) -> ProxyReply {
    let mut input = Input(data);
    let host = String::from_utf8_lossy(input.line()).into_owned();
    let text = String::from_utf8_lossy(input.rest());
    let found = crate::proxy::netrc::lookup(&text, &host);
    assert_eq!(
        found,
        crate::proxy::netrc::lookup(&text, &host.to_ascii_uppercase()),
        "the host's case matters"
    );
    ProxyReply::Netrc(found.map(|c| (c.login, c.password)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    //! The seed corpus of every fuzz target, built here (compressed bodies, frames, files) and
    //! checked to drive each entry where it should; `fuzz/corpus/` holds the same files.
    //! After changing a seed: `FUZZ_WRITE_SEEDS=1 cargo test -p aiohttp fuzz_support`.

    use super::*;
    use std::io::Write as _;
    use std::path::PathBuf;

    type Check = Box<dyn Fn(&[u8])>;

    struct Seed {
        target: &'static str,
        name: &'static str,
        data: Vec<u8>,
        check: Check,
    }

    fn seed(target: &'static str, name: &'static str, data: Vec<u8>, check: Check) -> Seed {
        Seed {
            target,
            name,
            data,
            check,
        }
    }

    fn cat(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn raw_deflate(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn encoded(encoder: impl AsyncRead + Unpin) -> Vec<u8> {
        block_on(async move {
            let mut encoder = encoder;
            let mut out = Vec::new();
            encoder.read_to_end(&mut out).await.unwrap();
            out
        })
    }

    fn brotli(data: &[u8]) -> Vec<u8> {
        encoded(async_compression::tokio::bufread::BrotliEncoder::new(data))
    }

    fn zstd(data: &[u8]) -> Vec<u8> {
        encoded(async_compression::tokio::bufread::ZstdEncoder::new(data))
    }

    fn sample() -> Vec<u8> {
        (0..40)
            .map(|i| format!("line {i}: the quick brown fox jumps over the lazy dog\n"))
            .collect::<String>()
            .into_bytes()
    }

    /// A server frame (unmasked).
    fn ws_frame(fin: bool, rsv1: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![(u8::from(fin) << 7) | (u8::from(rsv1) << 6) | opcode];
        match payload.len() {
            n if n < 126 => v.push(n as u8),
            n if n < 65536 => {
                v.push(126);
                v.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                v.push(127);
                v.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        v.extend_from_slice(payload);
        v
    }

    fn response(head: &str, body: &[u8]) -> Vec<u8> {
        cat(&[head.as_bytes(), body])
    }

    fn head_reason(want: Option<&'static str>) -> Check {
        Box::new(move |d| assert_eq!(response_head(d).map(|h| h.reason).as_deref(), want))
    }

    fn full(status: Option<u16>, body: Option<&'static [u8]>, error: Option<ErrorKind>) -> Check {
        Box::new(move |d| {
            let got = response_full(d);
            assert_eq!(got.status, status, "{got:?}");
            assert_eq!(got.error, error, "{got:?}");
            if body.is_some() {
                assert_eq!(got.body.as_deref(), body, "{got:?}");
            }
        })
    }

    fn decoded(want: Vec<u8>) -> Check {
        Box::new(move |d| assert_eq!(decompress(d).unwrap(), want))
    }

    fn not_decoded() -> Check {
        Box::new(|d| {
            let e = decompress(d).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::ClientPayloadError, "{e}");
        })
    }

    fn cookies(n: usize) -> Check {
        Box::new(move |d| assert_eq!(set_cookie(d), n))
    }

    fn redirected(to: &'static str) -> Check {
        Box::new(move |d| assert_eq!(redirect(d).unwrap().unwrap().as_str(), to))
    }

    fn redirect_error(kind: ErrorKind) -> Check {
        Box::new(move |d| assert_eq!(redirect(d).unwrap_err().kind(), kind))
    }

    fn text(want: Result<&'static str, ErrorKind>) -> Check {
        Box::new(move |d| assert_eq!(charset(d).text.as_deref().map_err(|e| *e), want))
    }

    fn frames(want: Vec<WsFrame>, end: WsEnd) -> Check {
        Box::new(move |d| assert_eq!(ws_frames(d), (want.clone(), end.clone())))
    }

    fn handshake(want: Result<(Option<&'static str>, bool), &'static str>) -> Check {
        Box::new(move |d| {
            let got = ws_handshake(d);
            let got = got
                .as_ref()
                .map(|(p, z)| (p.as_deref(), *z))
                .map_err(|e| *e);
            assert_eq!(got, want);
        })
    }

    fn reply(want: ProxyReply) -> Check {
        Box::new(move |d| assert_eq!(proxy_replies(d), want))
    }

    fn seeds() -> Vec<Seed> {
        let data = sample();
        let mut out = Vec::new();

        // ---- response_head: a byte for the reads, then the stream ----
        let t = "response_head";
        out.push(seed(
            t,
            "ok",
            cat(&[
                b"\x07",
                b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\
                Content-Length: 5\r\nSet-Cookie: a=1; Path=/\r\n\r\nhello",
            ]),
            head_reason(Some("OK")),
        ));
        out.push(seed(
            t,
            "continue_then_created",
            cat(&[
                b"\x00",
                b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nLocation: /x\r\n\r\n",
            ]),
            head_reason(Some("Created")),
        ));
        out.push(seed(
            t,
            "latin1_reason",
            cat(&[
                b"\x03",
                b"HTTP/1.0 404 Nicht gef\xfcnden\r\nX-A: 1\r\nx-a: 2\r\n\r\n",
            ]),
            head_reason(Some("Nicht gef\u{fc}nden")),
        ));
        out.push(seed(
            t,
            "folded_header",
            cat(&[
                b"\x05",
                b"HTTP/1.1 200 OK\r\nX-Folded: a\r\n b\r\nServer: x\r\n\r\n",
            ]),
            Box::new(|d| assert_eq!(response_head(d).unwrap().lines.len(), 2)),
        ));
        out.push(seed(
            t,
            "no_reason",
            cat(&[b"\x01", b"HTTP/1.1 204\r\n\r\n"]),
            head_reason(Some("")),
        ));
        // Found by the fuzzer: a head too short for a status, then a 1xx one, in one read.
        out.push(seed(
            t,
            "found_short_head",
            b"\x00HTTP/\r\n\r\n100 Continue\r\x0b\r\ne\r\n\r\nH\r\n\r\n".to_vec(),
            Box::new(|d| assert_eq!(&response_head(d).unwrap().head[..], b"HTTP/\r\n\r\n")),
        ));
        out.push(seed(
            t,
            "incomplete",
            cat(&[b"\x02", b"HTTP/1.1 200 OK\r\nA: 1\r\n"]),
            head_reason(None),
        ));

        // ---- response_full: flags, a byte for the peer's writes, the stream ----
        let t = "response_full";
        out.push(seed(
            t,
            "plain",
            cat(&[
                b"\x0c\x07",
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
            ]),
            full(Some(200), Some(b"hello"), None),
        ));
        out.push(seed(
            t,
            "chunked_latin1_text",
            cat(&[
                b"\x0d\x02",
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\
                  Content-Type: text/plain; charset=latin-1\r\n\r\n5\r\ncaf\xe9 \r\n0\r\n\r\n",
            ]),
            full(Some(200), Some("café ".as_bytes()), None),
        ));
        let json = gzip(br#"{"a": [1, 2, {"b": null}]}"#);
        out.push(seed(
            t,
            "gzip_json",
            response(
                &format!(
                    "\x0e\x07HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                     Content-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
                    json.len()
                ),
                &json,
            ),
            full(Some(200), None, None),
        ));
        out.push(seed(
            t,
            "redirect_with_cookie_keepalive",
            cat(&[
                b"\x0c\x07",
                b"HTTP/1.1 302 Found\r\nLocation: /next\r\nSet-Cookie: sid=1; Path=/\r\n\
                  Content-Length: 0\r\n\r\n",
                NEXT,
                b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone",
            ]),
            Box::new(|d| {
                let got = response_full(d);
                assert_eq!(
                    (got.status, got.redirects, got.cookies),
                    (Some(200), 1, 1),
                    "{got:?}"
                );
                assert_eq!(got.body.as_deref(), Some(&b"done"[..]));
            }),
        ));
        let br = brotli(&data);
        out.push(seed(
            t,
            "close_delimited_br_streamed",
            response(
                "\x0f\x06HTTP/1.1 200 OK\r\nContent-Encoding: br\r\nConnection: close\r\n\r\n",
                &br,
            ),
            Box::new({
                let data = data.clone();
                move |d| assert_eq!(response_full(d).body.as_deref(), Some(&data[..]))
            }),
        ));
        let bomb = zlib(&vec![b'a'; 100_000]);
        out.push(seed(
            t,
            "deflate_over_the_cap",
            response(
                &format!(
                    "\x00\x07HTTP/1.1 200 OK\r\nContent-Encoding: deflate\r\n\
                     Content-Length: {}\r\n\r\n",
                    bomb.len()
                ),
                &bomb,
            ),
            full(Some(200), None, Some(ErrorKind::ClientPayloadError)),
        ));
        out.push(seed(
            t,
            "redirect_loop",
            cat(&[
                b"\x04\x07",
                &[&b"HTTP/1.1 301 Moved\r\nLocation: http://fuzz.test/again\r\n\r\n"[..]; 4]
                    .join(NEXT),
            ]),
            full(None, None, Some(ErrorKind::TooManyRedirects)),
        ));
        out.push(seed(
            t,
            "head",
            cat(&[
                b"\x84\x07",
                b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n",
            ]),
            full(Some(200), Some(b""), None),
        ));
        out.push(seed(
            t,
            "post_307",
            cat(&[
                b"\x14\x05",
                b"HTTP/1.1 307 Temporary Redirect\r\nLocation: /post2\r\nContent-Length: 0\r\n\r\n",
                NEXT,
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            ]),
            full(Some(200), Some(b"ok"), None),
        ));
        let zs = zstd(&data);
        out.push(seed(
            t,
            "zstd_in_bytes",
            response(
                &format!(
                    "\x0c\x00HTTP/1.1 200 OK\r\nContent-Encoding: zstd\r\nContent-Length: {}\r\n\r\n",
                    zs.len()
                ),
                &zs,
            ),
            Box::new({
                let data = data.clone();
                move |d| assert_eq!(response_full(d).body.as_deref(), Some(&data[..]))
            }),
        ));

        // ---- decompress: flags, Content-Encoding line, raw body ----
        let t = "decompress";
        out.push(seed(
            t,
            "gzip",
            cat(&[b"\x02gzip\n", &gzip(&data)]),
            decoded(data.clone()),
        ));
        let mut members = gzip(b"first, ");
        members.extend(gzip(b"second"));
        out.push(seed(
            t,
            "x_gzip_members_in_bytes",
            cat(&[b"\x02x-gzip\n", &members]),
            decoded(b"first, second".to_vec()),
        ));
        out.push(seed(
            t,
            "deflate_zlib",
            cat(&[b"\x0a deflate \n", &zlib(&data)]),
            decoded(data.clone()),
        ));
        out.push(seed(
            t,
            "deflate_raw",
            cat(&[b"\x12deflate\n", &raw_deflate(&data)]),
            decoded(data.clone()),
        ));
        out.push(seed(
            t,
            "br",
            cat(&[b"\x1ebr\n", &brotli(&data)]),
            decoded(data.clone()),
        ));
        out.push(seed(
            t,
            "zstd",
            cat(&[b"\x03zstd\n", &zstd(&data)]),
            decoded(data.clone()),
        ));
        out.push(seed(
            t,
            "stacked",
            cat(&[b"\x02deflate, identity, gzip\n", &gzip(&zlib(&data))]),
            decoded(data.clone()),
        ));
        out.push(seed(
            t,
            "gzip_over_the_cap",
            cat(&[b"\x01gzip\n", &gzip(&vec![0u8; 1 << 20])]),
            not_decoded(),
        ));
        out.push(seed(
            t,
            "identity",
            cat(&[b"\x00identity\n", b"plain"]),
            decoded(b"plain".to_vec()),
        ));
        out.push(seed(
            t,
            "too_many_codings",
            cat(&[b"\x02gzip,gzip,gzip,gzip,gzip,gzip\n", &gzip(b"x")]),
            not_decoded(),
        ));
        let g = gzip(&data);
        out.push(seed(
            t,
            "gzip_truncated",
            cat(&[b"\x06gzip\n", &g[..g.len() - 5]]),
            not_decoded(),
        ));

        // ---- set_cookie: flags, then Set-Cookie lines or a cookie file ----
        let t = "set_cookie";
        out.push(seed(
            t,
            "http_basic",
            b"\x00sid=abc; Path=/; HttpOnly\npref=dark; Max-Age=3600\ntok=1; Secure\n\
              d=1; Domain=example.com\nbad=1; Domain=com"
                .to_vec(),
            cookies(3),
        ));
        out.push(seed(
            t,
            "https_then_http_shadowing",
            b"\x01a=1; Domain=.example.com; Path=/; Secure; SameSite=Lax\nb=2; Path=/app\n\
              c=3; Expires=Wed, 21 Oct 2099 07:28:00 GMT\n@\x00\na=override; Domain=example.com\n\
              gone=1; Max-Age=0"
                .to_vec(),
            cookies(3),
        ));
        out.push(seed(t, "ip_unsafe", b"\x0bip=1\nv6=2".to_vec(), cookies(2)));
        out.push(seed(t, "ip_refused", b"\x03ip=1".to_vec(), cookies(0)));
        out.push(seed(
            t,
            "small_caps",
            b"\x17a=1\nb=2; Domain=example.com\nc=3\nd=4; Path=/deep\n@\x01\ne=5\nf=6".to_vec(),
            cookies(3),
        ));
        out.push(seed(
            t,
            "secure_origin",
            b"\x20s=1; Secure\n@\x05\nl=1\nlh=2; Domain=localhost".to_vec(),
            cookies(3),
        ));
        out.push(seed(
            t,
            "cookie_file",
            cat(&[
                b"\x80",
                br#"{"version": 1, "cookies": [
  {"name": "sid", "value": "abc", "domain": "example.com", "host_only": true,
   "path": "/", "secure": true, "http_only": true, "same_site": "Lax", "expires": 4102444800},
  {"name": "lang", "value": "en", "domain": "example.co.uk", "host_only": false,
   "path": "/app", "secure": false, "http_only": false, "same_site": null, "expires": null},
  {"name": "old", "value": "x", "domain": "example.com", "host_only": false,
   "path": "/", "expires": 1},
  {"name": "shared", "value": "v", "domain": null, "host_only": false, "path": "/"}
]}"#,
            ]),
            cookies(3),
        ));
        out.push(seed(
            t,
            "cookie_file_invalid",
            cat(&[
                b"\x80",
                br#"{"version": 1, "cookies": [{"name": "a;b", "value": "1"}]}"#,
            ]),
            cookies(0),
        ));

        // ---- redirect: status, method/body/requote, followed, URL line, Location ----
        let t = "redirect";
        out.push(seed(
            t,
            "relative_requoted",
            b"\x00\x40\x00http://a.test/x/y?q=1\n../next?b=%7e%41%2f".to_vec(),
            redirected("http://a.test/next?b=~A%2F"),
        ));
        out.push(seed(
            t,
            "see_other_cross_origin_downgrade",
            b"\x02\x11\x00https://u:p@a.test/form\nhttp://other.test/done".to_vec(),
            redirected("http://other.test/done"),
        ));
        out.push(seed(
            t,
            "temporary_keeps_body",
            b"\x03\x11\x00http://a.test/\n//b.test:8080/p%2fq#frag".to_vec(),
            redirected("http://b.test:8080/p%2fq#frag"),
        ));
        out.push(seed(
            t,
            "permanent_spent_stream",
            b"\x04\x21\x00http://a.test/\n/again".to_vec(),
            redirect_error(ErrorKind::ClientPayloadError),
        ));
        out.push(seed(
            t,
            "credentials_in_location",
            b"\x01\x40\x05http://a.test/\nhttp://user:pw@b.test/%zz".to_vec(),
            redirected("http://user:pw@b.test/%zz"),
        ));
        // The first input the fuzzer found to break requoting (a `%` that starts no escape,
        // then an escaped hex digit).
        out.push(seed(
            t,
            "found_stray_percent",
            b"\x00@\x00ht\xf1tp\x1a./ae.test/=/y?q}1\x0a../next=7%?be%7%41%2f".to_vec(),
            redirected("http://a.test/next=7%?be%7%41%2F"),
        ));
        out.push(seed(
            t,
            "too_many",
            b"\x00\x00\x0bhttp://a.test/\n/x".to_vec(),
            Box::new(|d| assert_eq!(redirect(d).unwrap(), None)),
        ));
        out.push(seed(
            t,
            "not_http",
            b"\x01\x00\x00http://a.test/\njavascript:alert(1)".to_vec(),
            redirect_error(ErrorKind::NonHttpUrlRedirectClientError),
        ));
        out.push(seed(
            t,
            "idn_and_ipv6",
            b"\x03\x00\x00http://[::1]:8080/a\nhttp://b\xc3\xbccher.test/\xc3\xa9".to_vec(),
            redirected("http://xn--bcher-kva.test/%C3%A9"),
        ));

        // ---- charset: Content-Type line, body ----
        let t = "charset";
        let (cp1251, _, _) = encoding_rs::WINDOWS_1251
            .encode("Привет, мир! Съешь же ещё этих мягких французских булок.");
        out.push(seed(
            t,
            "cp1251",
            cat(&[b"text/html; charset=windows-1251\n", &cp1251]),
            text(Ok(
                "Привет, мир! Съешь же ещё этих мягких французских булок.",
            )),
        ));
        out.push(seed(
            t,
            "json",
            b"application/json\n{\"a\": 1}".to_vec(),
            text(Ok("{\"a\": 1}")),
        ));
        out.push(seed(
            t,
            "utf16_bom",
            b"\n\xff\xfeh\x00i\x00".to_vec(),
            text(Ok("hi")),
        ));
        out.push(seed(
            t,
            "quoted_python_label",
            b"text/plain; charset=\"latin_1\"\ncaf\xe9".to_vec(),
            text(Ok("café")),
        ));
        out.push(seed(
            t,
            "unknown_label",
            b"text/plain; charset=no-such\nabc".to_vec(),
            text(Err(ErrorKind::InvalidArgument)),
        ));
        let (latin, _, _) = encoding_rs::WINDOWS_1252
            .encode("Le cœur déçu mais l'âme plutôt naïve, Louÿs rêva de crapaüter en canoë");
        out.push(seed(
            t,
            "detected_latin",
            cat(&[b"TEXT/Plain\n", &latin]),
            Box::new(|d| assert_eq!(charset(d).detected, "windows-1252")),
        ));

        // ---- ws_frames: flags, a byte for the reads, the stream ----
        let t = "ws_frames";
        out.push(seed(
            t,
            "text_then_close",
            cat(&[
                b"\x02\x00",
                &ws_frame(true, false, 1, b"hello"),
                &ws_frame(true, false, 8, b"\x03\xe8bye"),
            ]),
            frames(
                vec![
                    WsFrame::Text("hello".into()),
                    WsFrame::Close(Some(1000), "bye".into()),
                ],
                WsEnd::Eof { mid: false },
            ),
        ));
        out.push(seed(
            t,
            "fragments_around_a_ping",
            cat(&[
                b"\x02\x03",
                &ws_frame(false, false, 1, "h\u{e9}".as_bytes()),
                &ws_frame(true, false, 9, b"p"),
                &ws_frame(true, false, 0, b"llo"),
                &ws_frame(true, false, 10, b""),
            ]),
            frames(
                vec![
                    WsFrame::Ping(Bytes::from_static(b"p")),
                    WsFrame::Text("h\u{e9}llo".into()),
                    WsFrame::Pong(Bytes::new()),
                ],
                WsEnd::Eof { mid: false },
            ),
        ));
        let agreed = Agreed {
            client_window_bits: 15,
            server_window_bits: 15,
            client_no_context_takeover: false,
            server_no_context_takeover: false,
        };
        let mut d = Deflater::new(&agreed);
        let c1 = d.compress(b"hello hello hello").unwrap();
        let c2 = d.compress(&[7u8; 300]).unwrap();
        let (a, b) = c2.split_at(c2.len() / 2);
        out.push(seed(
            t,
            "deflate_takeover",
            cat(&[
                b"\x06\x04",
                &ws_frame(true, true, 1, &c1),
                &ws_frame(false, true, 2, a),
                &ws_frame(true, false, 0, b),
            ]),
            frames(
                vec![
                    WsFrame::Text("hello hello hello".into()),
                    WsFrame::Binary(Bytes::from(vec![7u8; 300])),
                ],
                WsEnd::Eof { mid: false },
            ),
        ));
        let bomb = Deflater::new(&agreed)
            .compress(&vec![0u8; 100_000])
            .unwrap();
        out.push(seed(
            t,
            "deflate_bomb",
            cat(&[b"\x07\x06", &ws_frame(true, true, 2, &bomb)]),
            frames(vec![], WsEnd::Protocol(1009)),
        ));
        out.push(seed(
            t,
            "binary_16bit_length",
            cat(&[b"\x03\x05", &ws_frame(true, false, 2, &[1u8; 300])]),
            frames(
                vec![WsFrame::Binary(Bytes::from(vec![1u8; 300]))],
                WsEnd::Eof { mid: false },
            ),
        ));
        out.push(seed(
            t,
            "too_big",
            cat(&[b"\x00\x07", &ws_frame(true, false, 2, &[0u8; 20])]),
            frames(vec![], WsEnd::Protocol(1009)),
        ));
        out.push(seed(
            t,
            "invalid_utf8",
            cat(&[b"\x02\x00", &ws_frame(true, false, 1, b"ok \xff")]),
            frames(vec![], WsEnd::Protocol(1007)),
        ));
        out.push(seed(
            t,
            "cut_mid_frame",
            cat(&[b"\x02\x01", &ws_frame(true, false, 2, b"abc")[..3]]),
            frames(vec![], WsEnd::Eof { mid: true }),
        ));

        // ---- ws_handshake: offer, status, header lines ----
        let t = "ws_handshake";
        let ok = "Upgrade: websocket\nConnection: Upgrade\n\
                  Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\n";
        out.push(seed(
            t,
            "protocol",
            cat(&[
                b"\x00\x00\x65",
                ok.as_bytes(),
                b"Sec-WebSocket-Protocol: chat",
            ]),
            handshake(Ok((Some("chat"), false))),
        ));
        out.push(seed(
            t,
            "deflate",
            cat(&[
                b"\x0f\x00\x65",
                ok.as_bytes(),
                b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=12; \
                  server_no_context_takeover",
            ]),
            handshake(Ok((None, true))),
        ));
        out.push(seed(
            t,
            "deflate_small_window",
            cat(&[
                b"\x05\x00\x65",
                ok.as_bytes(),
                b"Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=9; \
                  client_max_window_bits=8; client_no_context_takeover",
            ]),
            handshake(Ok((None, true))),
        ));
        // Found by the fuzzer: a smaller server window offered, and an answer that names
        // none (the agreement accepts it, the window stays 15; the handshake fails anyway).
        out.push(seed(
            t,
            "found_window_not_named",
            b"Sec-WebSocket-Protocol: \x00\x00eUc\x01\x00\x00\x00\x00\x00\x00\x01_contsxt_t\xa1\x94eoverpgrade\x0aSec-WebSockeAtc-c\x00\x00\xc8Upep\x01ep :ts4pPLMBiTxaQ9kYGzzhZRbK+xOo=\x0aSec-WebSocket-Extensions: permessage-deflate".to_vec(),
            handshake(Err("Invalid upgrade header")),
        ));
        out.push(seed(
            t,
            "not_101",
            cat(&[b"\x00\x00\xc8", ok.as_bytes()]),
            handshake(Err("Invalid response status")),
        ));
        out.push(seed(
            t,
            "wrong_accept",
            b"\x00\x00\x65Upgrade: websocket\nConnection: upgrade\nSec-WebSocket-Accept: x"
                .to_vec(),
            handshake(Err("Invalid challenge response")),
        ));
        out.push(seed(
            t,
            "takeover_refused",
            cat(&[
                b"\x2f\x00\x65",
                ok.as_bytes(),
                b"Sec-WebSocket-Extensions: permessage-deflate",
            ]),
            handshake(Err("the server did not accept server_no_context_takeover")),
        ));

        // ---- proxy_replies: part and flags, then that part's input ----
        let t = "proxy_replies";
        out.push(seed(
            t,
            "connect_ok",
            cat(&[
                b"\x1c",
                b"HTTP/1.1 200 Connection established\r\n\r\ntunnel bytes",
            ]),
            reply(ProxyReply::Tunnel(b"tunnel bytes".to_vec())),
        ));
        out.push(seed(
            t,
            "connect_407",
            cat(&[
                b"\x04",
                b"HTTP/1.1 407 Proxy Authentication Required\r\n\
                  Proxy-Authenticate: Basic realm=\"p\"\r\nContent-Length: 0\r\n\r\n",
            ]),
            reply(ProxyReply::Refused(407)),
        ));
        out.push(seed(
            t,
            "connect_cut",
            cat(&[b"\x1c", b"HTTP/1.1 200 Conn"]),
            reply(ProxyReply::Failed(ErrorKind::ClientProxyConnectionError)),
        ));
        out.push(seed(
            t,
            "socks5",
            cat(&[
                b"\x09\x07",
                b"\x05\x00\x05\x00\x00\x01\x7f\x00\x00\x01\x00\x50hi",
            ]),
            reply(ProxyReply::Tunnel(b"hi".to_vec())),
        ));
        out.push(seed(
            t,
            "socks5h_password",
            cat(&[
                b"\x1d\x07",
                b"\x05\x02\x01\x00\x05\x00\x00\x03\x0bexample.com\x01\xbbrest",
            ]),
            reply(ProxyReply::Tunnel(b"rest".to_vec())),
        ));
        out.push(seed(
            t,
            "socks5_ipv6",
            cat(&[
                b"\x69\x07",
                b"\x05\x00\x05\x00\x00\x04\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x01\xbb",
            ]),
            reply(ProxyReply::Tunnel(Vec::new())),
        ));
        out.push(seed(
            t,
            "socks4",
            cat(&[b"\x21\x07", b"\x00\x5a\x00\x50\x7f\x00\x00\x01x"]),
            reply(ProxyReply::Tunnel(b"x".to_vec())),
        ));
        out.push(seed(
            t,
            "socks4_rejected",
            cat(&[b"\x05\x07", b"\x00\x5b\x00\x00\x00\x00\x00\x00"]),
            reply(ProxyReply::Failed(ErrorKind::ClientHttpProxyError)),
        ));
        out.push(seed(
            t,
            "no_proxy",
            b"\x02.internal, 10.0.0.0/8 [::1]:8080,*.corp\napi.internal\nexample.com\n\
              10.1.2.3:8080\n[::1]:8080\n[::1]\nx.corp"
                .to_vec(),
            reply(ProxyReply::Exempt(vec![
                true, false, true, true, false, true,
            ])),
        ));
        out.push(seed(
            t,
            "netrc",
            b"\x03H.test\nmachine other login o password q\nmachine h.test login u password \"p w\"\n\
              default login anon password x\nmacdef init\ncd /\n\n"
                .to_vec(),
            reply(ProxyReply::Netrc(Some(("u".into(), "p w".into())))),
        ));
        out
    }

    fn corpus_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus")
    }

    #[test]
    fn every_seed_drives_its_entry_as_expected() {
        let all = seeds();
        let mut failed = Vec::new();
        for s in &all {
            let run = std::panic::AssertUnwindSafe(|| (s.check)(&s.data));
            if std::panic::catch_unwind(run).is_err() {
                failed.push(format!("{}/{}", s.target, s.name));
            }
        }
        assert!(failed.is_empty(), "seeds that misbehave: {failed:?}");
        // Every target has seeds.
        let targets: std::collections::BTreeSet<&str> = all.iter().map(|s| s.target).collect();
        assert_eq!(targets.len(), 9, "{targets:?}");
    }

    #[test]
    fn the_committed_corpus_is_the_seeds() {
        let write = std::env::var_os("FUZZ_WRITE_SEEDS").is_some();
        for s in seeds() {
            let path = corpus_dir().join(s.target).join(s.name);
            if write {
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(&path, &s.data).unwrap();
            }
            let on_disk = std::fs::read(&path).unwrap_or_else(|e| {
                panic!("{}: {e} (FUZZ_WRITE_SEEDS=1 writes it)", path.display())
            });
            assert!(
                on_disk == s.data,
                "{} differs from its seed (FUZZ_WRITE_SEEDS=1 rewrites it)",
                path.display()
            );
        }
    }

    #[test]
    fn pieces_cover_the_input_in_order() {
        let data: Vec<u8> = (0..=255).collect();
        for seed in 0..=255u8 {
            let p = pieces(&data, seed);
            assert_eq!(p.concat(), data, "seed {seed}");
            assert!(p.iter().all(|x| !x.is_empty()));
            if seed & 7 == 0 {
                assert_eq!(p.len(), data.len());
            }
            if seed & 7 == 7 {
                assert_eq!(p.len(), 1);
            }
        }
        assert!(pieces(b"", 3).is_empty());
    }

    #[test]
    fn a_head_over_two_limits_names_the_same_one_whatever_the_cut() {
        // Found by the response_head target: a complete header line one too many and too long
        // was refused for its count when it arrived whole, for its name while still arriving.
        let input = b"\xb4\x00\x00\x00P/1.1 200 OK\r\nX-Fo\x11ded:\r a\n b\r\x08Server: 20.1 \r\n\
X-Fol\x00\x00ntent-Length: 5\r\nS0 OK \r\n";
        assert_eq!(response_head(input), None);
    }

    #[test]
    fn a_line_ending_in_two_crs_is_measured_alike_whatever_the_cut() {
        // Found by the response_head target: a whole line lost two trailing CRs before it was
        // measured, a line still arriving one.
        let input = b"\x05HT\x00\x00\x00%.1 %\x00\x00\x00\x00\x00\x00\x00Xd6d:\nxr\r\n\
vx\x01r\r\r\n\r\n\xa6";
        // (The head kept without limits; the limits' verdicts are checked inside.)
        assert!(response_head(input).is_some());
    }

    #[test]
    fn early_hints_are_skipped_whatever_the_cut() {
        // A 103 head before the final one: the final one is kept, for every way of cutting.
        let wire = b"HTTP/1.1 103 Early\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\n\r\n";
        for seed in 0..8 {
            let mut data = vec![seed];
            data.extend_from_slice(wire);
            let got = response_head(&data).unwrap();
            assert_eq!(&got.head[..], b"HTTP/1.1 200 OK\r\n\r\n");
        }
    }
}
