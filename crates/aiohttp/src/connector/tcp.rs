//! `TcpConnector`: connections over TCP, with the system resolver.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::net::{TcpSocket, TcpStream};

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
    fn admits(self, ip: &IpAddr) -> bool {
        match self {
            Family::Any => true,
            Family::Ipv4 => ip.is_ipv4(),
            Family::Ipv6 => ip.is_ipv6(),
        }
    }
}

/// The default connector: HTTP over TCP, pooled.
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
    family: Family,
    local_addr: Option<SocketAddr>,
}

impl TcpConnector {
    /// A connector with aiohttp's defaults (limit 100, keep-alive 30 s).
    ///
    /// ```
    /// use aiohttp::Connector;
    /// assert_eq!(aiohttp::TcpConnector::new().limit(), 100);
    /// ```
    pub fn new() -> Self {
        TcpConnector {
            pool: Pool::new(PoolConfig::default()),
            family: Family::Any,
            local_addr: None,
        }
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

    async fn resolve(&self, key: &ConnectionKey) -> Result<Vec<SocketAddr>, ClientError> {
        let host = key.host();
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(vec![SocketAddr::new(ip, key.port())]);
        }
        let found = tokio::net::lookup_host((host, key.port()))
            .await
            .map_err(|e| {
                ClientError::new(
                    ErrorKind::ClientConnectorDNSError,
                    format!("cannot resolve host {host}"),
                )
                .with_address(host, key.port())
                .with_source(e)
            })?;
        Ok(found.collect())
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
            if key.is_tls() {
                return Err(ClientError::new(
                    ErrorKind::ClientConnectorSSLError,
                    "https is not supported by this connector yet",
                )
                .with_address(key.host(), key.port()));
            }
            let addrs: Vec<SocketAddr> = self
                .resolve(key)
                .await?
                .into_iter()
                .filter(|a| self.family.admits(&a.ip()))
                .collect();
            let mut last_err = None;
            for addr in &addrs {
                match self.connect_one(*addr).await {
                    Ok(stream) => {
                        let peer = stream.peer_addr().ok();
                        let local = stream.local_addr().ok();
                        return Ok(Transport::new(stream).with_addresses(peer, local));
                    }
                    Err(e) => last_err = Some(e),
                }
            }
            let err = match last_err {
                Some(e) => ClientError::new(
                    ErrorKind::ClientConnectorError,
                    format!("cannot connect to host {}:{}", key.host(), key.port()),
                )
                .with_source(e),
                None => ClientError::new(
                    ErrorKind::ClientConnectorDNSError,
                    format!("no address of the requested family for {}", key.host()),
                ),
            };
            Err(err.with_address(key.host(), key.port()))
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
///     .build()?;
/// # Ok::<(), aiohttp::ClientError>(())
/// ```
#[derive(Debug, Default, Clone)]
#[must_use]
pub struct TcpConnectorBuilder {
    config: PoolConfig,
    keepalive_set: bool,
    family: Family,
    local_addr: Option<SocketAddr>,
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

    /// Simultaneous connections per (host, port, TLS) (default 0 = unlimited).
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

    /// Builds the connector.
    ///
    /// # Errors
    /// `force_close` together with an explicit `keepalive_timeout` (as aiohttp).
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
        let mut config = self.config;
        if config.force_close {
            config.keepalive_timeout = None;
        }
        Ok(TcpConnector {
            pool: Pool::new(config),
            family: self.family,
            local_addr: self.local_addr,
        })
    }
}
