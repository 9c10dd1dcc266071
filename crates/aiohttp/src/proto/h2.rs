//! HTTP/2 over one transport, through hyper's `client::conn::http2`. With `h1.rs`, the only
//! module that talks to hyper's client.
//!
//! One [`H2Conn`] carries many requests at once: the pool hands out clones of its sender, one
//! per stream, up to the server's `SETTINGS_MAX_CONCURRENT_STREAMS`.

use std::future::Future as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use hyper::client::conn::http2;
use hyper_util::rt::TokioIo;
use tokio::task::AbortHandle;

use crate::body::WireBody;
use crate::error::ClientError;
use crate::proto::h1::{debug_conn, drive, handshake_failed, request, request_uri, RawHead};
use crate::proto::{map_hyper_error, Head, SendError, Sent};
use crate::transport::Transport;

/// The handle that sends requests on streams of one HTTP/2 connection.
pub(crate) type Sender = hyper::client::conn::http2::SendRequest<WireBody>;

/// Spawns hyper's tasks for one connection and keeps their abort handles.
///
/// hyper runs the HTTP/2 connection itself (which owns the socket) in a task of its own; a
/// connection dropped by the pool must stop it, or the socket stays open until a graceful
/// shutdown completes, if ever.
#[derive(Clone, Default)]
struct ConnExecutor {
    tasks: Arc<Mutex<Vec<AbortHandle>>>,
}

impl<F> hyper::rt::Executor<F> for ConnExecutor
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    fn execute(&self, fut: F) {
        let handle = tokio::spawn(fut).abort_handle();
        let mut tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        // hyper spawns a task per stream too: forget finished ones before growing, so the list
        // stays within twice the tasks alive.
        if tasks.len() == tasks.capacity() {
            tasks.retain(|t| !t.is_finished());
        }
        tasks.push(handle);
    }
}

impl ConnExecutor {
    fn abort_all(&self) {
        let tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        for t in tasks.iter() {
            t.abort();
        }
    }
}

/// One open HTTP/2 connection: the sender streams are opened through and the task driving it.
pub(crate) struct H2Conn {
    sender: http2::SendRequest<WireBody>,
    task: AbortHandle,
    executor: ConnExecutor,
    /// Dropping stops the connection at once, unless streams in flight may finish first.
    abort_on_drop: bool,
    max_streams: Arc<AtomicUsize>,
    pub(crate) id: u64,
    pub(crate) peer_addr: Option<SocketAddr>,
    pub(crate) local_addr: Option<SocketAddr>,
}

impl std::fmt::Debug for H2Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        debug_conn(f, "H2Conn", self.id, self.peer_addr)
    }
}

impl H2Conn {
    /// Runs the HTTP/2 preface and settings exchange and spawns the connection task.
    pub(crate) async fn handshake(transport: Transport) -> Result<H2Conn, ClientError> {
        let Transport {
            io,
            peer_addr,
            local_addr,
            ..
        } = transport;
        let executor = ConnExecutor::default();
        let (sender, conn) = http2::Builder::new(executor.clone())
            .adaptive_window(true)
            .handshake::<_, WireBody>(TokioIo::new(io))
            .await
            .map_err(|e| handshake_failed("HTTP/2", e))?;
        // The server's SETTINGS_MAX_CONCURRENT_STREAMS is known to the connection task only;
        // it is copied out after every poll.
        let max_streams = Arc::new(AtomicUsize::new(usize::MAX));
        let published = max_streams.clone();
        let mut conn = conn;
        let driven = std::future::poll_fn(move |cx| {
            let r = std::pin::Pin::new(&mut conn).poll(cx);
            published.store(conn.current_max_send_streams(), Ordering::Relaxed);
            r
        });
        let task = drive(driven, "HTTP/2 connection ended with an error");
        Ok(H2Conn {
            sender,
            task,
            executor,
            abort_on_drop: true,
            max_streams,
            id: crate::proto::next_connection_id(),
            peer_addr,
            local_addr,
        })
    }

    /// Whether the connection is gone. (Not being ready only means every stream the server
    /// allows is in use.)
    pub(crate) fn is_closed(&self) -> bool {
        self.sender.is_closed() || self.task.is_finished()
    }

    /// How many streams the server lets us open at once.
    pub(crate) fn max_streams(&self) -> usize {
        self.max_streams.load(Ordering::Relaxed).max(1)
    }

    /// A handle for one more stream.
    pub(crate) fn stream(&self) -> http2::SendRequest<WireBody> {
        self.sender.clone()
    }
}

impl H2Conn {
    /// Closes the connection once the streams in flight are done, instead of at once.
    pub(crate) fn close_when_done(mut self) {
        self.abort_on_drop = false;
    }
}

impl Drop for H2Conn {
    fn drop(&mut self) {
        self.task.abort();
        if self.abort_on_drop {
            self.executor.abort_all();
        }
    }
}

/// Whether the server did not process the request: refused, or beyond a GOAWAY's last stream.
/// Such a request can be sent again on another connection whatever its method (RFC 9113 §8.7).
pub(crate) fn not_processed(e: &hyper::Error) -> bool {
    let mut src: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = src {
        if let Some(h2e) = s.downcast_ref::<h2::Error>() {
            return h2e.reason() == Some(h2::Reason::REFUSED_STREAM)
                || (h2e.is_go_away() && h2e.reason() == Some(h2::Reason::NO_ERROR));
        }
        src = s.source();
    }
    e.is_canceled()
}

/// How long a request with `Expect: 100-continue` holds its body back over HTTP/2 before
/// sending it anyway (curl's wait): hyper's HTTP/2 client does not report `100 Continue`, so
/// only a final response within this time is seen in time (and the body is then not sent).
pub(crate) const EXPECT_CONTINUE_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// The same exchange on a stream of an HTTP/2 connection.
pub(crate) async fn exchange(
    sender: &mut Sender,
    head: Head<'_>,
    body: WireBody,
) -> Result<Sent, SendError> {
    let failed = |e: hyper::Error| {
        let unprocessed = not_processed(&e);
        SendError {
            error: map_hyper_error(e),
            retryable: false,
            unprocessed,
        }
    };
    // The stream may have to wait for the server's concurrency limit; the request is built
    // only once it can go, so that the wait holds little.
    sender.ready().await.map_err(failed)?;
    let target = &head.url[..url::Position::AfterQuery];
    let uri = request_uri(target, "URL is not a valid URI")?;
    let mut headers = head.headers.clone();
    // `:authority` carries the host. hyper's HTTP/2 client itself removes the headers that
    // mean something only on one HTTP/1 connection (Connection and the ones it names,
    // Keep-Alive, Proxy-Connection, Transfer-Encoding, Upgrade; RFC 9113 §8.2.2).
    headers.remove(http::header::HOST);
    let expect100 = !body.is_empty()
        && headers
            .get(http::header::EXPECT)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    if !expect100 {
        let req = request(&head, uri, http::Version::HTTP_2, headers, body);
        let response = sender.send_request(req).await.map_err(failed)?;
        return Ok(sent(response, false));
    }
    // `Expect: 100-continue`: the body waits for a final response (then it is not sent, and
    // the stream's request side ends empty) or for `EXPECT_CONTINUE_WAIT` (then it goes).
    // Boxed: only such requests carry the wait's state.
    let (gate, rx) = tokio::sync::oneshot::channel();
    let req = request(&head, uri, http::Version::HTTP_2, headers, body.gated(rx));
    let answer = Box::pin(async move {
        let mut pending = std::pin::pin!(sender.send_request(req));
        match tokio::time::timeout(EXPECT_CONTINUE_WAIT, pending.as_mut()).await {
            Ok(answered) => {
                let _ = gate.send(false);
                answered.map(|r| (r, true))
            }
            Err(_) => {
                let _ = gate.send(true);
                pending.await.map(|r| (r, false))
            }
        }
    });
    let (response, withheld) = answer.await.map_err(failed)?;
    Ok(sent(response, withheld))
}

/// What an exchange over HTTP/2 got: the response, and whether the body was held back.
fn sent(response: http::Response<hyper::body::Incoming>, body_withheld: bool) -> Sent {
    Sent {
        response,
        // HTTP/2 has no reason phrase and no header case: the raw headers are the decoded
        // list.
        raw: RawHead::default(),
        body_withheld,
        upload: None,
        upgrade: None,
        output: None,
    }
}
