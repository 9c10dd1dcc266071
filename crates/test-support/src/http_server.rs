//! [`HttpServer`]: a hyper HTTP/1.1 server on loopback, and body helpers.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::{Request, Response, StatusCode};
use http_body::{Body, Frame};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::sync::mpsc;
use tokio::time::Sleep;

use crate::accept::Acceptor;

/// The boxed error type used by [`BoxBody`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The response body type every [`HttpServer`] handler returns.
pub type BoxBody = http_body_util::combinators::BoxBody<Bytes, BoxError>;

/// Which accepted connection a request arrived on.
///
/// [`HttpServer`] inserts one into the extensions of every request before
/// handing it to the handler: `req.extensions().get::<ConnInfo>()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnInfo {
    /// 0-based accept order of the connection on its server.
    pub index: usize,
    /// The client's address.
    pub peer: SocketAddr,
}

/// An in-process HTTP/1.1 server (hyper) bound to a loopback address.
///
/// Every accepted connection is served by its own tokio task with
/// keep-alive enabled. Dropping the server stops accepting and aborts all
/// connection tasks, so no socket outlives it for long; use
/// [`HttpServer::shutdown`] to wait until they are all gone. If a handler
/// panicked, dropping the server panics too (see [`HttpServer::check`]).
#[derive(Debug)]
pub struct HttpServer {
    acceptor: Acceptor,
    requests: Arc<AtomicUsize>,
}

impl HttpServer {
    /// Starts a server on `127.0.0.1:0` with `handler` answering every
    /// request.
    ///
    /// # Panics
    ///
    /// Panics if no loopback port can be bound.
    pub async fn start<H, Fut>(handler: H) -> Self
    where
        H: Fn(Request<Incoming>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Response<BoxBody>> + Send + 'static,
    {
        match Self::start_on(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), handler).await {
            Ok(server) => server,
            Err(e) => panic!("test-support: cannot bind 127.0.0.1:0: {e}"),
        }
    }

    /// Starts a server on `[::1]:0`. Fails where IPv6 loopback is not
    /// available; tests check [`skip_without_ipv6`](crate::skip_without_ipv6)
    /// first.
    pub async fn start_ipv6<H, Fut>(handler: H) -> std::io::Result<Self>
    where
        H: Fn(Request<Incoming>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Response<BoxBody>> + Send + 'static,
    {
        Self::start_on(SocketAddr::from((Ipv6Addr::LOCALHOST, 0)), handler).await
    }

    /// Starts a server bound to `addr` (use port 0 for a free port).
    pub async fn start_on<H, Fut>(addr: SocketAddr, handler: H) -> std::io::Result<Self>
    where
        H: Fn(Request<Incoming>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Response<BoxBody>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&requests);
        let acceptor = Acceptor::bind(addr, move |stream, accepted| {
            let handler = Arc::clone(&handler);
            let counter = Arc::clone(&counter);
            let info = ConnInfo {
                index: accepted.index,
                peer: accepted.peer,
            };
            async move {
                let service = service_fn(move |mut req: Request<Incoming>| {
                    counter.fetch_add(1, Ordering::SeqCst);
                    req.extensions_mut().insert(info);
                    let fut = (*handler)(req);
                    async move { Ok::<_, Infallible>(fut.await) }
                });
                // Errors here are client misbehaviour or aborted
                // connections; the client side of the test observes them.
                let _ = http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            }
        })
        .await?;
        Ok(Self { acceptor, requests })
    }

    /// Starts a server on `127.0.0.1:0` whose every response is a JSON
    /// description of the request:
    ///
    /// ```json
    /// {"method": "POST", "uri": "/p?q=1", "path": "/p", "query": "q=1",
    ///  "target": "/p?q=1", "version": "HTTP/1.1",
    ///  "headers": [["host", "127.0.0.1:1234"], ["content-length", "2"]],
    ///  "body": "hi", "body_len": 2, "trailers": [],
    ///  "connection": 0, "peer": "127.0.0.1:5678"}
    /// ```
    ///
    /// Header names are lowercase. Headers keep their arrival order, except
    /// that repeated fields are listed together at the place of the first.
    /// `body` is the body decoded as UTF-8 (lossily); `body_len` is its
    /// length in bytes. `query` is `null` without a query string; `target`
    /// is the request target as sent (absolute-form for proxy requests).
    ///
    /// # Panics
    ///
    /// Panics if no loopback port can be bound.
    pub async fn echo() -> Self {
        Self::start(echo_handler).await
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.acceptor.addr()
    }

    /// `http://ADDR/path` for this server; a missing leading `/` is added.
    pub fn url(&self, path: &str) -> String {
        join_url(self.addr(), path)
    }

    /// Panics if a connection handler has panicked so far, with the
    /// handlers' panic messages.
    ///
    /// Dropping the server does the same check, so a failed assertion in a
    /// handler fails the test that owns the server; call this to fail at a
    /// given point instead, for example before the test waits on something
    /// that the handler's failure would prevent.
    ///
    /// ```no_run
    /// # async fn demo() {
    /// use test_support::HttpServer;
    ///
    /// let server = HttpServer::start(|_req| async { http::Response::new(test_support::full("ok")) }).await;
    /// // ... requests ...
    /// server.check();
    /// # }
    /// ```
    pub fn check(&self) {
        self.acceptor.panics().check();
    }

    /// The messages of the connection handlers' panics so far, oldest
    /// first.
    ///
    /// ```no_run
    /// # async fn demo() {
    /// use test_support::HttpServer;
    ///
    /// let server = HttpServer::start(|_req| async { http::Response::new(test_support::full("ok")) }).await;
    /// assert!(server.handler_panics().is_empty());
    /// # }
    /// ```
    pub fn handler_panics(&self) -> Vec<String> {
        self.acceptor.panics().messages()
    }

    /// How many TCP connections have been accepted so far.
    pub fn connections_accepted(&self) -> usize {
        self.acceptor.stats().accepted()
    }

    /// How many TCP connections are open now (their task has not ended).
    pub fn open_connections(&self) -> usize {
        self.acceptor.stats().open()
    }

    /// The largest number of connections that were open at the same time.
    pub fn max_open_connections(&self) -> usize {
        self.acceptor.stats().max_open()
    }

    /// How many requests have reached the handler so far.
    pub fn requests_received(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// Waits until [`open_connections`](Self::open_connections) equals `n`;
    /// returns `false` if it still differs after `timeout`. A closed
    /// connection is counted down only once the server noticed the close.
    pub async fn wait_for_open_connections(&self, n: usize, timeout: Duration) -> bool {
        self.acceptor.wait_open(n, timeout).await
    }

    /// Closes every open connection abruptly (without a response to any
    /// request in flight) and keeps accepting new ones. Returns once the
    /// connection tasks are gone.
    pub async fn close_connections(&self) {
        self.acceptor.close_connections().await;
    }

    /// Stops accepting and closes every connection; returns once the
    /// listener and all connection tasks are gone.
    pub async fn shutdown(self) {
        self.acceptor.shutdown().await;
    }
}

pub(crate) fn join_url(addr: SocketAddr, path: &str) -> String {
    if path.starts_with('/') {
        format!("http://{addr}{path}")
    } else {
        format!("http://{addr}/{path}")
    }
}

/// A body with all of `data`, sent with a `Content-Length`.
pub fn full(data: impl Into<Bytes>) -> BoxBody {
    Full::new(data.into())
        .map_err(|never| match never {})
        .boxed()
}

/// An empty body (`Content-Length: 0` where the status allows a body).
pub fn empty() -> BoxBody {
    Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed()
}

/// A body that yields every chunk received on `rx` and ends when all
/// senders are dropped. Sent with `Transfer-Encoding: chunked` unless the
/// response carries its own `Content-Length` header.
pub fn stream(rx: mpsc::Receiver<Bytes>) -> BoxBody {
    BoxBody::new(ChannelBody { rx })
}

/// Like [`stream`], but an `Err` item makes the body fail: the server then
/// aborts the connection mid-body, as a crashing upstream would.
pub fn fallible_stream(rx: mpsc::Receiver<Result<Bytes, BoxError>>) -> BoxBody {
    BoxBody::new(FallibleChannelBody { rx })
}

/// A channel-backed body: send chunks on the returned sender, drop it to
/// end the body.
pub fn body_channel(capacity: usize) -> (mpsc::Sender<Bytes>, BoxBody) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    (tx, stream(rx))
}

/// A body that yields `chunks` one by one, waiting `delay` before every
/// chunk but the first. Sent with `Transfer-Encoding: chunked` unless the
/// response carries its own `Content-Length` header.
pub fn chunks_with_delay<I, B>(chunks: I, delay: Duration) -> BoxBody
where
    I: IntoIterator<Item = B>,
    B: Into<Bytes>,
{
    BoxBody::new(DelayedChunks {
        chunks: chunks.into_iter().map(Into::into).collect(),
        delay,
        sleep: None,
        started: false,
    })
}

#[derive(Debug)]
struct ChannelBody {
    rx: mpsc::Receiver<Bytes>,
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.rx
            .poll_recv(cx)
            .map(|item| item.map(|chunk| Ok(Frame::data(chunk))))
    }
}

#[derive(Debug)]
struct FallibleChannelBody {
    rx: mpsc::Receiver<Result<Bytes, BoxError>>,
}

impl Body for FallibleChannelBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.rx
            .poll_recv(cx)
            .map(|item| item.map(|res| res.map(Frame::data)))
    }
}

#[derive(Debug)]
struct DelayedChunks {
    chunks: VecDeque<Bytes>,
    delay: Duration,
    sleep: Option<Pin<Box<Sleep>>>,
    started: bool,
}

impl Body for DelayedChunks {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if this.chunks.is_empty() {
            return Poll::Ready(None);
        }
        if this.started {
            let delay = this.delay;
            let sleep = this
                .sleep
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(delay)));
            ready!(sleep.as_mut().poll(cx));
            this.sleep = None;
        }
        this.started = true;
        Poll::Ready(this.chunks.pop_front().map(|chunk| Ok(Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.chunks.is_empty()
    }
}

async fn echo_handler(req: Request<Incoming>) -> Response<BoxBody> {
    let (parts, body) = req.into_parts();
    let collected = match body.collect().await {
        Ok(collected) => collected,
        Err(e) => {
            let mut resp = Response::new(full(format!("cannot read request body: {e}")));
            *resp.status_mut() = StatusCode::BAD_REQUEST;
            return resp;
        }
    };
    let trailers: Vec<serde_json::Value> = collected
        .trailers()
        .map(|t| t.iter().map(header_pair).collect())
        .unwrap_or_default();
    let body = collected.to_bytes();
    let conn = parts.extensions.get::<ConnInfo>().copied();
    let value = serde_json::json!({
        "method": parts.method.as_str(),
        "uri": parts.uri.path_and_query().map_or("/", |pq| pq.as_str()),
        "path": parts.uri.path(),
        "query": parts.uri.query(),
        "target": parts.uri.to_string(),
        "version": format!("{:?}", parts.version),
        "headers": parts.headers.iter().map(header_pair).collect::<Vec<_>>(),
        "body": String::from_utf8_lossy(&body),
        "body_len": body.len(),
        "trailers": trailers,
        "connection": conn.map(|c| c.index),
        "peer": conn.map(|c| c.peer.to_string()),
    });
    let mut resp = Response::new(full(value.to_string()));
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

fn header_pair((name, value): (&http::HeaderName, &HeaderValue)) -> serde_json::Value {
    serde_json::json!([name.as_str(), String::from_utf8_lossy(value.as_bytes())])
}
