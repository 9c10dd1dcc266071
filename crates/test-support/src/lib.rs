//! Local loopback servers for the `aiohttp` crate's tests.
//!
//! * [`HttpServer`] — a real HTTP/1.1 server (hyper) that runs a handler
//!   closure per request, with connection counters; [`HttpServer::echo`]
//!   answers every request with a JSON description of it.
//! * [`RawServer`] — a plain TCP server that hands each connection to a
//!   closure as a [`RawConn`], for malformed, truncated and slow responses;
//!   it records every request it reads.
//!
//! Both bind to loopback only, serve every connection in its own task and
//! stop when dropped. A panic in a handler (a failed `assert!` on the
//! server side) is recorded, and dropping the server then panics with it,
//! so the test fails instead of only seeing a closed connection.
//!
//! * [`WsServer`] — a WebSocket server on a [`RawServer`]: the handshake
//!   answered as the test says, then frames read and written by a [`WsPeer`]
//!   (unmasked, checked for the client's mask, inflated on request).
//!
//! * [`HttpProxy`] — an HTTP/1.1 forward proxy and `CONNECT` tunnel proxy
//!   (optionally with Basic credentials, refused or dropped `CONNECT`s, or
//!   TLS to its clients), recording every [`ProxyRequest`].
//! * [`SocksProxy`] — a SOCKS4/4a/5 proxy (optionally with username and
//!   password), recording every [`SocksRequest`].
//!
//! Both proxies connect only to loopback targets.
//!
//! Tests that need IPv6 loopback check [`skip_without_ipv6`] first.
//!
//! ```no_run
//! # async fn demo() {
//! use test_support::{full, HttpServer, RawServer};
//!
//! let server = HttpServer::start(|_req| async { http::Response::new(full("hi")) }).await;
//! let url = server.url("/hello");
//!
//! let raw = RawServer::reply("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok").await;
//! let raw_url = raw.url("/");
//!
//! // A response cut off in the middle of its body.
//! let truncated = RawServer::start(|mut conn| async move {
//!     if conn.read_request().await.is_some() {
//!         let _ = conn.write("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc").await;
//!     }
//! })
//! .await;
//! # let _ = (url, raw_url, truncated);
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod accept;
mod black_hole;
mod http_server;
mod ipv6;
mod proxy;
mod raw_server;
mod tls;
mod ws;

pub use crate::black_hole::BlackHole;
pub use crate::http_server::{
    body_channel, chunks_with_delay, empty, fallible_stream, full, stream, BoxBody, BoxError,
    ConnInfo, HttpServer,
};
pub use crate::ipv6::{ipv6_available, skip_without_ipv6};
pub use crate::proxy::{
    HttpProxy, HttpProxyBuilder, ProxyRequest, SocksProxy, SocksProxyBuilder, SocksRequest,
    SocksTarget,
};
pub use crate::raw_server::{RawConn, RawRequest, RawServer, DEFAULT_IO_TIMEOUT};
pub use crate::tls::TlsServer;
pub use crate::ws::{
    echo_loop, frame_bytes as ws_frame_bytes, ws_accept, WsFrame, WsPeer, WsServer,
};

/// Re-exported for handler signatures: `Fn(Request<Incoming>) -> ...`.
pub use bytes::Bytes;
/// Re-exported for handler signatures: `Fn(Request<Incoming>) -> ...`.
pub use hyper::body::Incoming;
