//! A transport: the byte stream a connection runs over, as a connector opens it. Plain data,
//! shared by the connectors and the protocols.

use std::fmt;
use std::net::SocketAddr;

use tokio::io::{AsyncRead, AsyncWrite};

/// Any byte stream a connection can run over (TCP, UNIX socket, TLS, an in-memory duplex).
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

/// What the TLS handshake settled, as a connection reports it
/// ([`Connection::tls`](crate::Connection::tls)).
///
/// ```
/// let info = aiohttp::TlsInfo::new("TLSv1_3", "TLS13_AES_128_GCM_SHA256", Some("http/1.1"));
/// assert_eq!(info.version(), "TLSv1_3");
/// assert_eq!(info.alpn_protocol(), Some("http/1.1"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsInfo {
    version: String,
    cipher: String,
    alpn: Option<String>,
}

impl TlsInfo {
    /// The protocol version, cipher suite and ALPN protocol of a handshake.
    ///
    /// ```
    /// let info = aiohttp::TlsInfo::new("TLSv1_2", "X", None);
    /// assert_eq!(info.cipher(), "X");
    /// ```
    pub fn new(version: impl Into<String>, cipher: impl Into<String>, alpn: Option<&str>) -> Self {
        TlsInfo {
            version: version.into(),
            cipher: cipher.into(),
            alpn: alpn.map(str::to_string),
        }
    }

    /// The TLS version (`"TLSv1_3"`, `"TLSv1_2"`).
    ///
    /// ```
    /// assert_eq!(aiohttp::TlsInfo::new("TLSv1_3", "c", None).version(), "TLSv1_3");
    /// ```
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The cipher suite.
    ///
    /// ```
    /// assert_eq!(aiohttp::TlsInfo::new("v", "TLS13_AES_256_GCM_SHA384", None).cipher(), "TLS13_AES_256_GCM_SHA384");
    /// ```
    pub fn cipher(&self) -> &str {
        &self.cipher
    }

    /// The protocol chosen by ALPN, if any.
    ///
    /// ```
    /// assert_eq!(aiohttp::TlsInfo::new("v", "c", Some("h2")).alpn_protocol(), Some("h2"));
    /// ```
    pub fn alpn_protocol(&self) -> Option<&str> {
        self.alpn.as_deref()
    }
}

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
    pub(crate) tls: Option<std::sync::Arc<TlsInfo>>,
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
            tls: None,
        }
    }

    /// Wraps a stream that is already boxed.
    pub(crate) fn from_box(io: Box<dyn Io>) -> Self {
        Transport {
            io,
            peer_addr: None,
            local_addr: None,
            h2: false,
            tls: None,
        }
    }

    /// Records what the TLS handshake settled, reported by
    /// [`Connection::tls`](crate::Connection::tls).
    ///
    /// ```
    /// let (client, _server) = tokio::io::duplex(64);
    /// let t = aiohttp::Transport::new(client)
    ///     .with_tls_info(aiohttp::TlsInfo::new("TLSv1_3", "c", Some("http/1.1")));
    /// assert_eq!(t.tls_info().map(|i| i.version()), Some("TLSv1_3"));
    /// ```
    pub fn with_tls_info(mut self, info: TlsInfo) -> Self {
        self.tls = Some(std::sync::Arc::new(info));
        self
    }

    /// What the TLS handshake settled, for a TLS transport.
    ///
    /// ```
    /// let (client, _server) = tokio::io::duplex(64);
    /// assert!(aiohttp::Transport::new(client).tls_info().is_none());
    /// ```
    pub fn tls_info(&self) -> Option<&TlsInfo> {
        self.tls.as_deref()
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
