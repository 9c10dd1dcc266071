//! The connection pool: connection limits, FIFO waiters, idle keep-alive connections per key,
//! and leases for connections in use.
//!
//! Design, in three sentences. Every open connection (connecting, in use, or idle) holds one
//! slot of `limit` and one of `limit_per_host` for its key, counted under one mutex; a request
//! that finds neither an idle connection nor a free slot queues a waiter, and whenever capacity
//! frees (a release, a close, an error, a cancellation) the queue is scanned in FIFO order and
//! the first waiters that can proceed are handed an idle connection or a reserved slot — so a
//! waiter for a host whose own limit is full never blocks a waiter for another host, and an idle
//! connection of another host is closed to make room under `limit`. Reservations travel as
//! values whose `Drop` gives the capacity back (a [`Lease`] for a connection, a `Reservation` for
//! a slot being connected), so a request future dropped at any await cannot leak a count.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use tokio::sync::oneshot;
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

/// A snapshot of the pool's counters (all keys, or one key).
///
/// ```
/// let pool = aiohttp::Pool::new(aiohttp::PoolConfig::default());
/// assert_eq!(pool.stats(), aiohttp::PoolStats::default());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Open connections: being connected, in use, or idle.
    pub open: usize,
    /// Connections waiting in the pool for reuse.
    pub idle: usize,
    /// Connections (or connection attempts) held by requests.
    pub in_use: usize,
    /// Requests queued for a connection.
    pub waiting: usize,
}

/// Idle connections, limits and waiters of a connector.
///
/// ```
/// let pool = aiohttp::Pool::new(aiohttp::PoolConfig { force_close: true, ..Default::default() });
/// assert!(pool.config().force_close);
/// assert!(!pool.is_closed());
/// ```
pub struct Pool {
    inner: Arc<PoolInner>,
}

pub(crate) struct PoolInner {
    config: PoolConfig,
    closed: AtomicBool,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    idle: HashMap<ConnectionKey, Vec<Idle>>,
    keys: HashMap<ConnectionKey, PoolStats>,
    total: PoolStats,
    waiters: VecDeque<Waiter>,
    next_waiter: u64,
    reaper_running: bool,
}

struct Idle {
    conn: H1Conn,
    since: Instant,
}

struct Waiter {
    id: u64,
    key: ConnectionKey,
    fresh: bool,
    tx: oneshot::Sender<Grant>,
}

/// What a waiter is handed: a pooled connection, or a reserved slot to open one in.
enum Grant {
    Idle(Lease),
    Slot(Reservation),
}

/// Values whose `Drop` locks the pool; they must be dropped after the lock is released.
#[derive(Default)]
struct Deferred {
    grants: Vec<Grant>,
    conns: Vec<H1Conn>,
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

    /// The counters over all keys.
    ///
    /// ```
    /// let pool = aiohttp::Pool::new(aiohttp::PoolConfig::default());
    /// assert_eq!(pool.stats().in_use, 0);
    /// ```
    pub fn stats(&self) -> PoolStats {
        self.inner.lock().total
    }

    /// The counters of one key.
    ///
    /// ```
    /// let pool = aiohttp::Pool::new(aiohttp::PoolConfig::default());
    /// let url = aiohttp::Url::parse("http://a.test/").unwrap();
    /// let key = aiohttp::ConnectionKey::from_url(&url).unwrap();
    /// assert_eq!(pool.stats_for(&key).open, 0);
    /// ```
    pub fn stats_for(&self, key: &ConnectionKey) -> PoolStats {
        self.inner.lock().keys.get(key).copied().unwrap_or_default()
    }

    /// Closes every idle connection and refuses new ones; connections in use close when their
    /// responses are done, and queued requests fail.
    ///
    /// ```
    /// let pool = aiohttp::Pool::new(aiohttp::PoolConfig::default());
    /// pool.close();
    /// assert!(pool.is_closed());
    /// ```
    pub fn close(&self) {
        self.inner.closed.store(true, Ordering::Release);
        let (idle, waiters) = {
            let mut st = self.inner.lock();
            let idle: Vec<(ConnectionKey, Idle)> = st
                .idle
                .drain()
                .flat_map(|(k, v)| v.into_iter().map(move |i| (k.clone(), i)))
                .collect();
            for (key, _) in &idle {
                st.count(key, |c| {
                    c.idle -= 1;
                    c.open -= 1;
                });
            }
            let waiters: Vec<Waiter> = st.waiters.drain(..).collect();
            for w in &waiters {
                st.count(&w.key, |c| c.waiting -= 1);
            }
            (idle, waiters)
        };
        // Dropping a waiter's sender wakes it with an error; dropping a connection closes it.
        drop(waiters);
        drop(idle);
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

impl State {
    /// Applies `f` to the counters of `key` and to the totals alike.
    fn count(&mut self, key: &ConnectionKey, f: impl Fn(&mut PoolStats)) {
        f(&mut self.total);
        let entry = self.keys.entry(key.clone()).or_default();
        f(entry);
        if *entry == PoolStats::default() {
            self.keys.remove(key);
        }
    }

    fn can_open(&self, config: &PoolConfig, key: &ConnectionKey) -> bool {
        let total_ok = config.limit == 0 || self.total.open < config.limit;
        total_ok && self.host_ok(config, key)
    }

    fn host_ok(&self, config: &PoolConfig, key: &ConnectionKey) -> bool {
        config.limit_per_host == 0
            || self.keys.get(key).map_or(0, |c| c.open) < config.limit_per_host
    }

    /// Closes the longest-idle connection of any key, to make room under the total limit.
    fn evict_idle(&mut self, deferred: &mut Deferred) -> bool {
        let oldest = self
            .idle
            .iter()
            .filter_map(|(k, v)| v.first().map(|i| (k.clone(), i.since)))
            .min_by_key(|(_, since)| *since);
        let Some((key, _)) = oldest else {
            return false;
        };
        if let Some(list) = self.idle.get_mut(&key) {
            let idle = list.remove(0);
            if list.is_empty() {
                self.idle.remove(&key);
            }
            deferred.conns.push(idle.conn);
            self.count(&key, |c| {
                c.idle -= 1;
                c.open -= 1;
            });
            return true;
        }
        false
    }
}

impl PoolInner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Every update is a few plain statements that cannot panic halfway, so a poisoned lock
        // still holds consistent counters.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An idle connection of `key`, or a reserved slot, if either is available now.
    fn try_grant(
        self: &Arc<Self>,
        st: &mut State,
        key: &ConnectionKey,
        fresh: bool,
        deferred: &mut Deferred,
    ) -> Option<Grant> {
        if !fresh && !self.config.force_close {
            while let Some(idle) = st.idle.get_mut(key).and_then(Vec::pop) {
                if st.idle.get(key).is_some_and(Vec::is_empty) {
                    st.idle.remove(key);
                }
                if idle.conn.is_closed() {
                    st.count(key, |c| {
                        c.idle -= 1;
                        c.open -= 1;
                    });
                    deferred.conns.push(idle.conn);
                    continue;
                }
                st.count(key, |c| {
                    c.idle -= 1;
                    c.in_use += 1;
                });
                return Some(Grant::Idle(Lease::new(
                    self.clone(),
                    key.clone(),
                    idle.conn,
                    true,
                )));
            }
        }
        let room = st.can_open(&self.config, key)
            || (st.host_ok(&self.config, key) && st.evict_idle(deferred));
        if !room {
            return None;
        }
        st.count(key, |c| {
            c.open += 1;
            c.in_use += 1;
        });
        Some(Grant::Slot(Reservation {
            pool: self.clone(),
            key: key.clone(),
            armed: true,
        }))
    }

    /// Hands freed capacity to the waiters that can use it, oldest first.
    fn wake_waiters(self: &Arc<Self>, st: &mut State, deferred: &mut Deferred) {
        let mut i = 0;
        while i < st.waiters.len() {
            let (key, fresh) = {
                let w = &st.waiters[i];
                (w.key.clone(), w.fresh)
            };
            let Some(grant) = self.try_grant(st, &key, fresh, deferred) else {
                i += 1;
                continue;
            };
            let Some(waiter) = st.waiters.remove(i) else {
                break;
            };
            st.count(&key, |c| c.waiting -= 1);
            if let Err(grant) = waiter.tx.send(grant) {
                // The waiter is gone; its grant returns the capacity once the lock is free.
                deferred.grants.push(grant);
            }
        }
    }

    /// Runs `f` under the lock, then wakes waiters and drops what must not drop under it.
    fn update(self: &Arc<Self>, f: impl FnOnce(&mut State, &mut Deferred)) {
        let mut deferred = Deferred::default();
        {
            let mut st = self.lock();
            f(&mut st, &mut deferred);
            if !st.waiters.is_empty() {
                self.wake_waiters(&mut st, &mut deferred);
            }
        }
        drop(deferred);
    }

    fn release(self: &Arc<Self>, key: ConnectionKey, conn: H1Conn, reusable: bool) {
        let keep = reusable
            && !self.config.force_close
            && !self.closed.load(Ordering::Acquire)
            && !conn.is_closed();
        let mut spawn_reaper = false;
        self.update(|st, deferred| {
            if keep {
                st.count(&key, |c| {
                    c.in_use -= 1;
                    c.idle += 1;
                });
                st.idle.entry(key.clone()).or_default().push(Idle {
                    conn,
                    since: Instant::now(),
                });
                if self.config.keepalive_timeout.is_some() && !st.reaper_running {
                    st.reaper_running = true;
                    spawn_reaper = true;
                }
            } else {
                st.count(&key, |c| {
                    c.in_use -= 1;
                    c.open -= 1;
                });
                deferred.conns.push(conn);
            }
        });
        if spawn_reaper {
            if let Some(ttl) = self.config.keepalive_timeout {
                match tokio::runtime::Handle::try_current() {
                    Ok(handle) => {
                        handle.spawn(reap(Arc::downgrade(self), ttl));
                    }
                    Err(_) => self.lock().reaper_running = false,
                }
            }
        }
    }

    fn release_slot(self: &Arc<Self>, key: &ConnectionKey) {
        self.update(|st, _| {
            st.count(key, |c| {
                c.in_use -= 1;
                c.open -= 1;
            });
        });
    }

    fn detach(self: &Arc<Self>, key: &ConnectionKey) {
        self.release_slot(key);
    }

    fn remove_waiter(self: &Arc<Self>, id: u64) {
        self.update(|st, _| {
            if let Some(pos) = st.waiters.iter().position(|w| w.id == id) {
                if let Some(w) = st.waiters.remove(pos) {
                    st.count(&w.key, |c| c.waiting -= 1);
                }
            }
        });
    }
}

/// Closes idle connections older than `ttl`; exits when the pool has none left or is gone.
async fn reap(pool: Weak<PoolInner>, ttl: Duration) {
    loop {
        let next = {
            let Some(pool) = pool.upgrade() else { return };
            let now = Instant::now();
            let mut next: Option<Instant> = None;
            pool.update(|st, deferred| {
                let mut expired = Vec::new();
                for (key, list) in st.idle.iter_mut() {
                    let mut i = 0;
                    while i < list.len() {
                        let deadline = list[i].since + ttl;
                        if deadline <= now || list[i].conn.is_closed() {
                            deferred.conns.push(list.remove(i).conn);
                            expired.push(key.clone());
                        } else {
                            next = Some(next.map_or(deadline, |n| n.min(deadline)));
                            i += 1;
                        }
                    }
                }
                st.idle.retain(|_, list| !list.is_empty());
                for key in &expired {
                    st.count(key, |c| {
                        c.idle -= 1;
                        c.open -= 1;
                    });
                }
                if next.is_none() {
                    st.reaper_running = false;
                }
            });
            next
        };
        match next {
            Some(deadline) => tokio::time::sleep_until(deadline).await,
            None => return,
        }
    }
}

/// A reserved slot for a connection being opened; gives it back unless turned into a lease.
struct Reservation {
    pool: Arc<PoolInner>,
    key: ConnectionKey,
    armed: bool,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.armed {
            self.pool.release_slot(&self.key);
        }
    }
}

/// Removes a queued waiter when its request is cancelled.
struct WaiterGuard<'a> {
    pool: &'a Arc<PoolInner>,
    id: u64,
    armed: bool,
}

impl Drop for WaiterGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.pool.remove_waiter(self.id);
        }
    }
}

/// A connection held by one request/response.
pub(crate) struct Lease {
    conn: Option<H1Conn>,
    key: ConnectionKey,
    pool: Arc<PoolInner>,
    reusable: bool,
    reused: bool,
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
        Lease {
            conn: Some(conn),
            key,
            pool,
            // An idle connection handed to a waiter goes back to the pool if the waiter is gone.
            reusable: reused,
            reused,
        }
    }

    pub(crate) fn conn(&mut self) -> &mut H1Conn {
        // The connection is only taken out by `drop` and `detach`, which consume the lease.
        self.conn
            .as_mut()
            .expect("lease holds its connection until dropped")
    }

    pub(crate) fn is_reused(&self) -> bool {
        self.reused
    }

    /// Whether dropping the lease pools the connection (true only once an exchange completed
    /// cleanly and the connection may be kept alive).
    pub(crate) fn set_reusable(&mut self, reusable: bool) {
        self.reusable = reusable;
    }

    /// The addresses and state shared with the response's [`Connection`](super::Connection).
    pub(crate) fn shared_info(&self) -> ConnShared {
        let conn = self.conn.as_ref();
        ConnShared::new(
            conn.and_then(|c| c.local_addr),
            conn.and_then(|c| c.peer_addr),
            self.reused,
        )
    }

    /// Leaves the pool's accounting and hands the connection to the caller.
    pub(crate) fn detach(mut self) -> Option<H1Conn> {
        let conn = self.conn.take();
        if conn.is_some() {
            self.pool.detach(&self.key);
        }
        conn
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.pool.release(self.key.clone(), conn, self.reusable);
        }
    }
}

/// Turns a grant into a usable lease: reuse the idle connection, or connect in the slot.
async fn fulfil(
    connector: &dyn Connector,
    key: &ConnectionKey,
    grant: Grant,
    sock_connect: Option<Duration>,
) -> Result<Lease, ClientError> {
    let mut reservation = match grant {
        Grant::Idle(mut lease) => {
            lease.set_reusable(false);
            if lease.conn().ready().await {
                return Ok(lease);
            }
            // Dead after all: dropping the lease closes it; open a new one in its place.
            let pool = lease.pool.clone();
            drop(lease);
            return Box::pin(acquire_inner(connector, &pool, key, true, sock_connect)).await;
        }
        Grant::Slot(r) => r,
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
    reservation.armed = false;
    Ok(Lease::new(
        reservation.pool.clone(),
        key.clone(),
        conn,
        false,
    ))
}

/// Takes an idle connection for `key` (unless `fresh`), or opens a new one when the limits
/// allow, or waits in FIFO order until one of those becomes possible.
///
/// # Cancel safety
/// Dropping the future at any await gives back whatever was reserved and leaves the queue.
pub(crate) async fn acquire(
    connector: &dyn Connector,
    key: &ConnectionKey,
    fresh: bool,
    sock_connect: Option<Duration>,
) -> Result<Lease, ClientError> {
    let pool = connector.pool().inner.clone();
    acquire_inner(connector, &pool, key, fresh, sock_connect).await
}

async fn acquire_inner(
    connector: &dyn Connector,
    pool: &Arc<PoolInner>,
    key: &ConnectionKey,
    fresh: bool,
    sock_connect: Option<Duration>,
) -> Result<Lease, ClientError> {
    let closed = || ClientError::new(ErrorKind::ClientConnectionError, "the connector is closed");
    if pool.closed.load(Ordering::Acquire) {
        return Err(closed());
    }
    let mut deferred = Deferred::default();
    let queued = {
        let mut st = pool.lock();
        match pool.try_grant(&mut st, key, fresh, &mut deferred) {
            Some(grant) => Ok(grant),
            None => {
                let (tx, rx) = oneshot::channel();
                let id = st.next_waiter;
                st.next_waiter += 1;
                st.waiters.push_back(Waiter {
                    id,
                    key: key.clone(),
                    fresh,
                    tx,
                });
                st.count(key, |c| c.waiting += 1);
                Err((id, rx))
            }
        }
    };
    drop(deferred);
    let grant = match queued {
        Ok(grant) => grant,
        Err((id, rx)) => {
            let mut guard = WaiterGuard {
                pool,
                id,
                armed: true,
            };
            let grant = rx.await.map_err(|_| closed())?;
            // Granted: the waker already took the waiter out of the queue.
            guard.armed = false;
            grant
        }
    };
    fulfil(connector, key, grant, sock_connect).await
}
