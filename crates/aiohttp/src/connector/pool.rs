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
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use foldhash::fast::RandomState;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::{ConnShared, ConnectionKey, Connector};
use crate::error::{ClientError, ErrorKind};
use crate::h1::H1Conn;
use crate::h2::H2Conn;
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
    /// TLS keys whose server chose HTTP/1.1: no need to probe again.
    h1_only: HashSet<ConnectionKey>,
    keys: HashMap<ConnectionKey, PoolStats>,
    total: PoolStats,
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
        let (idle, waiters) = {
            let mut st = self.inner.lock();
            let idle: Vec<(ConnectionKey, Idle)> = st
                .idle
                .drain()
                .flat_map(|(k, v)| v.into_iter().map(move |i| (k.clone(), i)))
                .collect();
            for (key, _) in &idle {
                st.forget_idle(key);
            }
            let h2: Vec<(ConnectionKey, H2Entry)> = st
                .h2
                .drain()
                .flat_map(|(k, v)| v.into_iter().map(move |e| (k.clone(), e)))
                .collect();
            for (key, e) in &h2 {
                let busy = e.streams > 0;
                st.count(key, |c| {
                    if busy {
                        c.in_use -= 1;
                    } else {
                        c.idle -= 1;
                    }
                    c.open -= 1;
                });
            }
            drop(h2);
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
        let total_ok = config.limit == 0 || self.total.open < config.limit;
        total_ok && self.host_ok(config, key)
    }

    fn host_ok(&self, config: &PoolConfig, key: &ConnectionKey) -> bool {
        config.limit_per_host == 0
            || self.keys.get(key).map_or(0, |c| c.open) < config.limit_per_host
    }

    /// Closes the longest-idle connection of any key, to make room under the total limit.
    fn evict_idle(&mut self, deferred: &mut Deferred) -> bool {
        if self.evict_idle_h1(deferred) {
            return true;
        }
        let idle_h2 = self.h2.iter().find_map(|(k, v)| {
            v.iter()
                .position(|e| e.streams == 0)
                .map(|i| (k.clone(), i))
        });
        let Some((key, i)) = idle_h2 else {
            return false;
        };
        match take_at(&mut self.h2, &key, i) {
            Some(entry) => {
                deferred.h2_conns.push(entry.conn);
                self.forget_idle(&key);
                true
            }
            None => false,
        }
    }

    fn evict_idle_h1(&mut self, deferred: &mut Deferred) -> bool {
        let oldest = self
            .idle
            .iter()
            .filter_map(|(k, v)| v.first().map(|i| (k.clone(), i.since)))
            .min_by_key(|(_, since)| *since);
        let Some((key, _)) = oldest else {
            return false;
        };
        match take_at(&mut self.idle, &key, 0) {
            Some(idle) => {
                deferred.conns.push(idle.conn);
                self.forget_idle(&key);
                true
            }
            None => false,
        }
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
        let probe = may_be_h2(key) && !self.config.force_close && !st.h1_only.contains(key);
        if probe {
            st.probing.insert(key.clone());
        }
        Some(Grant::Slot(Reservation {
            pool: self.clone(),
            key: key.clone(),
            armed: true,
            probe,
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
                dead.push(e.streams > 0);
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
        for busy in dead {
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
            if h1 {
                st.h1_only.insert(key.clone());
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
                deferred.h2_conns.push(e.conn);
                st.forget_in_use(key);
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
            let Some(grant) = self.try_grant(st, &key, fresh, deferred) else {
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
            && st.total.open >= self.config.limit
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
                deferred.conns.push(conn);
            }
        });
        if spawn_reaper {
            self.spawn_reaper();
        }
    }

    fn release_slot(self: &Arc<Self>, key: &ConnectionKey) {
        self.update(|st, _| {
            st.forget_in_use(key);
        });
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
                            deferred.conns.push(list.remove(i).conn);
                            expired.push(key.clone());
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
                            deferred.h2_conns.push(list.remove(i).conn);
                            h2_expired.push(key.clone());
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
                for key in &expired {
                    st.forget_idle(key);
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
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.armed {
            if self.probe {
                self.pool.end_probe(&self.key, false);
            }
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
    /// A stream on a shared HTTP/2 connection (then `conn` is `None`).
    stream: Option<H2Stream>,
    key: ConnectionKey,
    pool: Arc<PoolInner>,
    reusable: bool,
    reused: bool,
}

/// What a lease on an HTTP/2 connection holds: a sender for its stream.
pub(crate) struct H2Stream {
    pub(crate) sender: hyper::client::conn::http2::SendRequest<crate::body::WireBody>,
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
        sender: hyper::client::conn::http2::SendRequest<crate::body::WireBody>,
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
        if conn.is_some() {
            self.pool.release_slot(&self.key);
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
    let open = Box::pin(async {
        let transport = connector.create_connection(key).await?;
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
        Opened::H2(conn) => Ok(pool.add_h2(key, conn)),
        Opened::H1(conn) => {
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
