//! An async HTTP client for tokio with the API of aiohttp's client.
//!
//! A [`ClientSession`] holds a pool of keep-alive connections (through a [`Connector`]), a
//! cookie jar and default request settings. Requests are built with every keyword argument of
//! aiohttp's `ClientSession.request` and sent by awaiting them; a [`ClientResponse`] exposes the
//! status, the headers (parsed and exactly as received) and the body as bytes, text, JSON or a
//! [`StreamReader`]. Every failure is a [`ClientError`] whose `is_*()` predicates follow
//! aiohttp's exception tree.
//!
//! ```no_run
//! # async fn run() -> Result<(), aiohttp::ClientError> {
//! let session = aiohttp::ClientSession::new();
//! let mut resp = session
//!     .get("http://127.0.0.1:8080/get")
//!     .params(&[("q", "rust")])
//!     .await?;
//! println!("{} {}", resp.status(), resp.text().await?);
//! # Ok(()) }
//! ```
//!
//! # Map of the crate
//! - `run`: the request loop, read top to bottom — the head of each hop, a pooled connection,
//!   the exchange, the one retry of a stale connection, the response, redirects and
//!   `raise_for_status`.
//! - `session`, `shared`: [`ClientSession`] and its builder — defaults, headers, auth,
//!   cookies — and the state a session shares with its requests.
//! - `request`, `urls`, `options`: [`RequestBuilder`], checked and split into the plan and the
//!   exchange options; [`IntoUrl`], [`IntoParams`].
//! - `head`: the request from hop to hop and its head, built in plain steps (credentials,
//!   header merge, automatic headers, cookies, framing) over a snapshot of the session.
//! - `info`, `error`, `transport`: [`RequestInfo`], [`ClientError`], [`Transport`] — plain
//!   data at the bottom of the import graph (which is a DAG apart from session ↔ request).
//! - `redirect`: the redirect decision (pure).
//! - `policy`: the other decisions with no I/O — method classes, keep-alive, retry.
//! - `body`: request bodies ([`Body`]) and the wire body handed to hyper.
//! - `response`, `stream`, `decode`: [`ClientResponse`], [`StreamReader`], decompression and
//!   charset decoding.
//! - `connector`: the [`Connector`] trait, [`TcpConnector`], [`UnixConnector`], and the
//!   [`Pool`] — its state machine (`pool/state.rs` and its counters, `pool/count.rs`; no I/O) and its I/O side.
//! - `proto`: the only modules that name hyper's types — `h1` (HTTP/1 exchanges with the
//!   response head captured as received), `h2` (HTTP/2 connections and streams), `body` (the
//!   response body read off either).
//! - `ws`: WebSockets — [`ClientSession::ws_connect`] (the upgrade is a request of the
//!   session), the handshake checks, permessage-deflate, frames, and
//!   [`ClientWebSocketResponse`] with its halves.
//! - `multipart`: [`FormData`] (urlencoded or `multipart/form-data` request bodies, parts
//!   streamed) and [`MultipartReader`] (a `multipart/*` response read part by part).
//! - `middleware`: [`Middleware`], [`Next`], [`ClientRequest`] — the chain of async handlers
//!   around every hop, run by `run` when a session or request has middlewares.
//! - `digest`: [`DigestAuth`], RFC 7616 Digest authentication as a middleware.
//! - `cookie`, `auth`: [`CookieJar`], [`BasicAuth`].
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod auth;
mod body;
mod connector;
mod cookie;
mod decode;
mod digest;
mod error;
mod head;
mod hooks;
mod info;
mod links;
pub mod middleware;
mod multipart;
mod options;
mod policy;
mod proto;
mod proxy;
mod redirect;
mod request;
mod response;
mod run;
mod session;
mod shared;
mod stream;
#[cfg(test)]
mod test_util;
mod timeout;
mod trace;
mod transport;
mod urls;
mod ws;

pub use auth::BasicAuth;
pub use body::Body;
pub use connector::{
    AsyncResolver, BoxFuture, Connection, ConnectionKey, Connector, Family, Io, Pool, PoolConfig,
    PoolStats, Resolver, Ssl, TcpConnector, TcpConnectorBuilder, ThreadedResolver, Transport,
    UnixConnector,
};
pub use cookie::{AbstractCookieJar, CookieJar, DummyCookieJar};
pub use digest::DigestAuth;
pub use error::{ClientError, ErrorKind};
pub use info::RequestInfo;
pub use links::{Link, Links};
pub use middleware::{ClientRequest, Middleware, MiddlewareResult, Next};
pub use multipart::{BodyPartReader, FormData, FormField, MultipartReader, DEFAULT_MAX_PART_SIZE};
pub use request::{IntoParams, IntoUrl, RequestBuilder, USER_AGENT};
pub use response::{CharsetResolver, ClientResponse, StatusCheck, DEFAULT_MAX_BODY_SIZE};
pub use session::{ClientSession, ClientSessionBuilder};
pub use stream::StreamReader;
pub use timeout::ClientTimeout;
pub use trace::{TraceConfig, TraceRequest};
pub use transport::TlsInfo;
pub use ws::{
    ClientWSTimeout, ClientWebSocketResponse, WSMessage, WSMsgType, WsConnectBuilder, WsReader,
    WsWriter, DEFAULT_MAX_MSG_SIZE,
};

pub use ::cookie::Cookie;
pub use bytes::Bytes;
pub use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Version};
/// The rustls crate this one is built with, for [`TcpConnectorBuilder::ssl_context`].
pub use rustls;
pub use url::Url;

/// One request on a private session that closes itself once the response is dropped
/// (aiohttp's `aiohttp.request`).
///
/// ```no_run
/// # async fn run() -> Result<(), aiohttp::ClientError> {
/// let mut resp = aiohttp::request("GET", "http://127.0.0.1:8080/").await?;
/// let body = resp.read().await?;
/// # Ok(()) }
/// ```
pub fn request<M, U>(method: M, url: U) -> RequestBuilder
where
    Method: TryFrom<M>,
    <Method as TryFrom<M>>::Error: Into<http::Error>,
    U: IntoUrl,
{
    let mut req = ClientSession::new().request(method, url);
    req.oneshot = true;
    req
}

#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;

#[doc(hidden)]
pub mod fuzz_support;

/// Entry points for the micro-benchmarks in `crates/bench`; not part of the API.
#[doc(hidden)]
pub mod bench_support {
    /// Runs the pure step that turns a request and its session's defaults into the head to send
    /// (URL checks, header merging, auto headers, cookies, body framing; no I/O) and returns the
    /// headers it would send.
    ///
    /// # Errors
    /// Whatever sending the request would report before any I/O.
    pub fn prepare_head(
        req: crate::RequestBuilder,
    ) -> Result<crate::HeaderMap, crate::ClientError> {
        let session = req.session.clone();
        crate::request::prepare(&session.inner, req)
            .map(|p| std::sync::Arc::unwrap_or_clone(p.headers))
    }

    /// The redirect decision for one response (no I/O): `status` answering a `method` request
    /// for `url`, with `location`, after `followed` redirects, under the defaults (follow, at
    /// most 10, requote). Returns the next URL; `None` for a final response or one past the
    /// limit.
    ///
    /// # Errors
    /// An unusable `Location` (not http(s), or not a URL).
    pub fn redirect_decision(
        status: crate::StatusCode,
        method: &crate::Method,
        location: Option<&crate::HeaderValue>,
        url: &crate::Url,
        followed: usize,
    ) -> Result<Option<crate::Url>, crate::ClientError> {
        let hop = crate::redirect::Hop {
            status,
            method,
            location,
            url,
            body: crate::head::BodyState::Empty,
            followed,
        };
        let policy = crate::redirect::Policy {
            allow: true,
            max: crate::request::DEFAULT_MAX_REDIRECTS,
            requote: true,
        };
        Ok(match crate::redirect::decide(&hop, &policy)? {
            crate::redirect::Decision::Follow(next) => Some(next.url),
            _ => None,
        })
    }
}
