//! `UnixConnector`: HTTP over a UNIX domain socket.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{BoxFuture, ConnectionKey, Connector, Pool, PoolConfig, Transport};
use crate::error::{ClientError, ErrorKind};

/// Sends every request over one UNIX socket, whatever the URL's host (aiohttp's
/// `UnixConnector`). Pooling works as for TCP, keyed by the URL's host and port.
///
/// ```
/// let c = aiohttp::UnixConnector::new("/run/app.sock");
/// assert_eq!(c.path(), std::path::Path::new("/run/app.sock"));
/// let session = aiohttp::ClientSession::builder().connector(c).build()?;
/// // session.get("http://localhost/status") now goes through /run/app.sock
/// # Ok::<(), aiohttp::ClientError>(())
/// ```
#[derive(Debug)]
pub struct UnixConnector {
    path: PathBuf,
    pool: Pool,
}

impl UnixConnector {
    /// A connector for the socket at `path`, with the default pool options.
    ///
    /// ```
    /// let _ = aiohttp::UnixConnector::new("/tmp/x.sock");
    /// ```
    pub fn new(path: impl Into<PathBuf>) -> Self {
        UnixConnector {
            path: path.into(),
            pool: Pool::new(PoolConfig::default()),
        }
    }

    /// A connector with explicit pool options (`limit`, `limit_per_host`,
    /// `keepalive_timeout`, `force_close`).
    ///
    /// # Errors
    /// `force_close` together with a keep-alive timeout.
    ///
    /// ```
    /// let cfg = aiohttp::PoolConfig { limit: 4, ..Default::default() };
    /// let c = aiohttp::UnixConnector::with_pool("/tmp/x.sock", cfg)?;
    /// # use aiohttp::Connector;
    /// assert_eq!(c.limit(), 4);
    /// # Ok::<(), aiohttp::ClientError>(())
    /// ```
    pub fn with_pool(path: impl Into<PathBuf>, config: PoolConfig) -> Result<Self, ClientError> {
        if config.force_close && config.keepalive_timeout.is_some() {
            return Err(ClientError::invalid_argument(
                "keepalive_timeout cannot be set if force_close is true",
            ));
        }
        Ok(UnixConnector {
            path: path.into(),
            pool: Pool::new(config),
        })
    }

    /// A connector that closes each connection after its response.
    ///
    /// ```
    /// use aiohttp::Connector;
    /// assert!(aiohttp::UnixConnector::new("/tmp/x.sock").force_closing().force_close());
    /// ```
    pub fn force_closing(self) -> Self {
        UnixConnector {
            path: self.path,
            pool: Pool::new(PoolConfig {
                force_close: true,
                keepalive_timeout: None::<Duration>,
                ..self.pool.config().clone()
            }),
        }
    }

    /// The socket path.
    ///
    /// ```
    /// let c = aiohttp::UnixConnector::new("/tmp/x.sock");
    /// assert_eq!(c.path().to_str(), Some("/tmp/x.sock"));
    /// ```
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Connector for UnixConnector {
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
            let stream = tokio::net::UnixStream::connect(&self.path)
                .await
                .map_err(|e| {
                    ClientError::new(
                        ErrorKind::UnixClientConnectorError,
                        format!("cannot connect to unix socket {}", self.path.display()),
                    )
                    .with_address(key.host(), key.port())
                    .with_source(e)
                })?;
            Ok(Transport::new(stream))
        })
    }

    fn pool(&self) -> &Pool {
        &self.pool
    }
}
