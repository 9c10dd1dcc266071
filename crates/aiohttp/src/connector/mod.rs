//! Connectors: where connections come from and where they go back to.
//!
//! A [`Connector`] (aiohttp's `BaseConnector`) supplies transports through
//! [`create_connection`](Connector::create_connection) and owns a [`Pool`] of idle keep-alive
//! connections keyed by [`ConnectionKey`]. [`TcpConnector`] is the default.

mod dns;
mod pool;
mod proxy;
mod tcp;
pub(crate) mod tls;
mod unix;

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

pub(crate) use pool::{acquire, Lease, OpenOptions};
pub(crate) use proxy::{socks, ProxyKind, ProxySpec, SocksTarget};

pub use dns::{AsyncResolver, Resolver, ThreadedResolver};
pub use pool::{Pool, PoolConfig, PoolStats};
pub use tcp::{Family, TcpConnector, TcpConnectorBuilder};
pub use tls::Ssl;
pub use unix::UnixConnector;

pub use crate::transport::{Io, Transport};

use crate::error::ClientError;

/// A boxed future, as returned by [`Connector`] methods.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What connections are pooled by: scheme (TLS or not), host and port.
///
/// ```
/// let url = aiohttp::Url::parse("http://example.com/x").unwrap();
/// let key = aiohttp::ConnectionKey::from_url(&url).unwrap();
/// assert_eq!((key.host(), key.port(), key.is_tls()), ("example.com", 80, false));
/// ```
#[derive(Clone)]
pub struct ConnectionKey {
    // Shared: the pool keeps copies of a request's key, and cloning it is a reference count.
    inner: Arc<KeyParts>,
    /// The hash of `inner`, computed when the key is made: the pool looks a key up at least
    /// twice per request.
    hash: u64,
}

impl PartialEq for ConnectionKey {
    fn eq(&self, other: &Self) -> bool {
        // Arc's equality compares the pointers first.
        self.hash == other.hash && self.inner == other.inner
    }
}

impl Eq for ConnectionKey {}

impl std::hash::Hash for ConnectionKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct KeyParts {
    host: String,
    port: u16,
    tls: bool,
    ssl: Option<Ssl>,
    server_hostname: Option<String>,
    http2: bool,
    /// Only HTTP/1.1 may be spoken (ALPN offers `http/1.1` alone): a WebSocket upgrade.
    http1: bool,
    /// The proxy connections are made through, credentials included.
    proxy: Option<Arc<ProxySpec>>,
    /// Requests go to the proxy in absolute form: the connection is the proxy's and serves
    /// every `http://` origin (host and port are the proxy's). Otherwise it is a tunnel to
    /// host and port.
    forward: bool,
}

impl fmt::Debug for ConnectionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionKey")
            .field("host", &self.inner.host)
            .field("port", &self.inner.port)
            .field("tls", &self.inner.tls)
            .field("ssl", &self.inner.ssl)
            .field("server_hostname", &self.inner.server_hostname)
            .field("http2", &self.inner.http2)
            .field("http1", &self.inner.http1)
            .field("proxy", &self.inner.proxy)
            .field("forward", &self.inner.forward)
            .finish()
    }
}

impl ConnectionKey {
    /// The key for a request to `url`; `None` when the URL has no host.
    ///
    /// ```
    /// let url = aiohttp::Url::parse("https://[::1]:8443/").unwrap();
    /// let key = aiohttp::ConnectionKey::from_url(&url).unwrap();
    /// assert_eq!((key.host(), key.port(), key.is_tls()), ("::1", 8443, true));
    /// ```
    pub fn from_url(url: &url::Url) -> Option<Self> {
        // The URL's own serialization of the host (an IPv6 address without its brackets).
        let host = match url.host()? {
            url::Host::Ipv6(_) => url
                .host_str()?
                .trim_start_matches('[')
                .trim_end_matches(']'),
            _ => url.host_str()?,
        };
        Some(ConnectionKey::of(KeyParts {
            host: host.to_string(),
            port: url.port_or_known_default()?,
            tls: matches!(url.scheme(), "https" | "wss"),
            ssl: None,
            server_hostname: None,
            http2: false,
            http1: false,
            proxy: None,
            forward: false,
        }))
    }

    fn of(parts: KeyParts) -> Self {
        use std::hash::BuildHasher;
        // Random keys, once per process: hosts come from URLs (and redirects) that others
        // choose, so colliding hashes must not be computable in advance.
        static KEYS: std::sync::OnceLock<std::collections::hash_map::RandomState> =
            std::sync::OnceLock::new();
        let hash = KEYS.get_or_init(Default::default).hash_one(&parts);
        ConnectionKey {
            inner: Arc::new(parts),
            hash,
        }
    }

    /// The same key with `f` applied to its parts.
    fn with(self, f: impl FnOnce(&mut KeyParts)) -> Self {
        let mut parts = Arc::unwrap_or_clone(self.inner);
        f(&mut parts);
        ConnectionKey::of(parts)
    }

    /// The same key for requests that must use HTTP/2: prior knowledge (h2c) over cleartext,
    /// ALPN `h2` required over TLS.
    ///
    /// ```
    /// let url = aiohttp::Url::parse("http://a.test/").unwrap();
    /// let key = aiohttp::ConnectionKey::from_url(&url).unwrap().with_http2();
    /// assert!(key.is_http2());
    /// ```
    pub fn with_http2(self) -> Self {
        self.with(|p| p.http2 = true)
    }

    /// The same key for connections that must speak HTTP/1.1 (a WebSocket upgrade): over TLS,
    /// ALPN offers `http/1.1` alone, so a server that prefers h2 still answers in HTTP/1.1.
    ///
    /// ```
    /// let url = aiohttp::Url::parse("wss://a.test/").unwrap();
    /// let key = aiohttp::ConnectionKey::from_url(&url).unwrap();
    /// assert!(key.clone().with_http1_only().is_http1_only());
    /// assert_ne!(key.clone(), key.with_http1_only());
    /// ```
    pub fn with_http1_only(self) -> Self {
        self.with(|p| {
            p.http1 = true;
            p.http2 = false;
        })
    }

    /// The same key through `proxy`: forwarded requests (the key becomes the proxy's, shared
    /// by every `http://` origin) or a tunnel to this key's host and port.
    pub(crate) fn with_proxy(self, proxy: Arc<ProxySpec>, forward: bool) -> Self {
        self.with(|p| {
            if forward {
                p.host = proxy.host.clone();
                p.port = proxy.port;
                p.tls = false;
                p.ssl = None;
                p.server_hostname = None;
            }
            p.proxy = Some(proxy);
            p.forward = forward;
        })
    }

    /// The proxy connections for this key go through.
    pub(crate) fn proxy(&self) -> Option<&ProxySpec> {
        self.inner.proxy.as_deref()
    }

    /// The proxy requests are forwarded to (absolute-form request line), if they are.
    pub(crate) fn forward_proxy(&self) -> Option<&ProxySpec> {
        self.inner.proxy.as_deref().filter(|_| self.inner.forward)
    }

    /// Whether connections for this key go through a proxy.
    ///
    /// ```
    /// let url = aiohttp::Url::parse("http://a.test/").unwrap();
    /// assert!(!aiohttp::ConnectionKey::from_url(&url).unwrap().is_proxied());
    /// ```
    pub fn is_proxied(&self) -> bool {
        self.inner.proxy.is_some()
    }

    /// Whether only HTTP/1.1 may be spoken.
    ///
    /// ```
    /// let url = aiohttp::Url::parse("https://a.test/").unwrap();
    /// assert!(!aiohttp::ConnectionKey::from_url(&url).unwrap().is_http1_only());
    /// ```
    pub fn is_http1_only(&self) -> bool {
        self.inner.http1
    }

    /// Whether HTTP/2 is required.
    ///
    /// ```
    /// let url = aiohttp::Url::parse("http://a.test/").unwrap();
    /// assert!(!aiohttp::ConnectionKey::from_url(&url).unwrap().is_http2());
    /// ```
    pub fn is_http2(&self) -> bool {
        self.inner.http2
    }

    /// The same key with a per-request TLS choice (connections made with another choice are
    /// not shared with it).
    ///
    /// ```
    /// let url = aiohttp::Url::parse("https://a.test/").unwrap();
    /// let key = aiohttp::ConnectionKey::from_url(&url).unwrap();
    /// let unverified = key.clone().with_ssl(aiohttp::Ssl::Unverified);
    /// assert_ne!(key, unverified);
    /// ```
    pub fn with_ssl(self, ssl: Ssl) -> Self {
        self.with(|p| p.ssl = Some(ssl))
    }

    /// The same key with another TLS server name (SNI and certificate host name).
    ///
    /// ```
    /// let url = aiohttp::Url::parse("https://127.0.0.1/").unwrap();
    /// let key = aiohttp::ConnectionKey::from_url(&url).unwrap().with_server_hostname("a.test");
    /// assert_eq!(key.server_hostname(), Some("a.test"));
    /// ```
    pub fn with_server_hostname(self, name: impl Into<String>) -> Self {
        let name = name.into();
        self.with(|p| p.server_hostname = Some(name))
    }

    /// The per-request TLS choice, if any (else the connector's applies).
    ///
    /// ```
    /// let url = aiohttp::Url::parse("https://a.test/").unwrap();
    /// assert!(aiohttp::ConnectionKey::from_url(&url).unwrap().ssl().is_none());
    /// ```
    pub fn ssl(&self) -> Option<&Ssl> {
        self.inner.ssl.as_ref()
    }

    /// The TLS server name override, if any.
    ///
    /// ```
    /// let url = aiohttp::Url::parse("https://a.test/").unwrap();
    /// assert!(aiohttp::ConnectionKey::from_url(&url).unwrap().server_hostname().is_none());
    /// ```
    pub fn server_hostname(&self) -> Option<&str> {
        self.inner.server_hostname.as_deref()
    }

    /// The host name or IP address (IPv6 without brackets).
    ///
    /// ```
    /// let url = aiohttp::Url::parse("http://a.test:81/").unwrap();
    /// assert_eq!(aiohttp::ConnectionKey::from_url(&url).unwrap().host(), "a.test");
    /// ```
    pub fn host(&self) -> &str {
        &self.inner.host
    }

    /// The port.
    ///
    /// ```
    /// let url = aiohttp::Url::parse("http://a.test:81/").unwrap();
    /// assert_eq!(aiohttp::ConnectionKey::from_url(&url).unwrap().port(), 81);
    /// ```
    pub fn port(&self) -> u16 {
        self.inner.port
    }

    /// Whether the connection is TLS (https, wss).
    ///
    /// ```
    /// let url = aiohttp::Url::parse("http://a.test/").unwrap();
    /// assert!(!aiohttp::ConnectionKey::from_url(&url).unwrap().is_tls());
    /// ```
    pub fn is_tls(&self) -> bool {
        self.inner.tls
    }
}

/// aiohttp's `BaseConnector`: opens transports and pools the connections made over them.
///
/// Implement [`create_connection`](Self::create_connection) (aiohttp's `_create_connection`)
/// and [`pool`](Self::pool); everything else has a default built on the pool.
///
/// ```
/// use aiohttp::{BoxFuture, ClientError, ConnectionKey, Connector, Pool, PoolConfig, Transport};
///
/// /// A connector whose every connection is an in-memory pipe handed to a server task.
/// #[derive(Debug)]
/// struct Pipes { pool: Pool }
///
/// impl Connector for Pipes {
///     fn create_connection<'a>(&'a self, _key: &'a ConnectionKey)
///         -> BoxFuture<'a, Result<Transport, ClientError>> {
///         Box::pin(async move {
///             let (client, _server) = tokio::io::duplex(64 * 1024);
///             Ok(Transport::new(client))
///         })
///     }
///     fn pool(&self) -> &Pool { &self.pool }
/// }
/// let c = Pipes { pool: Pool::new(PoolConfig::default()) };
/// assert_eq!(c.limit(), 100);
/// ```
pub trait Connector: Send + Sync + fmt::Debug + 'static {
    /// Opens a new transport to the key's host and port.
    fn create_connection<'a>(
        &'a self,
        key: &'a ConnectionKey,
    ) -> BoxFuture<'a, Result<Transport, ClientError>>;

    /// The pool of idle connections and its settings.
    fn pool(&self) -> &Pool;

    /// Closes every pooled connection; later requests through this connector fail.
    fn close(&self) -> BoxFuture<'_, ()> {
        self.pool().close();
        Box::pin(async {})
    }

    /// Whether [`close`](Self::close) was called.
    fn closed(&self) -> bool {
        self.pool().is_closed()
    }

    /// The total connection limit (0 = unlimited).
    fn limit(&self) -> usize {
        self.pool().config().limit
    }

    /// The per-host connection limit (0 = unlimited).
    fn limit_per_host(&self) -> usize {
        self.pool().config().limit_per_host
    }

    /// Whether connections are closed after each response instead of pooled.
    fn force_close(&self) -> bool {
        self.pool().config().force_close
    }
}

impl dyn Connector {
    /// Gets a connection for `key` the way a request does (aiohttp's `BaseConnector.connect`):
    /// an idle pooled one, or a new one when the limits allow, or after waiting in FIFO order.
    /// The connection counts against the limits until it is closed, released or detached, or
    /// the handle is dropped.
    ///
    /// # Errors
    /// The connector is closed, or opening a connection failed.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), aiohttp::ClientError> {
    /// let session = aiohttp::ClientSession::new();
    /// let url = aiohttp::Url::parse("http://127.0.0.1:8080/").unwrap();
    /// let key = aiohttp::ConnectionKey::from_url(&url).unwrap();
    /// let conn = session.connector().connect(&key).await?;
    /// println!("{:?}", conn.transport());
    /// conn.release();
    /// # Ok(()) }
    /// ```
    pub async fn connect(&self, key: &ConnectionKey) -> Result<Connection, ClientError> {
        let lease = acquire(self, key, None, false, OpenOptions::default()).await?;
        let shared = ConnShared::holding(lease);
        shared.clean.store(true, Ordering::Release);
        Ok(Connection { shared })
    }
}

/// The connection under a response (aiohttp's `Connection`): its addresses, and control over
/// what happens to it.
///
/// ```no_run
/// # async fn run() -> Result<(), aiohttp::ClientError> {
/// let session = aiohttp::ClientSession::new();
/// let resp = session.get("http://127.0.0.1:8080/").await?;
/// if let Some(conn) = resp.connection() {
///     let (local, peer) = conn.transport();
///     println!("{local:?} -> {peer:?}");
/// }
/// # Ok(()) }
/// ```
///
/// Dropping the last handle of a connection from the connector's `connect` releases it (the
/// lease inside is dropped with the shared state).
#[derive(Debug, Clone)]
pub struct Connection {
    pub(crate) shared: Arc<ConnShared>,
}

/// State shared by a response's body and its [`Connection`] handles.
pub(crate) struct ConnShared {
    local_addr: Option<SocketAddr>,
    peer_addr: Option<SocketAddr>,
    reused: bool,
    tls: Option<Arc<crate::transport::TlsInfo>>,
    done: AtomicBool,
    /// No exchange has used the connection (it came from the connector's `connect`):
    /// released, it goes back to the pool.
    clean: AtomicBool,
    lease: Mutex<Option<Lease>>,
    detached: Mutex<Option<crate::proto::h1::H1Conn>>,
    /// The body bytes received, before decoding.
    received: AtomicU64,
}

impl crate::proto::body::Release for ConnShared {
    fn finish(&self, reusable: bool) {
        ConnShared::finish(self, reusable);
    }
    fn close(&self) {
        ConnShared::close(self);
    }
    fn received(&self, n: usize) {
        self.received.fetch_add(n as u64, Ordering::Relaxed);
    }
}

impl fmt::Debug for ConnShared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnShared")
            .field("local_addr", &self.local_addr)
            .field("peer_addr", &self.peer_addr)
            .field("reused", &self.reused)
            .field("done", &self.done)
            .finish()
    }
}

impl ConnShared {
    pub(crate) fn new(
        local_addr: Option<SocketAddr>,
        peer_addr: Option<SocketAddr>,
        reused: bool,
        tls: Option<Arc<crate::transport::TlsInfo>>,
    ) -> Self {
        ConnShared {
            local_addr,
            peer_addr,
            reused,
            tls,
            done: AtomicBool::new(false),
            clean: AtomicBool::new(false),
            lease: Mutex::new(None),
            detached: Mutex::new(None),
            received: AtomicU64::new(0),
        }
    }

    /// Wraps a lease: the body finishes it, handles may close or detach it.
    pub(crate) fn holding(lease: Lease) -> Arc<Self> {
        let shared = Arc::new(lease.shared_info());
        *lock(&shared.lease) = Some(lease);
        shared
    }

    fn take(&self) -> Option<Lease> {
        let lease = lock(&self.lease).take();
        self.done.store(true, Ordering::Release);
        lease
    }

    /// The exchange is over: pool the connection if `reusable`, else close it.
    pub(crate) fn finish(&self, reusable: bool) {
        if let Some(mut lease) = self.take() {
            lease.set_reusable(reusable);
        }
    }

    /// Closes the connection unless it was already handed back.
    pub(crate) fn close(&self) {
        drop(self.take());
    }

    /// The body bytes received so far, before decoding.
    pub(crate) fn received_bytes(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    /// Hands the connection back: pooled if no exchange left it unfinished, else closed.
    fn release(&self) {
        let clean = self.clean.load(Ordering::Acquire);
        self.finish(clean);
    }

    fn detach(&self) {
        if let Some(conn) = self.take().and_then(Lease::detach) {
            *lock(&self.detached) = Some(conn);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Connection {
    /// Whether the response is done with this connection (returned to the pool, closed or
    /// detached).
    ///
    /// ```no_run
    /// # async fn run(resp: aiohttp::ClientResponse) {
    /// let conn = resp.connection().cloned();
    /// drop(resp);
    /// assert!(conn.map_or(true, |c| c.closed()));
    /// # }
    /// ```
    pub fn closed(&self) -> bool {
        self.shared.done.load(Ordering::Acquire)
    }

    /// `(local address, peer address)` of the transport, where it has them.
    ///
    /// ```no_run
    /// # async fn run(resp: aiohttp::ClientResponse) {
    /// let (local, peer) = resp.connection().expect("body not read yet").transport();
    /// # }
    /// ```
    pub fn transport(&self) -> (Option<SocketAddr>, Option<SocketAddr>) {
        (self.shared.local_addr, self.shared.peer_addr)
    }

    /// What the TLS handshake settled (version, cipher suite, ALPN), for an HTTP/1 connection
    /// over TLS.
    ///
    /// ```no_run
    /// # async fn run(resp: aiohttp::ClientResponse) {
    /// let version = resp.connection().and_then(|c| c.tls()).map(|t| t.version().to_string());
    /// # }
    /// ```
    pub fn tls(&self) -> Option<&crate::transport::TlsInfo> {
        self.shared.tls.as_deref()
    }

    /// Whether the connection came from the pool rather than being newly opened.
    ///
    /// ```no_run
    /// # async fn run(resp: aiohttp::ClientResponse) {
    /// let reused = resp.connection().map(|c| c.is_reused());
    /// # }
    /// ```
    pub fn is_reused(&self) -> bool {
        self.shared.reused
    }

    /// Closes the connection now; the rest of the body is lost.
    ///
    /// ```no_run
    /// # async fn run(resp: aiohttp::ClientResponse) {
    /// if let Some(c) = resp.connection() { c.close(); }
    /// # }
    /// ```
    pub fn close(&self) {
        self.shared.close();
    }

    /// Gives the connection back to the pool when it is cleanly finished: a connection from
    /// the connector's `connect` (on [`Connector`](crate::Connector)) that carried no request goes
    /// back for the next request to reuse (a response read to the end goes back by itself).
    /// A response whose body is not read to the end cannot be reused: its connection is
    /// closed, as with [`close`](Self::close).
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), aiohttp::ClientError> {
    /// let session = aiohttp::ClientSession::new();
    /// let url = aiohttp::Url::parse("http://127.0.0.1:8080/").unwrap();
    /// let key = aiohttp::ConnectionKey::from_url(&url).unwrap();
    /// let conn = session.connector().connect(&key).await?;
    /// conn.release(); // idle in the pool: the next request to the host reuses it
    /// # Ok(()) }
    /// ```
    pub fn release(&self) {
        self.shared.release();
    }

    /// Takes the connection out of the pool's accounting: it no longer counts against the
    /// limits and is never pooled, but stays open while the response or this handle lives.
    ///
    /// ```no_run
    /// # async fn run(resp: aiohttp::ClientResponse) {
    /// if let Some(c) = resp.connection() { c.detach(); }
    /// # }
    /// ```
    pub fn detach(&self) {
        self.shared.detach();
    }
}
