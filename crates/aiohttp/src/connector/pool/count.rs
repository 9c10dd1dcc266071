//! How the pool counts: the state of each connection's socket (shared with its transport),
//! the moves between the counters, and the totals over all keys.

use std::sync::atomic::{AtomicU8, Ordering};

use super::PoolStats;

/// The counters of one key, as [`Totals`] changes them.
pub(super) trait Counted {
    /// Open, in use, idle and waiting.
    fn stats_mut(&mut self) -> &mut PoolStats;
    /// Sockets let go of and not closed yet.
    fn closing_mut(&mut self) -> &mut usize;
}

/// No transport yet: the slot is being connected.
pub(super) const SOCKET_NONE: u8 = 0;
/// Counted by the pool; the socket is open.
pub(super) const SOCKET_OPEN: u8 = 1;
/// Counted by the pool; the socket is already closed (the server closed it, say).
pub(super) const SOCKET_CLOSED: u8 = 2;
/// Let go of by the pool but not closed yet: counted as closing.
pub(super) const SOCKET_CLOSING: u8 = 3;
/// Counted nowhere any more.
pub(super) const SOCKET_DONE: u8 = 4;

/// What the pool knows of one connection's socket, shared with the transport.
///
/// The pool and the transport may let go in either order: the slot is free once both have.
/// Once the socket is open, the state only changes under the pool's lock.
#[derive(Debug)]
pub(crate) struct SocketState(AtomicU8);

impl SocketState {
    pub(crate) fn new() -> Self {
        SocketState(AtomicU8::new(SOCKET_NONE))
    }

    /// The transport exists: from now on the socket must be closed before its slot is free.
    pub(crate) fn opened(&self) {
        self.set(SOCKET_OPEN);
    }

    pub(super) fn get(&self) -> u8 {
        self.0.load(Ordering::Acquire)
    }

    pub(super) fn set(&self, state: u8) {
        self.0.store(state, Ordering::Release);
    }
}

/// A change of a key's counters (and of the totals alike).
#[derive(Clone, Copy)]
pub(super) enum Move {
    /// A slot is reserved for a new connection.
    Open,
    /// An idle connection is taken.
    Take,
    /// A connection in use goes idle.
    Park,
    /// An idle connection is gone.
    DropIdle,
    /// A connection (or reserved slot) in use is gone.
    DropInUse,
    Wait,
    Unwait,
}

impl Move {
    fn apply(self, c: &mut PoolStats) {
        match self {
            Move::Open => {
                c.open += 1;
                c.in_use += 1;
            }
            Move::Take => {
                c.idle -= 1;
                c.in_use += 1;
            }
            Move::Park => {
                c.in_use -= 1;
                c.idle += 1;
            }
            Move::DropIdle => {
                c.idle -= 1;
                c.open -= 1;
            }
            Move::DropInUse => {
                c.in_use -= 1;
                c.open -= 1;
            }
            Move::Wait => c.waiting += 1,
            Move::Unwait => c.waiting -= 1,
        }
    }
}

/// The counters over all keys.
#[derive(Default)]
pub(super) struct Totals {
    pub(super) stats: PoolStats,
    /// Sockets let go of and not closed yet.
    pub(super) closing: usize,
    /// HTTP/2 connections in the pool.
    pub(super) h2: usize,
}

impl Totals {
    pub(super) fn count(&mut self, ks: &mut impl Counted, m: Move) {
        m.apply(&mut self.stats);
        m.apply(ks.stats_mut());
    }

    /// The pool no longer counts a connection (or a slot being connected) as open. Its slot
    /// stays taken, as closing, while its socket is open; returns whether the slot is free now.
    pub(super) fn let_go(&mut self, ks: &mut impl Counted, socket: Option<&SocketState>) -> bool {
        let Some(socket) = socket else {
            return true;
        };
        match socket.get() {
            SOCKET_OPEN => {
                socket.set(SOCKET_CLOSING);
                *ks.closing_mut() += 1;
                self.closing += 1;
                false
            }
            SOCKET_CLOSING => false,
            _ => {
                socket.set(SOCKET_DONE);
                true
            }
        }
    }

    /// A connection leaves the pool (counted as `m` says): returns whether its slot is free.
    pub(super) fn forget(
        &mut self,
        ks: &mut impl Counted,
        m: Move,
        socket: Option<&SocketState>,
    ) -> bool {
        self.count(ks, m);
        self.let_go(ks, socket)
    }
}
