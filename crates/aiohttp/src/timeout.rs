//! `ClientTimeout` (aiohttp 3.x) and the deadline bookkeeping of one request. No I/O: the
//! clock is tokio's so that tests can pause it.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

use crate::error::{ClientError, ErrorKind};

/// Timeouts of a request, as aiohttp's `ClientTimeout`. `None` (or zero) disables one.
///
/// - `total`: the whole operation — connecting, sending, redirects and reading the body.
/// - `connect`: getting a connection, including the wait for a free pool slot.
/// - `sock_connect`: opening one new connection to the peer.
/// - `sock_read`: the longest wait for the next piece of the response (head or body).
///
/// The default is aiohttp's: 5 minutes in total, 30 s for a new connection.
///
/// ```
/// use std::time::Duration;
/// use aiohttp::ClientTimeout;
/// let t = ClientTimeout { sock_read: Some(Duration::from_secs(5)), ..ClientTimeout::default() };
/// assert_eq!(t.total, Some(Duration::from_secs(300)));
/// assert_eq!(ClientTimeout::none().total, None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientTimeout {
    /// The whole operation.
    pub total: Option<Duration>,
    /// Getting a connection, pool wait included.
    pub connect: Option<Duration>,
    /// Opening a new connection.
    pub sock_connect: Option<Duration>,
    /// Waiting for the next read.
    pub sock_read: Option<Duration>,
}

impl Default for ClientTimeout {
    fn default() -> Self {
        ClientTimeout {
            total: Some(Duration::from_secs(300)),
            connect: None,
            sock_connect: Some(Duration::from_secs(30)),
            sock_read: None,
        }
    }
}

impl ClientTimeout {
    /// No timeout at all.
    ///
    /// ```
    /// assert_eq!(aiohttp::ClientTimeout::none().sock_connect, None);
    /// ```
    pub fn none() -> Self {
        ClientTimeout {
            total: None,
            connect: None,
            sock_connect: None,
            sock_read: None,
        }
    }

    /// Only a total timeout.
    ///
    /// ```
    /// use std::time::Duration;
    /// let t = aiohttp::ClientTimeout::total(Duration::from_secs(1));
    /// assert_eq!((t.total, t.sock_connect), (Some(Duration::from_secs(1)), None));
    /// ```
    pub fn total(total: Duration) -> Self {
        ClientTimeout {
            total: Some(total),
            ..ClientTimeout::none()
        }
    }

    /// Zero durations mean "disabled", as in aiohttp.
    pub(crate) fn normalized(self) -> Self {
        let n = |d: Option<Duration>| d.filter(|d| !d.is_zero());
        ClientTimeout {
            total: n(self.total),
            connect: n(self.connect),
            sock_connect: n(self.sock_connect),
            sock_read: n(self.sock_read),
        }
    }
}

impl From<Duration> for ClientTimeout {
    fn from(total: Duration) -> Self {
        ClientTimeout::total(total)
    }
}

/// Which limit a wait is bounded by; decides the error kind when it expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bound {
    /// The request's total deadline.
    Total,
    /// The phase's own timeout (`connect`, `sock_connect`, `sock_read`).
    Phase,
}

/// The tighter of a phase timeout and what is left of the total deadline.
pub(crate) fn phase_limit(
    now: Instant,
    deadline: Option<Instant>,
    phase: Option<Duration>,
) -> Option<(Duration, Bound)> {
    let left = deadline.map(|d| d.saturating_duration_since(now));
    match (left, phase) {
        (None, None) => None,
        (Some(l), None) => Some((l, Bound::Total)),
        (None, Some(p)) => Some((p, Bound::Phase)),
        (Some(l), Some(p)) if l <= p => Some((l, Bound::Total)),
        (Some(_), Some(p)) => Some((p, Bound::Phase)),
    }
}

/// The phase of a request a timeout interrupted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Waiting for a pool slot or opening a connection.
    Connect,
    /// Waiting for the response head or the next piece of the body.
    Read,
}

/// The error for an expired wait: `ConnectionTimeoutError` or `SocketTimeoutError` for a phase
/// timeout, `ServerTimeoutError` for the total deadline.
pub(crate) fn timeout_error(phase: Phase, bound: Bound) -> ClientError {
    match (bound, phase) {
        (Bound::Total, Phase::Connect) => ClientError::new(
            ErrorKind::ServerTimeoutError,
            "total timeout expired while connecting",
        ),
        (Bound::Total, Phase::Read) => ClientError::new(
            ErrorKind::ServerTimeoutError,
            "total timeout expired while reading the response",
        ),
        (Bound::Phase, Phase::Connect) => {
            ClientError::new(ErrorKind::ConnectionTimeoutError, "connection timeout")
        }
        (Bound::Phase, Phase::Read) => ClientError::new(
            ErrorKind::SocketTimeoutError,
            "timeout while waiting to read from the server",
        ),
    }
}

/// The timeouts of one request after resolving the session's and the request's settings.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Timeouts {
    pub(crate) deadline: Option<Instant>,
    pub(crate) connect: Option<Duration>,
    pub(crate) sock_connect: Option<Duration>,
    pub(crate) sock_read: Option<Duration>,
}

impl Timeouts {
    pub(crate) fn start(t: ClientTimeout) -> Self {
        let t = t.normalized();
        Timeouts {
            deadline: t.total.map(|d| Instant::now() + d),
            connect: t.connect,
            sock_connect: t.sock_connect,
            sock_read: t.sock_read,
        }
    }

    /// Runs `fut` bounded by the phase's timeout and the total deadline.
    ///
    /// The timer is armed only when `fut` first has to wait: a wait that ends at once (an idle
    /// pooled connection) costs no timer, and the phase's own timeout counts from then.
    pub(crate) fn run<F, T>(&self, phase: Phase, fut: F) -> Bounded<F>
    where
        F: Future<Output = Result<T, ClientError>>,
    {
        let own = match phase {
            Phase::Connect => self.connect,
            Phase::Read => self.sock_read,
        };
        Bounded {
            fut,
            timer: None,
            deadline: self.deadline,
            own,
            phase,
            bound: Bound::Total,
        }
    }
}

pin_project_lite::pin_project! {
    /// A future bounded by a phase timeout and the total deadline ([`Timeouts::run`]).
    pub(crate) struct Bounded<F> {
        #[pin]
        fut: F,
        #[pin]
        timer: Option<Sleep>,
        deadline: Option<Instant>,
        own: Option<Duration>,
        phase: Phase,
        bound: Bound,
    }
}

impl<F, T> Future for Bounded<F>
where
    F: Future<Output = Result<T, ClientError>>,
{
    type Output = Result<T, ClientError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Poll::Ready(r) = this.fut.poll(cx) {
            return Poll::Ready(r);
        }
        if this.timer.is_none() {
            let now = Instant::now();
            let Some((limit, bound)) = phase_limit(now, *this.deadline, *this.own) else {
                return Poll::Pending;
            };
            *this.bound = bound;
            this.timer.set(Some(tokio::time::sleep_until(now + limit)));
        }
        match this.timer.as_pin_mut().map(|t| t.poll(cx)) {
            Some(Poll::Ready(())) => Poll::Ready(Err(timeout_error(*this.phase, *this.bound))),
            _ => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phase_limit_table() {
        let now = Instant::now();
        let s = Duration::from_secs;
        let cases = [
            (None, None, None),
            (Some(now + s(10)), None, Some((s(10), Bound::Total))),
            (None, Some(s(3)), Some((s(3), Bound::Phase))),
            (Some(now + s(10)), Some(s(3)), Some((s(3), Bound::Phase))),
            (Some(now + s(2)), Some(s(3)), Some((s(2), Bound::Total))),
            (Some(now), Some(s(3)), Some((s(0), Bound::Total))),
        ];
        for (i, (deadline, phase, want)) in cases.into_iter().enumerate() {
            assert_eq!(phase_limit(now, deadline, phase), want, "case {i}");
        }
    }

    #[test]
    fn zero_disables() {
        let t = ClientTimeout {
            total: Some(Duration::ZERO),
            connect: Some(Duration::from_secs(1)),
            sock_connect: Some(Duration::ZERO),
            sock_read: None,
        }
        .normalized();
        assert_eq!(t.total, None);
        assert_eq!(t.connect, Some(Duration::from_secs(1)));
        assert_eq!(t.sock_connect, None);
    }
}
