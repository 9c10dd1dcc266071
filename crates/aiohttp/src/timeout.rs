//! `ClientTimeout` (aiohttp 3.x) and the deadline bookkeeping of one request. No I/O: the
//! clock is tokio's so that tests can pause it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
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

/// `now + d`, saturating: a duration too long for the clock (`Duration::MAX`) means a deadline
/// that is never reached, about 30 years away, as tokio's own `sleep` does.
pub(crate) fn later(now: Instant, d: Duration) -> Instant {
    const FAR: Duration = Duration::from_secs(86_400 * 365 * 30);
    match now.checked_add(d) {
        Some(t) => t,
        None => now.checked_add(FAR).unwrap_or(now),
    }
}

/// When bytes last moved on a connection, for the `sock_read` timer of the response head: a
/// head that arrives slowly but steadily is not a stalled one.
pub(crate) trait Progress: Send + Sync {
    /// When bytes were last read or written for the exchange in flight, if ever.
    fn last_progress(&self) -> Option<Instant>;
}

/// A connection's [`Progress`], shared with the timer.
pub(crate) type Activity = Arc<dyn Progress>;

/// A [`Progress`] of its own, moved by [`touch`](Self::touch) (a request body's pieces going
/// out; tests).
#[derive(Debug, Default)]
pub(crate) struct ProgressClock(std::sync::Mutex<Option<Instant>>);

impl ProgressClock {
    /// Records progress just now.
    pub(crate) fn touch(&self) {
        if let Ok(mut last) = self.0.lock() {
            *last = Some(Instant::now());
        }
    }
}

impl Progress for ProgressClock {
    fn last_progress(&self) -> Option<Instant> {
        self.0.lock().ok().and_then(|last| *last)
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
            deadline: t.total.map(|d| later(Instant::now(), d)),
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
            activity: None,
        }
    }

    /// [`run`](Self::run) where the phase's own timeout bounds each wait for the next bytes
    /// rather than the whole future: it counts from the latest `activity`.
    pub(crate) fn run_active<F, T>(
        &self,
        phase: Phase,
        fut: F,
        activity: Option<Activity>,
    ) -> Bounded<F>
    where
        F: Future<Output = Result<T, ClientError>>,
    {
        let mut bounded = self.run(phase, fut);
        bounded.activity = activity;
        bounded
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
        activity: Option<Activity>,
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
            this.timer
                .set(Some(tokio::time::sleep_until(later(now, limit))));
        }
        loop {
            match this.timer.as_mut().as_pin_mut().map(|t| t.poll(cx)) {
                Some(Poll::Ready(())) => {}
                _ => return Poll::Pending,
            }
            // The phase's timeout expired: unless bytes moved since it was armed, the wait is
            // over. Otherwise it counts again from the last bytes.
            let moved = match (&this.activity, *this.bound, *this.own) {
                (Some(activity), Bound::Phase, Some(own)) => {
                    activity.last_progress().map(|t| later(t, own))
                }
                _ => None,
            };
            let now = Instant::now();
            match moved.filter(|until| *until > now) {
                Some(until) => {
                    let Some((limit, bound)) = phase_limit(now, *this.deadline, Some(until - now))
                    else {
                        return Poll::Pending;
                    };
                    *this.bound = bound;
                    if let Some(timer) = this.timer.as_mut().as_pin_mut() {
                        timer.reset(later(now, limit));
                    }
                }
                None => return Poll::Ready(Err(timeout_error(*this.phase, *this.bound))),
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
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
    fn durations_too_long_for_the_clock_saturate() {
        let now = Instant::now();
        assert!(later(now, Duration::MAX) > later(now, Duration::from_secs(86_400 * 365)));
        assert_eq!(
            later(now, Duration::from_secs(1)),
            now + Duration::from_secs(1)
        );
        let t = Timeouts::start(ClientTimeout {
            total: Some(Duration::MAX),
            connect: Some(Duration::MAX),
            sock_connect: Some(Duration::MAX),
            sock_read: Some(Duration::MAX),
        });
        assert!(t.deadline.is_some_and(|d| d > now));
    }

    #[tokio::test(start_paused = true)]
    async fn bounded_waits_with_maximal_durations_do_not_panic() {
        let t = Timeouts::start(ClientTimeout {
            total: Some(Duration::MAX),
            connect: None,
            sock_connect: None,
            sock_read: Some(Duration::MAX),
        });
        let slow = async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok::<_, ClientError>(7)
        };
        assert_eq!(t.run(Phase::Read, slow).await.ok(), Some(7));
    }

    fn read_timeout(ms: u64) -> Timeouts {
        Timeouts::start(ClientTimeout {
            total: None,
            connect: None,
            sock_connect: None,
            sock_read: Some(Duration::from_millis(ms)),
        })
    }

    /// A future that touches `activity` every `step` for `steps` times, then finishes (or
    /// stalls for good when `stall_after` is reached).
    async fn trickle(
        activity: Arc<ProgressClock>,
        step: Duration,
        steps: u32,
        stall_after: Option<u32>,
    ) -> Result<u32, ClientError> {
        for i in 0..steps {
            if stall_after == Some(i) {
                std::future::pending::<()>().await;
            }
            tokio::time::sleep(step).await;
            activity.touch();
        }
        Ok(steps)
    }

    #[tokio::test(start_paused = true)]
    async fn sock_read_bounds_each_wait_not_the_whole_head() {
        let t = read_timeout(400);
        let activity = Arc::new(ProgressClock::default());
        // 30 steps of 100 ms: 3 s in all, never 400 ms without bytes.
        let steady = trickle(activity.clone(), Duration::from_millis(100), 30, None);
        let got = t
            .run_active(Phase::Read, steady, Some(activity as Activity))
            .await;
        assert_eq!(got.ok(), Some(30));

        // The same without activity tracking is bounded as a whole.
        let activity = Arc::new(ProgressClock::default());
        let steady = trickle(activity.clone(), Duration::from_millis(100), 30, None);
        let err = t.run(Phase::Read, steady).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::SocketTimeoutError);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stall_after_steady_progress_times_out() {
        let t = read_timeout(400);
        let activity = Arc::new(ProgressClock::default());
        let started = Instant::now();
        let stalls = trickle(activity.clone(), Duration::from_millis(100), 30, Some(10));
        let err = t
            .run_active(Phase::Read, stalls, Some(activity as Activity))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::SocketTimeoutError);
        // The last bytes at 1.0 s, the timeout 400 ms later.
        assert_eq!(started.elapsed(), Duration::from_millis(1400));
    }

    #[tokio::test(start_paused = true)]
    async fn the_total_deadline_still_bounds_a_steady_head() {
        let t = Timeouts::start(ClientTimeout {
            total: Some(Duration::from_millis(1000)),
            connect: None,
            sock_connect: None,
            sock_read: Some(Duration::from_millis(400)),
        });
        let activity = Arc::new(ProgressClock::default());
        let steady = trickle(activity.clone(), Duration::from_millis(100), 30, None);
        let err = t
            .run_active(Phase::Read, steady, Some(activity as Activity))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ServerTimeoutError);
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
