//! The connection pool: connection limits, FIFO waiters, idle keep-alive connections per key,
//! and leases for connections in use.
//!
//! The bookkeeping — limits, the queue of waiters, idle lists, HTTP/2 sharing and probing,
//! closing sockets — is a plain state machine in [`state`], with its table tests. This module
//! is its I/O side: it holds the state under one mutex, opens connections through the
//! [`Connector`] in the slots the state machine reserves, runs the keep-alive reaper, wakes
//! the waiters it names and closes the connections it lets go of once the lock is released.
//!
//! Reservations travel as values whose `Drop` gives the capacity back (a [`Lease`] for a
//! connection, a `Reservation` for a slot being connected, a `Waiting` for a queued request,
//! which hands a grant it was served but never took to the next waiter), so a request future
//! dropped at any await cannot leak a count.
//!
//! A slot is free again only once the socket it stood for is closed: a connection the pool lets
//! go of (evicted, expired, not reusable) is closed by its connection task, which may run later,
//! so until its transport is dropped it keeps counting as *closing*. Otherwise a replacement
//! could be opened while the old socket is still open and the server would see more connections
//! than the limits allow. The transport itself reports its close (see [`SocketSlot`]).
//!
//! HTTP/2: a connection counts as **one** connection against `limit` and `limit_per_host`,
//! however many streams it carries; it is idle with no stream open and in use otherwise.
//! Requests share it up to the server's `SETTINGS_MAX_CONCURRENT_STREAMS`; past that, a new
//! connection is opened if the limits allow, else the request waits in the same FIFO queue.
//! While the first connection of a key that may speak HTTP/2 (TLS, where ALPN decides, or
//! HTTP/2 required) is being opened, other requests for the key wait for it instead of opening
//! their own; once a TLS key is known to speak HTTP/1.1, it is not probed again.

mod count;
mod state;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::time::Instant;

use self::count::SocketState;
use self::state::{Conn, Deferred, Grant, MuxConn, Polled, State, Types, WaiterId};
use super::{ConnShared, ConnectionKey, Connector, Io};
use crate::body::WireBody;
use crate::error::{ClientError, ErrorKind};
use crate::hooks::{emit, Point};
use crate::proto::h1::{self, H1Conn};
use crate::proto::h2::{self, H2Conn};
use crate::proto::{Head, SendError, Sent};
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
    /// Simultaneous connections per key (0 = unlimited); for requests forwarded through an
    /// HTTP proxy, simultaneous requests per origin on the proxy's connections.
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
    state: Mutex<State<Live>>,
}

/// What the pool's state machine holds here: hyper connections, and tasks' wakers.
struct Live;

impl Types for Live {
    type H1 = Pooled<H1Conn>;
    type H2 = Pooled<H2Conn>;
    type Waker = Waker;
}

/// A connection as the pool keeps it: the protocol's connection, and the pool's record of its
/// socket (set once the connection is open).
pub(crate) struct Pooled<C> {
    conn: C,
    socket: Option<Arc<SocketSlot>>,
}

impl<C> std::ops::Deref for Pooled<C> {
    type Target = C;
    fn deref(&self) -> &C {
        &self.conn
    }
}

impl<C> std::ops::DerefMut for Pooled<C> {
    fn deref_mut(&mut self) -> &mut C {
        &mut self.conn
    }
}

impl<C: fmt::Debug> fmt::Debug for Pooled<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.conn.fmt(f)
    }
}

impl<C> Pooled<C> {
    fn socket_state(&self) -> Option<&SocketState> {
        self.socket.as_deref().map(|s| &s.state)
    }
}

impl Conn for Pooled<H1Conn> {
    fn is_closed(&self) -> bool {
        self.conn.is_closed()
    }
    fn socket(&self) -> Option<&SocketState> {
        self.socket_state()
    }
}

impl Conn for Pooled<H2Conn> {
    fn is_closed(&self) -> bool {
        self.conn.is_closed()
    }
    fn socket(&self) -> Option<&SocketState> {
        self.socket_state()
    }
}

impl MuxConn for Pooled<H2Conn> {
    type Stream = H2Stream;
    fn id(&self) -> u64 {
        self.conn.id
    }
    fn max_streams(&self) -> usize {
        self.conn.max_streams()
    }
    fn stream(&self) -> H2Stream {
        H2Stream {
            sender: self.conn.stream(),
            id: self.conn.id,
            peer_addr: self.conn.peer_addr,
            local_addr: self.conn.local_addr,
        }
    }
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
                closed: AtomicBool::new(false),
                state: Mutex::new(State::new(&config)),
                config,
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
        self.inner.lock().stats()
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
        self.inner.lock().stats_for(key)
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
        // Streams in flight finish first: only idle connections are cut off, after the lock is
        // released (their sockets report back to the pool); queued requests fail.
        self.inner.with(|st, d| st.close(d));
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
    fn lock(&self) -> MutexGuard<'_, State<Live>> {
        // Every update is a few plain statements that cannot panic halfway, so a poisoned lock
        // still holds consistent counters.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on the state under the lock, then carries out what it deferred.
    fn with<R>(self: &Arc<Self>, f: impl FnOnce(&mut State<Live>, &mut Deferred<Live>) -> R) -> R {
        let mut d = Deferred::default();
        let r = f(&mut self.lock(), &mut d);
        self.carry_out(d);
        r
    }

    /// Wakes the waiters served and closes the connections let go of, with the lock released:
    /// a closing connection may report its socket closed, which takes the lock.
    fn carry_out(self: &Arc<Self>, d: Deferred<Live>) {
        if d.is_empty() {
            return;
        }
        let Deferred {
            wake,
            close_h1,
            close_h2,
            drain_h2,
            start_reaper,
        } = d;
        for w in wake {
            w.wake();
        }
        drop(close_h1);
        drop(close_h2);
        for conn in drain_h2 {
            conn.conn.close_when_done();
        }
        if start_reaper {
            self.spawn_reaper();
        }
    }

    fn spawn_reaper(self: &Arc<Self>) {
        if let Some(ttl) = self.config.keepalive_timeout {
            match tokio::runtime::Handle::try_current() {
                Ok(handle) => {
                    handle.spawn(reap(Arc::downgrade(self), ttl));
                }
                Err(_) => self.lock().reaper_not_started(),
            }
        }
    }
}

/// Closes idle connections older than `ttl`; exits when the pool has no connection left or is
/// gone.
async fn reap(pool: Weak<PoolInner>, ttl: Duration) {
    loop {
        let next = {
            let Some(pool) = pool.upgrade() else { return };
            pool.with(|st, d| st.reap(Instant::now(), ttl, d))
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
    /// This connection decides whether the key speaks HTTP/2.
    probe: bool,
    /// The transport being set up in this slot, once there is one.
    socket: Option<Arc<SocketSlot>>,
    /// The origin a forwarded request serves (see [`State::unserve`]).
    target: Option<ConnectionKey>,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.armed {
            self.pool.with(|st, d| {
                if self.probe {
                    st.end_probe(&self.key, false, d);
                }
                let socket = self.socket.as_deref().map(|s| &s.state);
                st.release_slot(&self.key, socket, false, d);
                if let Some(target) = &self.target {
                    st.unserve(target, d);
                }
            });
        }
    }
}

/// A queued request: resolves to its grant once served. Dropped earlier, it leaves the queue,
/// and a grant it was served but did not take goes to the next waiter.
struct Waiting<'a> {
    pool: &'a Arc<PoolInner>,
    id: Option<WaiterId>,
}

impl Future for Waiting<'_> {
    /// `None`: the pool was closed.
    type Output = Option<Grant<Live>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(id) = &self.id else {
            return Poll::Ready(None);
        };
        let mut st = self.pool.lock();
        match st.poll_waiter(id) {
            Polled::Waiting(waker) => {
                match waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => *waker = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
            Polled::Ready(grant) => {
                drop(st);
                self.id = None;
                Poll::Ready(grant)
            }
        }
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            self.pool
                .with(|st, d| st.cancel_waiter(id, Instant::now(), d));
        }
    }
}

/// A connection held by one request/response: an HTTP/1 connection of its own, or a stream of
/// a shared HTTP/2 connection. Dropping it gives the connection back (pooled only if marked
/// reusable) or ends the stream.
#[derive(Debug)]
pub(crate) enum Lease {
    H1(H1Lease),
    H2(H2Lease),
}

/// An HTTP/1 connection held by one request.
pub(crate) struct H1Lease {
    /// The connection and its key; taken out only by `Drop` and `detach`.
    held: Option<(Pooled<H1Conn>, ConnectionKey)>,
    pool: Arc<PoolInner>,
    reusable: bool,
    reused: bool,
    /// The origin a forwarded request serves (see [`State::unserve`]).
    target: Option<ConnectionKey>,
}

/// A stream of a shared HTTP/2 connection held by one request.
pub(crate) struct H2Lease {
    stream: H2Stream,
    key: ConnectionKey,
    pool: Arc<PoolInner>,
    target: Option<ConnectionKey>,
}

/// What a lease on an HTTP/2 connection holds: a sender for its stream.
pub(crate) struct H2Stream {
    pub(crate) sender: crate::proto::h2::Sender,
    id: u64,
    peer_addr: Option<std::net::SocketAddr>,
    local_addr: Option<std::net::SocketAddr>,
}

impl fmt::Debug for H1Lease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (conn, key) = match &self.held {
            Some((c, k)) => (Some(c), Some(k)),
            None => (None, None),
        };
        f.debug_struct("H1Lease")
            .field("key", &key)
            .field("conn", &conn)
            .field("reused", &self.reused)
            .finish()
    }
}

impl fmt::Debug for H2Lease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("H2Lease")
            .field("key", &self.key)
            .field("connection", &self.stream.id)
            .finish()
    }
}

impl Drop for H1Lease {
    fn drop(&mut self) {
        if let Some((conn, key)) = self.held.take() {
            let (reusable, target) = (self.reusable, self.target.take());
            self.pool.with(|st, d| {
                st.release(key, conn, reusable, Instant::now(), d);
                if let Some(target) = target {
                    st.unserve(&target, d);
                }
            });
        }
    }
}

impl Drop for H2Lease {
    fn drop(&mut self) {
        let (key, id, target) = (&self.key, self.stream.id, &self.target);
        self.pool.with(|st, d| {
            st.release_stream(key, id, Instant::now(), d);
            if let Some(target) = target {
                st.unserve(target, d);
            }
        });
    }
}

impl Lease {
    fn h1(
        pool: Arc<PoolInner>,
        key: ConnectionKey,
        conn: Pooled<H1Conn>,
        reused: bool,
        target: Option<ConnectionKey>,
    ) -> Self {
        Lease::H1(H1Lease {
            held: Some((conn, key)),
            pool,
            reusable: false,
            reused,
            target,
        })
    }

    fn h2(
        pool: Arc<PoolInner>,
        key: ConnectionKey,
        stream: H2Stream,
        target: Option<ConnectionKey>,
    ) -> Self {
        Lease::H2(H2Lease {
            stream,
            key,
            pool,
            target,
        })
    }

    /// Sends one request over this lease (its HTTP/1 connection, or its stream of an HTTP/2
    /// connection) and waits for the final response head.
    pub(crate) async fn exchange(
        &mut self,
        head: Head<'_>,
        body: WireBody,
    ) -> Result<Sent, SendError> {
        match self {
            Lease::H1(l) => {
                let reused = l.reused;
                match l.held.as_mut() {
                    Some((conn, _)) => h1::exchange(conn, reused, head, body).await,
                    None => Err(SendError::not_sent(ClientError::new(
                        ErrorKind::ClientConnectionError,
                        "the connection was already given back",
                    ))),
                }
            }
            Lease::H2(l) => h2::exchange(&mut l.stream.sender, head, body).await,
        }
    }

    /// For a stream of an HTTP/2 connection: no further request goes to that connection.
    pub(crate) fn retire_connection(&self) {
        if let Lease::H2(l) = self {
            l.pool.lock().retire_h2(&l.key, l.stream.id);
        }
    }

    /// Whether this lease is a stream of an HTTP/2 connection.
    pub(crate) fn is_h2(&self) -> bool {
        matches!(self, Lease::H2(_))
    }

    /// The HTTP/1 connection. Only for a lease that is not [`is_h2`](Self::is_h2).
    pub(crate) fn conn(&mut self) -> &mut H1Conn {
        match self {
            // The connection is only taken out by `drop` and `detach`, which consume the lease.
            Lease::H1(H1Lease {
                held: Some((conn, _)),
                ..
            }) => conn,
            Lease::H1(_) => unreachable!("a lease holds its connection until dropped"),
            Lease::H2(_) => unreachable!("an HTTP/2 stream has no connection of its own"),
        }
    }

    /// Whether the connection came from the pool (a stream of a shared HTTP/2 connection
    /// always counts as reused).
    pub(crate) fn is_reused(&self) -> bool {
        match self {
            Lease::H1(l) => l.reused,
            Lease::H2(_) => true,
        }
    }

    /// Whether dropping the lease pools the connection (true only once an exchange completed
    /// cleanly and the connection may be kept alive). A stream ends the same way either way.
    pub(crate) fn set_reusable(&mut self, reusable: bool) {
        if let Lease::H1(l) = self {
            l.reusable = reusable;
        }
    }

    /// The addresses and state shared with the response's [`Connection`](super::Connection).
    pub(crate) fn shared_info(&self) -> ConnShared {
        match self {
            Lease::H1(l) => {
                let conn = l.held.as_ref().map(|(c, _)| c);
                ConnShared::new(
                    conn.and_then(|c| c.local_addr),
                    conn.and_then(|c| c.peer_addr),
                    l.reused,
                    conn.and_then(|c| c.tls.clone()),
                )
            }
            Lease::H2(l) => ConnShared::new(l.stream.local_addr, l.stream.peer_addr, true, None),
        }
    }

    /// Leaves the pool's accounting and hands the connection to the caller. A stream of a
    /// shared HTTP/2 connection has no connection of its own to take out: dropping the lease
    /// ends the stream's share.
    pub(crate) fn detach(self) -> Option<H1Conn> {
        let Lease::H1(mut l) = self else {
            return None;
        };
        let (conn, key) = l.held.take()?;
        let target = l.target.take();
        l.pool.with(|st, d| {
            st.release_slot(&key, conn.socket_state(), true, d);
            if let Some(target) = target {
                st.unserve(&target, d);
            }
        });
        Some(conn.conn)
    }
}

enum Opened {
    H1(H1Conn),
    H2(H2Conn),
}

/// How a connection is opened, if the request opens one: within `sock_connect`, with a
/// parser for at most `max_headers` header lines.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OpenOptions {
    pub(crate) sock_connect: Option<Duration>,
    pub(crate) max_headers: usize,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            sock_connect: None,
            max_headers: crate::proto::HeadLimits::DEFAULT.max_headers,
        }
    }
}

/// Turns a grant into a usable lease: reuse the idle connection, or connect in the slot.
async fn fulfil(
    connector: &dyn Connector,
    pool: &Arc<PoolInner>,
    key: &ConnectionKey,
    target: Option<&ConnectionKey>,
    grant: Grant<Live>,
    opening: OpenOptions,
) -> Result<Lease, ClientError> {
    let probe = match grant {
        Grant::Open { probe } => probe,
        Grant::Stream { stream, .. } => {
            return Ok(Lease::h2(
                pool.clone(),
                key.clone(),
                stream,
                target.cloned(),
            ))
        }
        Grant::Idle { conn, key: k } => {
            // Dropped before it is ready (cancelled, or found dead), the connection is closed.
            let mut lease = Lease::h1(pool.clone(), k, conn, true, target.cloned());
            if lease.conn().ready().await {
                return Ok(lease);
            }
            // Dead after all: dropping the lease closes it; open a new one in its place.
            drop(lease);
            return Box::pin(acquire_inner(connector, pool, key, target, true, opening)).await;
        }
    };
    let mut reservation = Reservation {
        pool: pool.clone(),
        key: key.clone(),
        armed: true,
        probe,
        socket: None,
        target: target.cloned(),
    };
    let socket = Arc::new(SocketSlot {
        pool: Arc::downgrade(pool),
        key: key.clone(),
        state: SocketState::new(),
    });
    reservation.socket = Some(socket.clone());
    emit(Point::CreateStart);
    // Boxed: opening a connection (TLS, handshakes) needs far more future state than reusing
    // one, and only this path should pay for it.
    let open = Box::pin(async {
        let mut transport = connector.create_connection(key).await?;
        socket.state.opened();
        transport.io = Box::new(Watched {
            io: std::mem::replace(&mut transport.io, Box::new(tokio::io::empty())),
            _closed: SocketGuard(socket.clone()),
        });
        let h2 = transport.is_h2() || (key.is_http2() && !key.is_tls());
        if key.is_http1_only() && h2 {
            return Err(ClientError::new(
                ErrorKind::ClientConnectorSSLError,
                "HTTP/1.1 was required but the transport speaks HTTP/2",
            )
            .with_address(key.host(), key.port()));
        }
        if key.is_http2() && !h2 {
            return Err(ClientError::new(
                ErrorKind::ClientConnectorSSLError,
                "HTTP/2 was required but the server did not choose h2 by ALPN",
            )
            .with_address(key.host(), key.port()));
        }
        Ok(if h2 {
            Opened::H2(H2Conn::handshake(transport).await?)
        } else {
            Opened::H1(H1Conn::handshake(transport, opening.max_headers).await?)
        })
    });
    let opened = match opening.sock_connect {
        None => open.await,
        Some(limit) => tokio::time::timeout(limit, open).await.map_err(|_| {
            timeout_error(Phase::Connect, Bound::Phase).with_address(key.host(), key.port())
        })?,
    }
    .map_err(|e| e.with_tls(key.is_tls()))?;
    reservation.armed = false;
    emit(Point::CreateEnd);
    let target = reservation.target.take();
    match opened {
        Opened::H2(conn) => {
            let conn = Pooled {
                conn,
                socket: Some(socket),
            };
            let stream = pool.with(|st, d| st.add_h2(key, conn, Instant::now(), d));
            Ok(Lease::h2(pool.clone(), key.clone(), stream, target))
        }
        Opened::H1(conn) => {
            let conn = Pooled {
                conn,
                socket: Some(socket),
            };
            if probe {
                pool.with(|st, d| st.end_probe(key, true, d));
            }
            Ok(Lease::h1(pool.clone(), key.clone(), conn, false, target))
        }
    }
}

/// Takes an idle connection for `key` (unless `fresh`), or opens a new one when the limits
/// allow, or waits in FIFO order until one of those becomes possible. A request forwarded
/// through a proxy names its `target`, which it counts against `limit_per_host` while it holds
/// the connection.
///
/// # Cancel safety
/// Dropping the future at any await gives back whatever was reserved and leaves the queue.
pub(crate) fn acquire<'a>(
    connector: &'a dyn Connector,
    key: &'a ConnectionKey,
    target: Option<&'a ConnectionKey>,
    fresh: bool,
    opening: OpenOptions,
) -> impl Future<Output = Result<Lease, ClientError>> + Send + 'a {
    acquire_inner(
        connector,
        &connector.pool().inner,
        key,
        target,
        fresh,
        opening,
    )
}

async fn acquire_inner(
    connector: &dyn Connector,
    pool: &Arc<PoolInner>,
    key: &ConnectionKey,
    target: Option<&ConnectionKey>,
    fresh: bool,
    opening: OpenOptions,
) -> Result<Lease, ClientError> {
    let closed = || ClientError::new(ErrorKind::ClientConnectionError, "the connector is closed");
    if pool.closed.load(Ordering::Acquire) {
        return Err(closed());
    }
    let got = pool.with(|st, d| match st.acquire(key, target, fresh, d) {
        Some(grant) => Ok(grant),
        None => Err(st.enqueue(key.clone(), target.cloned(), fresh)),
    });
    // An idle connection ready at once needs no await at all; the other paths are boxed, so a
    // request that reuses a connection carries none of their state in its future.
    let grant = match got {
        Ok(grant) => grant,
        Err(id) => {
            emit(Point::QueuedStart);
            let waiting = Waiting { pool, id: Some(id) };
            let grant = waiting.await.ok_or_else(closed)?;
            emit(Point::QueuedEnd);
            grant
        }
    };
    if !matches!(grant, Grant::Open { .. }) {
        emit(Point::Reuse);
    }
    match grant {
        Grant::Stream { stream, .. } => Ok(Lease::h2(
            pool.clone(),
            key.clone(),
            stream,
            target.cloned(),
        )),
        Grant::Idle { conn, key } if conn.is_ready() => {
            Ok(Lease::h1(pool.clone(), key, conn, true, target.cloned()))
        }
        grant => Box::pin(fulfil(connector, pool, key, target, grant, opening)).await,
    }
}

/// What the pool knows of one connection's socket, shared by the pool and the transport.
pub(crate) struct SocketSlot {
    pool: Weak<PoolInner>,
    key: ConnectionKey,
    state: SocketState,
}

/// Tells the pool that a transport was dropped, i.e. its socket closed.
struct SocketGuard(Arc<SocketSlot>);

impl Drop for SocketGuard {
    fn drop(&mut self) {
        if let Some(pool) = self.0.pool.upgrade() {
            let slot = &self.0;
            pool.with(|st, d| st.socket_closed(&slot.key, &slot.state, d));
        }
    }
}

/// A connection's transport, reporting its own drop. Whichever task ends up owning it (the
/// connection task, or one hyper spawned), the slot is given back only after the socket closed.
struct Watched {
    // Declared first so that it is dropped (closed) before the guard reports it.
    io: Box<dyn Io>,
    _closed: SocketGuard,
}

impl tokio::io::AsyncRead for Watched {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for Watched {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.io).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
