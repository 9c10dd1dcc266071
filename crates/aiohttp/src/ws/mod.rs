//! WebSockets: [`ClientSession::ws_connect`](crate::ClientSession::ws_connect) and
//! [`ClientWebSocketResponse`].
//!
//! The upgrade request is an ordinary request of the session ([`crate::run`]): it goes
//! through the session's connector (its limits, TLS settings, UNIX socket), carries the jar's
//! cookies, the session's headers and auth, and follows redirects. Over TLS the connection
//! offers only `http/1.1` by ALPN. Once the server has switched protocols, the connection
//! leaves hyper ([`crate::proto::h1::Upgrade`]) and is never pooled again; it counts against
//! the connector's limits until the WebSocket is closed.
//!
//! - `handshake`: the request's headers and the checks of the `101` answer (pure);
//! - `deflate`: permessage-deflate;
//! - `frame`: frames on the wire;
//! - `socket`: the open WebSocket and its halves.

pub(crate) mod deflate;
pub(crate) mod frame;
pub(crate) mod handshake;
mod message;
mod socket;

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue, Method};

use crate::auth::BasicAuth;
use crate::connector::Ssl;
use crate::error::{ClientError, ErrorKind};
use crate::request::RequestBuilder;
use crate::urls::{IntoParams, IntoUrl};

pub use message::{WSMessage, WSMsgType};
pub use socket::{ClientWebSocketResponse, WsReader, WsWriter};

/// The default largest message accepted: 4 MiB (aiohttp's `max_msg_size`).
pub const DEFAULT_MAX_MSG_SIZE: usize = 4 * 1024 * 1024;

/// The WebSocket timeouts of aiohttp 3.x (`ClientWSTimeout`): `ws_receive` bounds each
/// `receive()`, `ws_close` the wait for the server's close frame (10 s by default).
///
/// ```
/// use std::time::Duration;
/// let t = aiohttp::ClientWSTimeout::default();
/// assert_eq!(t.ws_close, Some(Duration::from_secs(10)));
/// assert_eq!(t.ws_receive, None);
/// let t: aiohttp::ClientWSTimeout = Duration::from_secs(3).into();
/// assert_eq!(t.ws_close, Some(Duration::from_secs(3)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientWSTimeout {
    /// The longest a `receive()` waits for a message (`None`: no limit).
    pub ws_receive: Option<Duration>,
    /// The longest `close()` waits for the server's close frame (`None`: no limit).
    pub ws_close: Option<Duration>,
}

impl Default for ClientWSTimeout {
    fn default() -> Self {
        ClientWSTimeout {
            ws_receive: None,
            ws_close: Some(Duration::from_secs(10)),
        }
    }
}

impl From<Duration> for ClientWSTimeout {
    /// A bare duration is the close timeout (aiohttp's `timeout=10.0`).
    fn from(d: Duration) -> Self {
        ClientWSTimeout {
            ws_receive: None,
            ws_close: Some(d),
        }
    }
}

/// The options of a WebSocket connection, from
/// [`ClientSession::ws_connect`](crate::ClientSession::ws_connect); `.await` it (or
/// [`send`](Self::send)) to connect.
///
/// ```no_run
/// # async fn run() -> Result<(), aiohttp::ClientError> {
/// let session = aiohttp::ClientSession::new();
/// let mut ws = session
///     .ws_connect("wss://example.test/chat")
///     .protocols(["chat.v2", "chat.v1"])
///     .heartbeat(std::time::Duration::from_secs(30))
///     .await?;
/// ws.send_str("hello").await?;
/// # Ok(()) }
/// ```
pub struct WsConnectBuilder {
    req: RequestBuilder,
    protocols: Vec<String>,
    timeout: ClientWSTimeout,
    receive_timeout: Option<Duration>,
    autoclose: bool,
    autoping: bool,
    heartbeat: Option<Duration>,
    origin: Option<String>,
    compress: u8,
    client_no_context_takeover: bool,
    server_no_context_takeover: bool,
    max_msg_size: usize,
}

impl std::fmt::Debug for WsConnectBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsConnectBuilder")
            .field("request", &self.req)
            .field("protocols", &self.protocols)
            .field("compress", &self.compress)
            .finish_non_exhaustive()
    }
}

impl WsConnectBuilder {
    pub(crate) fn new(mut req: RequestBuilder) -> Self {
        req.map_url(handshake::http_url);
        WsConnectBuilder {
            req,
            protocols: Vec::new(),
            timeout: ClientWSTimeout::default(),
            receive_timeout: None,
            autoclose: true,
            autoping: true,
            heartbeat: None,
            origin: None,
            compress: 15,
            client_no_context_takeover: false,
            server_no_context_takeover: false,
            max_msg_size: DEFAULT_MAX_MSG_SIZE,
        }
    }

    /// The subprotocols offered (`Sec-WebSocket-Protocol`), most preferred first.
    ///
    /// ```no_run
    /// # fn f(s: aiohttp::ClientSession) { let _ = s.ws_connect("ws://h/").protocols(["v2", "v1"]); }
    /// ```
    pub fn protocols<I, S>(mut self, protocols: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.protocols = protocols.into_iter().map(Into::into).collect();
        self
    }

    /// The close timeout (a `Duration`), or both WebSocket timeouts (a [`ClientWSTimeout`]).
    ///
    /// ```no_run
    /// # fn f(s: aiohttp::ClientSession) { let _ = s.ws_connect("ws://h/").timeout(std::time::Duration::from_secs(2)); }
    /// ```
    pub fn timeout(mut self, timeout: impl Into<ClientWSTimeout>) -> Self {
        self.timeout = timeout.into();
        if self.timeout.ws_receive.is_some() {
            self.receive_timeout = self.timeout.ws_receive;
        }
        self
    }

    /// The longest each `receive()` waits; an expired wait is an error message and leaves the
    /// WebSocket open.
    ///
    /// ```no_run
    /// # fn f(s: aiohttp::ClientSession) { let _ = s.ws_connect("ws://h/").receive_timeout(std::time::Duration::from_secs(5)); }
    /// ```
    pub fn receive_timeout(mut self, timeout: Duration) -> Self {
        self.receive_timeout = Some(timeout);
        self
    }

    /// Basic auth for the upgrade request.
    ///
    /// ```no_run
    /// # fn f(s: aiohttp::ClientSession) -> Result<(), aiohttp::ClientError> {
    /// let _ = s.ws_connect("ws://h/").auth(aiohttp::BasicAuth::new("u", "p")?);
    /// # Ok(()) }
    /// ```
    pub fn auth(mut self, auth: BasicAuth) -> Self {
        self.req = self.req.auth(auth);
        self
    }

    /// Answer the server's close frame at once and close (default true).
    ///
    /// ```no_run
    /// # fn f(s: aiohttp::ClientSession) { let _ = s.ws_connect("ws://h/").autoclose(false); }
    /// ```
    pub fn autoclose(mut self, autoclose: bool) -> Self {
        self.autoclose = autoclose;
        self
    }

    /// Answer pings and drop pongs (default true); with false both are received as messages.
    ///
    /// ```no_run
    /// # fn f(s: aiohttp::ClientSession) { let _ = s.ws_connect("ws://h/").autoping(false); }
    /// ```
    pub fn autoping(mut self, autoping: bool) -> Self {
        self.autoping = autoping;
        self
    }

    /// Send a ping after every `interval` without a frame from the server; with no answer
    /// within half of it, the WebSocket closes with 1006 and `receive()` reports a
    /// `ServerTimeoutError`.
    ///
    /// ```no_run
    /// # fn f(s: aiohttp::ClientSession) { let _ = s.ws_connect("ws://h/").heartbeat(std::time::Duration::from_secs(30)); }
    /// ```
    pub fn heartbeat(mut self, interval: Duration) -> Self {
        self.heartbeat = Some(interval);
        self
    }

    /// The `Origin` header of the upgrade request.
    ///
    /// ```no_run
    /// # fn f(s: aiohttp::ClientSession) { let _ = s.ws_connect("ws://h/").origin("https://app.test"); }
    /// ```
    pub fn origin(mut self, origin: impl Into<String>) -> Self {
        self.origin = Some(origin.into());
        self
    }

    /// One header of the upgrade request (replacing the session's of the same name).
    ///
    /// ```no_run
    /// # fn f(s: aiohttp::ClientSession) { let _ = s.ws_connect("ws://h/").header("X-Token", "t"); }
    /// ```
    pub fn header<K, V>(mut self, name: K, value: V) -> Self
    where
        HeaderName: TryFrom<K>,
        <HeaderName as TryFrom<K>>::Error: Into<http::Error>,
        HeaderValue: TryFrom<V>,
        <HeaderValue as TryFrom<V>>::Error: Into<http::Error>,
    {
        self.req = self.req.header(name, value);
        self
    }

    /// Headers of the upgrade request.
    ///
    /// ```no_run
    /// # fn f(s: aiohttp::ClientSession) { let _ = s.ws_connect("ws://h/").headers(aiohttp::HeaderMap::new()); }
    /// ```
    pub fn headers(mut self, headers: HeaderMap) -> Self {
        self.req = self.req.headers(headers);
        self
    }

    /// Query parameters of the upgrade request.
    ///
    /// ```no_run
    /// # fn f(s: aiohttp::ClientSession) { let _ = s.ws_connect("ws://h/").params([("room", "1")]); }
    /// ```
    pub fn params(mut self, params: impl IntoParams) -> Self {
        self.req = self.req.params(params);
        self
    }

    /// The method of the upgrade request (GET by default).
    ///
    /// ```no_run
    /// # fn f(s: aiohttp::ClientSession) { let _ = s.ws_connect("ws://h/").method(aiohttp::Method::GET); }
    /// ```
    pub fn method(mut self, method: Method) -> Self {
        self.req.set_method(method);
        self
    }

    /// permessage-deflate: offer it with this many window bits for the server (9–15; 15 by
    /// default), or 0 to offer no compression.
    ///
    /// ```no_run
    /// # fn f(s: aiohttp::ClientSession) { let _ = s.ws_connect("ws://h/").compress(0); }
    /// ```
    pub fn compress(mut self, window_bits: u8) -> Self {
        self.compress = window_bits;
        self
    }

    /// Offer to compress each message on its own (`client_no_context_takeover`): less memory
    /// kept between messages, less compression.
    ///
    /// ```no_run
    /// # fn f(s: aiohttp::ClientSession) { let _ = s.ws_connect("ws://h/").client_no_context_takeover(true); }
    /// ```
    pub fn client_no_context_takeover(mut self, yes: bool) -> Self {
        self.client_no_context_takeover = yes;
        self
    }

    /// Ask the server to compress each message on its own (`server_no_context_takeover`); a
    /// server that does not agree fails the handshake.
    ///
    /// ```no_run
    /// # fn f(s: aiohttp::ClientSession) { let _ = s.ws_connect("ws://h/").server_no_context_takeover(true); }
    /// ```
    pub fn server_no_context_takeover(mut self, yes: bool) -> Self {
        self.server_no_context_takeover = yes;
        self
    }

    /// The largest message accepted (4 MiB by default; 0: no limit). A larger one closes the
    /// WebSocket with 1009; a compressed one is stopped when it inflates past the limit.
    ///
    /// ```no_run
    /// # fn f(s: aiohttp::ClientSession) { let _ = s.ws_connect("ws://h/").max_msg_size(1 << 20); }
    /// ```
    pub fn max_msg_size(mut self, max: usize) -> Self {
        self.max_msg_size = max;
        self
    }

    /// The TLS choice for this connection, as [`RequestBuilder::ssl`].
    ///
    /// ```no_run
    /// # fn f(s: aiohttp::ClientSession) { let _ = s.ws_connect("wss://h/").ssl(false); }
    /// ```
    pub fn ssl(mut self, ssl: impl Into<Ssl>) -> Self {
        self.req = self.req.ssl(ssl);
        self
    }

    /// The TLS server name (SNI and certificate check), as [`RequestBuilder::server_hostname`].
    ///
    /// ```no_run
    /// # fn f(s: aiohttp::ClientSession) { let _ = s.ws_connect("wss://127.0.0.1/").server_hostname("h.test"); }
    /// ```
    pub fn server_hostname(mut self, name: impl Into<String>) -> Self {
        self.req = self.req.server_hostname(name);
        self
    }

    /// The proxy for the handshake and the WebSocket (aiohttp's `proxy`): `ws://` and `wss://`
    /// both go through a `CONNECT` tunnel of an HTTP proxy (or through SOCKS); see
    /// [`RequestBuilder::proxy`](crate::RequestBuilder::proxy).
    ///
    /// ```no_run
    /// # async fn run(s: aiohttp::ClientSession) -> Result<(), aiohttp::ClientError> {
    /// let ws = s.ws_connect("wss://example.com/ws").proxy("http://127.0.0.1:3128").await?;
    /// # Ok(()) }
    /// ```
    pub fn proxy<U: IntoUrl>(mut self, url: U) -> Self {
        self.req = self.req.proxy(url);
        self
    }

    /// Credentials for the proxy (aiohttp's `proxy_auth`).
    ///
    /// ```no_run
    /// # async fn run(s: aiohttp::ClientSession) -> Result<(), aiohttp::ClientError> {
    /// let auth = aiohttp::BasicAuth::new("user", "pass")?;
    /// let ws = s.ws_connect("ws://example.com/ws").proxy("http://127.0.0.1:3128").proxy_auth(auth).await?;
    /// # Ok(()) }
    /// ```
    pub fn proxy_auth(mut self, auth: BasicAuth) -> Self {
        self.req = self.req.proxy_auth(auth);
        self
    }

    /// Headers for the proxy's `CONNECT` (aiohttp's `proxy_headers`).
    ///
    /// ```no_run
    /// # async fn run(s: aiohttp::ClientSession) -> Result<(), aiohttp::ClientError> {
    /// let ws = s.ws_connect("ws://example.com/ws")
    ///     .proxy("http://127.0.0.1:3128")
    ///     .proxy_headers(http::HeaderMap::new())
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn proxy_headers(mut self, headers: HeaderMap) -> Self {
        self.req = self.req.proxy_headers(headers);
        self
    }

    /// How an `https://` proxy's certificate is verified (default: against the trust roots).
    ///
    /// ```no_run
    /// # async fn run(s: aiohttp::ClientSession) -> Result<(), aiohttp::ClientError> {
    /// let ws = s.ws_connect("wss://example.com/ws")
    ///     .proxy("https://proxy.test:8443")
    ///     .proxy_ssl(aiohttp::Ssl::Verified)
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn proxy_ssl(mut self, ssl: impl Into<Ssl>) -> Self {
        self.req = self.req.proxy_ssl(ssl);
        self
    }

    /// Connects: the upgrade request, its redirects, the checks of the server's answer.
    ///
    /// # Errors
    /// Connecting failed, or the server did not switch to the WebSocket protocol
    /// (`WSServerHandshakeError`, with the response's status and headers).
    ///
    /// ```no_run
    /// # async fn run(s: aiohttp::ClientSession) -> Result<(), aiohttp::ClientError> {
    /// let ws = s.ws_connect("ws://127.0.0.1:8080/ws").send().await?;
    /// # Ok(()) }
    /// ```
    pub fn send(self) -> impl Future<Output = Result<ClientWebSocketResponse, ClientError>> + Send {
        connect(self)
    }
}

impl crate::session::ClientSession {
    /// A WebSocket connection (`ws://`, `wss://`, or the `http(s)://` URL it is served at):
    /// set its options on the builder, then `.await` it. The upgrade request goes through the
    /// session's connector and carries its cookies, headers and auth.
    ///
    /// ```no_run
    /// # async fn run(s: aiohttp::ClientSession) -> Result<(), aiohttp::ClientError> {
    /// let mut ws = s.ws_connect("ws://127.0.0.1:8080/ws").await?;
    /// ws.send_str("hello").await?;
    /// let msg = ws.receive().await;
    /// ws.close(1000, b"").await?;
    /// # Ok(()) }
    /// ```
    pub fn ws_connect<U: IntoUrl>(&self, url: U) -> WsConnectBuilder {
        WsConnectBuilder::new(self.request(Method::GET, url))
    }
}

impl IntoFuture for WsConnectBuilder {
    type Output = Result<ClientWebSocketResponse, ClientError>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.send())
    }
}

async fn connect(b: WsConnectBuilder) -> Result<ClientWebSocketResponse, ClientError> {
    if b.compress != 0 && !(9..=15).contains(&b.compress) {
        return Err(ClientError::invalid_argument(
            "compress must be 0 (off) or a window size of 9 to 15 bits",
        ));
    }
    let offer = (b.compress != 0).then_some(deflate::Offer {
        window_bits: b.compress,
        client_no_context_takeover: b.client_no_context_takeover,
        server_no_context_takeover: b.server_no_context_takeover,
    });
    let key = handshake::new_key();
    let mut req = b.req;
    for (name, value) in
        handshake::request_headers(&key, &b.protocols, b.origin.as_deref(), offer.as_ref())?
    {
        let ours = handshake::always_ours(&name);
        req.set_header_default(name, value, ours);
    }
    let session = req.session.inner.clone();
    let planned = req.into_plan().map(|(plan, mut ex)| {
        ex.opts.upgrade = true;
        // The response is checked here, whatever its status.
        ex.raise_for_status = crate::response::StatusPolicy::Off;
        (plan, ex)
    });
    let mut resp = crate::run::send(session, planned).await?;
    let agreed = match handshake::check(
        resp.status(),
        resp.headers(),
        &key,
        &b.protocols,
        offer.as_ref(),
    ) {
        Ok(a) => a,
        Err(why) => {
            resp.close();
            return Err(ClientError::new(ErrorKind::WSServerHandshakeError, why)
                .with_url(resp.url())
                .with_response(resp.details()));
        }
    };
    let upgrade = resp.take_upgrade().ok_or_else(|| {
        ClientError::new(
            ErrorKind::WSServerHandshakeError,
            "the server switched protocols over a connection that cannot be taken over",
        )
        .with_response(resp.details())
    })?;
    // The lease stays with the WebSocket: the connection counts as in use until it closes.
    let lease = resp.connection().cloned();
    let (local_addr, peer_addr) = lease.as_ref().map(|c| c.transport()).unwrap_or_default();
    let tls = lease.as_ref().and_then(|c| c.tls()).cloned();
    // The connection task lets go of the transport once it has read the 101; bounded all the
    // same.
    let wait = b.timeout.ws_close.unwrap_or(Duration::from_secs(10));
    let (io, leftover) = tokio::time::timeout(wait, upgrade.into_io())
        .await
        .map_err(|_| {
            ClientError::new(
                ErrorKind::ServerTimeoutError,
                "the connection was not handed over after the 101 response",
            )
        })??;
    drop(resp);
    let (read_half, write_half) = tokio::io::split(io);
    let max = if b.max_msg_size == 0 {
        usize::MAX
    } else {
        b.max_msg_size
    };
    let reader = frame::Reader::new(
        read_half,
        leftover,
        max,
        agreed.deflate.as_ref().map(deflate::Inflater::new),
    );
    // zlib has no raw deflate with a 256-byte window: asked for 8 bits, the client sends its
    // messages uncompressed, which permessage-deflate allows.
    let deflater = agreed
        .deflate
        .as_ref()
        .filter(|d| d.client_window_bits >= 9)
        .map(deflate::Deflater::new);
    let writer = frame::Writer::new(write_half, deflater);
    Ok(ClientWebSocketResponse::new(
        reader,
        writer,
        socket::Config {
            autoclose: b.autoclose,
            autoping: b.autoping,
            heartbeat: b.heartbeat,
            receive_timeout: b.receive_timeout,
            close_timeout: b.timeout.ws_close,
        },
        socket::Settled {
            protocol: agreed.protocol,
            compress: agreed.deflate.map_or(0, |d| d.client_window_bits),
            peer_addr,
            local_addr,
            tls,
        },
        lease,
    ))
}
