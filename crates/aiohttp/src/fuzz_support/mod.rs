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

mod body;
mod cookies;
mod head;
mod multipart;
mod proxy;
mod redirect;
mod ws;

pub use body::*;
pub use cookies::*;
pub use head::*;
pub use multipart::*;
pub use proxy::*;
pub use redirect::*;
pub use ws::*;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
