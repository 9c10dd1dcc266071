//! `TcpConnector`: connections over TCP, with a DNS cache and Happy Eyeballs.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt};
use futures_util::Future;
use tokio::net::{TcpSocket, TcpStream};

use super::dns::{interleave, DnsCache, Resolver, ThreadedResolver};
use super::tls::{self, Ssl};
use super::{BoxFuture, ConnectionKey, Connector, Pool, PoolConfig, Transport};
use crate::error::{ClientError, ErrorKind};

/// Which address families a [`TcpConnector`] connects to.
///
/// ```
/// assert_eq!(aiohttp::Family::default(), aiohttp::Family::Any);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Family {
    /// IPv4 and IPv6, in the resolver's order.
    #[default]
    Any,
    /// IPv4 only.
    Ipv4,
    /// IPv6 only.
    Ipv6,
}

impl Family {
    pub(crate) fn admits(self, ip: &IpAddr) -> bool {
        match self {
            Family::Any => true,
            Family::Ipv4 => ip.is_ipv4(),
            Family::Ipv6 => ip.is_ipv6(),
        }
    }
}

/// The default connector: HTTP over TCP, pooled, with a DNS cache.
///
/// ```
/// let connector = aiohttp::TcpConnector::builder().limit(10).force_close(true).build()?;
/// # use aiohttp::Connector;
/// assert_eq!(connector.limit(), 10);
/// # Ok::<(), aiohttp::ClientError>(())
/// ```
#[derive(Debug)]
pub struct TcpConnector {
    pool: Pool,
    ssl: Ssl,
    enable_cleanup_closed: bool,
    family: Family,
    local_addr: Option<SocketAddr>,
    dns: DnsCache,
    happy_eyeballs_delay: Option<Duration>,
    interleave: usize,
}

impl TcpConnector {
    /// A connector with aiohttp's defaults (limit 100, keep-alive 30 s, DNS cache 10 s).
    ///
    /// ```
    /// use aiohttp::Connector;
    /// assert_eq!(aiohttp::TcpConnector::new().limit(), 100);
    /// ```
    pub fn new() -> Self {
        TcpConnectorBuilder::default().build_unchecked()
    }

    /// A builder for the connector's options.
    ///
    /// ```
    /// let c = aiohttp::TcpConnector::builder().family(aiohttp::Family::Ipv4).build()?;
    /// assert_eq!(c.family(), aiohttp::Family::Ipv4);
    /// # Ok::<(), aiohttp::ClientError>(())
    /// ```
    pub fn builder() -> TcpConnectorBuilder {
        TcpConnectorBuilder::default()
    }

    /// The address family restriction.
    ///
    /// ```
    /// assert_eq!(aiohttp::TcpConnector::new().family(), aiohttp::Family::Any);
    /// ```
    pub fn family(&self) -> Family {
        self.family
    }

    /// The local address connections are bound to, if any.
    ///
    /// ```
    /// assert!(aiohttp::TcpConnector::new().local_addr().is_none());
    /// ```
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local_addr
    }

    /// Whether server certificates are verified (false for [`Ssl::Unverified`] and for a
    /// fingerprint pin, which replaces chain verification).
    ///
    /// ```
    /// assert!(aiohttp::TcpConnector::new().verify_ssl());
    /// ```
    pub fn verify_ssl(&self) -> bool {
        matches!(self.ssl, Ssl::Verified | Ssl::Config(_))
    }

    /// The user's rustls configuration, if one was given.
    ///
    /// ```
    /// assert!(aiohttp::TcpConnector::new().ssl_context().is_none());
    /// ```
    pub fn ssl_context(&self) -> Option<&Arc<rustls::ClientConfig>> {
        match &self.ssl {
            Ssl::Config(c) => Some(c),
            _ => None,
        }
    }

    /// The pinned SHA-256 digest of the server's certificate, if any.
    ///
    /// ```
    /// assert!(aiohttp::TcpConnector::new().fingerprint().is_none());
    /// ```
    pub fn fingerprint(&self) -> Option<&[u8]> {
        match &self.ssl {
            Ssl::Fingerprint(d) => Some(d),
            _ => None,
        }
    }

    /// The TLS choice for connections whose request does not make its own.
    ///
    /// ```
    /// assert!(matches!(aiohttp::TcpConnector::new().ssl(), aiohttp::Ssl::Verified));
    /// ```
    pub fn ssl(&self) -> &Ssl {
        &self.ssl
    }

    /// Whether `enable_cleanup_closed` was set. Connections here are always closed by dropping
    /// their socket (no wait for the peer's TLS close_notify), so no transport lingers either
    /// way; the option is kept for aiohttp compatibility.
    ///
    /// ```
    /// assert!(!aiohttp::TcpConnector::new().enable_cleanup_closed());
    /// ```
    pub fn enable_cleanup_closed(&self) -> bool {
        self.enable_cleanup_closed
    }

    /// Whether resolved addresses are cached.
    ///
    /// ```
    /// assert!(aiohttp::TcpConnector::new().use_dns_cache());
    /// ```
    pub fn use_dns_cache(&self) -> bool {
        self.dns.enabled()
    }

    /// The cached `((host, port), addresses)` entries that have not expired.
    ///
    /// ```
    /// assert!(aiohttp::TcpConnector::new().cached_hosts().is_empty());
    /// ```
    pub fn cached_hosts(&self) -> Vec<((String, u16), Vec<SocketAddr>)> {
        self.dns.cached_hosts()
    }

    /// Forgets the cached addresses of one `(host, port)`, or of every host with `None`.
    ///
    /// ```
    /// let c = aiohttp::TcpConnector::new();
    /// c.clear_dns_cache(Some(("example.com", 80)));
    /// c.clear_dns_cache(None);
    /// ```
    pub fn clear_dns_cache(&self, which: Option<(&str, u16)>) {
        self.dns.clear(which);
    }

    async fn connect_one(&self, addr: SocketAddr) -> io::Result<TcpStream> {
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        if let Some(local) = self.local_addr {
            socket.bind(local)?;
        }
        let stream = socket.connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }

    /// Tries every address; with Happy Eyeballs (RFC 8305) a new attempt starts each `delay`
    /// or as soon as the previous one fails, and the first to connect wins.
    async fn connect_any(&self, addrs: &[SocketAddr]) -> Result<TcpStream, Option<io::Error>> {
        let ordered = match self.happy_eyeballs_delay {
            Some(_) => interleave(addrs, self.interleave),
            None => addrs.to_vec(),
        };
        let mut last_err = None;
        let Some(delay) = self.happy_eyeballs_delay else {
            for addr in ordered {
                match self.connect_one(addr).await {
                    Ok(s) => return Ok(s),
                    Err(e) => last_err = Some(e),
                }
            }
            return Err(last_err);
        };
        type Attempt<'a> = Pin<Box<dyn Future<Output = io::Result<TcpStream>> + Send + 'a>>;
        let mut pending = ordered.into_iter();
        let mut running: FuturesUnordered<Attempt<'_>> = FuturesUnordered::new();
        if let Some(addr) = pending.next() {
            running.push(Box::pin(self.connect_one(addr)));
        }
        while !running.is_empty() {
            let timer = tokio::time::sleep(delay);
            tokio::pin!(timer);
            tokio::select! {
                res = running.next() => match res {
                    Some(Ok(stream)) => return Ok(stream),
                    Some(Err(e)) => {
                        last_err = Some(e);
                        if let Some(addr) = pending.next() {
                            running.push(Box::pin(self.connect_one(addr)));
                        }
                    }
                    None => break,
                },
                () = &mut timer => {
                    if let Some(addr) = pending.next() {
                        running.push(Box::pin(self.connect_one(addr)));
                    }
                }
            }
        }
        Err(last_err)
    }
}

impl TcpConnector {
    /// A connection for `key` through `proxy`: TCP to the proxy (a failure there is a
    /// `ClientProxyConnectionError`), then the rest in `connector/proxy.rs`.
    async fn connect_via(
        &self,
        proxy: &super::ProxySpec,
        key: &ConnectionKey,
    ) -> Result<Transport, ClientError> {
        use super::proxy::{self as connect, ProxyKind};
        // A SOCKS4 or SOCKS5 proxy is given the target's address, resolved here.
        let socks_addr = if key.forward_proxy().is_none() && connect::resolves_locally(proxy.kind) {
            let addrs = self
                .dns
                .resolve(key.host(), key.port(), self.family)
                .await?;
            let pick = if proxy.kind == ProxyKind::Socks4 {
                addrs.iter().find(|a| a.is_ipv4())
            } else {
                addrs.first()
            };
            Some(*pick.ok_or_else(|| {
                ClientError::new(
                    ErrorKind::ClientConnectorDNSError,
                    format!(
                        "no IPv4 address for {} (SOCKS4 carries IPv4 only)",
                        key.host()
                    ),
                )
                .with_address(key.host(), key.port())
            })?)
        } else {
            None
        };
        let addrs = self
            .dns
            .resolve(&proxy.host, proxy.port, self.family)
            .await
            .map_err(|e| {
                connect::unreachable(proxy, "its name cannot be resolved").with_source(e)
            })?;
        let stream = self.connect_any(&addrs).await.map_err(|e| {
            let err = connect::unreachable(proxy, "the connection failed");
            match e {
                Some(e) => err.with_source(e),
                None => err,
            }
        })?;
        let peer = stream.peer_addr().ok();
        let local = stream.local_addr().ok();
        let transport = connect::open(stream, proxy, key, socks_addr, &self.ssl).await?;
        Ok(transport.with_addresses(peer, local))
    }
}

impl Default for TcpConnector {
    fn default() -> Self {
        TcpConnector::new()
    }
}

impl Connector for TcpConnector {
    fn create_connection<'a>(
        &'a self,
        key: &'a ConnectionKey,
    ) -> BoxFuture<'a, Result<Transport, ClientError>> {
        Box::pin(async move {
            if let Some(proxy) = key.proxy() {
                return self.connect_via(proxy, key).await;
            }
            let addrs = self
                .dns
                .resolve(key.host(), key.port(), self.family)
                .await?;
            match self.connect_any(&addrs).await {
                Ok(stream) => {
                    let peer = stream.peer_addr().ok();
                    let local = stream.local_addr().ok();
                    if !key.is_tls() {
                        return Ok(Transport::new(stream).with_addresses(peer, local));
                    }
                    Ok(tls::connect_to(stream, key, &self.ssl)
                        .await?
                        .with_addresses(peer, local))
                }
                Err(e) => {
                    let err = ClientError::new(
                        ErrorKind::ClientConnectorError,
                        format!("cannot connect to host {}:{}", key.host(), key.port()),
                    )
                    .with_address(key.host(), key.port());
                    Err(match e {
                        Some(e) => err.with_source(e),
                        None => err,
                    })
                }
            }
        })
    }

    fn pool(&self) -> &Pool {
        &self.pool
    }
}

/// Options for a [`TcpConnector`]; errors are reported by [`build`](Self::build).
///
/// ```
/// use std::time::Duration;
/// let c = aiohttp::TcpConnector::builder()
///     .limit(50)
///     .limit_per_host(5)
///     .keepalive_timeout(Some(Duration::from_secs(5)))
///     .ttl_dns_cache(Some(Duration::from_secs(60)))
///     .build()?;
/// # Ok::<(), aiohttp::ClientError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct TcpConnectorBuilder {
    config: PoolConfig,
    keepalive_set: bool,
    family: Family,
    local_addr: Option<SocketAddr>,
    use_dns_cache: bool,
    ttl_dns_cache: Option<Duration>,
    resolver: Option<Arc<dyn Resolver>>,
    happy_eyeballs_delay: Option<Duration>,
    interleave: usize,
    ssl: Option<Ssl>,
    verify_ssl: Option<bool>,
    fingerprint: Option<Vec<u8>>,
    ssl_context: Option<Arc<rustls::ClientConfig>>,
    enable_cleanup_closed: bool,
}

impl Default for TcpConnectorBuilder {
    fn default() -> Self {
        TcpConnectorBuilder {
            config: PoolConfig::default(),
            keepalive_set: false,
            family: Family::Any,
            local_addr: None,
            use_dns_cache: true,
            ttl_dns_cache: Some(Duration::from_secs(10)),
            resolver: None,
            happy_eyeballs_delay: Some(Duration::from_millis(250)),
            interleave: 1,
            ssl: None,
            verify_ssl: None,
            fingerprint: None,
            ssl_context: None,
            enable_cleanup_closed: false,
        }
    }
}

impl TcpConnectorBuilder {
    /// Total simultaneous connections (default 100; 0 = unlimited).
    ///
    /// ```
    /// let _ = aiohttp::TcpConnector::builder().limit(0);
    /// ```
    pub fn limit(mut self, limit: usize) -> Self {
        self.config.limit = limit;
        self
    }

    /// Simultaneous connections per (host, port, TLS) (default 0 = unlimited). Requests
    /// forwarded through an HTTP proxy share its connections across origins: for them it
    /// bounds how many requests per origin hold a proxy connection at once.
    ///
    /// ```
    /// let _ = aiohttp::TcpConnector::builder().limit_per_host(2);
    /// ```
    pub fn limit_per_host(mut self, limit: usize) -> Self {
        self.config.limit_per_host = limit;
        self
    }

    /// How long idle connections are kept (default 30 s; `None` = until the server closes them).
    ///
    /// ```
    /// let _ = aiohttp::TcpConnector::builder().keepalive_timeout(None);
    /// ```
    pub fn keepalive_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.config.keepalive_timeout = timeout;
        self.keepalive_set = true;
        self
    }

    /// Close each connection after its response (default false).
    ///
    /// ```
    /// let _ = aiohttp::TcpConnector::builder().force_close(true);
    /// ```
    pub fn force_close(mut self, force_close: bool) -> Self {
        self.config.force_close = force_close;
        self
    }

    /// Restrict connections to IPv4 or IPv6 addresses.
    ///
    /// ```
    /// let _ = aiohttp::TcpConnector::builder().family(aiohttp::Family::Ipv6);
    /// ```
    pub fn family(mut self, family: Family) -> Self {
        self.family = family;
        self
    }

    /// Bind outgoing connections to this local address.
    ///
    /// ```
    /// let _ = aiohttp::TcpConnector::builder().local_addr("127.0.0.1:0".parse().unwrap());
    /// ```
    pub fn local_addr(mut self, addr: SocketAddr) -> Self {
        self.local_addr = Some(addr);
        self
    }

    /// Cache resolved addresses (default true).
    ///
    /// ```
    /// let _ = aiohttp::TcpConnector::builder().use_dns_cache(false);
    /// ```
    pub fn use_dns_cache(mut self, on: bool) -> Self {
        self.use_dns_cache = on;
        self
    }

    /// How long cached addresses are used (default 10 s; `None` = forever). A fixed TTL, as
    /// aiohttp, whatever the records say.
    ///
    /// ```
    /// let _ = aiohttp::TcpConnector::builder().ttl_dns_cache(None);
    /// ```
    pub fn ttl_dns_cache(mut self, ttl: Option<Duration>) -> Self {
        self.ttl_dns_cache = ttl;
        self
    }

    /// The resolver (default [`ThreadedResolver`]: the system's, off the async threads).
    ///
    /// ```
    /// let _ = aiohttp::TcpConnector::builder().resolver(aiohttp::ThreadedResolver::new());
    /// ```
    pub fn resolver(mut self, resolver: impl Resolver) -> Self {
        self.resolver = Some(Arc::new(resolver));
        self
    }

    /// The Happy Eyeballs stagger between connection attempts (default 250 ms; `None` tries
    /// addresses one after another).
    ///
    /// ```
    /// let _ = aiohttp::TcpConnector::builder().happy_eyeballs_delay(None);
    /// ```
    pub fn happy_eyeballs_delay(mut self, delay: Option<Duration>) -> Self {
        self.happy_eyeballs_delay = delay;
        self
    }

    /// How many addresses of the first family are tried before one of the other (default 1).
    ///
    /// ```
    /// let _ = aiohttp::TcpConnector::builder().interleave(2);
    /// ```
    pub fn interleave(mut self, n: usize) -> Self {
        self.interleave = n.max(1);
        self
    }

    /// `false` turns certificate verification off. **Dangerous**: anyone between the client and
    /// the server can then read and change the traffic.
    ///
    /// ```
    /// let c = aiohttp::TcpConnector::builder().verify_ssl(false).build()?;
    /// assert!(!c.verify_ssl());
    /// # Ok::<(), aiohttp::ClientError>(())
    /// ```
    pub fn verify_ssl(mut self, verify: bool) -> Self {
        self.verify_ssl = Some(verify);
        self
    }

    /// Pin the server certificate: its SHA-256 digest must be `sha256` (checked before any
    /// request byte is sent). A 16- or 20-byte (MD5/SHA-1) digest is rejected by `build`.
    ///
    /// ```
    /// let c = aiohttp::TcpConnector::builder().fingerprint(vec![0u8; 32]).build()?;
    /// assert_eq!(c.fingerprint().map(<[u8]>::len), Some(32));
    /// # Ok::<(), aiohttp::ClientError>(())
    /// ```
    pub fn fingerprint(mut self, sha256: impl Into<Vec<u8>>) -> Self {
        self.fingerprint = Some(sha256.into());
        self
    }

    /// A user's rustls configuration: a custom CA, client certificates for mutual TLS, other
    /// protocol versions. Its ALPN list is used if it has one, else `h2` and `http/1.1` are
    /// offered.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use aiohttp::rustls;
    /// let config = rustls::ClientConfig::builder_with_provider(Arc::new(
    ///         rustls::crypto::ring::default_provider()))
    ///     .with_safe_default_protocol_versions()
    ///     .expect("versions")
    ///     .with_root_certificates(rustls::RootCertStore::empty())
    ///     .with_no_client_auth();
    /// let c = aiohttp::TcpConnector::builder().ssl_context(config).build()?;
    /// assert!(c.ssl_context().is_some());
    /// # Ok::<(), aiohttp::ClientError>(())
    /// ```
    pub fn ssl_context(mut self, config: impl Into<Arc<rustls::ClientConfig>>) -> Self {
        self.ssl_context = Some(config.into());
        self
    }

    /// The TLS choice as one value (the `ssl` argument of aiohttp's connector).
    ///
    /// ```
    /// let _ = aiohttp::TcpConnector::builder().ssl(aiohttp::Ssl::Unverified);
    /// ```
    pub fn ssl(mut self, ssl: Ssl) -> Self {
        self.ssl = Some(ssl);
        self
    }

    /// aiohttp's `enable_cleanup_closed`; see [`TcpConnector::enable_cleanup_closed`].
    ///
    /// ```
    /// let _ = aiohttp::TcpConnector::builder().enable_cleanup_closed(true);
    /// ```
    pub fn enable_cleanup_closed(mut self, on: bool) -> Self {
        self.enable_cleanup_closed = on;
        self
    }

    fn resolve_ssl(&self) -> Result<Ssl, ClientError> {
        let given = [
            self.ssl.is_some(),
            self.verify_ssl == Some(false),
            self.fingerprint.is_some(),
            self.ssl_context.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if given > 1 {
            return Err(ClientError::invalid_argument(
                "verify_ssl, ssl_context, fingerprint and ssl parameters are mutually exclusive",
            ));
        }
        if let Some(ssl) = &self.ssl {
            if let Ssl::Fingerprint(d) = ssl {
                return Ssl::fingerprint(d.clone());
            }
            return Ok(ssl.clone());
        }
        if let Some(d) = &self.fingerprint {
            return Ssl::fingerprint(d.clone());
        }
        if let Some(c) = &self.ssl_context {
            return Ok(Ssl::Config(c.clone()));
        }
        Ok(if self.verify_ssl == Some(false) {
            Ssl::Unverified
        } else {
            Ssl::Verified
        })
    }

    /// Builds the connector.
    ///
    /// # Errors
    /// `force_close` together with an explicit `keepalive_timeout` (as aiohttp); more than one
    /// of `verify_ssl(false)`, `fingerprint`, `ssl_context` and `ssl`; a fingerprint that is
    /// not a SHA-256 digest.
    ///
    /// ```
    /// let err = aiohttp::TcpConnector::builder()
    ///     .force_close(true)
    ///     .keepalive_timeout(None)
    ///     .build()
    ///     .unwrap_err();
    /// assert!(err.is_invalid_argument());
    /// ```
    pub fn build(self) -> Result<TcpConnector, ClientError> {
        if self.config.force_close && self.keepalive_set {
            return Err(ClientError::invalid_argument(
                "keepalive_timeout cannot be set if force_close is true",
            ));
        }
        let ssl = self.resolve_ssl()?;
        let mut c = self.build_unchecked();
        c.ssl = ssl;
        Ok(c)
    }

    fn build_unchecked(self) -> TcpConnector {
        let mut config = self.config;
        if config.force_close {
            config.keepalive_timeout = None;
        }
        let resolver = self
            .resolver
            .unwrap_or_else(|| Arc::new(ThreadedResolver::new()));
        TcpConnector {
            pool: Pool::new(config),
            ssl: Ssl::Verified,
            enable_cleanup_closed: self.enable_cleanup_closed,
            family: self.family,
            local_addr: self.local_addr,
            dns: DnsCache::new(resolver, self.use_dns_cache, self.ttl_dns_cache),
            happy_eyeballs_delay: self.happy_eyeballs_delay,
            interleave: self.interleave,
        }
    }
}
