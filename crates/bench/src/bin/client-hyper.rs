//! Benchmark client: raw hyper `client::conn::http1`, the ceiling for any hyper-based client.
//!
//! One task per connection, and that task drives the connection itself (no separate
//! connection task, no pool, no channel between tasks): it polls the hyper `Connection`
//! alongside its own request. Only `Host` is sent. `--force-close` drops the connection once
//! the response is read, closing it from the client's side (no `Connection: close`).
//!
//! With a limit below the number of tasks (scenario 3) every task runs, as in the other
//! clients: a request takes one of `limit` permits of a `tokio::sync::Semaphore` (FIFO, like a
//! pool's waiter queue), then a connection from a shared stack of at most `limit` idle ones
//! (opening one when the stack is empty, so never more than `limit`), and pushes the connection
//! back once the response body is read. That is the least any pool has to do.
//!
//! Every response's status and body size are checked ([`bench::check_status`],
//! [`bench::check_body`]).
//!
//! Over `https://` the same runs over tokio-rustls (ALPN `http/1.1`). With `--http2`, one TLS
//! connection (ALPN `h2`) is opened with `client::conn::http2` before the run, driven by its
//! own task, and every task sends its requests on a clone of its `SendRequest`.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

use bench::{check_body, check_status, client_main, ClientArgs, Mode, Worker};
use bytes::Bytes;
use http::header::HOST;
use http::{HeaderValue, Method, Request, Uri};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

#[global_allocator]
static ALLOC: bench::CountingAlloc = bench::CountingAlloc;

/// How a task reaches the server: plain TCP, or TLS on top of it.
#[derive(Clone)]
struct Dialer {
    addr: SocketAddr,
    tls: Option<TlsConnector>,
}

impl Dialer {
    async fn tcp(&self) -> Result<TcpStream, String> {
        let stream = TcpStream::connect(self.addr)
            .await
            .map_err(|e| e.to_string())?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        Ok(stream)
    }

    async fn tls(&self) -> Result<TlsStream<TcpStream>, String> {
        let tls = self.tls.as_ref().ok_or("TLS without a configuration")?;
        let name = rustls::pki_types::ServerName::from(self.addr.ip());
        tls.connect(name, self.tcp().await?)
            .await
            .map_err(|e| e.to_string())
    }
}

/// A transport a task can open.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send + Sized + 'static {
    fn open(d: &Dialer) -> impl std::future::Future<Output = Result<Self, String>> + Send;
}

impl Stream for TcpStream {
    async fn open(d: &Dialer) -> Result<Self, String> {
        d.tcp().await
    }
}

impl Stream for TlsStream<TcpStream> {
    async fn open(d: &Dialer) -> Result<Self, String> {
        d.tls().await
    }
}

type Conn<S> = http1::Connection<TokioIo<S>, Full<Bytes>>;
/// A connection's request handle and the connection itself, driven by the same task.
type Pair<S> = (http1::SendRequest<Full<Bytes>>, Pin<Box<Conn<S>>>);

/// What every request of a run sends.
#[derive(Clone)]
struct Target {
    host: HeaderValue,
    path: Uri,
    mode: Mode,
    /// `--bytes`: the download's size, or the upload body's.
    bytes: u64,
    upload: Bytes,
}

impl Target {
    fn request(&self) -> Result<Request<Full<Bytes>>, String> {
        let (method, body) = match self.mode {
            Mode::Get | Mode::Download => (Method::GET, Bytes::new()),
            Mode::Upload => (Method::POST, self.upload.clone()),
            Mode::WsEcho | Mode::WsBulk => return Err(bench::NOT_HTTP.into()),
        };
        Request::builder()
            .method(method)
            .uri(self.path.clone())
            .header(HOST, self.host.clone())
            .body(Full::new(body))
            .map_err(|e| e.to_string())
    }

    /// Reads the response to its end; `Ok` carries the body bytes moved.
    async fn finish(&self, resp: http::Response<Incoming>) -> Result<u64, String> {
        check_status(resp.status().as_u16())?;
        let mut body = resp.into_body();
        let mut n = 0u64;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| e.to_string())?;
            if let Some(d) = frame.data_ref() {
                n += d.len() as u64;
            }
        }
        check_body(self.mode, self.bytes, n)
    }
}

struct Task<S: Stream> {
    dialer: Dialer,
    target: Target,
    force_close: bool,
    conn: Option<Pair<S>>,
}

async fn connect<S: Stream>(d: &Dialer) -> Result<Pair<S>, String> {
    let stream = S::open(d).await?;
    let (sender, conn) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    Ok((sender, Box::pin(conn)))
}

/// One request on `pair`, read to its end, polling the connection alongside it.
async fn exchange<S: Stream>(pair: &mut Pair<S>, target: &Target) -> Result<u64, String> {
    let (sender, conn) = pair;
    let req = target.request()?;
    let exchange = async {
        sender.ready().await.map_err(|e| e.to_string())?;
        let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
        target.finish(resp).await
    };
    tokio::select! {
        biased;
        r = exchange => r,
        r = conn.as_mut() => Err(match r {
            Ok(()) => "connection closed".to_string(),
            Err(e) => e.to_string(),
        }),
    }
}

impl<S: Stream> Worker for Task<S> {
    async fn request(&mut self) -> Result<u64, String> {
        let pair = match &mut self.conn {
            Some(pair) => pair,
            None => self.conn.insert(connect(&self.dialer).await?),
        };
        let result = exchange(pair, &self.target).await;
        if self.force_close || result.is_err() {
            self.conn = None;
        }
        result
    }
}

/// The idle connections of a limited run, most recently returned on top.
type Stack<S> = Arc<Mutex<Vec<Pair<S>>>>;

/// A task of a run limited to fewer connections than tasks: a permit, then a connection from
/// the shared stack (or a new one), pushed back after the response.
struct PooledTask<S: Stream> {
    dialer: Dialer,
    target: Target,
    force_close: bool,
    permits: Arc<Semaphore>,
    idle: Stack<S>,
}

impl<S: Stream> Worker for PooledTask<S> {
    async fn request(&mut self) -> Result<u64, String> {
        let _permit = self.permits.acquire().await.map_err(|e| e.to_string())?;
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let mut pair = match idle {
            Some(pair) => pair,
            None => connect(&self.dialer).await?,
        };
        let result = exchange(&mut pair, &self.target).await;
        if result.is_ok() && !self.force_close {
            self.idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(pair);
        }
        result
    }
}

/// A task on the shared HTTP/2 connection.
struct H2Task {
    sender: http2::SendRequest<Full<Bytes>>,
    target: Target,
}

impl Worker for H2Task {
    async fn request(&mut self) -> Result<u64, String> {
        let req = self.target.request()?;
        self.sender.ready().await.map_err(|e| e.to_string())?;
        let resp = self
            .sender
            .send_request(req)
            .await
            .map_err(|e| e.to_string())?;
        self.target.finish(resp).await
    }
}

/// Where the requests go, and how.
struct Setup {
    dialer: Dialer,
    target: Target,
    tasks: usize,
    limit: usize,
    force_close: bool,
}

async fn setup(args: &ClientArgs) -> Result<Setup, String> {
    let uri: Uri = args
        .url()
        .parse()
        .map_err(|e: http::uri::InvalidUri| e.to_string())?;
    let authority = uri.authority().ok_or("the URL has no host")?.clone();
    let addr = tokio::net::lookup_host(authority.as_str())
        .await
        .map_err(|e| e.to_string())?
        .next()
        .ok_or("the host has no address")?;
    let path: Uri = uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .parse()
        .map_err(|e: http::uri::InvalidUri| e.to_string())?;
    let host = HeaderValue::from_str(authority.as_str()).map_err(|e| e.to_string())?;
    let tls = args.tls_config()?.map(|c| TlsConnector::from(Arc::new(c)));
    Ok(Setup {
        dialer: Dialer { addr, tls },
        target: Target {
            host,
            path,
            mode: args.mode,
            bytes: args.bytes,
            upload: args.upload_body(),
        },
        tasks: args.tasks,
        limit: args.conn_limit(),
        force_close: args.force_close,
    })
}

/// One task per connection.
fn per_connection<S: Stream>(s: Setup) -> Vec<Task<S>> {
    (0..s.tasks)
        .map(|_| Task {
            dialer: s.dialer.clone(),
            target: s.target.clone(),
            force_close: s.force_close,
            conn: None,
        })
        .collect()
}

/// Every task sharing a stack of at most `limit` connections.
fn pooled<S: Stream>(s: Setup) -> Vec<PooledTask<S>> {
    let permits = Arc::new(Semaphore::new(s.limit));
    let idle: Stack<S> = Arc::new(Mutex::new(Vec::with_capacity(s.limit)));
    (0..s.tasks)
        .map(|_| PooledTask {
            dialer: s.dialer.clone(),
            target: s.target.clone(),
            force_close: s.force_close,
            permits: permits.clone(),
            idle: idle.clone(),
        })
        .collect()
}

fn main() {
    let tls = std::env::args().any(|a| a.starts_with("https://"));
    let http2 = std::env::args().any(|a| a == "--http2");
    // Fewer connections than tasks: the shared stack (bad flags are reported by client_main).
    let limited = ClientArgs::from_env().is_ok_and(|a| a.tasks > a.conn_limit());
    match (tls, http2, limited) {
        (true, true, _) => client_main("hyper", |args: ClientArgs| async move {
            let s = setup(&args).await?;
            let stream = s.dialer.tls().await?;
            let (sender, conn) = http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
                .await
                .map_err(|e| e.to_string())?;
            tokio::spawn(conn);
            Ok((0..args.tasks)
                .map(|_| H2Task {
                    sender: sender.clone(),
                    target: s.target.clone(),
                })
                .collect::<Vec<_>>())
        }),
        (true, false, false) => client_main("hyper", |args: ClientArgs| async move {
            Ok(per_connection::<TlsStream<TcpStream>>(setup(&args).await?))
        }),
        (true, false, true) => client_main("hyper", |args: ClientArgs| async move {
            Ok(pooled::<TlsStream<TcpStream>>(setup(&args).await?))
        }),
        (false, _, false) => client_main("hyper", |args: ClientArgs| async move {
            Ok(per_connection::<TcpStream>(setup(&args).await?))
        }),
        (false, _, true) => client_main("hyper", |args: ClientArgs| async move {
            Ok(pooled::<TcpStream>(setup(&args).await?))
        }),
    }
}
