//! A soak test of one session under faults and cancellation.
//!
//! One `ClientSession` with `TcpConnector::limit(50)` and 200 tasks pulling request numbers
//! from a shared counter run `AIOHTTP_SOAK_REQUESTS` requests (default 10 000) against a local
//! server. Every request's plan (body size and framing, the fault the server injects, whether
//! and how the client cancels it or stops reading) is a pure function of the seed and the
//! request's number, so the server and the client compute the same plan independently and the
//! client knows which outcomes each request may have. The seed is printed; set
//! `AIOHTTP_SOAK_SEED` to replay a run (the timing of cancellations still varies).
//!
//! The server is a `RawServer` whose handler writes the responses itself: bodies of 0..256 KiB
//! cut from seeded text, with an `X-Checksum` (FNV-1a of the decoded body), framed by
//! `Content-Length`, chunked, or gzip-compressed with either; and, for 10% of requests, a fault:
//! a reset mid-body, a close before the head, a slow response, a truncated body, a `500`.
//! It counts open connections itself: `RawServer`'s own count drops a connection only once
//! its handler has noticed the close, so it can briefly count a connection the client already
//! closed next to the one that replaced it (see `limits.rs`). Here each accept first reads
//! every counted connection without blocking, so a close that happened before the client
//! connected again is always seen.
//!
//! Checked at the end: no panic anywhere (a panic hook counts them; every task's `JoinHandle`
//! is `Ok`); at most 50 connections open at once on the server; every body read matches its
//! plan and its checksum; every failure is a kind its fault explains; every request the client
//! did not give up on reached the server, and none more often than the one retry allows; the
//! pool back to `in_use == 0` and `waiting == 0`; open descriptors back to where they were
//! before the session once it is dropped; VmRSS within `RSS_BOUND` of its value after the
//! warm-up.
//!
//! `scripts/soak.sh` runs it in release with a million requests and prints the summary.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::ops::Range;
use std::os::fd::AsFd as _;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use aiohttp::{ClientSession, ClientTimeout, ErrorKind, TcpConnector};
use test_support::{RawConn, RawServer};

/// The connector's `limit`: the server must never see more connections open at once.
const LIMIT: usize = 50;
/// Client tasks running requests concurrently (four per connection slot, so requests queue).
const TASKS: usize = 200;
const DEFAULT_REQUESTS: u64 = 10_000;
/// Bodies are 0..MAX_BODY bytes long.
const MAX_BODY: usize = 256 * 1024;
/// Every body is a slice of this many bytes of seeded text.
const CORPUS_LEN: usize = 2 * MAX_BODY;
/// Gzip bodies are picked from this many slices compressed once at start.
const GZIP_VARIANTS: usize = 64;
/// Percent of requests with a fault injected; the five faults share it equally.
const FAULT_PERCENT: u64 = 10;
/// Percent of requests dropped mid-flight by a timeout of the caller's.
const CANCEL_PERCENT: u64 = 5;
/// Percent of responses whose body is dropped after one partial read.
const HALF_READ_PERCENT: u64 = 5;
/// A total timeout on every request: a request stuck this long is a failure of its own
/// (reported as an unexpected `ServerTimeoutError`), not a hang of the test.
const REQUEST_TOTAL: Duration = Duration::from_secs(30);
/// How much VmRSS may grow from after the warm-up to the end (both taken with every task
/// done and the pool idle). Without a leak, growth is memory the allocator keeps after a peak
/// of the working set that the warm-up did not reach; the working set is at most one buffered
/// body per task (200 x 256 KiB) and one response being written per connection
/// (50 x 256 KiB), about 62.5 MiB. Seen: +0 to +8 MiB. A leak is caught once it exceeds this
/// over the requests after the warm-up: from about 70 bytes a request at a million requests,
/// 850 at 100 000, and 8 KiB at the default 10 000 (a leaked body or connection per request).
const RSS_BOUND: usize = 64 * 1024 * 1024;
/// The server closes a connection that sends nothing for this long.
const IDLE: Duration = Duration::from_secs(60);
/// Open descriptors may differ from the start by this many after the session is dropped.
const FD_MARGIN: usize = 2;

static PANICS: AtomicUsize = AtomicUsize::new(0);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

// ---- Seeded plans ------------------------------------------------------------------------

/// SplitMix64: small, fast, and the same on every platform.
struct Rng(u64);

impl Rng {
    fn new(seed: u64, stream: u64) -> Rng {
        let mut rng = Rng(seed ^ stream.wrapping_mul(0xD6E8_FEB8_6659_FD93));
        rng.next();
        rng
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }

    fn percent(&mut self, p: u64) -> bool {
        self.below(100) < p
    }

    /// A body size in `0..MAX_BODY`, log-uniform: the bit length is uniform in 0..=18, then the
    /// size uniform below it. Every range from empty to 256 KiB (more than a socket buffer,
    /// more than hyper's first read buffer) is well represented, and the mean (about 14 KiB)
    /// keeps the run about connections and cancellation rather than about copying bytes.
    fn body_size(&mut self) -> usize {
        let bits = self.below(19);
        let size = self.below(1 << bits) as usize;
        debug_assert!(size < MAX_BODY);
        size
    }
}

fn fnv1a(data: &[u8]) -> u64 {
    let mut h = Fnv::new();
    h.update(data);
    h.0
}

/// 64-bit FNV-1a, the checksum the server sends in `X-Checksum` (over the decoded body).
struct Fnv(u64);

impl Fnv {
    fn new() -> Fnv {
        Fnv(0xCBF2_9CE4_8422_2325)
    }

    fn update(&mut self, data: &[u8]) {
        for &b in data {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01B3);
        }
    }
}

/// The bytes every body is cut from, and the gzip bodies compressed once.
struct Corpus {
    bytes: Vec<u8>,
    gzip: Vec<GzipBody>,
}

struct GzipBody {
    offset: usize,
    len: usize,
    wire: Vec<u8>,
}

impl Corpus {
    fn new(seed: u64) -> Corpus {
        use std::io::Write as _;
        let mut rng = Rng::new(seed, u64::MAX);
        // Text-like: letters of a small alphabet and spaces, so that gzip has something to
        // compress, and now and then any byte value.
        let bytes: Vec<u8> = (0..CORPUS_LEN)
            .map(|_| match rng.below(16) {
                0 => b' ',
                1 => rng.next() as u8,
                _ => b'a' + rng.below(8) as u8,
            })
            .collect();
        let gzip = (0..GZIP_VARIANTS)
            .map(|_| {
                let len = rng.body_size();
                let offset = rng.below((CORPUS_LEN - len + 1) as u64) as usize;
                let mut enc =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                enc.write_all(&bytes[offset..offset + len])
                    .expect("gzip into memory");
                let wire = enc.finish().expect("gzip into memory");
                GzipBody { offset, len, wire }
            })
            .collect();
        Corpus { bytes, gzip }
    }
}

/// What the server does instead of a plain response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Fault {
    None,
    /// The whole response, after a delay (before the head, or between head and body).
    Slow,
    /// A `500` with a checksummed body.
    Status500,
    /// The head and part of the body, then a TCP reset.
    RstMidBody,
    /// The request is read, then the connection closed without a byte of response.
    CloseBeforeHead,
    /// The head and part of the body, then a plain close.
    Truncated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Length,
    Chunked,
    GzipLength,
    GzipChunked,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadMode {
    /// `read()`: the whole body buffered.
    Whole,
    /// `content().readany()` to the end, checked piece by piece.
    Stream,
    /// One `content().read(n)` of fewer bytes than the body, then the response is dropped.
    Half(usize),
}

/// One request, as both sides see it.
#[derive(Debug, Clone)]
struct Plan {
    fault: Fault,
    framing: Framing,
    /// The precompressed body for the gzip framings.
    gzip: Option<usize>,
    /// The decoded body: `corpus.bytes[offset..offset + len]`.
    offset: usize,
    len: usize,
    chunk_seed: u64,
    cut_seed: u64,
    slow_before_head: bool,
    delay: Duration,
    /// A `sock_read` timeout shorter than the delay of a slow response.
    sock_read: Option<Duration>,
    /// The caller drops the request after this long.
    cancel_after: Option<Duration>,
    read: ReadMode,
    raise_for_status: bool,
}

impl Plan {
    fn new(seed: u64, i: u64, corpus: &Corpus) -> Plan {
        let mut rng = Rng::new(seed, i);
        let share = FAULT_PERCENT / 5;
        let fault = match rng.below(100) {
            r if r < share => Fault::RstMidBody,
            r if r < 2 * share => Fault::CloseBeforeHead,
            r if r < 3 * share => Fault::Slow,
            r if r < 4 * share => Fault::Truncated,
            r if r < 5 * share => Fault::Status500,
            _ => Fault::None,
        };
        let framing = match rng.below(4) {
            0 => Framing::Length,
            1 => Framing::Chunked,
            2 => Framing::GzipLength,
            _ => Framing::GzipChunked,
        };
        let (gzip, offset, len) = match framing {
            Framing::GzipLength | Framing::GzipChunked => {
                let v = rng.below(GZIP_VARIANTS as u64) as usize;
                (Some(v), corpus.gzip[v].offset, corpus.gzip[v].len)
            }
            Framing::Length | Framing::Chunked => {
                let mut len = rng.body_size();
                if matches!(fault, Fault::RstMidBody | Fault::Truncated) {
                    // Room to cut the body after at least one byte and before its end.
                    len = len.max(2);
                }
                let offset = rng.below((CORPUS_LEN - len + 1) as u64) as usize;
                (None, offset, len)
            }
        };
        let chunk_seed = rng.next();
        let cut_seed = rng.next();
        let slow_before_head = rng.percent(50);
        let delay = Duration::from_millis(40 + rng.below(80));
        let sock_read =
            (fault == Fault::Slow && rng.percent(50)).then_some(Duration::from_millis(10));
        // From nothing (dropped at its first await) to about 100 ms, log-uniform: while queued
        // for a connection, connecting, waiting for the head or reading the body.
        let cancel_after = rng.percent(CANCEL_PERCENT).then(|| {
            let bits = rng.below(12);
            Duration::from_micros(rng.below(50 << bits))
        });
        let read = if len >= 2 && rng.percent(HALF_READ_PERCENT) {
            ReadMode::Half(1 + rng.below(len as u64 - 1) as usize)
        } else if rng.percent(50) {
            ReadMode::Stream
        } else {
            ReadMode::Whole
        };
        let raise_for_status = rng.percent(50);
        Plan {
            fault,
            framing,
            gzip,
            offset,
            len,
            chunk_seed,
            cut_seed,
            slow_before_head,
            delay,
            sock_read,
            cancel_after,
            read,
            raise_for_status,
        }
    }

    fn status(&self) -> u16 {
        if self.fault == Fault::Status500 {
            500
        } else {
            200
        }
    }

    fn body<'a>(&self, corpus: &'a Corpus) -> &'a [u8] {
        &corpus.bytes[self.offset..self.offset + self.len]
    }
}

// ---- The server --------------------------------------------------------------------------

/// One connection as the server's open count sees it. The accept path drains (without
/// blocking) what the client sent into `buf`, so that a close behind unread bytes is seen as
/// well; the connection's handler reads its requests from `buf` and the socket under the same
/// lock, so no byte is read twice or out of order.
struct ConnState {
    io: Mutex<ConnIo>,
    /// Signalled when the accept path took bytes (or the close) off the socket: the reactor may
    /// then never report them readable, so the handler would not wake for them.
    drained: tokio::sync::Notify,
}

struct ConnIo {
    buf: Vec<u8>,
    /// The client closed (or reset) its side.
    eof: bool,
    /// The handler is done: the server closed its side.
    done: bool,
    /// A second descriptor of the socket, non-blocking like the first. It keeps the socket
    /// open, so it is dropped first when the handler is done.
    probe: Option<std::net::TcpStream>,
}

impl ConnState {
    /// Whether both sides still have the connection open, reading what is pending into `buf`.
    fn still_open(&self) -> bool {
        let (open, took) = self.drain();
        if took {
            self.drained.notify_one();
        }
        open
    }

    /// `(open, took)`: whether the connection is open, and whether bytes or the close were
    /// taken off the socket just now.
    fn drain(&self) -> (bool, bool) {
        let mut io = lock(&self.io);
        let ConnIo {
            buf,
            eof,
            done,
            probe,
        } = &mut *io;
        if *eof || *done {
            return (false, false);
        }
        let Some(probe) = probe.as_mut() else {
            return (false, false);
        };
        let mut took = false;
        let mut tmp = [0u8; 4096];
        loop {
            match probe.read(&mut tmp) {
                Ok(0) => {
                    *eof = true;
                    return (false, true);
                }
                Ok(n) => {
                    buf.extend_from_slice(&tmp[..n]);
                    took = true;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return (true, took),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => {
                    *eof = true;
                    return (false, true);
                }
            }
        }
    }

    fn finish(&self) {
        let mut io = lock(&self.io);
        io.done = true;
        io.probe = None;
    }
}

/// Marks its connection done when the handler ends, however it ends.
struct Finish(Arc<ConnState>);

impl Drop for Finish {
    fn drop(&mut self) {
        self.0.finish();
    }
}

#[derive(Default)]
struct OpenConns {
    conns: Vec<Arc<ConnState>>,
    max: usize,
    accepted: usize,
}

struct ServerShared {
    seed: u64,
    corpus: Arc<Corpus>,
    /// How many times the server received request `i` (a retry makes two).
    seen: Vec<AtomicU8>,
    open: Mutex<OpenConns>,
    /// Requests the server could not make sense of (never expected).
    anomalies: AtomicU64,
}

impl ServerShared {
    /// Counts a connection just accepted. Runs in the accept loop: every connection the
    /// client closed before it connected this one is found closed here (loopback delivers a
    /// close within the `close` call), whether or not the handler has noticed yet.
    fn track(&self, conn: &mut RawConn) -> Arc<ConnState> {
        let probe = conn
            .stream_mut()
            .as_fd()
            .try_clone_to_owned()
            .expect("a second descriptor for the accepted socket");
        let state = Arc::new(ConnState {
            io: Mutex::new(ConnIo {
                buf: Vec::new(),
                eof: false,
                done: false,
                probe: Some(std::net::TcpStream::from(probe)),
            }),
            drained: tokio::sync::Notify::new(),
        });
        let mut open = lock(&self.open);
        open.conns.retain(|c| c.still_open());
        open.conns.push(Arc::clone(&state));
        open.accepted += 1;
        open.max = open.max.max(open.conns.len());
        state
    }

    fn open_now(&self) -> usize {
        let mut open = lock(&self.open);
        open.conns.retain(|c| c.still_open());
        open.conns.len()
    }
}

enum Next {
    KeepAlive,
    Close,
    Reset,
}

struct SoakServer {
    raw: RawServer,
    shared: Arc<ServerShared>,
}

impl SoakServer {
    async fn start(seed: u64, requests: u64, corpus: Arc<Corpus>) -> SoakServer {
        let shared = Arc::new(ServerShared {
            seed,
            corpus,
            seen: (0..requests).map(|_| AtomicU8::new(0)).collect(),
            open: Mutex::new(OpenConns::default()),
            anomalies: AtomicU64::new(0),
        });
        let for_conns = Arc::clone(&shared);
        let raw = RawServer::start(move |mut conn: RawConn| {
            let shared = Arc::clone(&for_conns);
            let state = shared.track(&mut conn);
            serve(conn, state, shared)
        })
        .await;
        SoakServer { raw, shared }
    }

    fn url(&self) -> String {
        self.raw.url("/")
    }
}

async fn serve(mut conn: RawConn, state: Arc<ConnState>, shared: Arc<ServerShared>) {
    let finish = Finish(Arc::clone(&state));
    let mut next = Next::Close;
    while let Some(i) = next_request(&mut conn, &state, &shared).await {
        let Some(seen) = shared.seen.get(i as usize) else {
            shared.anomalies.fetch_add(1, Ordering::Relaxed);
            break;
        };
        seen.fetch_add(1, Ordering::Relaxed);
        let plan = Plan::new(shared.seed, i, &shared.corpus);
        next = respond(&mut conn, &plan, &shared.corpus).await;
        if !matches!(next, Next::KeepAlive) {
            break;
        }
    }
    // Counted closed before the client can see the close.
    drop(finish);
    match next {
        Next::Reset => conn.reset(),
        Next::KeepAlive | Next::Close => drop(conn),
    }
}

/// The number `i` of the next request (`GET /?i=N`); `None` when the client closed, stayed
/// idle for a minute, or sent something else.
async fn next_request(conn: &mut RawConn, state: &ConnState, shared: &ServerShared) -> Option<u64> {
    enum Step {
        Head(Vec<u8>),
        Closed,
        Wait,
    }
    let mut tmp = vec![0u8; 8192];
    loop {
        let step = {
            let mut io = lock(&state.io);
            if let Some(end) = io.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                Step::Head(io.buf.drain(..end + 4).collect())
            } else if io.eof {
                Step::Closed
            } else {
                match conn.stream_mut().try_read(&mut tmp) {
                    Ok(0) => {
                        io.eof = true;
                        Step::Closed
                    }
                    Ok(n) => {
                        io.buf.extend_from_slice(&tmp[..n]);
                        continue;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Step::Wait,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(_) => {
                        io.eof = true;
                        Step::Closed
                    }
                }
            }
        };
        match step {
            Step::Head(head) => {
                let index = head
                    .strip_prefix(b"GET /?i=")
                    .and_then(|rest| {
                        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
                        std::str::from_utf8(&rest[..digits]).ok()
                    })
                    .and_then(|d| d.parse().ok());
                if index.is_none() {
                    shared.anomalies.fetch_add(1, Ordering::Relaxed);
                }
                return index;
            }
            Step::Closed => return None,
            Step::Wait => {
                let wait = async {
                    tokio::select! {
                        ready = conn.stream_mut().readable() => ready.is_ok(),
                        () = state.drained.notified() => true,
                    }
                };
                if !matches!(tokio::time::timeout(IDLE, wait).await, Ok(true)) {
                    return None;
                }
            }
        }
    }
}

/// The response head and the body as framed on the wire.
fn render(plan: &Plan, corpus: &Corpus) -> (Vec<u8>, Vec<u8>) {
    let body = plan.body(corpus);
    let payload: &[u8] = match plan.gzip {
        Some(v) => &corpus.gzip[v].wire,
        None => body,
    };
    let chunked = matches!(plan.framing, Framing::Chunked | Framing::GzipChunked);
    let reason = if plan.status() == 500 {
        "Internal Server Error"
    } else {
        "OK"
    };
    let mut head = format!(
        "HTTP/1.1 {} {reason}\r\nContent-Type: application/octet-stream\r\nX-Checksum: {:016x}\r\n",
        plan.status(),
        fnv1a(body)
    );
    if plan.gzip.is_some() {
        head.push_str("Content-Encoding: gzip\r\n");
    }
    let wire = if chunked {
        head.push_str("Transfer-Encoding: chunked\r\n");
        let mut rng = Rng::new(plan.chunk_seed, 0);
        let mut wire = Vec::with_capacity(payload.len() + payload.len() / 64 + 16);
        let mut rest = payload;
        while !rest.is_empty() {
            let n = (1 + rng.below(16 * 1024) as usize).min(rest.len());
            wire.extend_from_slice(format!("{n:x}\r\n").as_bytes());
            wire.extend_from_slice(&rest[..n]);
            wire.extend_from_slice(b"\r\n");
            rest = &rest[n..];
        }
        wire.extend_from_slice(b"0\r\n\r\n");
        wire
    } else {
        head.push_str(&format!("Content-Length: {}\r\n", payload.len()));
        payload.to_vec()
    };
    head.push_str("\r\n");
    (head.into_bytes(), wire)
}

async fn respond(conn: &mut RawConn, plan: &Plan, corpus: &Corpus) -> Next {
    if plan.fault == Fault::CloseBeforeHead {
        return Next::Close;
    }
    let (mut head, wire) = render(plan, corpus);
    match plan.fault {
        Fault::RstMidBody | Fault::Truncated => {
            // At least one body byte, never all of them (every wire body here has two or more).
            let cut = 1 + (plan.cut_seed % (wire.len() as u64 - 1)) as usize;
            head.extend_from_slice(&wire[..cut]);
            if conn.write(&head).await.is_err() {
                return Next::Close;
            }
            if plan.fault == Fault::RstMidBody {
                Next::Reset
            } else {
                Next::Close
            }
        }
        Fault::Slow => {
            if plan.slow_before_head {
                conn.sleep(plan.delay).await;
            }
            if conn.write(&head).await.is_err() {
                return Next::Close;
            }
            if !plan.slow_before_head {
                conn.sleep(plan.delay).await;
            }
            match conn.write(&wire).await {
                Ok(()) => Next::KeepAlive,
                Err(_) => Next::Close,
            }
        }
        Fault::None | Fault::Status500 | Fault::CloseBeforeHead => {
            head.extend_from_slice(&wire);
            match conn.write(&head).await {
                Ok(()) => Next::KeepAlive,
                Err(_) => Next::Close,
            }
        }
    }
}

// ---- The client --------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    /// The whole body was read and matched, with this status.
    Done(u16),
    /// A partial read matched the start of the body; then the response was dropped.
    HalfRead,
    /// The caller's timeout dropped the request.
    Cancelled,
    Failed(ErrorKind, Option<u16>),
    /// A body, status or checksum that does not match the plan.
    Corrupt(&'static str),
}

/// Whether `outcome` is one the plan allows.
fn expected(plan: &Plan, outcome: &Outcome) -> bool {
    use Fault as F;
    match (plan.fault, outcome) {
        (_, Outcome::Cancelled) => true,
        (_, Outcome::Corrupt(_)) => false,
        (F::None | F::Slow, Outcome::Done(200)) => true,
        (F::Status500, Outcome::Done(500)) => !plan.raise_for_status,
        (F::Status500, Outcome::HalfRead) => {
            !plan.raise_for_status && matches!(plan.read, ReadMode::Half(_))
        }
        (F::None | F::Slow | F::RstMidBody | F::Truncated, Outcome::HalfRead) => {
            matches!(plan.read, ReadMode::Half(_))
        }
        (F::Slow, Outcome::Failed(ErrorKind::SocketTimeoutError, _)) => plan.sock_read.is_some(),
        (F::Status500, Outcome::Failed(ErrorKind::ClientResponseError, Some(500))) => {
            plan.raise_for_status
        }
        (F::RstMidBody | F::Truncated, Outcome::Failed(ErrorKind::ClientPayloadError, _)) => true,
        (F::CloseBeforeHead, Outcome::Failed(ErrorKind::ServerDisconnectedError, _)) => true,
        _ => false,
    }
}

struct Client {
    session: ClientSession,
    url: String,
    seed: u64,
    corpus: Arc<Corpus>,
    timeout: ClientTimeout,
    /// Per request: 0 not run, 1 given up by the client, 2 finished.
    ran: Vec<AtomicU8>,
    tally: Mutex<Tally>,
}

#[derive(Default)]
struct Tally {
    done_200: u64,
    done_500: u64,
    half_read: u64,
    cancelled: u64,
    errors: BTreeMap<String, u64>,
    unexpected: BTreeMap<String, u64>,
}

impl Client {
    fn record(&self, i: u64, plan: &Plan, outcome: Outcome) {
        // A request the client gave up on (its caller's timeout, or `sock_read` while the
        // server had not even read it yet) may never have reached the server.
        let gave_up = matches!(
            outcome,
            Outcome::Cancelled | Outcome::Failed(ErrorKind::SocketTimeoutError, _)
        );
        let ran = if gave_up { 1 } else { 2 };
        self.ran[i as usize].store(ran, Ordering::Relaxed);
        let ok = expected(plan, &outcome);
        let mut t = lock(&self.tally);
        match &outcome {
            Outcome::Done(200) => t.done_200 += 1,
            Outcome::Done(_) => t.done_500 += 1,
            Outcome::HalfRead => t.half_read += 1,
            Outcome::Cancelled => t.cancelled += 1,
            Outcome::Failed(kind, _) => *t.errors.entry(format!("{kind:?}")).or_default() += 1,
            Outcome::Corrupt(_) => {}
        }
        if !ok {
            let key = format!(
                "{:?}/{:?}/{:?} -> {outcome:?}",
                plan.fault, plan.framing, plan.read
            );
            *t.unexpected.entry(key).or_default() += 1;
        }
    }
}

async fn one_request(client: &Client, i: u64, plan: &Plan) -> Outcome {
    let mut req = client
        .session
        .get(format!("{}?i={i}", client.url))
        .raise_for_status(plan.raise_for_status);
    if let Some(d) = plan.sock_read {
        req = req.timeout(ClientTimeout {
            sock_read: Some(d),
            ..client.timeout
        });
    }
    let fail = |e: aiohttp::ClientError| Outcome::Failed(e.kind(), e.status().map(|s| s.as_u16()));
    let mut resp = match req.await {
        Ok(resp) => resp,
        Err(e) => return fail(e),
    };
    if resp.status().as_u16() != plan.status() {
        return Outcome::Corrupt("status");
    }
    let Some(sum) = resp
        .headers()
        .get("x-checksum")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| u64::from_str_radix(v, 16).ok())
    else {
        return Outcome::Corrupt("no X-Checksum");
    };
    let want = plan.body(&client.corpus);
    match plan.read {
        ReadMode::Whole => match resp.read().await {
            Ok(body) if body.as_ref() != want => Outcome::Corrupt("body"),
            Ok(body) if fnv1a(&body) != sum => Outcome::Corrupt("checksum"),
            Ok(_) => Outcome::Done(plan.status()),
            Err(e) => fail(e),
        },
        ReadMode::Stream => {
            let mut h = Fnv::new();
            let mut at = 0;
            loop {
                match resp.content().readany().await {
                    Ok(piece) if piece.is_empty() => break,
                    Ok(piece) => {
                        if want.get(at..at + piece.len()) != Some(piece.as_ref()) {
                            return Outcome::Corrupt("body piece");
                        }
                        h.update(&piece);
                        at += piece.len();
                    }
                    Err(e) => return fail(e),
                }
            }
            if at != want.len() {
                Outcome::Corrupt("short body")
            } else if h.0 != sum {
                Outcome::Corrupt("checksum")
            } else {
                Outcome::Done(plan.status())
            }
        }
        ReadMode::Half(n) => match resp.content().read(n).await {
            Ok(piece) if piece.is_empty() || piece.len() > n => Outcome::Corrupt("partial read"),
            Ok(piece) if piece.as_ref() != &want[..piece.len()] => Outcome::Corrupt("prefix"),
            // Dropped with the rest of the body unread.
            Ok(_) => Outcome::HalfRead,
            Err(e) => fail(e),
        },
    }
}

async fn worker(client: Arc<Client>, next: Arc<AtomicU64>, end: u64) {
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= end {
            return;
        }
        let plan = Plan::new(client.seed, i, &client.corpus);
        let request = one_request(&client, i, &plan);
        let outcome = match plan.cancel_after {
            Some(d) => tokio::time::timeout(d, request)
                .await
                .unwrap_or(Outcome::Cancelled),
            None => request.await,
        };
        client.record(i, &plan, outcome);
    }
}

/// Runs requests `range` on `TASKS` tasks; returns how many tasks failed (panicked).
async fn run_phase(client: &Arc<Client>, range: Range<u64>) -> usize {
    let next = Arc::new(AtomicU64::new(range.start));
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| tokio::spawn(worker(Arc::clone(client), Arc::clone(&next), range.end)))
        .collect();
    let mut failed = 0;
    for t in tasks {
        if t.await.is_err() {
            failed += 1;
        }
    }
    failed
}

// ---- Measurements ------------------------------------------------------------------------

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

/// VmRSS of this process in KiB.
fn rss_kib() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    let v = v.trim().replace('_', "");
    match v.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => v.parse().ok(),
    }
}

/// Polls `cond` every 10 ms for at most `limit`; returns whether it held.
async fn settle(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_with_faults_and_cancellation() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICS.fetch_add(1, Ordering::SeqCst);
        previous(info);
    }));
    let requests = env_u64("AIOHTTP_SOAK_REQUESTS").unwrap_or(DEFAULT_REQUESTS);
    let seed = env_u64("AIOHTTP_SOAK_SEED").unwrap_or_else(|| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Rng::new(now.as_nanos() as u64, u64::from(std::process::id())).next()
    });
    // A fifth of the run (1 000 to 50 000 requests) warms up the allocator, the pool and the
    // runtime before RSS is taken as the baseline.
    let warmup = (requests / 5).clamp(requests.min(1_000), 50_000);
    println!(
        "soak: seed={seed:#x} requests={requests} warm-up={warmup} \
         (replay: AIOHTTP_SOAK_SEED={seed:#x})"
    );
    let started = Instant::now();
    let corpus = Arc::new(Corpus::new(seed));
    let server = SoakServer::start(seed, requests, Arc::clone(&corpus)).await;

    let fds_before = open_fds();
    let timeout = ClientTimeout {
        total: Some(REQUEST_TOTAL),
        ..ClientTimeout::default()
    };
    let session = ClientSession::builder()
        .connector(
            TcpConnector::builder()
                .limit(LIMIT)
                .build()
                .expect("connector"),
        )
        .timeout(timeout)
        .build()
        .expect("session");
    let client = Arc::new(Client {
        session,
        url: server.url(),
        seed,
        corpus,
        timeout,
        ran: (0..requests).map(|_| AtomicU8::new(0)).collect(),
        tally: Mutex::new(Tally::default()),
    });
    // Generous: a debug build does about a thousand requests a second on two cores.
    let bound = Duration::from_secs(120) + Duration::from_millis(2 * requests);
    let phases = async {
        let mut panicked = run_phase(&client, 0..warmup).await;
        let rss_warm = rss_kib();
        panicked += run_phase(&client, warmup..requests).await;
        (panicked, rss_warm)
    };
    let Ok((panicked_tasks, rss_warm)) = tokio::time::timeout(bound, phases).await else {
        let t = lock(&client.tally);
        panic!(
            "the soak did not finish within {bound:?} (seed {seed:#x}): pool {:?}, server \
             connections open {}, ok {} half_read {} cancelled {} errors {:?}",
            client.session.connector().pool().stats(),
            server.shared.open_now(),
            t.done_200 + t.done_500,
            t.half_read,
            t.cancelled,
            t.errors
        );
    };
    let pool = client.session.connector().pool();
    let pool_settled = settle(Duration::from_secs(5), || {
        let st = pool.stats();
        st.in_use == 0 && st.waiting == 0
    })
    .await;
    let pool_stats = pool.stats();
    let rss_end = rss_kib();

    let client = Arc::into_inner(client).expect("every task has ended");
    let tally = client.tally.into_inner().unwrap_or_else(|p| p.into_inner());
    let ran: Vec<u8> = client.ran.into_iter().map(AtomicU8::into_inner).collect();
    drop(client.session);
    // The server closes its side of each connection once it sees the client's close.
    let server_idle = settle(Duration::from_secs(10), || {
        server.shared.open_now() == 0 && server.raw.open_connections() == 0
    })
    .await;
    let mut fds_after = open_fds();
    if fds_after > fds_before + FD_MARGIN {
        settle(Duration::from_secs(5), || {
            fds_after = open_fds();
            fds_after <= fds_before + FD_MARGIN
        })
        .await;
    }
    let elapsed = started.elapsed();

    let (max_open, accepted) = {
        let open = lock(&server.shared.open);
        (open.max, open.accepted)
    };
    let errors: u64 = tally.errors.values().sum();
    let unexpected: u64 = tally.unexpected.values().sum();
    println!(
        "soak: requests={requests} ok={} ok_500={} half_read={} cancelled={} errors={errors} {:?} \
         unexpected={unexpected} max_open_connections={max_open} (limit {LIMIT}) \
         connections={accepted} fds before={fds_before} after={fds_after} \
         rss warm-up={rss_warm} KiB end={rss_end} KiB (+{} KiB, bound {} KiB) \
         pool={pool_stats:?} elapsed={:.1}s seed={seed:#x}",
        tally.done_200,
        tally.done_500,
        tally.half_read,
        tally.cancelled,
        tally.errors,
        rss_end.saturating_sub(rss_warm),
        RSS_BOUND / 1024,
        elapsed.as_secs_f64(),
    );
    for (what, n) in &tally.unexpected {
        println!("soak: unexpected {n} x {what}");
    }

    // Every request ran, and each one the client did not give up on reached the server: at most
    // twice for a connection closed before the head (the one retry of a reused connection),
    // once otherwise.
    let seen: Vec<u8> = server
        .shared
        .seen
        .iter()
        .map(|s| s.load(Ordering::Relaxed))
        .collect();
    let mut not_run = 0;
    let mut finished_unseen = 0;
    let mut seen_too_often = 0;
    for i in 0..requests {
        let plan = Plan::new(seed, i, &server.shared.corpus);
        let allowed = if plan.fault == Fault::CloseBeforeHead {
            2
        } else {
            1
        };
        let (ran, seen) = (ran[i as usize], seen[i as usize]);
        not_run += u64::from(ran == 0);
        finished_unseen += u64::from(ran == 2 && seen == 0);
        seen_too_often += u64::from(seen > allowed);
    }
    server.raw.check();
    assert_eq!(PANICS.load(Ordering::SeqCst), 0, "panics (seed {seed:#x})");
    assert_eq!(
        panicked_tasks, 0,
        "client tasks that panicked (seed {seed:#x})"
    );
    assert_eq!(not_run, 0, "requests never run");
    assert_eq!(
        unexpected, 0,
        "outcomes the plan does not allow (seed {seed:#x}): {:?}",
        tally.unexpected
    );
    assert_eq!(
        tally.done_200 + tally.done_500 + tally.half_read + tally.cancelled + errors,
        requests
    );
    assert_eq!(
        finished_unseen, 0,
        "finished requests the server never received"
    );
    assert_eq!(seen_too_often, 0, "requests the server received too often");
    assert_eq!(
        server.shared.anomalies.load(Ordering::Relaxed),
        0,
        "malformed requests"
    );
    assert!(
        max_open <= LIMIT,
        "the server saw {max_open} connections open at once (limit {LIMIT}, seed {seed:#x})"
    );
    assert!(max_open > 1, "requests ran concurrently");
    assert!(
        pool_settled,
        "the pool did not settle: {pool_stats:?} (seed {seed:#x})"
    );
    assert!(pool_stats.open <= LIMIT, "{pool_stats:?}");
    assert!(
        server_idle,
        "server connections still open after the session was dropped"
    );
    assert!(
        fds_after <= fds_before + FD_MARGIN,
        "open descriptors: {fds_before} before the session, {fds_after} after it was dropped"
    );
    assert!(
        rss_end <= rss_warm + RSS_BOUND / 1024,
        "VmRSS grew from {rss_warm} KiB after the warm-up to {rss_end} KiB (bound {} KiB)",
        RSS_BOUND / 1024
    );
}
