//! The pool's state machine: connection limits, FIFO waiters, idle connections per key,
//! shared HTTP/2 connections and the slots of sockets still closing — with no I/O, no clock
//! and nothing async.
//!
//! [`State`] is generic over what it holds ([`Types`]: the HTTP/1 and HTTP/2 connections and a
//! waiter's wake-up handle), so the tests at the end drive it with plain values. Operations take
//! the time where they need one and return decisions for the caller to carry out: a [`Grant`]
//! (reuse this idle connection, open a stream on this shared one, or open a new connection in
//! the slot reserved for it) and, in a [`Deferred`], the waiters to wake and the connections to
//! close once the lock is released.
//!
//! Every open connection (being connected, in use, or idle) holds one slot of `limit` and one
//! of `limit_per_host` for its key. A request that finds neither an idle connection nor a free
//! slot queues a waiter; whenever capacity frees, the queue is served in FIFO order, skipping
//! waiters whose key has no room (so a host at its own limit never blocks another host), and a
//! served waiter's grant is parked in its slot until the waiter takes it. A connection the pool
//! lets go of keeps its slot, as *closing*, until its socket reports that it is closed.
//!
//! A connection to a forward proxy serves every `http://` origin in turn, so its key is the
//! proxy's and `limit_per_host` does not apply to it: instead each request through it names its
//! *target* (the origin and proxy), and at most `limit_per_host` requests per target hold a
//! connection at once. Idle proxy connections serve no target and count against `limit` only.

use std::collections::VecDeque;
use std::time::Duration;

use foldhash::fast::RandomState;
use tokio::time::Instant;

use super::count::{
    Counted, Move, SocketState, Totals, SOCKET_CLOSED, SOCKET_CLOSING, SOCKET_DONE,
};
use super::{PoolConfig, PoolStats};
use crate::connector::ConnectionKey;
use crate::timeout::later;

/// The pool's maps hash keys with foldhash (seeded per map): a request looks its key up a few
/// times, and SipHash made that a visible share of a pooled request's cost.
type HashMap<K, V> = std::collections::HashMap<K, V, RandomState>;
type HashSet<K> = std::collections::HashSet<K, RandomState>;

/// A connection as the state machine sees it.
pub(crate) trait Conn {
    /// Whether the connection is gone (it is then never handed out again).
    fn is_closed(&self) -> bool;
    /// The record of its socket, once it has one.
    fn socket(&self) -> Option<&SocketState>;
}

/// A connection that carries many requests at once (HTTP/2).
pub(crate) trait MuxConn: Conn {
    /// What a request gets to send on one stream.
    type Stream;
    /// Tells this connection apart from the others of its key.
    fn id(&self) -> u64;
    /// How many streams may be open at once.
    fn max_streams(&self) -> usize;
    /// A handle for one more stream.
    fn stream(&self) -> Self::Stream;
}

/// What a [`State`] holds.
pub(crate) trait Types {
    /// An HTTP/1 connection: one request at a time.
    type H1: Conn;
    /// An HTTP/2 connection.
    type H2: MuxConn;
    /// Wakes a queued request.
    type Waker;
}

type StreamOf<T> = <<T as Types>::H2 as MuxConn>::Stream;

/// What a request is handed.
pub(crate) enum Grant<T: Types> {
    /// An idle HTTP/1 connection (with its key, which travels with it).
    Idle { conn: T::H1, key: ConnectionKey },
    /// A stream on the shared HTTP/2 connection `id`.
    Stream { id: u64, stream: StreamOf<T> },
    /// A reserved slot to open a connection in. `probe`: this connection finds out whether the
    /// key speaks HTTP/2, and the key's other requests wait for it
    /// ([`end_probe`](State::end_probe) or [`add_h2`](State::add_h2) ends the wait).
    Open { probe: bool },
}

/// A list that holds its first item inline: most operations wake one waiter or close one
/// connection at most, and must not allocate for it.
pub(crate) struct Few<T> {
    one: Option<T>,
    more: Vec<T>,
}

impl<T> Default for Few<T> {
    fn default() -> Self {
        Few {
            one: None,
            more: Vec::new(),
        }
    }
}

impl<T> Few<T> {
    pub(crate) fn push(&mut self, item: T) {
        if self.one.is_none() {
            self.one = Some(item);
        } else {
            self.more.push(item);
        }
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        self.one.iter().chain(self.more.iter())
    }
}

impl<T> IntoIterator for Few<T> {
    type Item = T;
    type IntoIter = std::iter::Chain<std::option::IntoIter<T>, std::vec::IntoIter<T>>;
    fn into_iter(self) -> Self::IntoIter {
        self.one.into_iter().chain(self.more)
    }
}

/// What the caller does once the lock is released. Kept small: every pool operation makes
/// one, and the common ones leave it empty or wake one waiter.
pub(crate) struct Deferred<T: Types> {
    /// Waiters whose grant (or refusal, the pool being closed) is ready.
    pub(crate) wake: Few<T::Waker>,
    /// Connections to close now.
    pub(crate) close_h1: Vec<T::H1>,
    pub(crate) close_h2: Vec<T::H2>,
    /// HTTP/2 connections to close once their streams in flight are done.
    pub(crate) drain_h2: Vec<T::H2>,
    /// Idle connections need the reaper, which is not running.
    pub(crate) start_reaper: bool,
}

impl<T: Types> Default for Deferred<T> {
    fn default() -> Self {
        Deferred {
            wake: Few::default(),
            close_h1: Vec::new(),
            close_h2: Vec::new(),
            drain_h2: Vec::new(),
            start_reaper: false,
        }
    }
}

impl<T: Types> Deferred<T> {
    /// Nothing to do.
    pub(crate) fn is_empty(&self) -> bool {
        self.wake.one.is_none()
            && self.close_h1.is_empty()
            && self.close_h2.is_empty()
            && self.drain_h2.is_empty()
            && !self.start_reaper
    }
}

/// A queued request, as the position of its slot.
#[derive(Debug)]
pub(crate) struct WaiterId(usize);

/// What [`State::poll_waiter`] finds.
pub(crate) enum Polled<'a, T: Types> {
    /// The grant, or `None` if the pool was closed; the waiter is gone from the pool.
    Ready(Option<Grant<T>>),
    /// Still queued: the handle to wake it with is stored here.
    Waiting(&'a mut Option<T::Waker>),
}

enum Slot<T: Types> {
    Free,
    Queued {
        key: ConnectionKey,
        /// The origin a forwarded request serves, counted against `limit_per_host`.
        target: Option<ConnectionKey>,
        fresh: bool,
        waker: Option<T::Waker>,
    },
    /// Served: the grant (and the target it counts for) waits for the request to take it.
    Granted(ConnectionKey, Option<ConnectionKey>, Grant<T>),
    /// The pool was closed while the request waited.
    Closed,
}

struct Idle<C> {
    conn: C,
    key: ConnectionKey,
    since: Instant,
}

/// A shared HTTP/2 connection and how many streams are open on it. It counts as one
/// connection against the limits: idle with no stream open, in use otherwise.
struct H2Entry<C> {
    conn: C,
    streams: usize,
    since: Instant,
    /// No new streams: the server refused one or is going away.
    retired: bool,
}

/// Everything the pool keeps for one key. The entry stays while anything of the key is
/// counted, so a connection going back and forth between idle and in use costs no allocation.
struct KeyState<T: Types> {
    stats: PoolStats,
    /// Idle HTTP/1 connections, oldest first; the newest is reused first.
    idle: Vec<Idle<T::H1>>,
    h2: Vec<H2Entry<T::H2>>,
    /// The first connection of the key may turn out to be HTTP/2: until it is known, other
    /// requests wait for it rather than opening connections of their own.
    probing: bool,
    /// Connections let go of whose sockets are not closed yet: they still hold their slots.
    closing: usize,
}

impl<T: Types> KeyState<T> {
    fn new() -> Self {
        KeyState {
            stats: PoolStats::default(),
            idle: Vec::new(),
            h2: Vec::new(),
            probing: false,
            closing: 0,
        }
    }

    fn unused(&self) -> bool {
        self.stats == PoolStats::default() && self.closing == 0 && !self.probing
    }
}

impl<T: Types> Counted for KeyState<T> {
    fn stats_mut(&mut self) -> &mut PoolStats {
        &mut self.stats
    }

    fn closing_mut(&mut self) -> &mut usize {
        &mut self.closing
    }
}

/// How many keys known to speak HTTP/1.1 are remembered. Keys come and go with the hosts a
/// session meets (and with each per-request TLS configuration, which is a key of its own).
pub(crate) const MAX_H1_ONLY: usize = 1024;

/// Whether a key's connections may be HTTP/2 (TLS with ALPN, or HTTP/2 required).
fn may_be_h2(key: &ConnectionKey) -> bool {
    key.is_tls() || key.is_http2()
}

/// Limits, idle connections and waiters of one pool.
pub(crate) struct State<T: Types> {
    limit: usize,
    limit_per_host: usize,
    force_close: bool,
    keepalive: bool,
    closed: bool,
    keys: HashMap<ConnectionKey, KeyState<T>>,
    totals: Totals,
    /// TLS keys whose server chose HTTP/1.1: no need to probe again. At most [`MAX_H1_ONLY`],
    /// the oldest forgotten first (`h1_only_order`): a key forgotten is only probed again.
    h1_only: HashSet<ConnectionKey>,
    h1_only_order: VecDeque<ConnectionKey>,
    /// Queued requests in FIFO order, as positions in `slots`.
    queue: VecDeque<usize>,
    slots: Vec<Slot<T>>,
    free_slots: Vec<usize>,
    reaper_running: bool,
    /// How many requests forwarded through a proxy hold a connection, per target.
    serving: HashMap<ConnectionKey, usize>,
}

impl<T: Types> State<T> {
    pub(crate) fn new(config: &PoolConfig) -> Self {
        State {
            limit: config.limit,
            limit_per_host: config.limit_per_host,
            force_close: config.force_close,
            keepalive: config.keepalive_timeout.is_some(),
            closed: false,
            keys: HashMap::default(),
            totals: Totals::default(),
            h1_only: HashSet::default(),
            h1_only_order: VecDeque::new(),
            queue: VecDeque::new(),
            slots: Vec::new(),
            free_slots: Vec::new(),
            reaper_running: false,
            serving: HashMap::default(),
        }
    }

    /// The counters over all keys.
    pub(crate) fn stats(&self) -> PoolStats {
        self.totals.stats
    }

    /// The counters of one key.
    pub(crate) fn stats_for(&self, key: &ConnectionKey) -> PoolStats {
        self.keys.get(key).map(|k| k.stats).unwrap_or_default()
    }

    /// An idle connection of `key` (unless `fresh`), a stream, or a reserved slot, if one is
    /// available now; `None` means the request must [`enqueue`](Self::enqueue). A request
    /// forwarded through a proxy names its `target`: the grant counts for it until
    /// [`unserve`](Self::unserve).
    pub(crate) fn acquire(
        &mut self,
        key: &ConnectionKey,
        target: Option<&ConnectionKey>,
        fresh: bool,
        d: &mut Deferred<T>,
    ) -> Option<Grant<T>> {
        // Closes under way may already be promised to the queued waiters.
        let mut spare = self.totals.closing.saturating_sub(self.queue.len());
        self.try_grant(key, target, fresh, d, &mut spare)
    }

    /// Queues a request that [`acquire`](Self::acquire) could not serve.
    pub(crate) fn enqueue(
        &mut self,
        key: ConnectionKey,
        target: Option<ConnectionKey>,
        fresh: bool,
    ) -> WaiterId {
        let slot = if self.closed {
            Slot::Closed
        } else {
            self.count_key(&key, Move::Wait);
            Slot::Queued {
                key,
                target,
                fresh,
                waker: None,
            }
        };
        let id = match self.free_slots.pop() {
            Some(i) => {
                self.slots[i] = slot;
                i
            }
            None => {
                self.slots.push(slot);
                self.slots.len() - 1
            }
        };
        if matches!(self.slots[id], Slot::Queued { .. }) {
            self.queue.push_back(id);
        }
        WaiterId(id)
    }

    /// Takes a queued request's grant if it is ready (the request then leaves the pool), or
    /// gives access to the handle that will wake it.
    pub(crate) fn poll_waiter(&mut self, id: &WaiterId) -> Polled<'_, T> {
        if !matches!(self.slots[id.0], Slot::Queued { .. }) {
            let ready = match std::mem::replace(&mut self.slots[id.0], Slot::Free) {
                Slot::Granted(_, _, grant) => Some(grant),
                Slot::Closed => None,
                // Not a live waiter: nothing to give.
                _ => return Polled::Ready(None),
            };
            self.free_slots.push(id.0);
            return Polled::Ready(ready);
        }
        match &mut self.slots[id.0] {
            Slot::Queued { waker, .. } => Polled::Waiting(waker),
            _ => Polled::Ready(None),
        }
    }

    /// A queued request is cancelled: it leaves the queue, and a grant it was served but did
    /// not take goes to the next waiter.
    pub(crate) fn cancel_waiter(&mut self, id: WaiterId, now: Instant, d: &mut Deferred<T>) {
        let slot = std::mem::replace(&mut self.slots[id.0], Slot::Free);
        if !matches!(slot, Slot::Free) {
            self.free_slots.push(id.0);
        }
        match slot {
            Slot::Queued { key, .. } => {
                if let Some(pos) = self.queue.iter().position(|&i| i == id.0) {
                    self.queue.remove(pos);
                }
                self.count_key(&key, Move::Unwait);
            }
            Slot::Granted(key, target, grant) => {
                self.give_back(&key, grant, now, d);
                if let Some(target) = target {
                    self.unserve(&target, d);
                }
            }
            Slot::Free | Slot::Closed => {}
        }
    }

    /// Returns a grant that was not used.
    fn give_back(
        &mut self,
        key: &ConnectionKey,
        grant: Grant<T>,
        now: Instant,
        d: &mut Deferred<T>,
    ) {
        match grant {
            // An idle connection nobody used is as good as it was.
            Grant::Idle { conn, key } => self.release(key, conn, true, now, d),
            Grant::Stream { id, .. } => self.release_stream(key, id, now, d),
            Grant::Open { probe } => {
                if probe {
                    self.end_probe(key, false, d);
                }
                self.release_slot(key, None, false, d);
            }
        }
    }

    /// A connection in use comes back: pooled if `reusable` (and the pool keeps connections),
    /// closed otherwise.
    pub(crate) fn release(
        &mut self,
        key: ConnectionKey,
        conn: T::H1,
        reusable: bool,
        now: Instant,
        d: &mut Deferred<T>,
    ) {
        let keep = reusable && !self.force_close && !self.closed && !conn.is_closed();
        let Some(ks) = self.keys.get_mut(&key) else {
            d.close_h1.push(conn);
            return;
        };
        if keep {
            self.totals.count(ks, Move::Park);
            ks.idle.push(Idle {
                conn,
                key,
                since: now,
            });
            self.want_reaper(d);
        } else {
            self.totals.forget(ks, Move::DropInUse, conn.socket());
            d.close_h1.push(conn);
            if ks.unused() {
                self.keys.remove(&key);
            }
        }
        self.serve_waiters(d);
    }

    /// A request forwarded to `target` through a proxy no longer holds a connection.
    pub(crate) fn unserve(&mut self, target: &ConnectionKey, d: &mut Deferred<T>) {
        if let Some(n) = self.serving.get_mut(target) {
            *n -= 1;
            if *n == 0 {
                self.serving.remove(target);
            }
        }
        self.serve_waiters(d);
    }

    /// A slot in use is given back: a connection attempt that failed or was cancelled
    /// (`socket` is its transport, if it had one), or a detached connection (`detached`: it no
    /// longer counts at all, open or not).
    pub(crate) fn release_slot(
        &mut self,
        key: &ConnectionKey,
        socket: Option<&SocketState>,
        detached: bool,
        d: &mut Deferred<T>,
    ) {
        if let Some(ks) = self.keys.get_mut(key) {
            self.totals.count(ks, Move::DropInUse);
            match socket {
                Some(s) if detached => s.set(SOCKET_DONE),
                _ => {
                    self.totals.let_go(ks, socket);
                }
            }
            if ks.unused() {
                self.keys.remove(key);
            }
        }
        self.serve_waiters(d);
    }

    /// A new HTTP/2 connection, opened in a reserved slot of `key`, joins the pool with the
    /// stream of the request that opened it; the key's waiters may share it.
    pub(crate) fn add_h2(
        &mut self,
        key: &ConnectionKey,
        conn: T::H2,
        now: Instant,
        d: &mut Deferred<T>,
    ) -> StreamOf<T> {
        let stream = conn.stream();
        match self.keys.get_mut(key) {
            Some(ks) => {
                ks.probing = false;
                ks.h2.push(H2Entry {
                    conn,
                    streams: 1,
                    since: now,
                    retired: false,
                });
                self.totals.h2 += 1;
            }
            None => d.close_h2.push(conn),
        }
        self.serve_waiters(d);
        stream
    }

    /// The probe for `key` found HTTP/1.1 (`h1`) or failed: its waiters may open connections.
    pub(crate) fn end_probe(&mut self, key: &ConnectionKey, h1: bool, d: &mut Deferred<T>) {
        if let Some(ks) = self.keys.get_mut(key) {
            ks.probing = false;
            if ks.unused() {
                self.keys.remove(key);
            }
        }
        if h1 && self.h1_only.insert(key.clone()) {
            self.h1_only_order.push_back(key.clone());
            if self.h1_only_order.len() > MAX_H1_ONLY {
                if let Some(oldest) = self.h1_only_order.pop_front() {
                    self.h1_only.remove(&oldest);
                }
            }
        }
        self.serve_waiters(d);
    }

    /// A stream of the shared HTTP/2 connection `id` is done.
    pub(crate) fn release_stream(
        &mut self,
        key: &ConnectionKey,
        id: u64,
        now: Instant,
        d: &mut Deferred<T>,
    ) {
        if let Some(ks) = self.keys.get_mut(key) {
            if let Some(pos) = ks.h2.iter().position(|e| e.conn.id() == id) {
                let e = &mut ks.h2[pos];
                e.streams = e.streams.saturating_sub(1);
                if e.streams == 0 {
                    e.since = now;
                    if self.force_close || e.retired || self.closed || e.conn.is_closed() {
                        let e = ks.h2.remove(pos);
                        self.totals.h2 -= 1;
                        self.totals.forget(ks, Move::DropInUse, e.conn.socket());
                        d.close_h2.push(e.conn);
                        if ks.unused() {
                            self.keys.remove(key);
                        }
                    } else {
                        self.totals.count(ks, Move::Park);
                        self.want_reaper(d);
                    }
                }
            }
        }
        // A stream of room on a busy connection may be what a waiter needs.
        self.serve_waiters(d);
    }

    /// No new streams on the HTTP/2 connection `id`; it closes when its last stream ends.
    pub(crate) fn retire_h2(&mut self, key: &ConnectionKey, id: u64) {
        if let Some(e) = self
            .keys
            .get_mut(key)
            .and_then(|k| k.h2.iter_mut().find(|e| e.conn.id() == id))
        {
            e.retired = true;
        }
    }

    /// The transport of a connection of `key` was dropped: its socket is closed. If the pool
    /// had let go of it, its slot is free now.
    pub(crate) fn socket_closed(
        &mut self,
        key: &ConnectionKey,
        socket: &SocketState,
        d: &mut Deferred<T>,
    ) {
        match socket.get() {
            SOCKET_CLOSING => {
                socket.set(SOCKET_DONE);
                self.totals.closing -= 1;
                if let Some(ks) = self.keys.get_mut(key) {
                    ks.closing -= 1;
                    if ks.unused() {
                        self.keys.remove(key);
                    }
                }
                self.serve_waiters(d);
            }
            SOCKET_DONE => {}
            _ => socket.set(SOCKET_CLOSED),
        }
    }

    /// Closes the idle connections idle for `ttl` or more (and the dead ones) at `now`.
    /// Returns when to look again, or `None` when the pool has no connection left: the reaper
    /// stops then, and the next connection to go idle starts it again.
    pub(crate) fn reap(
        &mut self,
        now: Instant,
        ttl: Duration,
        d: &mut Deferred<T>,
    ) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        let mut sooner = |deadline: Instant| {
            next = Some(next.map_or(deadline, |n: Instant| n.min(deadline)));
        };
        for ks in self.keys.values_mut() {
            let mut i = 0;
            while i < ks.idle.len() {
                let deadline = later(ks.idle[i].since, ttl);
                if deadline <= now || ks.idle[i].conn.is_closed() {
                    let idle = ks.idle.remove(i);
                    self.totals.forget(ks, Move::DropIdle, idle.conn.socket());
                    d.close_h1.push(idle.conn);
                } else {
                    sooner(deadline);
                    i += 1;
                }
            }
            let mut i = 0;
            while i < ks.h2.len() {
                let e = &ks.h2[i];
                let deadline = later(e.since, ttl);
                if e.streams == 0 && (deadline <= now || e.conn.is_closed()) {
                    let e = ks.h2.remove(i);
                    self.totals.h2 -= 1;
                    self.totals.forget(ks, Move::DropIdle, e.conn.socket());
                    d.close_h2.push(e.conn);
                } else {
                    if e.streams == 0 {
                        sooner(deadline);
                    }
                    i += 1;
                }
            }
        }
        self.keys.retain(|_, ks| !ks.unused());
        if next.is_none() {
            if self.totals.stats.open > 0 {
                // Connections in use now go idle later, never sooner than one `ttl` from now:
                // staying up saves a task spawn on each of their releases.
                next = Some(later(now, ttl));
            } else {
                self.reaper_running = false;
            }
        }
        self.serve_waiters(d);
        next
    }

    /// The reaper could not be started (no runtime): the next release tries again.
    pub(crate) fn reaper_not_started(&mut self) {
        self.reaper_running = false;
    }

    /// Closes every idle connection and refuses every queued request; connections in use close
    /// when they come back, and busy HTTP/2 connections once their streams are done.
    pub(crate) fn close(&mut self, d: &mut Deferred<T>) {
        self.closed = true;
        for ks in self.keys.values_mut() {
            for idle in std::mem::take(&mut ks.idle) {
                self.totals.forget(ks, Move::DropIdle, idle.conn.socket());
                d.close_h1.push(idle.conn);
            }
            for e in std::mem::take(&mut ks.h2) {
                self.totals.h2 -= 1;
                if e.streams > 0 {
                    self.totals.forget(ks, Move::DropInUse, e.conn.socket());
                    d.drain_h2.push(e.conn);
                } else {
                    self.totals.forget(ks, Move::DropIdle, e.conn.socket());
                    d.close_h2.push(e.conn);
                }
            }
        }
        while let Some(i) = self.queue.pop_front() {
            if let Slot::Queued { key, waker, .. } =
                std::mem::replace(&mut self.slots[i], Slot::Closed)
            {
                self.count_key(&key, Move::Unwait);
                if let Some(w) = waker {
                    d.wake.push(w);
                }
            }
        }
        self.keys.retain(|_, ks| !ks.unused());
    }

    /// Applies `m` to the counters of `key` (creating its entry, or dropping it once unused).
    fn count_key(&mut self, key: &ConnectionKey, m: Move) {
        match self.keys.get_mut(key) {
            Some(ks) => {
                self.totals.count(ks, m);
                if ks.unused() {
                    self.keys.remove(key);
                }
            }
            None => {
                let mut ks = KeyState::new();
                self.totals.count(&mut ks, m);
                self.keys.insert(key.clone(), ks);
            }
        }
    }

    fn want_reaper(&mut self, d: &mut Deferred<T>) {
        if self.keepalive && !self.reaper_running {
            self.reaper_running = true;
            d.start_reaper = true;
        }
    }

    /// An idle connection of `key`, a stream, or a reserved slot, if one is available now and
    /// `target` (for a forwarded request) is under `limit_per_host`.
    fn try_grant(
        &mut self,
        key: &ConnectionKey,
        target: Option<&ConnectionKey>,
        fresh: bool,
        d: &mut Deferred<T>,
        spare: &mut usize,
    ) -> Option<Grant<T>> {
        let Some(target) = target else {
            return self.grant_for_key(key, fresh, d, spare);
        };
        let serving = self.serving.get(target).copied().unwrap_or(0);
        if self.limit_per_host != 0 && serving >= self.limit_per_host {
            return None;
        }
        let grant = self.grant_for_key(key, fresh, d, spare)?;
        *self.serving.entry(target.clone()).or_insert(0) += 1;
        Some(grant)
    }

    /// An idle connection of `key`, a stream, or a reserved slot, if one is available now.
    fn grant_for_key(
        &mut self,
        key: &ConnectionKey,
        fresh: bool,
        d: &mut Deferred<T>,
        spare: &mut usize,
    ) -> Option<Grant<T>> {
        // Whether connections found dead may have left the key's entry unused.
        let mut dropped = false;
        if !fresh && !self.force_close {
            if let Some(ks) = self.keys.get_mut(key) {
                if !ks.h2.is_empty() {
                    if let Some(grant) = take_stream(&mut self.totals, ks, d) {
                        return Some(grant);
                    }
                    dropped = true;
                }
                if ks.probing {
                    return None;
                }
                while let Some(idle) = ks.idle.pop() {
                    if idle.conn.is_closed() {
                        self.totals.forget(ks, Move::DropIdle, idle.conn.socket());
                        d.close_h1.push(idle.conn);
                        dropped = true;
                        continue;
                    }
                    self.totals.count(ks, Move::Take);
                    return Some(Grant::Idle {
                        conn: idle.conn,
                        key: idle.key,
                    });
                }
            }
        }
        let room = self.can_open(key) || (self.host_ok(key) && self.make_room(d, spare));
        if !room {
            if dropped && self.keys.get(key).is_some_and(KeyState::unused) {
                self.keys.remove(key);
            }
            return None;
        }
        let probe = may_be_h2(key) && !self.force_close && !self.h1_only.contains(key);
        self.count_key(key, Move::Open);
        if probe {
            if let Some(ks) = self.keys.get_mut(key) {
                ks.probing = true;
            }
        }
        Some(Grant::Open { probe })
    }

    fn can_open(&self, key: &ConnectionKey) -> bool {
        let total_ok = self.limit == 0 || self.totals.stats.open + self.totals.closing < self.limit;
        total_ok && self.host_ok(key)
    }

    /// Whether `key` is under `limit_per_host`. A forward proxy's connections serve many
    /// origins: their requests count against their targets' limits instead.
    fn host_ok(&self, key: &ConnectionKey) -> bool {
        self.limit_per_host == 0
            || key.forward_proxy().is_some()
            || self.keys.get(key).map_or(0, |k| k.stats.open + k.closing) < self.limit_per_host
    }

    /// No slot under the total limit, no idle connection to reuse or close, no HTTP/2 stream:
    /// nobody can be served until something is released.
    fn nothing_free(&self) -> bool {
        self.limit != 0
            && self.totals.stats.open + self.totals.closing >= self.limit
            && self.totals.stats.idle == 0
            && self.totals.h2 == 0
    }

    /// Makes room under the total limit for one more connection: returns true if a slot is
    /// free now. Otherwise a close under way (counted in `spare`, closes nobody has claimed yet)
    /// or one started here frees a slot later, and the waiters are served again then.
    fn make_room(&mut self, d: &mut Deferred<T>, spare: &mut usize) -> bool {
        if *spare > 0 {
            *spare -= 1;
            return false;
        }
        let idle = self.totals.stats.idle > 0 || self.totals.h2 > 0;
        idle && self.evict_idle(d) == Some(true)
    }

    /// Closes the longest-idle HTTP/1 connection of any key (else an idle HTTP/2 one) to make
    /// room under the total limit: `Some(true)` if its slot is free at once, `Some(false)` if it
    /// frees once the socket is closed, `None` if there was no idle connection.
    fn evict_idle(&mut self, d: &mut Deferred<T>) -> Option<bool> {
        let oldest = self
            .keys
            .iter()
            .filter_map(|(k, ks)| ks.idle.first().map(|i| (k, i.since)))
            .min_by_key(|(_, since)| *since)
            .map(|(k, _)| k.clone());
        let freed = if let Some(key) = oldest {
            let ks = self.keys.get_mut(&key)?;
            let idle = ks.idle.remove(0);
            let freed = self.totals.forget(ks, Move::DropIdle, idle.conn.socket());
            d.close_h1.push(idle.conn);
            (key, freed)
        } else {
            let key = self
                .keys
                .iter()
                .find(|(_, ks)| ks.h2.iter().any(|e| e.streams == 0))
                .map(|(k, _)| k.clone())?;
            let ks = self.keys.get_mut(&key)?;
            let i = ks.h2.iter().position(|e| e.streams == 0)?;
            let e = ks.h2.remove(i);
            self.totals.h2 -= 1;
            let freed = self.totals.forget(ks, Move::DropIdle, e.conn.socket());
            d.close_h2.push(e.conn);
            (key, freed)
        };
        let (key, freed) = freed;
        if self.keys.get(&key).is_some_and(KeyState::unused) {
            self.keys.remove(&key);
        }
        Some(freed)
    }

    /// Hands freed capacity to the waiters that can use it, oldest first.
    fn serve_waiters(&mut self, d: &mut Deferred<T>) {
        if self.queue.is_empty() {
            return;
        }
        // Waiters found without capacity in this pass. Granting only uses capacity up, so
        // later waiters of the same key would be refused too and are skipped: serving costs
        // one check per key in the queue, not one per waiter.
        let mut denied: Few<usize> = Few::default();
        let mut spare = self.totals.closing;
        let mut i = 0;
        while i < self.queue.len() && !self.nothing_free() {
            let id = self.queue[i];
            let slot = std::mem::replace(&mut self.slots[id], Slot::Free);
            let Slot::Queued {
                key,
                target,
                fresh,
                waker,
            } = slot
            else {
                self.slots[id] = slot;
                i += 1;
                continue;
            };
            let skip = denied.iter().any(|&j| {
                matches!(&self.slots[j], Slot::Queued { key: k, target: t, fresh: f, .. }
                    if *f == fresh && *k == key && *t == target)
            });
            let grant = if skip {
                None
            } else {
                self.try_grant(&key, target.as_ref(), fresh, d, &mut spare)
            };
            match grant {
                Some(grant) => {
                    self.queue.remove(i);
                    self.count_key(&key, Move::Unwait);
                    self.slots[id] = Slot::Granted(key, target, grant);
                    if let Some(w) = waker {
                        d.wake.push(w);
                    }
                }
                None => {
                    self.slots[id] = Slot::Queued {
                        key,
                        target,
                        fresh,
                        waker,
                    };
                    if !skip {
                        denied.push(id);
                    }
                    i += 1;
                }
            }
        }
    }
}

/// A stream on a shared HTTP/2 connection of the key with room for one more; connections found
/// closed on the way are let go of.
fn take_stream<T: Types>(
    totals: &mut Totals,
    ks: &mut KeyState<T>,
    d: &mut Deferred<T>,
) -> Option<Grant<T>> {
    let mut i = 0;
    while i < ks.h2.len() {
        if ks.h2[i].conn.is_closed() {
            let e = ks.h2.remove(i);
            totals.h2 -= 1;
            let m = if e.streams > 0 {
                Move::DropInUse
            } else {
                Move::DropIdle
            };
            totals.forget(ks, m, e.conn.socket());
            d.close_h2.push(e.conn);
        } else {
            i += 1;
        }
    }
    let e = ks
        .h2
        .iter_mut()
        .find(|e| !e.retired && e.streams < e.conn.max_streams())?;
    e.streams += 1;
    let grant = Grant::Stream {
        id: e.conn.id(),
        stream: e.conn.stream(),
    };
    if e.streams == 1 {
        totals.count(ks, Move::Take);
    }
    Some(grant)
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::rc::Rc;
    use std::sync::Arc;

    use super::*;
    use crate::connector::Ssl;

    /// The state machine over plain values: connections are numbers with a flag for "closed"
    /// and a socket record; a waiter's wake-up handle is a number too.
    struct Fake;

    impl Types for Fake {
        type H1 = C1;
        type H2 = C2;
        type Waker = u32;
    }

    struct C1 {
        n: u32,
        closed: Rc<Cell<bool>>,
        socket: Rc<SocketState>,
    }

    impl Conn for C1 {
        fn is_closed(&self) -> bool {
            self.closed.get()
        }
        fn socket(&self) -> Option<&SocketState> {
            Some(&self.socket)
        }
    }

    /// An HTTP/2 connection: a number and a stream limit over the same parts.
    struct C2 {
        id: u64,
        max: usize,
        base: C1,
    }

    impl Conn for C2 {
        fn is_closed(&self) -> bool {
            self.base.is_closed()
        }
        fn socket(&self) -> Option<&SocketState> {
            self.base.socket()
        }
    }

    impl MuxConn for C2 {
        type Stream = u64;
        fn id(&self) -> u64 {
            self.id
        }
        fn max_streams(&self) -> usize {
            self.max
        }
        fn stream(&self) -> u64 {
            self.id
        }
    }

    fn opened() -> Rc<SocketState> {
        let s = Rc::new(SocketState::new());
        s.opened();
        s
    }

    fn c1(n: u32) -> C1 {
        C1 {
            n,
            closed: Rc::new(Cell::new(false)),
            socket: opened(),
        }
    }

    fn c2(id: u64, max: usize) -> C2 {
        C2 {
            id,
            max,
            base: c1(0),
        }
    }

    fn key(url: &str) -> ConnectionKey {
        ConnectionKey::from_url(&url::Url::parse(url).expect("url")).expect("key")
    }

    fn stats(open: usize, idle: usize, in_use: usize, waiting: usize) -> PoolStats {
        PoolStats {
            open,
            idle,
            in_use,
            waiting,
        }
    }

    /// A pool under test, the time it is, and what its operations deferred.
    struct Pool {
        st: State<Fake>,
        now: Instant,
        d: Deferred<Fake>,
    }

    impl Pool {
        fn new(limit: usize, limit_per_host: usize) -> Self {
            Pool::with(PoolConfig {
                limit,
                limit_per_host,
                keepalive_timeout: Some(Duration::from_secs(10)),
                force_close: false,
            })
        }

        fn with(config: PoolConfig) -> Self {
            Pool {
                st: State::new(&config),
                now: Instant::now(),
                d: Deferred::default(),
            }
        }

        /// What the operations since the last call deferred.
        fn deferred(&mut self) -> Deferred<Fake> {
            std::mem::take(&mut self.d)
        }

        fn woken(&mut self) -> Vec<u32> {
            std::mem::take(&mut self.d.wake).into_iter().collect()
        }

        fn closed_h1(&mut self) -> Vec<C1> {
            std::mem::take(&mut self.d.close_h1)
        }

        fn acquire(&mut self, k: &ConnectionKey) -> Option<Grant<Fake>> {
            self.st.acquire(k, None, false, &mut self.d)
        }

        /// A request that finds a free slot and connects in it.
        fn connect(&mut self, k: &ConnectionKey, n: u32) -> C1 {
            match self.acquire(k) {
                Some(Grant::Open { .. }) => c1(n),
                _ => panic!("expected a slot"),
            }
        }

        /// A request that must wait; `token` wakes it.
        fn wait(&mut self, k: &ConnectionKey, token: u32) -> WaiterId {
            assert!(self.acquire(k).is_none(), "expected to wait");
            let id = self.st.enqueue(k.clone(), None, false);
            match self.st.poll_waiter(&id) {
                Polled::Waiting(w) => *w = Some(token),
                Polled::Ready(_) => panic!("served at once"),
            }
            id
        }

        fn poll(&mut self, id: &WaiterId) -> Option<Option<Grant<Fake>>> {
            match self.st.poll_waiter(id) {
                Polled::Waiting(_) => None,
                Polled::Ready(g) => Some(g),
            }
        }

        fn release(&mut self, k: &ConnectionKey, conn: C1, reusable: bool) {
            self.st
                .release(k.clone(), conn, reusable, self.now, &mut self.d);
        }

        /// Every connection the pool closed reports its socket closed.
        fn sockets_close(&mut self, k: &ConnectionKey) {
            for c in self.closed_h1() {
                self.st.socket_closed(k, &c.socket, &mut self.d);
            }
            for c in std::mem::take(&mut self.d.close_h2) {
                self.st.socket_closed(k, &c.base.socket, &mut self.d);
            }
        }
    }

    fn idle_n(g: Option<Option<Grant<Fake>>>) -> u32 {
        match g {
            Some(Some(Grant::Idle { conn, .. })) => conn.n,
            _ => panic!("expected an idle connection"),
        }
    }

    fn open_probe(g: Option<Option<Grant<Fake>>>) -> bool {
        match g {
            Some(Some(Grant::Open { probe })) => probe,
            _ => panic!("expected a slot"),
        }
    }

    fn stream_of(g: Option<Option<Grant<Fake>>>) -> u64 {
        match g {
            Some(Some(Grant::Stream { id, .. })) => id,
            _ => panic!("expected a stream"),
        }
    }

    #[test]
    fn a_pool_hit_takes_the_newest_idle_connection_without_queueing() {
        let a = key("http://a.test/");
        let mut p = Pool::new(10, 0);
        let (c1, c2) = (p.connect(&a, 1), p.connect(&a, 2));
        p.release(&a, c1, true);
        p.release(&a, c2, true);
        assert_eq!(p.st.stats(), stats(2, 2, 0, 0));
        assert_eq!(idle_n(Some(p.acquire(&a))), 2);
        assert_eq!(idle_n(Some(p.acquire(&a))), 1);
        assert_eq!(p.st.stats(), stats(2, 0, 2, 0));
        assert!(p.st.queue.is_empty() && p.d.wake.iter().next().is_none());
    }

    #[test]
    fn limits_per_key_and_in_total() {
        let (a, b, c) = (
            key("http://a.test/"),
            key("http://b.test/"),
            key("http://c.test/"),
        );
        // (limit, limit_per_host, requests, served)
        let table: &[(usize, usize, &[&ConnectionKey], usize)] = &[
            (2, 0, &[&a, &a, &a], 2),
            (2, 0, &[&a, &b, &c], 2),
            (0, 1, &[&a, &a, &b, &b, &c], 3),
            (3, 2, &[&a, &a, &a, &b, &c], 3),
            (0, 0, &[&a, &a, &a, &a], 4),
        ];
        for &(limit, per_host, requests, served) in table {
            let mut p = Pool::new(limit, per_host);
            let n = requests.iter().filter(|k| p.acquire(k).is_some()).count();
            assert_eq!(n, served, "limit {limit} per host {per_host}");
            assert_eq!(p.st.stats().open, served);
        }
    }

    #[test]
    fn waiters_are_served_oldest_first_one_per_freed_connection() {
        let a = key("http://a.test/");
        let mut p = Pool::new(1, 0);
        let conn = p.connect(&a, 1);
        let ws: Vec<WaiterId> = (1..=3).map(|t| p.wait(&a, t)).collect();
        assert_eq!(p.st.stats(), stats(1, 0, 1, 3));
        p.release(&a, conn, true);
        assert_eq!(p.woken(), [1]);
        assert!(p.poll(&ws[1]).is_none() && p.poll(&ws[2]).is_none());
        let conn = match p.poll(&ws[0]) {
            Some(Some(Grant::Idle { conn, .. })) => conn,
            _ => panic!("the oldest waiter gets the connection"),
        };
        assert_eq!(p.st.stats(), stats(1, 0, 1, 2));
        p.release(&a, conn, true);
        assert_eq!(p.woken(), [2]);
        assert_eq!(idle_n(p.poll(&ws[1])), 1);
        assert!(p.poll(&ws[2]).is_none());
    }

    #[test]
    fn one_freed_connection_wakes_one_of_many_waiters() {
        let a = key("http://a.test/");
        let mut p = Pool::new(100, 0);
        let mut conns: Vec<C1> = (0..100).map(|n| p.connect(&a, n)).collect();
        let _ws: Vec<WaiterId> = (0..900).map(|t| p.wait(&a, t)).collect();
        for round in 0..3 {
            let conn = conns.pop().expect("a connection");
            p.release(&a, conn, true);
            assert_eq!(p.woken(), [round]);
            assert_eq!(p.st.stats().waiting, 899 - round as usize);
        }
    }

    #[test]
    fn a_host_at_its_limit_does_not_block_other_hosts() {
        let (a, b, c) = (
            key("http://a.test/"),
            key("http://b.test/"),
            key("http://c.test/"),
        );
        let mut p = Pool::new(2, 1);
        let _ca = p.connect(&a, 1);
        let cb = p.connect(&b, 2);
        let wa = p.wait(&a, 10);
        let wc = p.wait(&c, 30);
        p.release(&b, cb, false);
        p.sockets_close(&b);
        // The older waiter's host is still at its limit: the slot goes to the other host.
        assert_eq!(p.woken(), [30]);
        assert!(!open_probe(p.poll(&wc)));
        assert!(p.poll(&wa).is_none());
        assert_eq!(p.st.stats_for(&a).waiting, 1);
    }

    #[test]
    fn idle_connections_expire_after_the_keepalive_timeout() {
        let a = key("http://a.test/");
        let ttl = Duration::from_secs(10);
        let mut p = Pool::new(10, 0);
        let t0 = p.now;
        let (c1, c2) = (p.connect(&a, 1), p.connect(&a, 2));
        p.release(&a, c1, true);
        assert!(
            std::mem::take(&mut p.d.start_reaper),
            "the first idle connection starts the reaper"
        );
        p.now = t0 + Duration::from_secs(4);
        p.release(&a, c2, true);
        assert!(!p.d.start_reaper, "the reaper runs already");
        let next = p.st.reap(t0 + Duration::from_secs(9), ttl, &mut p.d);
        assert_eq!(next, Some(t0 + ttl));
        assert_eq!(p.st.stats().idle, 2);
        let next = p.st.reap(t0 + ttl, ttl, &mut p.d);
        assert_eq!(next, Some(t0 + Duration::from_secs(14)));
        assert_eq!(p.closed_h1().iter().map(|c| c.n).collect::<Vec<_>>(), [1]);
        assert_eq!(p.st.stats(), stats(1, 1, 0, 0));
        // The last one gone, the reaper stops; the next idle connection starts it again.
        assert_eq!(p.st.reap(t0 + Duration::from_secs(14), ttl, &mut p.d), None);
        assert_eq!(p.st.stats(), PoolStats::default());
        let c3 = p.connect(&a, 3);
        p.release(&a, c3, true);
        assert!(p.d.start_reaper);
    }

    #[test]
    fn the_reaper_keeps_running_while_connections_are_in_use() {
        let a = key("http://a.test/");
        let ttl = Duration::from_secs(10);
        let mut p = Pool::new(10, 0);
        let _busy = p.connect(&a, 1);
        let now = p.now;
        assert_eq!(p.st.reap(now, ttl, &mut p.d), Some(now + ttl));
    }

    #[test]
    fn a_dead_idle_connection_is_skipped_and_closed() {
        let a = key("http://a.test/");
        let mut p = Pool::new(10, 0);
        let (c1, c2) = (p.connect(&a, 1), p.connect(&a, 2));
        let dead = c2.closed.clone();
        p.release(&a, c1, true);
        p.release(&a, c2, true);
        dead.set(true);
        assert_eq!(idle_n(Some(p.acquire(&a))), 1);
        assert_eq!(p.closed_h1().iter().map(|c| c.n).collect::<Vec<_>>(), [2]);
        assert_eq!(p.st.stats(), stats(1, 0, 1, 0));
    }

    #[test]
    fn release_pools_only_what_may_be_reused() {
        let a = key("http://a.test/");
        // (force_close, reusable, closed by the server, pooled)
        let table = [
            (false, true, false, true),
            (false, false, false, false),
            (false, true, true, false),
            (true, true, false, false),
        ];
        for (force_close, reusable, closed, pooled) in table {
            let mut p = Pool::with(PoolConfig {
                force_close,
                ..PoolConfig::default()
            });
            let conn = p.connect(&a, 1);
            conn.closed.set(closed);
            p.release(&a, conn, reusable);
            assert_eq!(
                p.st.stats().idle,
                usize::from(pooled),
                "{force_close} {reusable} {closed}"
            );
            assert_eq!(p.closed_h1().len(), usize::from(!pooled));
        }
    }

    #[test]
    fn a_closing_socket_holds_its_slot_until_it_is_closed() {
        let (a, b) = (key("http://a.test/"), key("http://b.test/"));
        let mut p = Pool::new(1, 0);
        let conn = p.connect(&a, 1);
        p.release(&a, conn, false);
        assert_eq!(p.st.stats(), PoolStats::default());
        let wb = p.wait(&b, 2);
        assert!(p.woken().is_empty());
        p.sockets_close(&a);
        assert_eq!(p.woken(), [2]);
        assert!(!open_probe(p.poll(&wb)));
        assert!(!p.st.keys.contains_key(&a), "nothing of the key is left");
    }

    #[test]
    fn a_socket_closed_before_its_release_frees_the_slot_at_once() {
        let a = key("http://a.test/");
        let mut p = Pool::new(1, 0);
        let conn = p.connect(&a, 1);
        // The server closed it first: the transport is gone already.
        p.st.socket_closed(&a, &conn.socket, &mut p.d);
        conn.closed.set(true);
        p.release(&a, conn, true);
        assert!(matches!(p.acquire(&a), Some(Grant::Open { .. })));
    }

    #[test]
    fn an_idle_connection_of_another_key_is_evicted_to_make_room() {
        let (a, b) = (key("http://a.test/"), key("http://b.test/"));
        let mut p = Pool::new(1, 0);
        let conn = p.connect(&a, 1);
        p.release(&a, conn, true);
        // Its socket is open: the slot frees once it is closed.
        let wb = p.wait(&b, 2);
        assert_eq!(p.st.stats_for(&a), PoolStats::default());
        p.sockets_close(&a);
        assert_eq!(p.woken(), [2]);
        assert!(!open_probe(p.poll(&wb)));
        // A socket already closed frees its slot at once.
        let mut p = Pool::new(1, 0);
        let conn = p.connect(&a, 1);
        p.st.socket_closed(&a, &conn.socket, &mut p.d);
        p.release(&a, conn, true);
        assert!(matches!(p.acquire(&b), Some(Grant::Open { .. })));
        assert_eq!(p.closed_h1().len(), 1);
    }

    #[test]
    fn the_longest_idle_connection_is_evicted_first() {
        let (a, b, c) = (
            key("http://a.test/"),
            key("http://b.test/"),
            key("http://c.test/"),
        );
        let mut p = Pool::new(2, 0);
        let (ca, cb) = (p.connect(&a, 1), p.connect(&b, 2));
        p.release(&b, cb, true);
        p.now += Duration::from_secs(1);
        p.release(&a, ca, true);
        assert!(p.acquire(&c).is_none());
        assert_eq!(p.closed_h1().iter().map(|c| c.n).collect::<Vec<_>>(), [2]);
        assert_eq!(p.st.stats_for(&a).idle, 1);
    }

    #[test]
    fn a_close_under_way_is_awaited_rather_than_evicting_another() {
        let (a, b) = (key("http://a.test/"), key("http://b.test/"));
        let mut p = Pool::new(2, 0);
        let (c1, c2) = (p.connect(&a, 1), p.connect(&a, 2));
        p.release(&a, c1, true);
        p.release(&a, c2, false);
        let closing = p.closed_h1();
        // One slot frees when the second connection's socket closes: no need to close the idle one.
        let wb = p.wait(&b, 3);
        assert_eq!(p.st.stats_for(&a).idle, 1);
        assert!(p.closed_h1().is_empty());
        p.st.socket_closed(&a, &closing[0].socket, &mut p.d);
        assert_eq!(p.woken(), [3]);
        assert!(!open_probe(p.poll(&wb)));
        assert_eq!(p.st.stats_for(&a).idle, 1);
    }

    /// The key of requests forwarded through the proxy at `proxy`, and the targets `a.test`
    /// and `b.test` they count against.
    fn forwarded(proxy: &str) -> (ConnectionKey, ConnectionKey, ConnectionKey) {
        let url = url::Url::parse(proxy).expect("url");
        let spec = Arc::new(
            crate::connector::ProxySpec::new(&url, None, &http::HeaderMap::new(), None)
                .expect("spec"),
        );
        let fwd = key("http://a.test/").with_proxy(spec.clone(), true);
        let target = |u: &str| key(u).with_proxy(spec.clone(), false);
        (fwd, target("http://a.test/"), target("http://b.test/"))
    }

    #[test]
    fn forwarded_requests_count_against_their_targets_limit_per_host() {
        let (fwd, a, b) = forwarded("http://p.test:3128");
        assert!(fwd.forward_proxy().is_some());
        let mut p = Pool::new(10, 1);
        let grant = |p: &mut Pool, t: &ConnectionKey| p.st.acquire(&fwd, Some(t), false, &mut p.d);
        // One request to `a` holds a proxy connection: a second one to `a` waits, while `b`
        // opens a second connection to the same proxy (the proxy's key has no per-host limit).
        assert!(matches!(grant(&mut p, &a), Some(Grant::Open { .. })));
        let a1 = c1(1);
        assert!(grant(&mut p, &a).is_none());
        let wa = p.st.enqueue(fwd.clone(), Some(a.clone()), false);
        if let Polled::Waiting(w) = p.st.poll_waiter(&wa) {
            *w = Some(7);
        }
        assert!(matches!(grant(&mut p, &b), Some(Grant::Open { .. })));
        let b1 = c1(2);
        assert_eq!(p.st.stats_for(&fwd).open, 2);
        // `b`'s connection going idle does not serve the waiter for `a`: `a` is at its limit.
        p.release(&fwd, b1, true);
        p.st.unserve(&b, &mut p.d);
        assert!(p.woken().is_empty());
        // `a`'s request ends: its waiter is served, with an idle proxy connection.
        p.release(&fwd, a1, true);
        assert!(
            p.woken().is_empty(),
            "the release alone frees nothing for `a`"
        );
        p.st.unserve(&a, &mut p.d);
        assert_eq!(p.woken(), [7]);
        assert!(matches!(p.poll(&wa), Some(Some(Grant::Idle { .. }))));
        // Held by `a` again: `b` takes the other idle connection, a second `a` still waits.
        assert!(matches!(grant(&mut p, &b), Some(Grant::Idle { .. })));
        assert!(grant(&mut p, &a).is_none());
    }

    #[test]
    fn a_forwarded_waiter_cancelled_after_its_grant_frees_its_target() {
        let (fwd, a, _) = forwarded("http://p.test:3128");
        let mut p = Pool::new(1, 1);
        assert!(p.st.acquire(&fwd, Some(&a), false, &mut p.d).is_some());
        let conn = c1(1);
        assert!(p.st.acquire(&fwd, Some(&a), false, &mut p.d).is_none());
        let w = p.st.enqueue(fwd.clone(), Some(a.clone()), false);
        p.release(&fwd, conn, true);
        p.st.unserve(&a, &mut p.d);
        // Served but never taken: cancelling gives back both the connection and the target.
        p.st.cancel_waiter(w, p.now, &mut p.d);
        assert_eq!(p.st.stats_for(&fwd), stats(1, 1, 0, 0));
        assert!(matches!(
            p.st.acquire(&fwd, Some(&a), false, &mut p.d),
            Some(Grant::Idle { .. })
        ));
    }

    #[test]
    fn a_fresh_request_skips_idle_connections() {
        let a = key("http://a.test/");
        let mut p = Pool::new(2, 0);
        let conn = p.connect(&a, 1);
        p.release(&a, conn, true);
        assert!(matches!(
            p.st.acquire(&a, None, true, &mut p.d),
            Some(Grant::Open { .. })
        ));
        assert_eq!(p.st.stats(), stats(2, 1, 1, 0));
    }

    #[test]
    fn a_waiter_cancelled_in_the_queue_leaves_it() {
        let a = key("http://a.test/");
        let mut p = Pool::new(1, 0);
        let conn = p.connect(&a, 1);
        let (w1, w2) = (p.wait(&a, 1), p.wait(&a, 2));
        p.st.cancel_waiter(w1, p.now, &mut p.d);
        assert_eq!(p.st.stats().waiting, 1);
        // A later request (in the cancelled one's slot) queues behind the one still waiting.
        let w3 = p.wait(&a, 3);
        p.release(&a, conn, true);
        assert_eq!(p.woken(), [2]);
        assert_eq!(idle_n(p.poll(&w2)), 1);
        assert!(p.poll(&w3).is_none());
        assert_eq!(p.st.queue.len(), 1);
        assert_eq!(p.st.stats(), stats(1, 0, 1, 1));
    }

    #[test]
    fn a_slot_granted_but_never_taken_passes_to_the_next_waiter() {
        let a = key("http://a.test/");
        let mut p = Pool::new(1, 0);
        let conn = p.connect(&a, 1);
        let (w1, w2) = (p.wait(&a, 1), p.wait(&a, 2));
        p.release(&a, conn, false);
        p.sockets_close(&a);
        assert_eq!(p.woken(), [1]);
        // The first waiter is cancelled before it takes its slot.
        p.st.cancel_waiter(w1, p.now, &mut p.d);
        assert_eq!(p.woken(), [2]);
        assert!(!open_probe(p.poll(&w2)));
        assert_eq!(p.st.stats(), stats(1, 0, 1, 0));
    }

    #[test]
    fn an_idle_connection_granted_but_never_taken_passes_to_the_next_waiter() {
        let a = key("http://a.test/");
        let mut p = Pool::new(1, 0);
        let conn = p.connect(&a, 7);
        let (w1, w2) = (p.wait(&a, 1), p.wait(&a, 2));
        p.release(&a, conn, true);
        assert_eq!(p.woken(), [1]);
        p.st.cancel_waiter(w1, p.now, &mut p.d);
        assert_eq!(p.woken(), [2]);
        assert_eq!(idle_n(p.poll(&w2)), 7);
        assert_eq!(p.st.stats(), stats(1, 0, 1, 0));
        assert!(p.closed_h1().is_empty());
    }

    #[test]
    fn a_cancelled_connect_returns_its_reservation() {
        let a = key("http://a.test/");
        // Cancelled before there was a transport: the slot is free at once.
        let mut p = Pool::new(1, 0);
        assert!(p.acquire(&a).is_some());
        let w = p.wait(&a, 1);
        p.st.release_slot(&a, None, false, &mut p.d);
        assert_eq!(p.woken(), [1]);
        assert!(!open_probe(p.poll(&w)));
        // Cancelled with a transport open (in the TLS or HTTP handshake): the slot frees once
        // the transport is dropped.
        let mut p = Pool::new(1, 0);
        assert!(p.acquire(&a).is_some());
        let w = p.wait(&a, 1);
        let socket = opened();
        p.st.release_slot(&a, Some(&socket), false, &mut p.d);
        assert!(p.woken().is_empty());
        assert_eq!(p.st.stats(), stats(0, 0, 0, 1));
        p.st.socket_closed(&a, &socket, &mut p.d);
        assert_eq!(p.woken(), [1]);
        assert!(!open_probe(p.poll(&w)));
    }

    #[test]
    fn a_lease_dropped_mid_exchange_is_closed_not_pooled() {
        let a = key("http://a.test/");
        let mut p = Pool::new(1, 0);
        let conn = p.connect(&a, 1);
        let w = p.wait(&a, 1);
        // The exchange never completed, so the lease was never marked reusable.
        p.release(&a, conn, false);
        assert_eq!(p.closed_h1().len(), 1);
        assert_eq!(p.st.stats(), stats(0, 0, 0, 1));
        p.st.socket_closed(&a, &c1(0).socket, &mut p.d);
        assert!(p.poll(&w).is_none(), "an unrelated socket frees nothing");
    }

    #[test]
    fn a_detached_connection_frees_its_slot_at_once() {
        let a = key("http://a.test/");
        let mut p = Pool::new(1, 0);
        let conn = p.connect(&a, 1);
        let w = p.wait(&a, 1);
        p.st.release_slot(&a, Some(&conn.socket), true, &mut p.d);
        assert_eq!(p.woken(), [1]);
        assert!(!open_probe(p.poll(&w)));
        // Its socket closing later is nothing to the pool.
        p.st.socket_closed(&a, &conn.socket, &mut p.d);
        assert_eq!(p.st.totals.closing, 0);
        assert_eq!(p.st.stats(), stats(1, 0, 1, 0));
    }

    #[test]
    fn an_h2_probe_that_finds_h2_shares_the_connection_with_the_waiters() {
        let a = key("https://a.test/");
        let mut p = Pool::new(10, 0);
        assert!(open_probe(Some(p.acquire(&a))));
        let (w1, w2) = (p.wait(&a, 1), p.wait(&a, 2));
        let id = p.st.add_h2(&a, c2(9, 100), p.now, &mut p.d);
        assert_eq!(id, 9);
        assert_eq!(p.woken(), [1, 2]);
        assert_eq!(stream_of(p.poll(&w1)), 9);
        assert_eq!(stream_of(p.poll(&w2)), 9);
        assert_eq!(stream_of(Some(p.acquire(&a))), 9);
        assert_eq!(p.st.stats(), stats(1, 0, 1, 0));
        for _ in 0..4 {
            p.st.release_stream(&a, 9, p.now, &mut p.d);
        }
        assert_eq!(p.st.stats(), stats(1, 1, 0, 0));
    }

    #[test]
    fn an_h2_connection_full_of_streams_makes_room_for_another() {
        let a = key("https://a.test/");
        let mut p = Pool::new(2, 0);
        assert!(p.acquire(&a).is_some());
        p.st.add_h2(&a, c2(1, 1), p.now, &mut p.d);
        // The connection allows one stream: the next request opens a connection of its own…
        assert!(open_probe(Some(p.acquire(&a))));
        p.st.add_h2(&a, c2(2, 1), p.now, &mut p.d);
        // …and with the limit reached, waits for a stream.
        let w = p.wait(&a, 5);
        p.st.release_stream(&a, 2, p.now, &mut p.d);
        assert_eq!(p.woken(), [5]);
        assert_eq!(stream_of(p.poll(&w)), 2);
    }

    #[test]
    fn an_h2_probe_that_finds_h1_lets_each_waiter_open_its_own() {
        let a = key("https://a.test/");
        let mut p = Pool::new(10, 0);
        assert!(open_probe(Some(p.acquire(&a))));
        let (w1, w2) = (p.wait(&a, 1), p.wait(&a, 2));
        p.st.end_probe(&a, true, &mut p.d);
        assert_eq!(p.woken(), [1, 2]);
        assert!(!open_probe(p.poll(&w1)));
        assert!(!open_probe(p.poll(&w2)));
        // The key is known to speak HTTP/1.1: never probed again.
        assert!(!open_probe(Some(p.acquire(&a))));
        assert_eq!(p.st.stats(), stats(4, 0, 4, 0));
    }

    #[test]
    fn a_failed_h2_probe_passes_the_probe_to_the_next_waiter() {
        let a = key("https://a.test/");
        let mut p = Pool::new(10, 0);
        assert!(open_probe(Some(p.acquire(&a))));
        let (w1, w2) = (p.wait(&a, 1), p.wait(&a, 2));
        // The probing connection fails (or its request is cancelled).
        p.st.end_probe(&a, false, &mut p.d);
        p.st.release_slot(&a, None, false, &mut p.d);
        assert_eq!(p.woken(), [1]);
        assert!(open_probe(p.poll(&w1)));
        assert!(p.poll(&w2).is_none());
        assert_eq!(p.st.stats(), stats(1, 0, 1, 1));
    }

    #[test]
    fn a_probe_granted_to_a_cancelled_waiter_passes_on() {
        let a = key("https://a.test/");
        let mut p = Pool::new(10, 0);
        assert!(p.acquire(&a).is_some());
        let (w1, w2) = (p.wait(&a, 1), p.wait(&a, 2));
        p.st.end_probe(&a, false, &mut p.d);
        p.st.release_slot(&a, None, false, &mut p.d);
        assert_eq!(p.woken(), [1]);
        p.st.cancel_waiter(w1, p.now, &mut p.d);
        assert_eq!(p.woken(), [2]);
        assert!(open_probe(p.poll(&w2)));
        assert_eq!(p.st.stats(), stats(1, 0, 1, 0));
    }

    #[test]
    fn a_retired_h2_connection_takes_no_stream_and_closes_when_done() {
        let a = key("https://a.test/");
        let mut p = Pool::new(10, 0);
        assert!(p.acquire(&a).is_some());
        p.st.add_h2(&a, c2(1, 100), p.now, &mut p.d);
        p.st.retire_h2(&a, 1);
        assert!(open_probe(Some(p.acquire(&a))));
        p.st.release_stream(&a, 1, p.now, &mut p.d);
        assert_eq!(p.d.close_h2.iter().map(|c| c.id).collect::<Vec<_>>(), [1]);
        assert_eq!(p.st.stats(), stats(1, 0, 1, 0));
    }

    #[test]
    fn an_idle_h2_connection_expires() {
        let a = key("https://a.test/");
        let ttl = Duration::from_secs(10);
        let mut p = Pool::new(10, 0);
        assert!(p.acquire(&a).is_some());
        p.st.add_h2(&a, c2(1, 100), p.now, &mut p.d);
        p.st.release_stream(&a, 1, p.now, &mut p.d);
        assert!(p.d.start_reaper);
        let now = p.now + ttl;
        assert_eq!(p.st.reap(now, ttl, &mut p.d), None);
        assert_eq!(p.d.close_h2.len(), 1);
        assert_eq!(p.st.stats(), PoolStats::default());
    }

    #[test]
    fn close_refuses_waiters_and_closes_idle_connections() {
        let (a, b, h) = (
            key("http://a.test/"),
            key("http://b.test/"),
            key("https://h.test/"),
        );
        let mut p = Pool::new(0, 1);
        let (c1, c2) = (p.connect(&b, 1), p.connect(&a, 2));
        assert!(p.acquire(&h).is_some());
        p.st.add_h2(&h, c2_busy(), p.now, &mut p.d);
        p.release(&b, c1, true);
        let w = p.wait(&a, 5);
        let mut d = Deferred::default();
        p.st.close(&mut d);
        assert_eq!(d.wake.iter().copied().collect::<Vec<_>>(), [5]);
        assert_eq!((d.close_h1.len(), d.drain_h2.len()), (1, 1));
        assert!(matches!(p.poll(&w), Some(None)));
        // A request queued after the close is refused as well.
        let late = p.st.enqueue(a.clone(), None, false);
        assert!(matches!(p.poll(&late), Some(None)));
        // A connection in use is closed when it comes back.
        p.release(&a, c2, true);
        assert_eq!(p.closed_h1().len(), 1);
        assert_eq!(p.st.stats(), PoolStats::default());
    }

    fn c2_busy() -> C2 {
        c2(3, 100)
    }

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
        let mut p = Pool::new(100, 0);
        let base = key("https://a.test/");
        let config = tls_config();
        for _ in 0..10_000 {
            let k = base.clone().with_ssl(Ssl::Config(Arc::new(config.clone())));
            assert!(open_probe(Some(p.acquire(&k))));
            // The first connection of the key found HTTP/1.1, then went away.
            p.st.end_probe(&k, true, &mut p.d);
            p.st.release_slot(&k, None, false, &mut p.d);
        }
        let st = &p.st;
        assert!(st.h1_only.len() <= MAX_H1_ONLY, "{}", st.h1_only.len());
        assert_eq!(st.h1_only.len(), st.h1_only_order.len());
        assert!(st.keys.is_empty() && st.slots.is_empty());
        assert_eq!(st.totals.closing, 0);
        assert_eq!(st.stats(), PoolStats::default());
    }

    #[test]
    fn waiter_slots_are_reused() {
        let a = key("http://a.test/");
        let mut p = Pool::new(1, 0);
        let mut conn = p.connect(&a, 1);
        for _ in 0..100 {
            let w = p.wait(&a, 1);
            p.release(&a, conn, true);
            conn = match p.poll(&w) {
                Some(Some(Grant::Idle { conn, .. })) => conn,
                _ => panic!("expected the connection"),
            };
        }
        assert_eq!(p.st.slots.len(), 1);
        let _ = p.deferred();
    }
}
