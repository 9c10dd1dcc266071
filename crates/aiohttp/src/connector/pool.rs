//! The connection pool: idle keep-alive connections per key, leases for connections in use, and
//! the accounting (open, idle, in use) that connection limits are enforced on.
//!
//! Every connection in use is owned by exactly one [`Lease`]. The lease goes back into the pool
//! only when the response body was read to its end and the connection may be kept alive; in
//! every other case (a partly read body, an error, a cancelled request, `force_close`) dropping
//! the lease closes the socket. All counters change under one mutex, and every change has a
//! matching undo in a `Drop`, so a cancelled future cannot leak a count.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use tokio::time::Instant;

use super::{ConnShared, ConnectionKey, Connector};
use crate::error::{ClientError, ErrorKind};
use crate::h1::H1Conn;
use crate::timeout::{timeout_error, Bound, Phase};

/// Pool settings shared by every connector (aiohttp's `BaseConnector` arguments).
///
/// ```
/// use std::time::Duration;
/// let cfg = aiohttp::PoolConfig::default();
/// assert_eq!(cfg.limit, 100);
/// assert_eq!(cfg.keepalive_timeout, Some(Duration::from_secs(30)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolConfig {
    /// Total simultaneous connections (0 = unlimited).
    pub limit: usize,
    /// Simultaneous connections per key (0 = unlimited).
    pub limit_per_host: usize,
    /// How long an idle keep-alive connection is kept; `None` keeps it until the server closes it.
    pub keepalive_timeout: Option<Duration>,
    /// Close every connection after its response instead of pooling it.
    pub force_close: bool,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            limit: 100,
            limit_per_host: 0,
            keepalive_timeout: Some(Duration::from_secs(30)),
            force_close: false,
        }
    }
}

/// A snapshot of the pool's counters.
///
/// ```
/// let pool = aiohttp::Pool::new(aiohttp::PoolConfig::default());
/// assert_eq!(pool.stats(), aiohttp::PoolStats::default());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Open connections (idle + in use).
    pub open: usize,
    /// Connections waiting in the pool for reuse.
    pub idle: usize,
    /// Connections (or connection attempts) held by requests.
    pub in_use: usize,
}

/// Idle connections and the accounting of a connector.
///
/// ```
/// let pool = aiohttp::Pool::new(aiohttp::PoolConfig { force_close: true, ..Default::default() });
/// assert!(pool.config().force_close);
/// assert!(!pool.is_closed());
/// ```
pub struct Pool {
    inner: Arc<PoolInner>,
}

struct PoolInner {
    config: PoolConfig,
    closed: AtomicBool,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    idle: HashMap<ConnectionKey, Vec<Idle>>,
    open: usize,
    idle_count: usize,
    in_use: usize,
    reaper_running: bool,
}

struct Idle {
    conn: H1Conn,
    since: Instant,
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("config", &self.inner.config)
            .field("stats", &self.stats())
            .finish()
    }
}

impl Pool {
    /// An empty pool with these settings.
    ///
    /// ```
    /// let pool = aiohttp::Pool::new(aiohttp::PoolConfig::default());
    /// assert_eq!(pool.stats().open, 0);
    /// ```
    pub fn new(config: PoolConfig) -> Self {
        Pool {
            inner: Arc::new(PoolInner {
                config,
                closed: AtomicBool::new(false),
                state: Mutex::new(State::default()),
            }),
        }
    }

    /// The settings.
    ///
    /// ```
    /// let pool = aiohttp::Pool::new(aiohttp::PoolConfig::default());
    /// assert_eq!(pool.config().limit_per_host, 0);
    /// ```
    pub fn config(&self) -> &PoolConfig {
        &self.inner.config
    }

    /// The counters: open, idle and in-use connections.
    ///
    /// ```
    /// let pool = aiohttp::Pool::new(aiohttp::PoolConfig::default());
    /// assert_eq!(pool.stats().in_use, 0);
    /// ```
    pub fn stats(&self) -> PoolStats {
        let st = self.inner.lock();
        PoolStats {
            open: st.open,
            idle: st.idle_count,
            in_use: st.in_use,
        }
    }

    /// Closes every idle connection and refuses new ones; connections in use close when their
    /// responses are done.
    ///
    /// ```
    /// let pool = aiohttp::Pool::new(aiohttp::PoolConfig::default());
    /// pool.close();
    /// assert!(pool.is_closed());
    /// ```
    pub fn close(&self) {
        self.inner.closed.store(true, Ordering::Release);
        let drained: Vec<Idle> = {
            let mut st = self.inner.lock();
            let drained: Vec<Idle> = st.idle.drain().flat_map(|(_, v)| v).collect();
            st.open -= drained.len();
            st.idle_count = 0;
            drained
        };
        drop(drained);
    }

    /// Whether [`close`](Self::close) was called.
    ///
    /// ```
    /// assert!(!aiohttp::Pool::new(Default::default()).is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::Acquire)
    }
}

impl PoolInner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the counters half-updated (every update is
        // a single statement), so a poisoned lock is still consistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn take_idle(&self, key: &ConnectionKey) -> Option<H1Conn> {
        let mut st = self.lock();
        let list = st.idle.get_mut(key)?;
        // Most recently used first: it is the least likely to have been closed by the server.
        let idle = list.pop()?;
        if list.is_empty() {
            st.idle.remove(key);
        }
        st.idle_count -= 1;
        st.in_use += 1;
        Some(idle.conn)
    }

    fn release(self: &Arc<Self>, key: ConnectionKey, conn: H1Conn, reusable: bool) {
        let keep = reusable
            && !self.config.force_close
            && !self.closed.load(Ordering::Acquire)
            && !conn.is_closed();
        let mut st = self.lock();
        st.in_use -= 1;
        if !keep {
            st.open -= 1;
            drop(st);
            drop(conn);
            return;
        }
        st.idle.entry(key).or_default().push(Idle {
            conn,
            since: Instant::now(),
        });
        st.idle_count += 1;
        if let Some(ttl) = self.config.keepalive_timeout {
            if !st.reaper_running {
                if let Ok(handle) = tokio::runtime::Handle::try_current() {
                    st.reaper_running = true;
                    handle.spawn(reap(Arc::downgrade(self), ttl));
                }
            }
        }
    }
}

/// Closes idle connections older than `ttl`; exits when the pool has none left or is gone.
async fn reap(pool: Weak<PoolInner>, ttl: Duration) {
    loop {
        let next = {
            let Some(pool) = pool.upgrade() else { return };
            let now = Instant::now();
            let mut st = pool.lock();
            let mut expired = Vec::new();
            let mut next: Option<Instant> = None;
            st.idle.retain(|_, list| {
                list.retain_mut(|idle| {
                    let deadline = idle.since + ttl;
                    if deadline <= now || idle.conn.is_closed() {
                        expired.push(idle.since);
                        false
                    } else {
                        next = Some(next.map_or(deadline, |n| n.min(deadline)));
                        true
                    }
                });
                !list.is_empty()
            });
            st.idle_count -= expired.len();
            st.open -= expired.len();
            if next.is_none() {
                st.reaper_running = false;
            }
            next
            // Expired connections were dropped by `retain_mut`, closing their sockets.
        };
        match next {
            Some(deadline) => tokio::time::sleep_until(deadline).await,
            None => return,
        }
    }
}

/// A reserved slot for a connection being opened; undone if the attempt fails or is cancelled.
struct Slot {
    pool: Arc<PoolInner>,
    armed: bool,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if self.armed {
            let mut st = self.pool.lock();
            st.in_use -= 1;
            st.open -= 1;
        }
    }
}

/// A connection held by one request/response.
pub(crate) struct Lease {
    conn: Option<H1Conn>,
    key: ConnectionKey,
    pool: Arc<PoolInner>,
    reusable: bool,
    pub(crate) shared: Arc<ConnShared>,
}

impl fmt::Debug for Lease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lease")
            .field("key", &self.key)
            .field("conn", &self.conn)
            .finish()
    }
}

impl Lease {
    fn new(pool: Arc<PoolInner>, key: ConnectionKey, conn: H1Conn, reused: bool) -> Self {
        let shared = Arc::new(ConnShared {
            local_addr: conn.local_addr,
            peer_addr: conn.peer_addr,
            reused,
            done: AtomicBool::new(false),
        });
        Lease {
            conn: Some(conn),
            key,
            pool,
            reusable: false,
            shared,
        }
    }

    pub(crate) fn conn(&mut self) -> &mut H1Conn {
        // The connection is only taken out in `drop`.
        self.conn
            .as_mut()
            .expect("lease holds its connection until dropped")
    }

    pub(crate) fn is_reused(&self) -> bool {
        self.shared.reused
    }

    /// Marks the exchange as complete: dropping the lease then pools the connection.
    pub(crate) fn set_reusable(&mut self, reusable: bool) {
        self.reusable = reusable;
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.shared.done.store(true, Ordering::Release);
        if let Some(conn) = self.conn.take() {
            self.pool.release(self.key.clone(), conn, self.reusable);
        }
    }
}

/// Takes an idle connection for `key` (unless `fresh`) or opens a new one through the connector.
///
/// # Cancel safety
/// Dropping the future at any await releases whatever was reserved.
pub(crate) async fn acquire(
    connector: &dyn Connector,
    key: &ConnectionKey,
    fresh: bool,
    sock_connect: Option<std::time::Duration>,
) -> Result<Lease, ClientError> {
    let pool = &connector.pool().inner;
    if pool.closed.load(Ordering::Acquire) {
        return Err(ClientError::new(
            ErrorKind::ClientConnectionError,
            "the connector is closed",
        ));
    }
    if !pool.config.force_close && !fresh {
        while let Some(conn) = pool.take_idle(key) {
            // Leased at once, so a cancellation during `ready()` still settles the counters.
            let mut lease = Lease::new(pool.clone(), key.clone(), conn, true);
            if !lease.conn().is_closed() && lease.conn().ready().await {
                return Ok(lease);
            }
        }
    }
    {
        let mut st = pool.lock();
        st.open += 1;
        st.in_use += 1;
    }
    let mut slot = Slot {
        pool: pool.clone(),
        armed: true,
    };
    let open = async {
        let transport = connector.create_connection(key).await?;
        H1Conn::handshake(transport).await
    };
    let conn = match sock_connect {
        None => open.await?,
        Some(limit) => tokio::time::timeout(limit, open).await.map_err(|_| {
            timeout_error(Phase::Connect, Bound::Phase).with_address(key.host(), key.port())
        })??,
    };
    slot.armed = false;
    Ok(Lease::new(pool.clone(), key.clone(), conn, false))
}
