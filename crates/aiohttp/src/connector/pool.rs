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

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use foldhash::fast::RandomState;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::{ConnShared, ConnectionKey, Connector, Io};
use crate::error::{ClientError, ErrorKind};
use crate::proto::h1::H1Conn;
use crate::proto::h2::H2Conn;
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

/// The pool's maps hash keys with foldhash (seeded per map): a request looks its key up a few
/// times, and SipHash made that a visible share of a pooled request's cost.
type HashMap<K, V> = std::collections::HashMap<K, V, RandomState>;
type HashSet<K> = std::collections::HashSet<K, RandomState>;

#[derive(Default)]
struct State {
    /// Idle HTTP/1 connections per key. A key's list stays (maybe empty) while the key has open
    /// connections, so a connection going back and forth costs no allocation.
    idle: HashMap<ConnectionKey, Vec<Idle>>,
    /// Shared HTTP/2 connections per key.
    h2: HashMap<ConnectionKey, Vec<H2Entry>>,
    /// Keys whose first connection may turn out to be HTTP/2: until it is known, other requests
    /// for the key wait for it rather than opening connections of their own.
    probing: HashSet<ConnectionKey>,
    /// TLS keys whose server chose HTTP/1.1: no need to probe again. At most [`MAX_H1_ONLY`],
    /// the oldest forgotten first (`h1_only_order`): a key forgotten is only probed again.
    h1_only: HashSet<ConnectionKey>,
    h1_only_order: VecDeque<ConnectionKey>,
    keys: HashMap<ConnectionKey, PoolStats>,
    total: PoolStats,
    /// Connections let go of whose sockets are not closed yet, per key: they still hold their
    /// slots of `limit` and `limit_per_host`.
    closing: HashMap<ConnectionKey, usize>,
    closing_total: usize,
    waiters: VecDeque<Waiter>,
    next_waiter: u64,
    reaper_running: bool,
}

/// A shared HTTP/2 connection and how many streams are open on it. It counts as one
/// connection against the limits: idle with no stream open, in use otherwise.
struct H2Entry {
    conn: H2Conn,
    streams: usize,
    since: Instant,
    /// No new streams: the server refused one or is going away.
    retired: bool,
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

/// How many keys known to speak HTTP/1.1 are remembered. Keys come and go with the hosts a
/// session meets (and with each per-request TLS configuration, which is a key of its own).
const MAX_H1_ONLY: usize = 1024;

/// Whether a key's connections may be HTTP/2 (TLS with ALPN, or HTTP/2 required).
fn may_be_h2(key: &ConnectionKey) -> bool {
    key.is_tls() || key.is_http2()
}

/// Values whose `Drop` locks the pool; they must be dropped after the lock is released.
#[derive(Default)]
struct Deferred {
    grants: Vec<Grant>,
    conns: Vec<H1Conn>,
    h2_conns: Vec<H2Conn>,
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
        let (idle, idle_h2, waiters) = {
            let mut st = self.inner.lock();
            let idle: Vec<(ConnectionKey, Idle)> = st
                .idle
                .drain()
                .flat_map(|(k, v)| v.into_iter().map(move |i| (k.clone(), i)))
                .collect();
            for (key, i) in &idle {
                st.forget_idle(key);
                st.let_go(i.conn.socket.as_deref());
            }
            let h2: Vec<(ConnectionKey, H2Entry)> = st
                .h2
                .drain()
                .flat_map(|(k, v)| v.into_iter().map(move |e| (k.clone(), e)))
                .collect();
            for (key, e) in &h2 {
                let busy = e.streams > 0;
                st.let_go(e.conn.socket.as_deref());
                st.count(key, |c| {
                    if busy {
                        c.in_use -= 1;
                    } else {
                        c.idle -= 1;
                    }
                    c.open -= 1;
                });
            }
            // Streams in flight finish first: only idle connections are cut off, and those
            // are dropped after the lock is released (their sockets report back to the pool).
            let mut idle_h2 = Vec::new();
            for (_, e) in h2 {
                if e.streams > 0 {
                    e.conn.close_when_done();
                } else {
                    idle_h2.push(e);
                }
            }
            let waiters: Vec<Waiter> = st.waiters.drain(..).collect();
            for w in &waiters {
                st.count(&w.key, |c| c.waiting -= 1);
            }
            (idle, idle_h2, waiters)
        };
        // Dropping a waiter's sender wakes it with an error; dropping a connection closes it.
        drop(waiters);
        drop(idle);
        drop(idle_h2);
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
        match self.keys.get_mut(key) {
            Some(entry) => {
                f(entry);
                if *entry == PoolStats::default() {
                    self.keys.remove(key);
                    self.idle.remove(key);
                }
            }
            None => {
                let mut entry = PoolStats::default();
                f(&mut entry);
                self.keys.insert(key.clone(), entry);
            }
        }
    }

    /// An idle connection of `key` is gone (closed, expired, evicted).
    fn forget_idle(&mut self, key: &ConnectionKey) {
        self.count(key, |c| {
            c.idle -= 1;
            c.open -= 1;
        });
    }

    /// A connection (or reserved slot) of `key` in use is gone.
    fn forget_in_use(&mut self, key: &ConnectionKey) {
        self.count(key, |c| {
            c.in_use -= 1;
            c.open -= 1;
        });
    }

    fn can_open(&self, config: &PoolConfig, key: &ConnectionKey) -> bool {
        let total_ok = config.limit == 0 || self.total.open + self.closing_total < config.limit;
        total_ok && self.host_ok(config, key)
    }

    fn host_ok(&self, config: &PoolConfig, key: &ConnectionKey) -> bool {
        config.limit_per_host == 0
            || self.keys.get(key).map_or(0, |c| c.open)
                + self.closing.get(key).copied().unwrap_or(0)
                < config.limit_per_host
    }

    /// The pool no longer counts a connection (or a slot being connected) as open. Its slot
    /// stays taken, as closing, while its socket is open; returns whether the slot is free now.
    fn let_go(&mut self, socket: Option<&SocketSlot>) -> bool {
        let Some(socket) = socket else {
            return true;
        };
        match socket.state.load(Ordering::Acquire) {
            SOCKET_OPEN => {
                socket.state.store(SOCKET_CLOSING, Ordering::Release);
                *self.closing.entry(socket.key.clone()).or_default() += 1;
                self.closing_total += 1;
                false
            }
            SOCKET_CLOSING => false,
            _ => {
                socket.state.store(SOCKET_DONE, Ordering::Release);
                true
            }
        }
    }

    /// The socket of a connection is closed: if the pool had let go of it, its slot is free.
    fn socket_closed(&mut self, socket: &SocketSlot) {
        match socket.state.load(Ordering::Acquire) {
            SOCKET_CLOSING => {
                socket.state.store(SOCKET_DONE, Ordering::Release);
                self.closing_total -= 1;
                if let Some(n) = self.closing.get_mut(&socket.key) {
                    *n -= 1;
                    if *n == 0 {
                        self.closing.remove(&socket.key);
                    }
                }
            }
            SOCKET_DONE => {}
            _ => socket.state.store(SOCKET_CLOSED, Ordering::Release),
        }
    }

    /// Makes room under the total limit for one more connection: returns true if a slot is
    /// free now. Otherwise a close under way (counted in `spare`, closes nobody has claimed yet)
    /// or one started here frees a slot later, and the waiters are scanned again then.
    fn make_room(&mut self, deferred: &mut Deferred, spare: &mut usize) -> bool {
        if *spare > 0 {
            *spare -= 1;
            return false;
        }
        self.evict_idle(deferred) == Some(true)
    }

    /// Closes the longest-idle connection of any key, to make room under the total limit:
    /// `Some(true)` if its slot is free at once, `Some(false)` if it frees once the socket is
    /// closed, `None` if there was no idle connection.
    fn evict_idle(&mut self, deferred: &mut Deferred) -> Option<bool> {
        if let Some(freed) = self.evict_idle_h1(deferred) {
            return Some(freed);
        }
        let idle_h2 = self.h2.iter().find_map(|(k, v)| {
            v.iter()
                .position(|e| e.streams == 0)
                .map(|i| (k.clone(), i))
        });
        let (key, i) = idle_h2?;
        let entry = take_at(&mut self.h2, &key, i)?;
        self.forget_idle(&key);
        let freed = self.let_go(entry.conn.socket.as_deref());
        deferred.h2_conns.push(entry.conn);
        Some(freed)
    }

    fn evict_idle_h1(&mut self, deferred: &mut Deferred) -> Option<bool> {
        let oldest = self
            .idle
            .iter()
            .filter_map(|(k, v)| v.first().map(|i| (k.clone(), i.since)))
            .min_by_key(|(_, since)| *since);
        let (key, _) = oldest?;
        let idle = take_at(&mut self.idle, &key, 0)?;
        self.forget_idle(&key);
        let freed = self.let_go(idle.conn.socket.as_deref());
        deferred.conns.push(idle.conn);
        Some(freed)
    }
}

/// Removes entry `i` of `key`'s list, dropping the list once it is empty.
// `ConnectionKey` hashes a TLS configuration by its `Arc` pointer, never by its (interior
// mutable) contents, so keys are stable in the map.
#[allow(clippy::mutable_key_type)]
fn take_at<T>(
    map: &mut HashMap<ConnectionKey, Vec<T>>,
    key: &ConnectionKey,
    i: usize,
) -> Option<T> {
    let list = map.get_mut(key)?;
    if i >= list.len() {
        return None;
    }
    let item = list.remove(i);
    if list.is_empty() {
        map.remove(key);
    }
    Some(item)
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
        spare: &mut usize,
    ) -> Option<Grant> {
        if !fresh && !self.config.force_close {
            if let Some(lease) = self.take_stream(st, key, deferred) {
                return Some(Grant::Idle(lease));
            }
            if st.probing.contains(key) {
                return None;
            }
            while let Some(idle) = st.idle.get_mut(key).and_then(Vec::pop) {
                if idle.conn.is_closed() {
                    st.forget_idle(key);
                    st.let_go(idle.conn.socket.as_deref());
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
            || (st.host_ok(&self.config, key) && st.make_room(deferred, spare));
        if !room {
            return None;
        }
        st.count(key, |c| {
            c.open += 1;
            c.in_use += 1;
        });
        let probe = may_be_h2(key) && !self.config.force_close && !st.h1_only.contains(key);
        if probe {
            st.probing.insert(key.clone());
        }
        Some(Grant::Slot(Reservation {
            pool: self.clone(),
            key: key.clone(),
            armed: true,
            probe,
            socket: None,
        }))
    }

    /// A stream on a shared HTTP/2 connection of `key` with room for one more.
    fn take_stream(
        self: &Arc<Self>,
        st: &mut State,
        key: &ConnectionKey,
        deferred: &mut Deferred,
    ) -> Option<Lease> {
        let list = st.h2.get_mut(key)?;
        let mut dead = Vec::new();
        let mut i = 0;
        while i < list.len() {
            if list[i].conn.is_closed() {
                let e = list.remove(i);
                dead.push((e.streams > 0, e.conn.socket.clone()));
                deferred.h2_conns.push(e.conn);
            } else {
                i += 1;
            }
        }
        let found = list
            .iter_mut()
            .find(|e| !e.retired && e.streams < e.conn.max_streams())
            .map(|e| {
                e.streams += 1;
                (
                    e.streams == 1,
                    e.conn.stream(),
                    e.conn.id,
                    e.conn.peer_addr,
                    e.conn.local_addr,
                )
            });
        if list.is_empty() {
            st.h2.remove(key);
        }
        for (busy, socket) in dead {
            st.let_go(socket.as_deref());
            st.count(key, |c| {
                if busy {
                    c.in_use -= 1;
                } else {
                    c.idle -= 1;
                }
                c.open -= 1;
            });
        }
        let (first, sender, id, peer, local) = found?;
        if first {
            st.count(key, |c| {
                c.idle -= 1;
                c.in_use += 1;
            });
        }
        Some(Lease::stream(
            self.clone(),
            key.clone(),
            sender,
            id,
            peer,
            local,
        ))
    }

    /// A new HTTP/2 connection joins the pool, with the stream of the request that opened it.
    fn add_h2(self: &Arc<Self>, key: &ConnectionKey, conn: H2Conn) -> Lease {
        let sender = conn.stream();
        let (id, peer, local) = (conn.id, conn.peer_addr, conn.local_addr);
        self.update(|st, _| {
            st.probing.remove(key);
            st.h2.entry(key.clone()).or_default().push(H2Entry {
                conn,
                streams: 1,
                since: Instant::now(),
                retired: false,
            });
        });
        Lease::stream(self.clone(), key.clone(), sender, id, peer, local)
    }

    /// The probe for `key` found HTTP/1.1 (or failed): waiters may open their own connections.
    fn end_probe(self: &Arc<Self>, key: &ConnectionKey, h1: bool) {
        self.update(|st, _| {
            st.probing.remove(key);
            if h1 && st.h1_only.insert(key.clone()) {
                st.h1_only_order.push_back(key.clone());
                if st.h1_only_order.len() > MAX_H1_ONLY {
                    if let Some(oldest) = st.h1_only_order.pop_front() {
                        st.h1_only.remove(&oldest);
                    }
                }
            }
        });
    }

    /// A stream of a shared HTTP/2 connection is done.
    fn release_stream(self: &Arc<Self>, key: &ConnectionKey, id: u64) {
        let mut spawn_reaper = false;
        self.update(|st, deferred| {
            let Some(list) = st.h2.get_mut(key) else {
                return;
            };
            let Some(pos) = list.iter().position(|e| e.conn.id == id) else {
                return;
            };
            let entry = &mut list[pos];
            entry.streams = entry.streams.saturating_sub(1);
            if entry.streams > 0 {
                return;
            }
            entry.since = Instant::now();
            if self.config.force_close
                || entry.retired
                || self.closed.load(Ordering::Acquire)
                || entry.conn.is_closed()
            {
                let e = list.remove(pos);
                if list.is_empty() {
                    st.h2.remove(key);
                }
                st.forget_in_use(key);
                st.let_go(e.conn.socket.as_deref());
                deferred.h2_conns.push(e.conn);
                return;
            }
            st.count(key, |c| {
                c.in_use -= 1;
                c.idle += 1;
            });
            if self.config.keepalive_timeout.is_some() && !st.reaper_running {
                st.reaper_running = true;
                spawn_reaper = true;
            }
        });
        if spawn_reaper {
            self.spawn_reaper();
        }
    }

    /// Stops opening streams on an HTTP/2 connection; it closes when its last stream ends.
    fn retire_h2(self: &Arc<Self>, key: &ConnectionKey, id: u64) {
        self.update(|st, _| {
            if let Some(e) = st
                .h2
                .get_mut(key)
                .and_then(|l| l.iter_mut().find(|e| e.conn.id == id))
            {
                e.retired = true;
            }
        });
    }

    fn spawn_reaper(self: &Arc<Self>) {
        if let Some(ttl) = self.config.keepalive_timeout {
            match tokio::runtime::Handle::try_current() {
                Ok(handle) => {
                    handle.spawn(reap(Arc::downgrade(self), ttl));
                }
                Err(_) => self.lock().reaper_running = false,
            }
        }
    }

    /// Hands freed capacity to the waiters that can use it, oldest first.
    fn wake_waiters(self: &Arc<Self>, st: &mut State, deferred: &mut Deferred) {
        // Keys found without capacity in this pass. Granting only uses capacity up, so their
        // later waiters would be refused too and are skipped: a release costs one check per
        // key in the queue, not one per waiter.
        let mut denied: Vec<(ConnectionKey, bool)> = Vec::new();
        let mut spare = st.closing_total;
        let mut i = 0;
        while i < st.waiters.len() {
            if self.nothing_free(st) {
                break;
            }
            let w = &st.waiters[i];
            if denied.iter().any(|(k, f)| *f == w.fresh && *k == w.key) {
                i += 1;
                continue;
            }
            let (key, fresh) = (w.key.clone(), w.fresh);
            let Some(grant) = self.try_grant(st, &key, fresh, deferred, &mut spare) else {
                denied.push((key, fresh));
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

    /// No slot under the total limit, no idle connection to reuse or close, no HTTP/2 stream:
    /// nobody can be served until something is released.
    fn nothing_free(&self, st: &State) -> bool {
        self.config.limit != 0
            && st.total.open + st.closing_total >= self.config.limit
            && st.total.idle == 0
            && st.h2.is_empty()
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
                let idle = Idle {
                    conn,
                    since: Instant::now(),
                };
                match st.idle.get_mut(&key) {
                    Some(list) => list.push(idle),
                    None => {
                        st.idle.insert(key, vec![idle]);
                    }
                }
                if self.config.keepalive_timeout.is_some() && !st.reaper_running {
                    st.reaper_running = true;
                    spawn_reaper = true;
                }
            } else {
                st.forget_in_use(&key);
                st.let_go(conn.socket.as_deref());
                deferred.conns.push(conn);
            }
        });
        if spawn_reaper {
            self.spawn_reaper();
        }
    }

    /// A slot in use is given back: a connection attempt that failed or was cancelled
    /// (`socket` is its transport, if it had one), or a detached connection (`detached`: it no
    /// longer counts at all, open or not).
    fn release_slot(
        self: &Arc<Self>,
        key: &ConnectionKey,
        socket: Option<&SocketSlot>,
        detached: bool,
    ) {
        self.update(|st, _| {
            st.forget_in_use(key);
            match socket {
                Some(s) if detached => s.state.store(SOCKET_DONE, Ordering::Release),
                _ => {
                    st.let_go(socket);
                }
            }
        });
    }

    /// The transport of `socket` was dropped: its socket is closed.
    fn socket_closed(self: &Arc<Self>, socket: &SocketSlot) {
        self.update(|st, _| st.socket_closed(socket));
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

/// Closes idle connections older than `ttl`; exits when the pool has no connection left or is
/// gone.
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
                        let deadline = crate::timeout::later(list[i].since, ttl);
                        if deadline <= now || list[i].conn.is_closed() {
                            let conn = list.remove(i).conn;
                            expired.push((key.clone(), conn.socket.clone()));
                            deferred.conns.push(conn);
                        } else {
                            next = Some(next.map_or(deadline, |n| n.min(deadline)));
                            i += 1;
                        }
                    }
                }
                st.idle.retain(|_, list| !list.is_empty());
                let mut h2_expired = Vec::new();
                for (key, list) in st.h2.iter_mut() {
                    let mut i = 0;
                    while i < list.len() {
                        let deadline = crate::timeout::later(list[i].since, ttl);
                        if list[i].streams == 0 && (deadline <= now || list[i].conn.is_closed()) {
                            let conn = list.remove(i).conn;
                            h2_expired.push((key.clone(), conn.socket.clone()));
                            deferred.h2_conns.push(conn);
                        } else {
                            if list[i].streams == 0 {
                                next = Some(next.map_or(deadline, |n| n.min(deadline)));
                            }
                            i += 1;
                        }
                    }
                }
                st.h2.retain(|_, list| !list.is_empty());
                expired.extend(h2_expired);
                for (key, socket) in &expired {
                    st.forget_idle(key);
                    st.let_go(socket.as_deref());
                }
                if next.is_none() {
                    if st.total.open > 0 {
                        // Connections in use now go idle later, never sooner than one `ttl`
                        // from now: staying up saves a task spawn on each of their releases.
                        next = Some(crate::timeout::later(now, ttl));
                    } else {
                        st.reaper_running = false;
                    }
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
    /// This connection decides whether the key speaks HTTP/2.
    probe: bool,
    /// The transport being set up in this slot, once there is one.
    socket: Option<Arc<SocketSlot>>,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.armed {
            if self.probe {
                self.pool.end_probe(&self.key, false);
            }
            self.pool
                .release_slot(&self.key, self.socket.as_deref(), false);
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
    /// A stream on a shared HTTP/2 connection (then `conn` is `None`).
    stream: Option<H2Stream>,
    key: ConnectionKey,
    pool: Arc<PoolInner>,
    reusable: bool,
    reused: bool,
}

/// What a lease on an HTTP/2 connection holds: a sender for its stream.
pub(crate) struct H2Stream {
    pub(crate) sender: crate::proto::h2::Sender,
    id: u64,
    peer_addr: Option<std::net::SocketAddr>,
    local_addr: Option<std::net::SocketAddr>,
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
    fn stream(
        pool: Arc<PoolInner>,
        key: ConnectionKey,
        sender: crate::proto::h2::Sender,
        id: u64,
        peer_addr: Option<std::net::SocketAddr>,
        local_addr: Option<std::net::SocketAddr>,
    ) -> Self {
        Lease {
            conn: None,
            stream: Some(H2Stream {
                sender,
                id,
                peer_addr,
                local_addr,
            }),
            key,
            pool,
            reusable: false,
            reused: true,
        }
    }

    /// The HTTP/2 stream this lease holds, if it is one.
    pub(crate) fn h2_stream(&mut self) -> Option<&mut H2Stream> {
        self.stream.as_mut()
    }

    /// For a stream of an HTTP/2 connection: no further request goes to that connection.
    pub(crate) fn retire_connection(&self) {
        if let Some(s) = &self.stream {
            self.pool.retire_h2(&self.key, s.id);
        }
    }

    /// Whether this lease is a stream of an HTTP/2 connection.
    pub(crate) fn is_h2(&self) -> bool {
        self.stream.is_some()
    }

    fn new(pool: Arc<PoolInner>, key: ConnectionKey, conn: H1Conn, reused: bool) -> Self {
        Lease {
            conn: Some(conn),
            stream: None,
            key,
            pool,
            // An idle connection handed to a waiter goes back to the pool if the waiter is gone.
            reusable: reused,
            reused,
        }
    }

    /// An HTTP/1 connection that can take a request right now.
    fn h1_ready(&self) -> bool {
        self.conn.as_ref().is_some_and(H1Conn::is_ready)
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
        if let Some(s) = &self.stream {
            return ConnShared::new(s.local_addr, s.peer_addr, self.reused);
        }
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
        if let Some(c) = &conn {
            self.pool.release_slot(&self.key, c.socket.as_deref(), true);
        }
        // A stream of a shared HTTP/2 connection has no connection of its own to take out;
        // dropping the lease ends the stream's share.
        conn
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.pool.release(self.key.clone(), conn, self.reusable);
        }
        if let Some(stream) = self.stream.take() {
            self.pool.release_stream(&self.key, stream.id);
        }
    }
}

enum Opened {
    H1(H1Conn),
    H2(H2Conn),
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
            if lease.stream.is_some() || lease.conn().ready().await {
                return Ok(lease);
            }
            // Dead after all: dropping the lease closes it; open a new one in its place.
            let pool = lease.pool.clone();
            drop(lease);
            return Box::pin(acquire_inner(connector, &pool, key, true, sock_connect)).await;
        }
        Grant::Slot(r) => r,
    };
    // Boxed: opening a connection (TLS, handshakes) needs far more future state than reusing
    // one, and only this path should pay for it.
    let socket = Arc::new(SocketSlot {
        pool: Arc::downgrade(&reservation.pool),
        key: key.clone(),
        state: AtomicU8::new(SOCKET_NONE),
    });
    reservation.socket = Some(socket.clone());
    let open = Box::pin(async {
        let mut transport = connector.create_connection(key).await?;
        socket.state.store(SOCKET_OPEN, Ordering::Release);
        transport.io = Box::new(Watched {
            io: std::mem::replace(&mut transport.io, Box::new(tokio::io::empty())),
            _closed: SocketGuard(socket.clone()),
        });
        let h2 = transport.is_h2() || (key.is_http2() && !key.is_tls());
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
            Opened::H1(H1Conn::handshake(transport).await?)
        })
    });
    let opened = match sock_connect {
        None => open.await?,
        Some(limit) => tokio::time::timeout(limit, open).await.map_err(|_| {
            timeout_error(Phase::Connect, Bound::Phase).with_address(key.host(), key.port())
        })??,
    };
    reservation.armed = false;
    let pool = reservation.pool.clone();
    match opened {
        Opened::H2(mut conn) => {
            conn.socket = Some(socket);
            Ok(pool.add_h2(key, conn))
        }
        Opened::H1(mut conn) => {
            conn.socket = Some(socket);
            if reservation.probe {
                pool.end_probe(key, true);
            }
            Ok(Lease::new(pool, key.clone(), conn, false))
        }
    }
}

/// Takes an idle connection for `key` (unless `fresh`), or opens a new one when the limits
/// allow, or waits in FIFO order until one of those becomes possible.
///
/// # Cancel safety
/// Dropping the future at any await gives back whatever was reserved and leaves the queue.
pub(crate) fn acquire<'a>(
    connector: &'a dyn Connector,
    key: &'a ConnectionKey,
    fresh: bool,
    sock_connect: Option<Duration>,
) -> impl Future<Output = Result<Lease, ClientError>> + Send + 'a {
    acquire_inner(connector, &connector.pool().inner, key, fresh, sock_connect)
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
        // Closes under way may already be promised to the queued waiters.
        let mut spare = st.closing_total.saturating_sub(st.waiters.len());
        match pool.try_grant(&mut st, key, fresh, &mut deferred, &mut spare) {
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
    // An idle connection ready at once needs no await at all; the other paths are boxed, so a
    // request that reuses a connection carries none of their state in its future.
    match queued {
        Ok(Grant::Idle(mut lease)) if lease.stream.is_some() || lease.h1_ready() => {
            lease.set_reusable(false);
            Ok(lease)
        }
        Ok(grant) => Box::pin(fulfil(connector, key, grant, sock_connect)).await,
        Err((id, rx)) => {
            Box::pin(async move {
                let mut guard = WaiterGuard {
                    pool,
                    id,
                    armed: true,
                };
                let grant = rx.await.map_err(|_| closed())?;
                // Granted: the waker already took the waiter out of the queue.
                guard.armed = false;
                fulfil(connector, key, grant, sock_connect).await
            })
            .await
        }
    }
}

/// No transport yet: the slot is being connected.
const SOCKET_NONE: u8 = 0;
/// Counted by the pool; the socket is open.
const SOCKET_OPEN: u8 = 1;
/// Counted by the pool; the socket is already closed (the server closed it, say).
const SOCKET_CLOSED: u8 = 2;
/// Let go of by the pool but not closed yet: counted as closing.
const SOCKET_CLOSING: u8 = 3;
/// Counted nowhere any more.
const SOCKET_DONE: u8 = 4;

/// What the pool knows of one connection's socket, shared by the pool and the transport.
///
/// The pool and the transport may let go in either order: the slot is free once both have.
/// `state` only changes under the pool's lock.
pub(crate) struct SocketSlot {
    pool: Weak<PoolInner>,
    key: ConnectionKey,
    state: AtomicU8,
}

/// Tells the pool that a transport was dropped, i.e. its socket closed.
struct SocketGuard(Arc<SocketSlot>);

impl Drop for SocketGuard {
    fn drop(&mut self) {
        if let Some(pool) = self.0.pool.upgrade() {
            pool.socket_closed(&self.0);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connector::Ssl;

    fn tls_config() -> rustls::ClientConfig {
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth()
    }

    /// Each request with its own TLS configuration is a key of its own (a configuration is
    /// compared by identity): whatever the pool remembers per key must stay bounded.
    #[test]
    fn ten_thousand_tls_keys_stay_within_bounds() {
        let pool = Pool::new(PoolConfig::default());
        let inner = &pool.inner;
        let url = url::Url::parse("https://a.test/").expect("url");
        let base = ConnectionKey::from_url(&url).expect("key");
        let config = tls_config();
        for _ in 0..10_000 {
            let key = base.clone().with_ssl(Ssl::Config(Arc::new(config.clone())));
            let mut deferred = Deferred::default();
            let grant = {
                let mut st = inner.lock();
                inner.try_grant(&mut st, &key, false, &mut deferred, &mut 0)
            };
            assert!(matches!(grant, Some(Grant::Slot(_))));
            // The first connection of the key found HTTP/1.1, then went away.
            inner.end_probe(&key, true);
            drop(grant);
            drop(deferred);
        }
        let st = inner.lock();
        assert!(st.h1_only.len() <= MAX_H1_ONLY, "{}", st.h1_only.len());
        assert_eq!(st.h1_only.len(), st.h1_only_order.len());
        assert!(st.keys.is_empty() && st.idle.is_empty() && st.h2.is_empty());
        assert!(st.probing.is_empty() && st.closing.is_empty());
        assert_eq!(st.total, PoolStats::default());
    }
}
