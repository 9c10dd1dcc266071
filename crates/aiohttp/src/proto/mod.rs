//! The wire protocols, through hyper's `client::conn`: the only modules that name hyper's
//! types. [`h1`] exchanges one request over an HTTP/1 connection (and captures the response
//! head as received); [`h2`] opens HTTP/2 connections and sends requests on their streams;
//! [`body`] reads a response body off either.

pub(crate) mod body;
pub(crate) mod h1;
pub(crate) mod h2;

use std::io;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use hyper::body::Incoming;

use crate::error::{ClientError, ErrorKind};
use h1::{RawHead, Upload};

/// A response head received for a request, with what the exchange learned on the way.
pub(crate) struct Sent {
    pub(crate) response: http::Response<Incoming>,
    pub(crate) raw: RawHead,
    /// `Expect: 100-continue` was sent and the server answered without `100 Continue`, so the
    /// body was never written and the connection cannot be reused.
    pub(crate) body_withheld: bool,
    /// How far the request body got, when there is one on an HTTP/1 connection.
    pub(crate) upload: Option<Upload>,
    /// The connection a `101 Switching Protocols` response hands over (HTTP/1 only).
    pub(crate) upgrade: Option<h1::Upgrade>,
    /// The bytes written for this request so far, as the transport took them (HTTP/1 only):
    /// head, body and chunk framing.
    pub(crate) output: Option<Arc<AtomicU64>>,
}

/// A failed exchange; `retryable` when a reused connection failed before any response byte,
/// `unprocessed` when an HTTP/2 server refused the stream (safe to resend whatever the method).
pub(crate) struct SendError {
    pub(crate) error: ClientError,
    pub(crate) retryable: bool,
    pub(crate) unprocessed: bool,
}

impl SendError {
    /// A failure before the request went out: never retried.
    pub(crate) fn not_sent(error: ClientError) -> SendError {
        SendError {
            error,
            retryable: false,
            unprocessed: false,
        }
    }
}

/// What a response head may hold (aiohttp's `max_line_size`, `max_field_size` and
/// `max_headers`), checked on the bytes as they arrive, before the head is parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HeadLimits {
    /// The longest status line, in bytes (CR LF excluded).
    pub(crate) max_line_size: usize,
    /// The longest header name, and the longest header value, in bytes.
    pub(crate) max_field_size: usize,
    /// The most header lines.
    pub(crate) max_headers: usize,
}

impl HeadLimits {
    /// aiohttp's line and field sizes; 100 header lines, hyper's parser's own capacity (aiohttp
    /// allows 128; a parser sized past 100 allocates on every response).
    pub(crate) const DEFAULT: HeadLimits = HeadLimits {
        max_line_size: 8190,
        max_field_size: 8190,
        max_headers: 100,
    };
}

impl HeadLimits {
    /// No limits (hyper's own still apply).
    pub(crate) const NONE: HeadLimits = HeadLimits {
        max_line_size: usize::MAX,
        max_field_size: usize::MAX,
        max_headers: usize::MAX,
    };
}

impl Default for HeadLimits {
    fn default() -> Self {
        HeadLimits::DEFAULT
    }
}

/// A response head over one of its [`HeadLimits`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LimitHit {
    StatusLine(usize),
    Name(usize),
    Value(usize),
    Headers(usize),
}

impl std::fmt::Display for LimitHit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LimitHit::StatusLine(n) => write!(
                f,
                "the response's status line is longer than max_line_size ({n} bytes)"
            ),
            LimitHit::Name(n) => write!(
                f,
                "a response header name is longer than max_field_size ({n} bytes)"
            ),
            LimitHit::Value(n) => write!(
                f,
                "a response header value is longer than max_field_size ({n} bytes)"
            ),
            LimitHit::Headers(n) => {
                write!(
                    f,
                    "the response has more than max_headers ({n}) header lines"
                )
            }
        }
    }
}

impl std::error::Error for LimitHit {}

/// The parts of a prepared request that go into the head.
pub(crate) struct Head<'a> {
    pub(crate) method: &'a http::Method,
    pub(crate) url: &'a url::Url,
    pub(crate) version: http::Version,
    pub(crate) headers: &'a http::HeaderMap,
    /// The request goes to a forward proxy: the target in absolute form, and these headers
    /// (the proxy's credentials and `proxy_headers`) added on the wire.
    pub(crate) proxy: Option<&'a [(http::HeaderName, http::HeaderValue)]>,
    /// What the response head may hold.
    pub(crate) limits: HeadLimits,
}

fn io_kind(e: &hyper::Error) -> Option<io::ErrorKind> {
    let mut src: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = src {
        if let Some(io) = s.downcast_ref::<io::Error>() {
            return Some(io.kind());
        }
        src = s.source();
    }
    None
}

/// The head limit a failed read stopped at, if that is why it failed.
fn limit_hit(e: &hyper::Error) -> Option<LimitHit> {
    let mut src: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = src {
        if let Some(hit) = s
            .downcast_ref::<io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<LimitHit>())
        {
            return Some(*hit);
        }
        src = s.source();
    }
    None
}

/// Maps a failure while sending a request or reading the response head.
fn map_hyper_error(e: hyper::Error) -> ClientError {
    if let Some(hit) = limit_hit(&e) {
        // aiohttp's LineTooLong and BadHttpMessage reach its client as ClientResponseError.
        return ClientError::new(ErrorKind::ClientResponseError, hit.to_string());
    }
    let (kind, message) = if e.is_parse() || e.is_parse_status() {
        (ErrorKind::ClientResponseError, "malformed response head")
    } else if e.is_user() {
        (ErrorKind::ClientPayloadError, "the request body failed")
    } else if e.is_incomplete_message() || e.is_closed() || e.is_canceled() {
        (
            ErrorKind::ServerDisconnectedError,
            "server disconnected before a complete response",
        )
    } else {
        match io_kind(&e) {
            Some(io::ErrorKind::ConnectionReset) => (
                ErrorKind::ClientConnectionResetError,
                "connection reset by peer",
            ),
            Some(io::ErrorKind::UnexpectedEof) => (
                ErrorKind::ServerDisconnectedError,
                "server disconnected before a complete response",
            ),
            Some(_) => (ErrorKind::ClientOSError, "connection failed"),
            None => (ErrorKind::ClientConnectionError, "connection failed"),
        }
    };
    ClientError::new(kind, message).with_source(e)
}

/// A number no other connection of this process has had, HTTP/1 or HTTP/2: the pool tells its
/// connections apart by it.
pub(crate) fn next_connection_id() -> u64 {
    static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}
