//! Local proxies for tests: [`HttpProxy`], an HTTP/1.1 forward and
//! `CONNECT` tunnel proxy (optionally speaking TLS to its clients), and
//! [`SocksProxy`], a SOCKS4/4a/5 server.
//!
//! Both connect only to loopback targets (`127.0.0.0/8`, `::1` and the name
//! `localhost`, which is never looked up), so a test cannot reach the
//! network through them by mistake. They record every request before
//! answering it.

use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONNECTION, HOST, PROXY_AUTHORIZATION};
use http::{HeaderMap, Method, Request, Response, StatusCode, Uri};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::ext::ReasonPhrase;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::accept::Acceptor;
use crate::http_server::{empty, full, BoxBody, BoxError};

/// Takes a lock even if a panicking connection task poisoned it; the
/// record it guards is only ever appended to.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn loopback_any() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, 0))
}

// ---------------------------------------------------------------------------
// Connecting to targets
// ---------------------------------------------------------------------------

/// Why a proxy did not connect to a target.
#[derive(Debug)]
enum ConnectError {
    /// The target is not a loopback address.
    NotAllowed,
    /// Connecting failed.
    Io(io::Error),
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectError::NotAllowed => f.write_str("target is not a loopback address"),
            ConnectError::Io(e) => write!(f, "cannot connect to target: {e}"),
        }
    }
}

/// Connects to `host:port` if `host` is a loopback IP address (brackets
/// around IPv6 allowed) or `localhost` (tried as 127.0.0.1, then ::1).
async fn connect_loopback(host: &str, port: u16) -> Result<TcpStream, ConnectError> {
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let addrs: Vec<SocketAddr> = if host.eq_ignore_ascii_case("localhost") {
        vec![
            SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            SocketAddr::from((Ipv6Addr::LOCALHOST, port)),
        ]
    } else {
        match host.parse::<IpAddr>() {
            Ok(ip) if ip.is_loopback() => vec![SocketAddr::new(ip, port)],
            _ => return Err(ConnectError::NotAllowed),
        }
    };
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(ConnectError::Io(last.unwrap_or_else(|| {
        io::Error::new(io::ErrorKind::NotFound, "no address to connect to")
    })))
}

// ---------------------------------------------------------------------------
// HTTP proxy
// ---------------------------------------------------------------------------

/// One request received by an [`HttpProxy`], recorded before it was
/// answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyRequest {
    /// 0-based accept order of the client connection it arrived on.
    pub conn: usize,
    /// The method, e.g. `GET` or `CONNECT`.
    pub method: String,
    /// The request target of the request line: `http://host:port/path?q`
    /// for a forwarded request, `host:port` for `CONNECT` (as parsed by
    /// hyper, which keeps it as sent).
    pub target: String,
    /// Header fields as received, names lower-cased. Repeated fields are
    /// listed together at the place of the first.
    pub headers: Vec<(String, String)>,
}

impl ProxyRequest {
    /// The value of the first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Options of an [`HttpProxy`]; made by [`HttpProxy::builder`], started
/// with [`start`](Self::start).
#[derive(Debug, Clone, Default)]
pub struct HttpProxyBuilder {
    auth: Option<(String, String)>,
    refuse_connect: Option<StatusCode>,
    drop_connect: bool,
    tls: Option<Arc<rustls::ServerConfig>>,
}

impl HttpProxyBuilder {
    /// Requires `Proxy-Authorization: Basic base64(user:pass)` on every
    /// request (forwarded and `CONNECT`). A request without it or with
    /// other credentials is answered `407 Proxy Authentication Required`
    /// with `Proxy-Authenticate: Basic realm="test"`.
    pub fn auth(mut self, user: impl Into<String>, pass: impl Into<String>) -> Self {
        self.auth = Some((user.into(), pass.into()));
        self
    }

    /// Answers every (authorized) `CONNECT` with `status`, a header
    /// `X-Proxy-Refused: yes` and a short text body, without connecting.
    /// Forwarded requests are served as usual.
    ///
    /// # Panics
    ///
    /// Panics unless `status` is a valid non-2xx status code.
    pub fn refuse_connect(mut self, status: u16) -> Self {
        let status = match StatusCode::from_u16(status) {
            Ok(s) if !s.is_success() => s,
            _ => panic!("test-support: refuse_connect needs a non-2xx status, got {status}"),
        };
        self.refuse_connect = Some(status);
        self
    }

    /// Closes the client connection right after reading a `CONNECT`
    /// request (before checking credentials), without answering it.
    pub fn drop_connect(mut self) -> Self {
        self.drop_connect = true;
        self
    }

    /// Makes the proxy an "HTTPS proxy": every client connection is a TLS
    /// connection accepted with `config`, inside which the proxy works as
    /// without TLS. A client tunnelling TLS through it then runs TLS in TLS.
    pub fn tls(mut self, config: Arc<rustls::ServerConfig>) -> Self {
        self.tls = Some(config);
        self
    }

    /// Starts the proxy on `127.0.0.1:0`.
    ///
    /// # Panics
    ///
    /// Panics if no loopback port can be bound.
    pub async fn start(self) -> HttpProxy {
        match HttpProxy::start_on(loopback_any(), self).await {
            Ok(proxy) => proxy,
            Err(e) => panic!("test-support: cannot bind 127.0.0.1:0: {e}"),
        }
    }
}

#[derive(Debug)]
struct HttpShared {
    auth: Option<(String, String)>,
    refuse_connect: Option<StatusCode>,
    drop_connect: bool,
    requests: Mutex<Vec<ProxyRequest>>,
}

/// An HTTP/1.1 proxy on loopback: forwards absolute-form requests
/// (`GET http://127.0.0.1:PORT/path HTTP/1.1`) to their origin and opens
/// `CONNECT host:port` tunnels.
///
/// * A forwarded request goes to its origin over a new connection, in
///   origin-form, without the hop-by-hop fields `Proxy-Authorization`,
///   `Proxy-Connection`, `Connection` (and the fields it names) and
///   `Keep-Alive`; a missing `Host` is added. The response is streamed
///   back. The client connection stays open across requests, also to
///   different origins.
/// * A `CONNECT` is answered `200 Connection established` once the target
///   accepted the connection; then bytes are copied both ways until one side
///   closes.
/// * Only loopback targets are connected; anything else is answered
///   `502 Bad Gateway`, as is a target that refuses the connection. A
///   forwarded request that is not absolute-form `http://` gets
///   `400 Bad Request`.
///
/// Like the servers of this crate it serves every connection in its own
/// task, stops when dropped, and re-raises handler panics on drop.
///
/// ```no_run
/// # async fn demo() {
/// use test_support::{HttpProxy, HttpServer};
///
/// let origin = HttpServer::echo().await;
/// let proxy = HttpProxy::builder().auth("user", "pass").start().await;
/// // ... a client requests origin.url("/") through proxy.url() ...
/// let seen = proxy.requests();
/// assert_eq!(seen[0].header("proxy-authorization"), Some("Basic dXNlcjpwYXNz"));
/// # let _ = origin;
/// # }
/// ```
#[derive(Debug)]
pub struct HttpProxy {
    acceptor: Acceptor,
    shared: Arc<HttpShared>,
    tls: bool,
}

impl HttpProxy {
    /// Starts an open proxy (no credentials needed, no TLS) on
    /// `127.0.0.1:0`.
    ///
    /// # Panics
    ///
    /// Panics if no loopback port can be bound.
    pub async fn start() -> Self {
        HttpProxyBuilder::default().start().await
    }

    /// Options for a proxy: credentials, refused or dropped `CONNECT`s,
    /// TLS.
    pub fn builder() -> HttpProxyBuilder {
        HttpProxyBuilder::default()
    }

    /// Starts a proxy with `options` bound to `addr` (port 0 for a free
    /// port).
    pub async fn start_on(addr: SocketAddr, options: HttpProxyBuilder) -> io::Result<Self> {
        let HttpProxyBuilder {
            auth,
            refuse_connect,
            drop_connect,
            tls,
        } = options;
        let shared = Arc::new(HttpShared {
            auth,
            refuse_connect,
            drop_connect,
            requests: Mutex::new(Vec::new()),
        });
        let is_tls = tls.is_some();
        let tls = tls.map(tokio_rustls::TlsAcceptor::from);
        let conn_shared = Arc::clone(&shared);
        let acceptor = Acceptor::bind(addr, move |stream, accepted| {
            let shared = Arc::clone(&conn_shared);
            let tls = tls.clone();
            async move {
                match tls {
                    Some(tls) => {
                        // A failed handshake is the client's business.
                        if let Ok(stream) = tls.accept(stream).await {
                            serve_http_client(stream, accepted.index, shared).await;
                        }
                    }
                    None => serve_http_client(stream, accepted.index, shared).await,
                }
            }
        })
        .await?;
        Ok(Self {
            acceptor,
            shared,
            tls: is_tls,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.acceptor.addr()
    }

    /// The proxy URL: `http://127.0.0.1:PORT`, or `https://...` when it
    /// speaks TLS.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr())
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<ProxyRequest> {
        lock(&self.shared.requests).clone()
    }

    /// How many client connections have been accepted so far (TCP
    /// connections, counted before any TLS handshake).
    pub fn connections(&self) -> usize {
        self.acceptor.stats().accepted()
    }

    /// How many client connections are open now (their task has not ended).
    pub fn open_connections(&self) -> usize {
        self.acceptor.stats().open()
    }

    /// Waits until [`open_connections`](Self::open_connections) equals `n`;
    /// returns `false` if it still differs after `timeout`.
    pub async fn wait_for_open_connections(&self, n: usize, timeout: Duration) -> bool {
        self.acceptor.wait_open(n, timeout).await
    }

    /// Panics if a connection task has panicked so far (dropping the proxy
    /// does the same check).
    pub fn check(&self) {
        self.acceptor.panics().check();
    }

    /// Stops accepting and closes every connection and tunnel; returns once
    /// they are all gone.
    pub async fn shutdown(self) {
        self.acceptor.shutdown().await;
    }
}

/// A `CONNECT` answered with 200, waiting for hyper to hand over the
/// client connection.
struct Tunnel {
    client: OnUpgrade,
    upstream: TcpStream,
}

/// The service's error that makes hyper close the client connection
/// without writing a response.
#[derive(Debug)]
struct DropConnection;

impl std::fmt::Display for DropConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CONNECT dropped by the test proxy")
    }
}

impl std::error::Error for DropConnection {}

/// Serves one client connection: HTTP/1.1 with keep-alive until it ends or
/// a `CONNECT` turns it into a tunnel, which is then run here too, so that
/// dropping the proxy (which aborts this task) also closes tunnels.
async fn serve_http_client<IO>(io: IO, conn: usize, shared: Arc<HttpShared>)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let tunnel: Arc<Mutex<Option<Tunnel>>> = Arc::new(Mutex::new(None));
    let slot = Arc::clone(&tunnel);
    let service = service_fn(move |req: Request<Incoming>| {
        let shared = Arc::clone(&shared);
        let slot = Arc::clone(&slot);
        async move { handle_http(req, conn, &shared, &slot).await }
    });
    // Errors are client misbehaviour, aborted connections or a dropped
    // CONNECT; the client side of the test observes them.
    let _ = http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades()
        .await;
    let pending = lock(&tunnel).take();
    if let Some(Tunnel {
        client,
        mut upstream,
    }) = pending
    {
        if let Ok(upgraded) = client.await {
            let mut client = TokioIo::new(upgraded);
            let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
        }
    }
}

async fn handle_http(
    mut req: Request<Incoming>,
    conn: usize,
    shared: &HttpShared,
    tunnel: &Mutex<Option<Tunnel>>,
) -> Result<Response<BoxBody>, DropConnection> {
    lock(&shared.requests).push(ProxyRequest {
        conn,
        method: req.method().as_str().to_owned(),
        target: req.uri().to_string(),
        headers: req
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
    });
    let is_connect = req.method() == Method::CONNECT;
    if is_connect && shared.drop_connect {
        return Err(DropConnection);
    }
    if !authorized(shared.auth.as_ref(), req.headers()) {
        let mut resp = text(
            StatusCode::PROXY_AUTHENTICATION_REQUIRED,
            "proxy authentication required",
        );
        resp.headers_mut().insert(
            "proxy-authenticate",
            HeaderValue::from_static("Basic realm=\"test\""),
        );
        return Ok(resp);
    }
    if !is_connect {
        return Ok(forward(req).await);
    }
    if let Some(status) = shared.refuse_connect {
        let mut resp = text(status, "CONNECT refused by the test proxy");
        resp.headers_mut()
            .insert("x-proxy-refused", HeaderValue::from_static("yes"));
        return Ok(resp);
    }
    let Some((host, port)) = req
        .uri()
        .authority()
        .and_then(|a| Some((a.host().to_owned(), a.port_u16()?)))
    else {
        return Ok(text(
            StatusCode::BAD_REQUEST,
            "CONNECT needs a host:port target",
        ));
    };
    match connect_loopback(&host, port).await {
        Ok(upstream) => {
            let client = hyper::upgrade::on(&mut req);
            *lock(tunnel) = Some(Tunnel { client, upstream });
            let mut resp = Response::new(empty());
            resp.extensions_mut()
                .insert(ReasonPhrase::from_static(b"Connection established"));
            Ok(resp)
        }
        Err(e) => Ok(text(StatusCode::BAD_GATEWAY, e.to_string())),
    }
}

fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<BoxBody> {
    let mut resp = Response::new(full(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain"),
    );
    resp
}

/// Whether `headers` carry the expected Basic proxy credentials (always
/// true without `expected`).
fn authorized(expected: Option<&(String, String)>, headers: &HeaderMap) -> bool {
    let Some((user, pass)) = expected else {
        return true;
    };
    let Some(value) = headers
        .get(PROXY_AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some((scheme, token)) = value.trim().split_once(' ') else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return false;
    }
    base64::engine::general_purpose::STANDARD
        .decode(token.trim())
        .is_ok_and(|decoded| decoded == format!("{user}:{pass}").as_bytes())
}

/// Removes the hop-by-hop fields a proxy must not pass on.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in [
        "connection",
        "keep-alive",
        "proxy-authorization",
        "proxy-connection",
    ] {
        headers.remove(name);
    }
}

/// Sends a forwarded request to its origin and returns the origin's
/// response (or a 4xx/5xx of the proxy's own).
async fn forward(req: Request<Incoming>) -> Response<BoxBody> {
    let (mut parts, body) = req.into_parts();
    if parts.uri.scheme_str() != Some("http") {
        return text(
            StatusCode::BAD_REQUEST,
            "the test proxy forwards only absolute-form http:// requests",
        );
    }
    let Some(authority) = parts.uri.authority().cloned() else {
        return text(StatusCode::BAD_REQUEST, "request target without a host");
    };
    let upstream =
        match connect_loopback(authority.host(), authority.port_u16().unwrap_or(80)).await {
            Ok(s) => s,
            Err(e) => return text(StatusCode::BAD_GATEWAY, e.to_string()),
        };
    let (mut sender, conn) =
        match hyper::client::conn::http1::handshake::<_, Incoming>(TokioIo::new(upstream)).await {
            Ok(pair) => pair,
            Err(e) => return text(StatusCode::BAD_GATEWAY, format!("upstream: {e}")),
        };
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |pq| pq.as_str())
        .to_owned();
    parts.uri = match path.parse::<Uri>() {
        Ok(uri) => uri,
        Err(e) => return text(StatusCode::BAD_REQUEST, format!("bad target: {e}")),
    };
    strip_hop_by_hop(&mut parts.headers);
    if !parts.headers.contains_key(HOST) {
        if let Ok(host) = HeaderValue::from_str(authority.as_str()) {
            parts.headers.insert(HOST, host);
        }
    }
    parts.extensions = http::Extensions::new();

    // The upstream connection is driven here until the response head
    // arrives, then by the response body, so it lives exactly as long as
    // the response and closes with it.
    let mut conn: ConnFuture = Box::pin(async move {
        let _ = conn.await;
    });
    let mut conn_done = false;
    let send = sender.send_request(Request::from_parts(parts, body));
    tokio::pin!(send);
    let result = loop {
        tokio::select! {
            res = &mut send => break res,
            () = &mut conn, if !conn_done => conn_done = true,
        }
    };
    let resp = match result {
        Ok(resp) => resp,
        Err(e) => return text(StatusCode::BAD_GATEWAY, format!("upstream: {e}")),
    };
    let (mut parts, body) = resp.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    let body = UpstreamBody {
        body,
        conn: (!conn_done).then(|| Mutex::new(conn)),
    };
    Response::from_parts(parts, BoxBody::new(body))
}

/// The future driving an origin connection.
type ConnFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// An origin's response body that also drives the origin connection.
struct UpstreamBody {
    body: Incoming,
    /// In a mutex only to make the body `Sync`, as [`BoxBody`] requires;
    /// it is never contended.
    conn: Option<Mutex<ConnFuture>>,
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if let Some(conn) = &mut this.conn {
            let conn = conn.get_mut().unwrap_or_else(PoisonError::into_inner);
            if conn.as_mut().poll(cx).is_ready() {
                this.conn = None;
            }
        }
        Pin::new(&mut this.body).poll_frame(cx).map_err(Into::into)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

// ---------------------------------------------------------------------------
// SOCKS proxy
// ---------------------------------------------------------------------------

/// The target of a SOCKS `CONNECT` as the client sent it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SocksTarget {
    /// An address (SOCKS4, SOCKS5 address types 1 and 4).
    Ip(SocketAddr),
    /// A host name and port (SOCKS4a, SOCKS5 address type 3), resolved by
    /// the proxy.
    Domain(String, u16),
}

/// One `CONNECT` request received by a [`SocksProxy`], recorded before it
/// was answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocksRequest {
    /// The protocol version: 4 (also for SOCKS4a) or 5.
    pub version: u8,
    /// Where the client asked to connect.
    pub target: SocksTarget,
    /// The SOCKS5 user name (RFC 1929) or the SOCKS4 user id; `None`
    /// without username/password authentication or with an empty user id.
    pub user: Option<String>,
}

/// Options of a [`SocksProxy`]; made by [`SocksProxy::builder`], started
/// with [`start`](Self::start).
#[derive(Debug, Clone, Default)]
pub struct SocksProxyBuilder {
    auth: Option<(String, String)>,
    connect_reply: Option<u8>,
}

impl SocksProxyBuilder {
    /// Requires credentials. SOCKS5 clients must offer method 0x02
    /// (username/password, RFC 1929), else they get "no acceptable
    /// methods" (0xFF); wrong credentials get the failure status 0x01 and
    /// the connection is closed. SOCKS4 requests must carry the user id
    /// `user`, else they are answered 0x5B.
    pub fn auth(mut self, user: impl Into<String>, pass: impl Into<String>) -> Self {
        self.auth = Some((user.into(), pass.into()));
        self
    }

    /// Answers every `CONNECT` with the SOCKS5 reply code `code` (e.g. 0x05
    /// connection refused; SOCKS4 clients get 0x5B) without connecting,
    /// then closes the connection.
    pub fn connect_reply(mut self, code: u8) -> Self {
        self.connect_reply = Some(code);
        self
    }

    /// Starts the proxy on `127.0.0.1:0`.
    ///
    /// # Panics
    ///
    /// Panics if no loopback port can be bound.
    pub async fn start(self) -> SocksProxy {
        match SocksProxy::start_on(loopback_any(), self).await {
            Ok(proxy) => proxy,
            Err(e) => panic!("test-support: cannot bind 127.0.0.1:0: {e}"),
        }
    }
}

#[derive(Debug)]
struct SocksShared {
    auth: Option<(String, String)>,
    connect_reply: Option<u8>,
    requests: Mutex<Vec<SocksRequest>>,
}

/// A SOCKS4, SOCKS4a and SOCKS5 proxy on loopback (`CONNECT` only).
///
/// * SOCKS5: methods "no authentication" (0x00) and username/password
///   (0x02); address types IPv4, domain and IPv6. Without
///   [`auth`](SocksProxyBuilder::auth) any credentials are accepted from a
///   client that offers only 0x02. Other commands get 0x07, unknown
///   address types 0x08.
/// * SOCKS4 with an IPv4 address, SOCKS4a with `0.0.0.x` (x ≠ 0) and a
///   host name after the user id. Failures are answered 0x5B.
/// * Only loopback targets (and the name `localhost`) are connected: other
///   targets get SOCKS5 0x04 (host unreachable); a refused connection gets
///   0x05, other connect errors 0x01.
///
/// After a successful reply bytes are copied both ways until one side
/// closes. Like the servers of this crate it serves every connection in its
/// own task, stops when dropped, and re-raises handler panics on drop.
///
/// ```no_run
/// # async fn demo() {
/// use test_support::{SocksProxy, SocksTarget};
///
/// let proxy = SocksProxy::builder().auth("user", "pass").start().await;
/// let url = proxy.url("socks5h"); // socks5h://127.0.0.1:PORT
/// // ... a client connects through it ...
/// let seen = proxy.requests();
/// assert_eq!(seen[0].version, 5);
/// assert!(matches!(seen[0].target, SocksTarget::Domain(ref host, _) if host == "localhost"));
/// # let _ = url;
/// # }
/// ```
#[derive(Debug)]
pub struct SocksProxy {
    acceptor: Acceptor,
    shared: Arc<SocksShared>,
}

impl SocksProxy {
    /// Starts a proxy without authentication on `127.0.0.1:0`.
    ///
    /// # Panics
    ///
    /// Panics if no loopback port can be bound.
    pub async fn start() -> Self {
        SocksProxyBuilder::default().start().await
    }

    /// Options for a proxy: credentials, a fixed reply.
    pub fn builder() -> SocksProxyBuilder {
        SocksProxyBuilder::default()
    }

    /// Starts a proxy with `options` bound to `addr` (port 0 for a free
    /// port).
    pub async fn start_on(addr: SocketAddr, options: SocksProxyBuilder) -> io::Result<Self> {
        let shared = Arc::new(SocksShared {
            auth: options.auth,
            connect_reply: options.connect_reply,
            requests: Mutex::new(Vec::new()),
        });
        let conn_shared = Arc::clone(&shared);
        let acceptor = Acceptor::bind(addr, move |stream, _accepted| {
            let shared = Arc::clone(&conn_shared);
            async move {
                // I/O errors are the client closing or misbehaving; the
                // client side of the test observes them.
                let _ = serve_socks_client(stream, &shared).await;
            }
        })
        .await?;
        Ok(Self { acceptor, shared })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.acceptor.addr()
    }

    /// `{scheme}://127.0.0.1:PORT`, e.g. `proxy.url("socks5h")`.
    pub fn url(&self, scheme: &str) -> String {
        format!("{scheme}://{}", self.addr())
    }

    /// Every `CONNECT` request received so far, in arrival order.
    pub fn requests(&self) -> Vec<SocksRequest> {
        lock(&self.shared.requests).clone()
    }

    /// How many client connections have been accepted so far.
    pub fn connections(&self) -> usize {
        self.acceptor.stats().accepted()
    }

    /// How many client connections are open now (their task has not ended).
    pub fn open_connections(&self) -> usize {
        self.acceptor.stats().open()
    }

    /// Panics if a connection task has panicked so far (dropping the proxy
    /// does the same check).
    pub fn check(&self) {
        self.acceptor.panics().check();
    }

    /// Stops accepting and closes every connection and tunnel; returns once
    /// they are all gone.
    pub async fn shutdown(self) {
        self.acceptor.shutdown().await;
    }
}

const SOCKS5_GENERAL_FAILURE: u8 = 0x01;
const SOCKS5_HOST_UNREACHABLE: u8 = 0x04;
const SOCKS5_CONNECTION_REFUSED: u8 = 0x05;
const SOCKS5_COMMAND_NOT_SUPPORTED: u8 = 0x07;
const SOCKS5_ADDRESS_TYPE_NOT_SUPPORTED: u8 = 0x08;
const SOCKS4_GRANTED: u8 = 0x5A;
const SOCKS4_REJECTED: u8 = 0x5B;

async fn serve_socks_client(mut client: TcpStream, shared: &SocksShared) -> io::Result<()> {
    match client.read_u8().await? {
        4 => socks4(client, shared).await,
        5 => socks5(client, shared).await,
        _ => Ok(()),
    }
}

/// Connects to a SOCKS target: a loopback address or a name that is
/// `localhost` or a loopback address literal.
async fn connect_socks_target(target: &SocksTarget) -> Result<TcpStream, ConnectError> {
    match target {
        SocksTarget::Ip(addr) => connect_loopback(&addr.ip().to_string(), addr.port()).await,
        SocksTarget::Domain(host, port) => connect_loopback(host, *port).await,
    }
}

fn socks5_error_code(e: &ConnectError) -> u8 {
    match e {
        ConnectError::NotAllowed => SOCKS5_HOST_UNREACHABLE,
        ConnectError::Io(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
            SOCKS5_CONNECTION_REFUSED
        }
        ConnectError::Io(_) => SOCKS5_GENERAL_FAILURE,
    }
}

/// A SOCKS5 reply with `code` and the bound address `bound`.
fn socks5_reply(code: u8, bound: SocketAddr) -> Vec<u8> {
    let mut reply = vec![5, code, 0];
    match bound.ip() {
        IpAddr::V4(ip) => {
            reply.push(1);
            reply.extend_from_slice(&ip.octets());
        }
        IpAddr::V6(ip) => {
            reply.push(4);
            reply.extend_from_slice(&ip.octets());
        }
    }
    reply.extend_from_slice(&bound.port().to_be_bytes());
    reply
}

fn socks5_failure(code: u8) -> Vec<u8> {
    socks5_reply(code, SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)))
}

async fn read_bytes(stream: &mut TcpStream, n: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0; n];
    stream.read_exact(&mut buf).await?;
    Ok(buf)
}

/// Reads a NUL-terminated string (SOCKS4 user id, SOCKS4a host name) one
/// byte at a time, so that nothing after it is consumed.
async fn read_cstr(stream: &mut TcpStream) -> io::Result<String> {
    let mut bytes = Vec::new();
    loop {
        match stream.read_u8().await? {
            0 => return Ok(String::from_utf8_lossy(&bytes).into_owned()),
            b if bytes.len() < 1024 => bytes.push(b),
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "SOCKS4 string too long",
                ))
            }
        }
    }
}

async fn socks5(mut client: TcpStream, shared: &SocksShared) -> io::Result<()> {
    let n = client.read_u8().await?;
    let methods = read_bytes(&mut client, usize::from(n)).await?;
    let use_auth = if shared.auth.is_some() {
        methods.contains(&2).then_some(true)
    } else if methods.contains(&0) {
        Some(false)
    } else {
        methods.contains(&2).then_some(true)
    };
    let Some(use_auth) = use_auth else {
        return client.write_all(&[5, 0xFF]).await;
    };
    let mut user = None;
    if use_auth {
        client.write_all(&[5, 2]).await?;
        let _version = client.read_u8().await?;
        let ulen = client.read_u8().await?;
        let name = read_bytes(&mut client, usize::from(ulen)).await?;
        let plen = client.read_u8().await?;
        let pass = read_bytes(&mut client, usize::from(plen)).await?;
        let ok = shared
            .auth
            .as_ref()
            .is_none_or(|(u, p)| name == u.as_bytes() && pass == p.as_bytes());
        if !ok {
            client.write_all(&[1, 1]).await?;
            return Ok(());
        }
        client.write_all(&[1, 0]).await?;
        user = Some(String::from_utf8_lossy(&name).into_owned());
    } else {
        client.write_all(&[5, 0]).await?;
    }

    let head = read_bytes(&mut client, 4).await?;
    if head[0] != 5 {
        return Ok(());
    }
    let target = match head[3] {
        1 => {
            let ip = read_bytes(&mut client, 4).await?;
            let port = client.read_u16().await?;
            SocksTarget::Ip(SocketAddr::from((
                Ipv4Addr::new(ip[0], ip[1], ip[2], ip[3]),
                port,
            )))
        }
        3 => {
            let len = client.read_u8().await?;
            let name = read_bytes(&mut client, usize::from(len)).await?;
            let port = client.read_u16().await?;
            SocksTarget::Domain(String::from_utf8_lossy(&name).into_owned(), port)
        }
        4 => {
            let mut ip = [0u8; 16];
            client.read_exact(&mut ip).await?;
            let port = client.read_u16().await?;
            SocksTarget::Ip(SocketAddr::from((Ipv6Addr::from(ip), port)))
        }
        _ => {
            return client
                .write_all(&socks5_failure(SOCKS5_ADDRESS_TYPE_NOT_SUPPORTED))
                .await;
        }
    };
    if head[1] != 1 {
        return client
            .write_all(&socks5_failure(SOCKS5_COMMAND_NOT_SUPPORTED))
            .await;
    }
    lock(&shared.requests).push(SocksRequest {
        version: 5,
        target: target.clone(),
        user,
    });
    if let Some(code) = shared.connect_reply {
        return client.write_all(&socks5_failure(code)).await;
    }
    let mut upstream = match connect_socks_target(&target).await {
        Ok(s) => s,
        Err(e) => {
            return client
                .write_all(&socks5_failure(socks5_error_code(&e)))
                .await
        }
    };
    let bound = upstream.local_addr()?;
    client.write_all(&socks5_reply(0, bound)).await?;
    tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
    Ok(())
}

async fn socks4(mut client: TcpStream, shared: &SocksShared) -> io::Result<()> {
    let command = client.read_u8().await?;
    let port = client.read_u16().await?;
    let ip = read_bytes(&mut client, 4).await?;
    let user = read_cstr(&mut client).await?;
    let target = if ip[..3] == [0, 0, 0] && ip[3] != 0 {
        SocksTarget::Domain(read_cstr(&mut client).await?, port)
    } else {
        SocksTarget::Ip(SocketAddr::from((
            Ipv4Addr::new(ip[0], ip[1], ip[2], ip[3]),
            port,
        )))
    };
    let reject = [0, SOCKS4_REJECTED, 0, 0, 0, 0, 0, 0];
    if command != 1 {
        return client.write_all(&reject).await;
    }
    lock(&shared.requests).push(SocksRequest {
        version: 4,
        target: target.clone(),
        user: (!user.is_empty()).then(|| user.clone()),
    });
    if shared.auth.as_ref().is_some_and(|(u, _)| *u != user) || shared.connect_reply.is_some() {
        return client.write_all(&reject).await;
    }
    let Ok(mut upstream) = connect_socks_target(&target).await else {
        return client.write_all(&reject).await;
    };
    let mut reply = vec![0, SOCKS4_GRANTED];
    match upstream.local_addr()? {
        SocketAddr::V4(bound) => {
            reply.extend_from_slice(&bound.port().to_be_bytes());
            reply.extend_from_slice(&bound.ip().octets());
        }
        SocketAddr::V6(_) => reply.extend_from_slice(&[0; 6]),
    }
    client.write_all(&reply).await?;
    tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{HttpServer, RawServer};
    use http_body_util::{BodyExt, Empty};
    use hyper::client::conn::http1::SendRequest;

    fn basic(user: &str, pass: &str) -> String {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
        format!("Basic {token}")
    }

    /// A TCP server that echoes every byte back.
    async fn tcp_echo() -> RawServer {
        RawServer::start(|conn| async move {
            let (mut stream, _) = conn.into_inner();
            let (mut r, mut w) = stream.split();
            let _ = tokio::io::copy(&mut r, &mut w).await;
        })
        .await
    }

    /// An HTTP/1.1 client connection over `io` (a plain or TLS stream).
    async fn hyper_client<IO>(io: IO) -> SendRequest<Empty<Bytes>>
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .expect("handshake");
        tokio::spawn(conn);
        sender
    }

    fn request(method: Method, uri: &str, headers: &[(&str, &str)]) -> Request<Empty<Bytes>> {
        let mut builder = Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(Empty::new()).expect("request")
    }

    async fn send(
        sender: &mut SendRequest<Empty<Bytes>>,
        req: Request<Empty<Bytes>>,
    ) -> (Response<()>, Bytes) {
        sender.ready().await.expect("ready");
        let resp = sender.send_request(req).await.expect("response");
        let (parts, body) = resp.into_parts();
        let body = body.collect().await.expect("body").to_bytes();
        (Response::from_parts(parts, ()), body)
    }

    fn json(body: &[u8]) -> serde_json::Value {
        serde_json::from_slice(body).expect("echo body is JSON")
    }

    fn echo_header<'a>(value: &'a serde_json::Value, name: &str) -> Option<&'a str> {
        value["headers"]
            .as_array()
            .expect("headers")
            .iter()
            .find(|pair| pair[0] == name)
            .and_then(|pair| pair[1].as_str())
    }

    /// Reads a response head byte by byte, leaving what follows unread.
    async fn read_head<S: AsyncRead + Unpin>(stream: &mut S) -> String {
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let b = stream.read_u8().await.expect("response head");
            head.push(b);
        }
        String::from_utf8(head).expect("UTF-8 head")
    }

    async fn assert_echoes<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S) {
        stream.write_all(b"ping through").await.expect("write");
        let mut buf = [0u8; 12];
        stream.read_exact(&mut buf).await.expect("echo");
        assert_eq!(&buf, b"ping through");
    }

    fn connect_request(target: SocketAddr, extra: &str) -> String {
        format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n{extra}\r\n")
    }

    #[tokio::test]
    async fn forward_get_strips_proxy_fields_and_records_them() {
        let origin = HttpServer::echo().await;
        let proxy = HttpProxy::builder().auth("user", "pass").start().await;
        assert_eq!(proxy.url(), format!("http://{}", proxy.addr()));

        let tcp = TcpStream::connect(proxy.addr()).await.expect("connect");
        let mut client = hyper_client(tcp).await;
        let url = origin.url("/a?b=1");
        let auth = basic("user", "pass");
        let (resp, body) = send(
            &mut client,
            request(
                Method::GET,
                &url,
                &[
                    ("host", &origin.addr().to_string()),
                    ("proxy-authorization", &auth),
                    ("proxy-connection", "keep-alive"),
                    ("x-test", "1"),
                ],
            ),
        )
        .await;
        assert_eq!(resp.status(), 200);
        let seen = json(&body);
        assert_eq!(seen["target"], "/a?b=1");
        assert_eq!(echo_header(&seen, "x-test"), Some("1"));
        assert_eq!(echo_header(&seen, "proxy-authorization"), None);
        assert_eq!(echo_header(&seen, "proxy-connection"), None);
        assert_eq!(
            echo_header(&seen, "host"),
            Some(origin.addr().to_string().as_str())
        );

        let recorded = proxy.requests();
        assert_eq!(recorded.len(), 1);
        assert_eq!(recorded[0].conn, 0);
        assert_eq!(recorded[0].method, "GET");
        assert_eq!(recorded[0].target, url);
        assert_eq!(
            recorded[0].header("Proxy-Authorization"),
            Some(auth.as_str())
        );
        assert_eq!(recorded[0].header("proxy-connection"), Some("keep-alive"));
    }

    #[tokio::test]
    async fn one_client_connection_serves_two_origins() {
        let first = HttpServer::echo().await;
        let second = HttpServer::echo().await;
        let proxy = HttpProxy::start().await;
        let tcp = TcpStream::connect(proxy.addr()).await.expect("connect");
        let mut client = hyper_client(tcp).await;
        for origin in [&first, &second, &first] {
            let (resp, body) =
                send(&mut client, request(Method::GET, &origin.url("/x"), &[])).await;
            assert_eq!(resp.status(), 200);
            assert_eq!(json(&body)["path"], "/x");
        }
        assert_eq!(proxy.connections(), 1);
        assert_eq!(first.requests_received(), 2);
        assert_eq!(second.requests_received(), 1);
        let recorded = proxy.requests();
        assert_eq!(recorded.len(), 3);
        assert!(recorded.iter().all(|r| r.conn == 0));
        assert_eq!(recorded[1].target, second.url("/x"));
    }

    #[tokio::test]
    async fn forward_to_a_non_loopback_host_is_a_bad_gateway() {
        let proxy = HttpProxy::start().await;
        let tcp = TcpStream::connect(proxy.addr()).await.expect("connect");
        let mut client = hyper_client(tcp).await;
        let (resp, _) = send(
            &mut client,
            request(
                Method::GET,
                "http://example.com/",
                &[("host", "example.com")],
            ),
        )
        .await;
        assert_eq!(resp.status(), 502);
        let (resp, _) = send(&mut client, request(Method::GET, "/origin-form", &[])).await;
        assert_eq!(resp.status(), 400);
        assert_eq!(proxy.requests().len(), 2);
    }

    #[tokio::test]
    async fn connect_tunnels_to_a_tcp_server() {
        let echo = tcp_echo().await;
        let proxy = HttpProxy::start().await;
        let mut tcp = TcpStream::connect(proxy.addr()).await.expect("connect");
        tcp.write_all(connect_request(echo.addr(), "").as_bytes())
            .await
            .expect("write");
        let head = read_head(&mut tcp).await;
        assert!(
            head.starts_with("HTTP/1.1 200 Connection established\r\n"),
            "{head}"
        );
        assert_echoes(&mut tcp).await;

        let recorded = proxy.requests();
        assert_eq!(recorded.len(), 1);
        assert_eq!(recorded[0].method, "CONNECT");
        assert_eq!(recorded[0].target, echo.addr().to_string());
        assert_eq!(
            recorded[0].header("host"),
            Some(echo.addr().to_string().as_str())
        );
    }

    #[tokio::test]
    async fn connect_to_a_closed_port_or_elsewhere_is_a_bad_gateway() {
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr")
        };
        let proxy = HttpProxy::start().await;
        let tcp = TcpStream::connect(proxy.addr()).await.expect("connect");
        let mut client = hyper_client(tcp).await;
        for target in [closed.to_string(), "192.0.2.1:80".to_owned()] {
            let (resp, _) = send(
                &mut client,
                request(Method::CONNECT, &target, &[("host", &target)]),
            )
            .await;
            assert_eq!(resp.status(), 502, "{target}");
        }
    }

    #[tokio::test]
    async fn credentials_are_required_when_configured() {
        let origin = HttpServer::echo().await;
        let echo = tcp_echo().await;
        let proxy = HttpProxy::builder().auth("user", "pass").start().await;

        // CONNECT without credentials.
        let mut tcp = TcpStream::connect(proxy.addr()).await.expect("connect");
        tcp.write_all(connect_request(echo.addr(), "").as_bytes())
            .await
            .expect("write");
        let head = read_head(&mut tcp).await;
        assert!(head.starts_with("HTTP/1.1 407 "), "{head}");
        assert!(
            head.to_ascii_lowercase()
                .contains("proxy-authenticate: basic realm=\"test\"\r\n"),
            "{head}"
        );
        drop(tcp);

        // CONNECT with the right credentials.
        let mut tcp = TcpStream::connect(proxy.addr()).await.expect("connect");
        let auth = format!("Proxy-Authorization: {}\r\n", basic("user", "pass"));
        tcp.write_all(connect_request(echo.addr(), &auth).as_bytes())
            .await
            .expect("write");
        let head = read_head(&mut tcp).await;
        assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
        assert_echoes(&mut tcp).await;

        // Forwarded requests: none, wrong, right.
        let tcp = TcpStream::connect(proxy.addr()).await.expect("connect");
        let mut client = hyper_client(tcp).await;
        let url = origin.url("/");
        let wrong = basic("user", "wrong");
        let right = basic("user", "pass");
        for (headers, status) in [
            (vec![], 407),
            (vec![("proxy-authorization", wrong.as_str())], 407),
            (vec![("proxy-authorization", right.as_str())], 200),
        ] {
            let (resp, _) = send(&mut client, request(Method::GET, &url, &headers)).await;
            assert_eq!(resp.status(), status);
            if status == 407 {
                assert_eq!(resp.headers()["proxy-authenticate"], "Basic realm=\"test\"");
            }
        }
        assert_eq!(origin.requests_received(), 1);
        assert_eq!(proxy.requests().len(), 5);
        assert_eq!(proxy.connections(), 3);
    }

    #[tokio::test]
    async fn refused_connect_answers_with_the_status() {
        let echo = tcp_echo().await;
        let proxy = HttpProxy::builder().refuse_connect(403).start().await;
        let tcp = TcpStream::connect(proxy.addr()).await.expect("connect");
        let mut client = hyper_client(tcp).await;
        let target = echo.addr().to_string();
        let (resp, body) = send(
            &mut client,
            request(Method::CONNECT, &target, &[("host", &target)]),
        )
        .await;
        assert_eq!(resp.status(), 403);
        assert_eq!(resp.headers()["x-proxy-refused"], "yes");
        assert!(!body.is_empty());
        assert_eq!(echo.connections_accepted(), 0);
        assert_eq!(proxy.requests()[0].method, "CONNECT");
    }

    #[tokio::test]
    async fn dropped_connect_closes_without_an_answer() {
        let echo = tcp_echo().await;
        let proxy = HttpProxy::builder().drop_connect().start().await;
        let mut tcp = TcpStream::connect(proxy.addr()).await.expect("connect");
        tcp.write_all(connect_request(echo.addr(), "").as_bytes())
            .await
            .expect("write");
        let mut rest = Vec::new();
        // EOF (or a reset) without a single byte of response.
        let _ = tcp.read_to_end(&mut rest).await;
        assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
        assert_eq!(proxy.requests().len(), 1);
        assert_eq!(echo.connections_accepted(), 0);
    }

    fn self_signed() -> (
        Arc<rustls::ServerConfig>,
        rustls::pki_types::CertificateDer<'static>,
    ) {
        let key = rcgen::KeyPair::generate().expect("key");
        let params = rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
            .expect("params");
        let cert = params.self_signed(&key).expect("cert");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .expect("server config");
        (Arc::new(config), cert.der().clone())
    }

    async fn tls_connect(
        addr: SocketAddr,
        ca: rustls::pki_types::CertificateDer<'static>,
    ) -> tokio_rustls::client::TlsStream<TcpStream> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca).expect("root");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let tcp = TcpStream::connect(addr).await.expect("connect");
        let name = rustls::pki_types::ServerName::try_from("127.0.0.1").expect("name");
        connector.connect(name, tcp).await.expect("TLS handshake")
    }

    #[tokio::test]
    async fn tls_proxy_tunnels_and_forwards() {
        let echo = tcp_echo().await;
        let origin = HttpServer::echo().await;
        let (config, ca) = self_signed();
        let proxy = HttpProxy::builder().tls(config).start().await;
        assert_eq!(proxy.url(), format!("https://{}", proxy.addr()));

        let mut tls = tls_connect(proxy.addr(), ca.clone()).await;
        tls.write_all(connect_request(echo.addr(), "").as_bytes())
            .await
            .expect("write");
        let head = read_head(&mut tls).await;
        assert!(
            head.starts_with("HTTP/1.1 200 Connection established\r\n"),
            "{head}"
        );
        assert_echoes(&mut tls).await;

        let tls = tls_connect(proxy.addr(), ca).await;
        let mut client = hyper_client(tls).await;
        let (resp, body) = send(&mut client, request(Method::GET, &origin.url("/t"), &[])).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(json(&body)["path"], "/t");
        assert_eq!(proxy.connections(), 2);
        assert_eq!(proxy.requests().len(), 2);
    }

    // ---- SOCKS ----

    async fn socks5_greet(tcp: &mut TcpStream, methods: &[u8]) -> [u8; 2] {
        let mut hello = vec![5, u8::try_from(methods.len()).expect("few methods")];
        hello.extend_from_slice(methods);
        tcp.write_all(&hello).await.expect("write");
        let mut choice = [0u8; 2];
        tcp.read_exact(&mut choice).await.expect("method choice");
        choice
    }

    async fn socks5_login(tcp: &mut TcpStream, user: &str, pass: &str) -> [u8; 2] {
        let mut msg = vec![1, u8::try_from(user.len()).expect("short")];
        msg.extend_from_slice(user.as_bytes());
        msg.push(u8::try_from(pass.len()).expect("short"));
        msg.extend_from_slice(pass.as_bytes());
        tcp.write_all(&msg).await.expect("write");
        let mut status = [0u8; 2];
        tcp.read_exact(&mut status).await.expect("auth status");
        status
    }

    /// Sends a SOCKS5 CONNECT to an IPv4 address (`domain` `None`) or a
    /// name; returns the reply code after reading the whole reply.
    async fn socks5_connect(tcp: &mut TcpStream, target: SocketAddr, domain: Option<&str>) -> u8 {
        let mut msg = vec![5, 1, 0];
        match (domain, target) {
            (Some(name), _) => {
                msg.push(3);
                msg.push(u8::try_from(name.len()).expect("short"));
                msg.extend_from_slice(name.as_bytes());
            }
            (None, SocketAddr::V4(v4)) => {
                msg.push(1);
                msg.extend_from_slice(&v4.ip().octets());
            }
            (None, SocketAddr::V6(v6)) => {
                msg.push(4);
                msg.extend_from_slice(&v6.ip().octets());
            }
        }
        msg.extend_from_slice(&target.port().to_be_bytes());
        tcp.write_all(&msg).await.expect("write");
        let mut head = [0u8; 4];
        tcp.read_exact(&mut head).await.expect("reply");
        assert_eq!(head[0], 5);
        let rest = match head[3] {
            1 => 4 + 2,
            4 => 16 + 2,
            other => panic!("unexpected address type {other}"),
        };
        let mut bound = vec![0u8; rest];
        tcp.read_exact(&mut bound).await.expect("bound address");
        head[1]
    }

    #[tokio::test]
    async fn socks5_without_auth_by_address_and_by_name() {
        let echo = tcp_echo().await;
        let proxy = SocksProxy::start().await;
        assert_eq!(proxy.url("socks5"), format!("socks5://{}", proxy.addr()));

        let mut tcp = TcpStream::connect(proxy.addr()).await.expect("connect");
        assert_eq!(socks5_greet(&mut tcp, &[0]).await, [5, 0]);
        assert_eq!(socks5_connect(&mut tcp, echo.addr(), None).await, 0);
        assert_echoes(&mut tcp).await;

        let mut tcp = TcpStream::connect(proxy.addr()).await.expect("connect");
        assert_eq!(socks5_greet(&mut tcp, &[0, 2]).await, [5, 0]);
        assert_eq!(
            socks5_connect(&mut tcp, echo.addr(), Some("localhost")).await,
            0
        );
        assert_echoes(&mut tcp).await;

        assert_eq!(
            proxy.requests(),
            vec![
                SocksRequest {
                    version: 5,
                    target: SocksTarget::Ip(echo.addr()),
                    user: None,
                },
                SocksRequest {
                    version: 5,
                    target: SocksTarget::Domain("localhost".into(), echo.addr().port()),
                    user: None,
                },
            ]
        );
        assert_eq!(proxy.connections(), 2);
    }

    #[tokio::test]
    async fn socks5_with_auth() {
        let echo = tcp_echo().await;
        let proxy = SocksProxy::builder().auth("user", "pass").start().await;

        let mut tcp = TcpStream::connect(proxy.addr()).await.expect("connect");
        assert_eq!(socks5_greet(&mut tcp, &[0, 2]).await, [5, 2]);
        assert_eq!(socks5_login(&mut tcp, "user", "pass").await, [1, 0]);
        assert_eq!(socks5_connect(&mut tcp, echo.addr(), None).await, 0);
        assert_echoes(&mut tcp).await;

        // Wrong password: failure status, then the connection closes.
        let mut tcp = TcpStream::connect(proxy.addr()).await.expect("connect");
        assert_eq!(socks5_greet(&mut tcp, &[2]).await, [5, 2]);
        assert_eq!(socks5_login(&mut tcp, "user", "nope").await, [1, 1]);
        let mut rest = Vec::new();
        let _ = tcp.read_to_end(&mut rest).await;
        assert!(rest.is_empty());

        // No username/password method offered.
        let mut tcp = TcpStream::connect(proxy.addr()).await.expect("connect");
        assert_eq!(socks5_greet(&mut tcp, &[0]).await, [5, 0xFF]);

        assert_eq!(
            proxy.requests(),
            vec![SocksRequest {
                version: 5,
                target: SocksTarget::Ip(echo.addr()),
                user: Some("user".into()),
            }]
        );
    }

    #[tokio::test]
    async fn socks5_failure_replies() {
        let echo = tcp_echo().await;
        let proxy = SocksProxy::builder().connect_reply(0x05).start().await;
        let mut tcp = TcpStream::connect(proxy.addr()).await.expect("connect");
        socks5_greet(&mut tcp, &[0]).await;
        assert_eq!(socks5_connect(&mut tcp, echo.addr(), None).await, 0x05);
        assert_eq!(echo.connections_accepted(), 0);
        assert_eq!(proxy.requests().len(), 1);

        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr")
        };
        let proxy = SocksProxy::start().await;
        let mut tcp = TcpStream::connect(proxy.addr()).await.expect("connect");
        socks5_greet(&mut tcp, &[0]).await;
        assert_eq!(socks5_connect(&mut tcp, closed, None).await, 0x05);
        let mut tcp = TcpStream::connect(proxy.addr()).await.expect("connect");
        socks5_greet(&mut tcp, &[0]).await;
        let elsewhere = SocketAddr::from(([192, 0, 2, 1], 80));
        assert_eq!(socks5_connect(&mut tcp, elsewhere, None).await, 0x04);
        let mut tcp = TcpStream::connect(proxy.addr()).await.expect("connect");
        socks5_greet(&mut tcp, &[0]).await;
        assert_eq!(
            socks5_connect(&mut tcp, elsewhere, Some("example.com")).await,
            0x04
        );
    }

    async fn socks4_connect(tcp: &mut TcpStream, ip: [u8; 4], port: u16, tail: &[u8]) -> u8 {
        let mut msg = vec![4, 1];
        msg.extend_from_slice(&port.to_be_bytes());
        msg.extend_from_slice(&ip);
        msg.extend_from_slice(tail);
        tcp.write_all(&msg).await.expect("write");
        let mut reply = [0u8; 8];
        tcp.read_exact(&mut reply).await.expect("reply");
        assert_eq!(reply[0], 0);
        reply[1]
    }

    #[tokio::test]
    async fn socks4_and_socks4a() {
        let echo = tcp_echo().await;
        let port = echo.addr().port();
        let proxy = SocksProxy::start().await;

        let mut tcp = TcpStream::connect(proxy.addr()).await.expect("connect");
        assert_eq!(
            socks4_connect(&mut tcp, [127, 0, 0, 1], port, b"alice\0").await,
            0x5A
        );
        assert_echoes(&mut tcp).await;

        let mut tcp = TcpStream::connect(proxy.addr()).await.expect("connect");
        assert_eq!(
            socks4_connect(&mut tcp, [0, 0, 0, 1], port, b"\0localhost\0").await,
            0x5A
        );
        assert_echoes(&mut tcp).await;

        let mut tcp = TcpStream::connect(proxy.addr()).await.expect("connect");
        assert_eq!(
            socks4_connect(&mut tcp, [192, 0, 2, 1], 80, b"\0").await,
            0x5B
        );

        let recorded = proxy.requests();
        assert_eq!(
            recorded[..2],
            [
                SocksRequest {
                    version: 4,
                    target: SocksTarget::Ip(echo.addr()),
                    user: Some("alice".into()),
                },
                SocksRequest {
                    version: 4,
                    target: SocksTarget::Domain("localhost".into(), port),
                    user: None,
                },
            ]
        );
        assert_eq!(recorded.len(), 3);
    }

    #[tokio::test]
    async fn socks4_user_id_and_fixed_reply() {
        let echo = tcp_echo().await;
        let port = echo.addr().port();
        let proxy = SocksProxy::builder().auth("alice", "unused").start().await;
        let mut tcp = TcpStream::connect(proxy.addr()).await.expect("connect");
        assert_eq!(
            socks4_connect(&mut tcp, [127, 0, 0, 1], port, b"bob\0").await,
            0x5B
        );
        let mut tcp = TcpStream::connect(proxy.addr()).await.expect("connect");
        assert_eq!(
            socks4_connect(&mut tcp, [127, 0, 0, 1], port, b"alice\0").await,
            0x5A
        );
        assert_echoes(&mut tcp).await;

        let proxy = SocksProxy::builder().connect_reply(0x05).start().await;
        let mut tcp = TcpStream::connect(proxy.addr()).await.expect("connect");
        assert_eq!(
            socks4_connect(&mut tcp, [127, 0, 0, 1], port, b"\0").await,
            0x5B
        );
        assert_eq!(echo.connections_accepted(), 1);
    }
}
