//! A transport: the byte stream a connection runs over, as a connector opens it. Plain data,
//! shared by the connectors and the protocols.

use std::fmt;
use std::net::SocketAddr;

use tokio::io::{AsyncRead, AsyncWrite};

/// Any byte stream a connection can run over (TCP, UNIX socket, TLS, an in-memory duplex).
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

/// A freshly opened transport, as
/// [`Connector::create_connection`](crate::Connector::create_connection) returns it.
///
/// ```
/// let (client, _server) = tokio::io::duplex(1024);
/// let t = aiohttp::Transport::new(client);
/// assert!(t.peer_addr().is_none());
/// ```
pub struct Transport {
    pub(crate) io: Box<dyn Io>,
    pub(crate) peer_addr: Option<SocketAddr>,
    pub(crate) local_addr: Option<SocketAddr>,
    pub(crate) h2: bool,
}

impl Transport {
    /// Wraps any byte stream.
    ///
    /// ```
    /// let (client, _server) = tokio::io::duplex(64);
    /// let _t = aiohttp::Transport::new(client);
    /// ```
    pub fn new(io: impl Io) -> Self {
        Transport {
            io: Box::new(io),
            peer_addr: None,
            local_addr: None,
            h2: false,
        }
    }

    /// Marks the transport as speaking HTTP/2 (e.g. TLS negotiated `h2` by ALPN); the pool then
    /// runs HTTP/2 over it and shares it between concurrent requests.
    ///
    /// ```
    /// let (client, _server) = tokio::io::duplex(64);
    /// let t = aiohttp::Transport::new(client).with_h2(true);
    /// assert!(t.is_h2());
    /// ```
    pub fn with_h2(mut self, h2: bool) -> Self {
        self.h2 = h2;
        self
    }

    /// Whether the transport speaks HTTP/2.
    ///
    /// ```
    /// let (client, _server) = tokio::io::duplex(64);
    /// assert!(!aiohttp::Transport::new(client).is_h2());
    /// ```
    pub fn is_h2(&self) -> bool {
        self.h2
    }

    /// Records the socket addresses, reported by
    /// [`Connection::transport`](crate::Connection::transport).
    ///
    /// ```
    /// let (client, _server) = tokio::io::duplex(64);
    /// let addr = "127.0.0.1:80".parse().ok();
    /// let t = aiohttp::Transport::new(client).with_addresses(addr, None);
    /// assert_eq!(t.peer_addr(), addr);
    /// ```
    pub fn with_addresses(mut self, peer: Option<SocketAddr>, local: Option<SocketAddr>) -> Self {
        self.peer_addr = peer;
        self.local_addr = local;
        self
    }

    /// The remote address, when the transport has one.
    ///
    /// ```
    /// let (client, _server) = tokio::io::duplex(64);
    /// assert!(aiohttp::Transport::new(client).peer_addr().is_none());
    /// ```
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer_addr
    }

    /// The local address, when the transport has one.
    ///
    /// ```
    /// let (client, _server) = tokio::io::duplex(64);
    /// assert!(aiohttp::Transport::new(client).local_addr().is_none());
    /// ```
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local_addr
    }
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transport")
            .field("peer_addr", &self.peer_addr)
            .field("local_addr", &self.local_addr)
            .field("h2", &self.h2)
            .finish()
    }
}
