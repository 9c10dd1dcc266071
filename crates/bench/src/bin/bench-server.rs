//! The benchmark server: hyper HTTP/1.1 (and HTTP/2 over TLS) on one current-thread runtime
//! (run it pinned to one core with `taskset`).
//!
//! Data port:
//! - `GET /hello`: `Hello, world!` (13 bytes, `Content-Length`).
//! - `GET /big?bytes=N`: N bytes (default 1 GiB) generated on the fly in 256 KiB chunks.
//! - `POST /upload`: reads and discards the body, answers `Hello, world!`.
//!
//! TLS port: the same routes over HTTPS with a self-signed certificate made at start-up (rcgen,
//! for `127.0.0.1` and `localhost`; its PEM is written to `--cert PATH` for the clients to
//! trust), ALPN `h2` and `http/1.1`: HTTP/2 or HTTP/1.1 as the handshake chose. Its connections
//! are counted with the data port's.
//!
//! WebSocket port (scenario 8; its connections are counted with the data port's): an echo
//! server. The opening handshake is read here (httparse) and answered with the accept key;
//! then every text or binary message comes back as it came, as one frame of the same kind
//! (fragmented messages are joined first), pings are answered and a close frame is echoed.
//! Without permessage-deflate (every client but one) the frames are read and written by
//! fastwebsockets on the bare `TcpStream`; when the client offers permessage-deflate, the
//! server agrees (`permessage-deflate`, both windows 15 bits, context takeover) and echoes
//! with yawc, which compresses its answers (level 1, the level aiohttp-rs compresses with). Each message echoed counts as a request.
//!
//! Control port (its connections are not counted):
//! - `GET /stats`: `{"conns", "max_conns", "accepted", "requests", "upload_bytes"}`.
//! - `GET /reset`: sets `max_conns` to the current count and zeroes the other counters.
//!
//! Prints `{"port": P, "tls_port": T, "ws_port": W, "control_port": C}` on one line once all
//! listen, and
//! exits when its standard input is closed (so it never outlives the driver).

use std::cell::Cell;
use std::convert::Infallible;
use std::io::Read as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

const CHUNK: usize = 256 * 1024;
const DEFAULT_BIG: u64 = 1 << 30;

/// Counters; the server is single-threaded, so plain cells suffice.
#[derive(Default)]
struct Stats {
    conns: Cell<u64>,
    max_conns: Cell<u64>,
    accepted: Cell<u64>,
    requests: Cell<u64>,
    upload_bytes: Cell<u64>,
}

/// Counts a data connection for as long as it lives.
struct ConnGuard(Rc<Stats>);

impl ConnGuard {
    fn new(stats: Rc<Stats>) -> Self {
        let now = stats.conns.get() + 1;
        stats.conns.set(now);
        stats.max_conns.set(stats.max_conns.get().max(now));
        stats.accepted.set(stats.accepted.get() + 1);
        ConnGuard(stats)
    }
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.0.conns.set(self.0.conns.get().saturating_sub(1));
    }
}

/// Response bodies: a fixed buffer, or `remaining` bytes cut from one shared chunk.
enum Payload {
    Full(Option<Bytes>),
    Repeat { chunk: Bytes, remaining: u64 },
}

impl Body for Payload {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        let data = match this {
            Payload::Full(b) => b.take(),
            Payload::Repeat { chunk, remaining } => {
                if *remaining == 0 {
                    None
                } else {
                    let n = usize::try_from(*remaining).map_or(chunk.len(), |r| r.min(chunk.len()));
                    *remaining -= n as u64;
                    Some(chunk.slice(..n))
                }
            }
        };
        Poll::Ready(data.map(|d| Ok(Frame::data(d))))
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Payload::Full(b) => b.is_none(),
            Payload::Repeat { remaining, .. } => *remaining == 0,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Payload::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Payload::Repeat { remaining, .. } => SizeHint::with_exact(*remaining),
        }
    }
}

fn full(status: StatusCode, body: impl Into<Bytes>) -> Response<Payload> {
    let body: Bytes = body.into();
    let mut resp = Response::new(Payload::Full(Some(body.clone())));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, http::HeaderValue::from_static("text/plain"));
    resp.headers_mut()
        .insert(CONTENT_LENGTH, http::HeaderValue::from(body.len()));
    resp
}

fn query_u64(req: &Request<Incoming>, key: &str) -> Option<u64> {
    req.uri().query()?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        if k == key {
            v.parse().ok()
        } else {
            None
        }
    })
}

async fn data(
    req: Request<Incoming>,
    stats: Rc<Stats>,
    chunk: Bytes,
) -> Result<Response<Payload>, Infallible> {
    stats.requests.set(stats.requests.get() + 1);
    let resp = match (req.method(), req.uri().path()) {
        (&Method::GET, "/hello") => full(StatusCode::OK, bench::HELLO),
        (&Method::GET, "/big") => {
            let n = query_u64(&req, "bytes").unwrap_or(DEFAULT_BIG);
            let mut resp = Response::new(Payload::Repeat {
                chunk,
                remaining: n,
            });
            resp.headers_mut().insert(
                CONTENT_TYPE,
                http::HeaderValue::from_static("application/octet-stream"),
            );
            resp.headers_mut()
                .insert(CONTENT_LENGTH, http::HeaderValue::from(n));
            resp
        }
        (&Method::POST, "/upload") => {
            let mut body = req.into_body();
            let mut n = 0u64;
            loop {
                match body.frame().await {
                    Some(Ok(frame)) => {
                        if let Some(d) = frame.data_ref() {
                            n += d.len() as u64;
                        }
                    }
                    Some(Err(_)) => return Ok(full(StatusCode::BAD_REQUEST, "broken body")),
                    None => break,
                }
            }
            stats.upload_bytes.set(stats.upload_bytes.get() + n);
            full(StatusCode::OK, bench::HELLO)
        }
        _ => full(StatusCode::NOT_FOUND, "not found"),
    };
    Ok(resp)
}

async fn control(
    req: Request<Incoming>,
    stats: Rc<Stats>,
) -> Result<Response<Payload>, Infallible> {
    let resp = match req.uri().path() {
        "/stats" => {
            let body = serde_json::json!({
                "conns": stats.conns.get(),
                "max_conns": stats.max_conns.get(),
                "accepted": stats.accepted.get(),
                "requests": stats.requests.get(),
                "upload_bytes": stats.upload_bytes.get(),
            });
            full(StatusCode::OK, body.to_string())
        }
        "/reset" => {
            stats.max_conns.set(stats.conns.get());
            stats.accepted.set(0);
            stats.requests.set(0);
            stats.upload_bytes.set(0);
            full(StatusCode::OK, "ok")
        }
        _ => full(StatusCode::NOT_FOUND, "not found"),
    };
    Ok(resp)
}

async fn serve_data(listener: TcpListener, stats: Rc<Stats>) {
    let chunk = Bytes::from(vec![b'x'; CHUNK]);
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                eprintln!("bench-server: accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let guard = ConnGuard::new(stats.clone());
        let stats = stats.clone();
        let chunk = chunk.clone();
        tokio::task::spawn_local(async move {
            let _guard = guard;
            let service = service_fn(move |req| data(req, stats.clone(), chunk.clone()));
            // Clients closing mid-response (a cancelled download) is not an error worth a line.
            let _ = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Runs HTTP/2 connection tasks on the server's single thread (its services are not `Send`).
#[derive(Clone, Copy)]
struct LocalExec;

impl<F: std::future::Future + 'static> hyper::rt::Executor<F> for LocalExec {
    fn execute(&self, fut: F) {
        tokio::task::spawn_local(fut);
    }
}

/// A self-signed certificate for `127.0.0.1` and `localhost`, its PEM written to `cert_path`, and
/// the TLS acceptor that presents it with ALPN `h2` and `http/1.1`.
fn tls_acceptor(cert_path: Option<&str>) -> Result<TlsAcceptor, String> {
    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    let key = rcgen::KeyPair::generate().map_err(|e| e.to_string())?;
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".into()])
        .and_then(|p| p.self_signed(&key))
        .map_err(|e| e.to_string())?;
    if let Some(path) = cert_path {
        std::fs::write(path, cert.pem()).map_err(|e| format!("{path}: {e}"))?;
    }
    let mut config = rustls::ServerConfig::builder_with_provider(bench::crypto_provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .map_err(|e| e.to_string())?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

async fn serve_tls(listener: TcpListener, acceptor: TlsAcceptor, stats: Rc<Stats>) {
    let chunk = Bytes::from(vec![b'x'; CHUNK]);
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("bench-server: accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let guard = ConnGuard::new(stats.clone());
        let stats = stats.clone();
        let chunk = chunk.clone();
        let acceptor = acceptor.clone();
        tokio::task::spawn_local(async move {
            let _guard = guard;
            let Ok(tls) = acceptor.accept(stream).await else {
                return;
            };
            let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2".as_slice());
            let service = service_fn(move |req| data(req, stats.clone(), chunk.clone()));
            let io = TokioIo::new(tls);
            let _ = if h2 {
                http2::Builder::new(LocalExec)
                    .serve_connection(io, service)
                    .await
            } else {
                http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(io, service)
                    .await
            };
        });
    }
}

/// The largest opening handshake the WebSocket port reads.
const MAX_HANDSHAKE: usize = 16 * 1024;

/// What the opening handshake asked for.
struct Upgrade {
    accept: String,
    deflate: bool,
}

/// Reads the opening handshake (RFC 6455 §4.2.1) and answers it: `101` with the accept key,
/// or `400` and an error.
async fn ws_handshake(stream: &mut tokio::net::TcpStream) -> Result<Upgrade, String> {
    use base64::Engine as _;
    use sha1::{Digest as _, Sha1};
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut buf = Vec::with_capacity(2048);
    let head_len = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() >= MAX_HANDSHAKE {
            return Err("handshake too long".into());
        }
        let mut chunk = [0u8; 2048];
        let n = stream.read(&mut chunk).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("closed during the handshake".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    // Clients wait for the 101 before they send a frame.
    if buf.len() != head_len {
        return Err("bytes after the handshake before the answer".into());
    }
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    let parsed = req.parse(&buf).map_err(|e| e.to_string())?;
    let upgrade = if !parsed.is_complete() || req.method != Some("GET") {
        Err("not a GET request".to_string())
    } else {
        let header = |name: &str| {
            req.headers
                .iter()
                .filter(|h| h.name.eq_ignore_ascii_case(name))
                .filter_map(|h| std::str::from_utf8(h.value).ok())
                .collect::<Vec<_>>()
                .join(",")
        };
        let tokens = |name: &str, want: &str| {
            header(name)
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case(want))
        };
        let key = header("sec-websocket-key");
        if !tokens("upgrade", "websocket") || !tokens("connection", "upgrade") {
            Err("not a WebSocket upgrade".to_string())
        } else if header("sec-websocket-version").trim() != "13" || key.trim().is_empty() {
            Err("missing Sec-WebSocket-Key or version 13".to_string())
        } else {
            let mut h = Sha1::new();
            h.update(key.trim().as_bytes());
            h.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
            let deflate = header("sec-websocket-extensions").split(',').any(|e| {
                e.split(';')
                    .next()
                    .is_some_and(|n| n.trim() == "permessage-deflate")
            });
            Ok(Upgrade {
                accept: base64::engine::general_purpose::STANDARD.encode(h.finalize()),
                deflate,
            })
        }
    };
    let answer = match &upgrade {
        Ok(u) => format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {}\r\n{}\r\n",
            u.accept,
            if u.deflate {
                "Sec-WebSocket-Extensions: permessage-deflate\r\n"
            } else {
                ""
            }
        ),
        Err(e) => format!(
            "HTTP/1.1 400 Bad Request\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{e}",
            e.len()
        ),
    };
    stream
        .write_all(answer.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    upgrade
}

/// Echoes messages with fastwebsockets until the close (or a failure).
async fn ws_echo(stream: tokio::net::TcpStream, stats: &Stats) -> Result<(), String> {
    use fastwebsockets::{FragmentCollector, Frame, OpCode, Role, WebSocket};
    let mut ws = FragmentCollector::new(WebSocket::after_handshake(stream, Role::Server));
    loop {
        let frame = ws.read_frame().await.map_err(|e| e.to_string())?;
        match frame.opcode {
            // read_frame has answered it.
            OpCode::Close => return Ok(()),
            OpCode::Text | OpCode::Binary => {
                stats.requests.set(stats.requests.get() + 1);
                ws.write_frame(Frame::new(true, frame.opcode, None, frame.payload))
                    .await
                    .map_err(|e| e.to_string())?;
            }
            _ => {}
        }
    }
}

/// Echoes messages with yawc and permessage-deflate until the close (or a failure).
async fn ws_echo_deflate(stream: tokio::net::TcpStream, stats: &Stats) -> Result<(), String> {
    use futures_util::{SinkExt as _, StreamExt as _};
    use yawc::frame::{Frame, OpCode};
    let mut ws = yawc::WebSocket::from_stream_with_extensions(
        stream,
        yawc::Role::Server,
        Some("permessage-deflate"),
        yawc::Options::default()
            .with_low_latency_compression()
            .with_no_delay()
            .with_max_payload_read(64 << 20),
    )
    .map_err(|e| e.to_string())?;
    while let Some(frame) = ws.next().await {
        let (opcode, _, payload) = frame.into_parts();
        let answer = match opcode {
            OpCode::Close => return Ok(()),
            OpCode::Text => Frame::text(payload),
            OpCode::Binary => Frame::binary(payload),
            _ => continue,
        };
        stats.requests.set(stats.requests.get() + 1);
        ws.send(answer).await.map_err(|e| e.to_string())?;
    }
    Ok(())
}

async fn serve_ws(listener: TcpListener, stats: Rc<Stats>) {
    loop {
        let (mut stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("bench-server: accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let guard = ConnGuard::new(stats.clone());
        let stats = stats.clone();
        tokio::task::spawn_local(async move {
            let _guard = guard;
            let outcome = match ws_handshake(&mut stream).await {
                Ok(Upgrade { deflate: false, .. }) => ws_echo(stream, &stats).await,
                Ok(Upgrade { deflate: true, .. }) => ws_echo_deflate(stream, &stats).await,
                Err(e) => Err(format!("handshake: {e}")),
            };
            // A client that goes away without a close frame is not worth a line; a handshake
            // or protocol failure is.
            if let Err(e) = outcome {
                if !e.contains("EOF") && !e.contains("reset") && !e.contains("closed") {
                    eprintln!("bench-server: WebSocket: {e}");
                }
            }
        });
    }
}

async fn serve_control(listener: TcpListener, stats: Rc<Stats>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let stats = stats.clone();
        tokio::task::spawn_local(async move {
            let service = service_fn(move |req| control(req, stats.clone()));
            let _ = http1::Builder::new()
                .keep_alive(false)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn arg<'a>(args: &'a [String], flag: &str) -> Option<&'a str> {
    args.windows(2)
        .find(|w| w[0] == flag)
        .map(|w| w[1].as_str())
}

fn port_arg(args: &[String], flag: &str) -> u16 {
    arg(args, flag).and_then(|v| v.parse().ok()).unwrap_or(0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let port = port_arg(&args, "--port");
    let control_port = port_arg(&args, "--control-port");
    let tls_port = port_arg(&args, "--tls-port");
    let ws_port = port_arg(&args, "--ws-port");
    let acceptor = match tls_acceptor(arg(&args, "--cert")) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bench-server: TLS setup: {e}");
            std::process::exit(1);
        }
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let bind = |p: u16| TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, p)));
        let data_l = bind(port).await.expect("bind the data port");
        let control_l = bind(control_port).await.expect("bind the control port");
        let tls_l = bind(tls_port).await.expect("bind the TLS port");
        let ws_l = bind(ws_port).await.expect("bind the WebSocket port");
        let ports = serde_json::json!({
            "port": data_l.local_addr().expect("local addr").port(),
            "tls_port": tls_l.local_addr().expect("local addr").port(),
            "ws_port": ws_l.local_addr().expect("local addr").port(),
            "control_port": control_l.local_addr().expect("local addr").port(),
        });
        println!("{ports}");
        std::thread::spawn(|| {
            // Exit once the driver is gone (stdin closed) or says so.
            let mut sink = [0u8; 64];
            let mut stdin = std::io::stdin();
            while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
            std::process::exit(0);
        });
        let stats = Rc::new(Stats::default());
        tokio::task::spawn_local(serve_control(control_l, stats.clone()));
        tokio::task::spawn_local(serve_tls(tls_l, acceptor, stats.clone()));
        tokio::task::spawn_local(serve_ws(ws_l, stats.clone()));
        serve_data(data_l, stats).await;
    });
}
