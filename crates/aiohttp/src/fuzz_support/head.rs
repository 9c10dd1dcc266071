//! The HTTP/1 response head capture, and a whole exchange over an in-memory transport.

use super::*;

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
