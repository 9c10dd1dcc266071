//! A response body read off either protocol, which gives its connection back when it ends.

use std::future::Future as _;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::Incoming;
use tokio::time::Sleep;

use crate::error::ClientError;
use crate::proto::h1::Upload;
use crate::timeout::{later, timeout_error, Bound, Phase, Timeouts};

/// Where a body gives its connection back: pooled when the exchange ended cleanly and the
/// connection may carry another, closed otherwise.
pub(crate) trait Release: Send + Sync {
    /// The exchange is over: pool the connection if `reusable`, else close it.
    fn finish(&self, reusable: bool);
    /// Closes the connection unless it was already given back.
    fn close(&self);
    /// `n` more bytes of the body came off the connection (before any decoding).
    fn received(&self, n: usize);
}

/// A response body that returns its connection to the pool when read to the end, and closes it
/// when dropped earlier or broken.
///
/// It also enforces the read timeouts: `sock_read` between two pieces of the body, and the
/// request's total deadline.
pub(crate) struct LeasedBody {
    incoming: Incoming,
    shared: Arc<dyn Release>,
    ended: bool,
    keep_alive: bool,
    upload: Option<Upload>,
    sock_read: Option<Duration>,
    deadline: Option<tokio::time::Instant>,
    // Both timers are made the first time the body has to wait: a body already buffered
    // (most small responses) never touches the timer wheel.
    read_timer: Option<Pin<Box<Sleep>>>,
    total_timer: Option<Pin<Box<Sleep>>>,
    failed: bool,
}

impl LeasedBody {
    pub(crate) fn new(
        incoming: Incoming,
        shared: Arc<dyn Release>,
        keep_alive: bool,
        upload: Option<Upload>,
        timeouts: &Timeouts,
    ) -> Self {
        let mut body = LeasedBody {
            incoming,
            shared,
            ended: false,
            keep_alive,
            upload,
            sock_read: timeouts.sock_read,
            deadline: timeouts.deadline,
            read_timer: None,
            total_timer: None,
            failed: false,
        };
        if http_body::Body::is_end_stream(&body.incoming) {
            body.finish();
        }
        body
    }

    fn finish(&mut self) {
        self.ended = true;
        let uploaded = self.upload.as_ref().is_none_or(Upload::finished);
        self.shared.finish(self.keep_alive && uploaded);
    }

    fn fail(&mut self) {
        self.ended = true;
        self.failed = true;
        self.shared.close();
    }
}

impl Drop for LeasedBody {
    fn drop(&mut self) {
        if !self.ended {
            // Dropped before its end: the connection cannot be reused.
            self.shared.close();
        }
    }
}

impl futures_util::Stream for LeasedBody {
    type Item = Result<Bytes, ClientError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.failed || (this.ended && http_body::Body::is_end_stream(&this.incoming)) {
            return Poll::Ready(None);
        }
        loop {
            match http_body::Body::poll_frame(Pin::new(&mut this.incoming), cx) {
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) if data.is_empty() => continue,
                    Ok(data) => {
                        this.shared.received(data.len());
                        if let (Some(timer), Some(d)) = (&mut this.read_timer, this.sock_read) {
                            timer.as_mut().reset(later(tokio::time::Instant::now(), d));
                        }
                        return Poll::Ready(Some(Ok(data)));
                    }
                    Err(_trailers) => continue,
                },
                Poll::Ready(Some(Err(e))) => {
                    this.fail();
                    return Poll::Ready(Some(Err(ClientError::payload(
                        "response payload is not completed",
                    )
                    .with_source(e))));
                }
                Poll::Ready(None) => {
                    this.finish();
                    return Poll::Ready(None);
                }
                Poll::Pending => {
                    if this.total_timer.is_none() {
                        this.total_timer =
                            this.deadline.map(|d| Box::pin(tokio::time::sleep_until(d)));
                    }
                    if this.read_timer.is_none() {
                        this.read_timer = this.sock_read.map(|d| Box::pin(tokio::time::sleep(d)));
                    }
                    let expired = if this
                        .total_timer
                        .as_mut()
                        .is_some_and(|t| t.as_mut().poll(cx).is_ready())
                    {
                        Some(Bound::Total)
                    } else if this
                        .read_timer
                        .as_mut()
                        .is_some_and(|t| t.as_mut().poll(cx).is_ready())
                    {
                        Some(Bound::Phase)
                    } else {
                        None
                    };
                    return match expired {
                        None => Poll::Pending,
                        Some(bound) => {
                            // A timed-out connection is never reused.
                            this.fail();
                            Poll::Ready(Some(Err(timeout_error(Phase::Read, bound))))
                        }
                    };
                }
            }
        }
    }
}
