//! Benchmark client: raw hyper `client::conn::http1`, the ceiling for any hyper-based client.
//!
//! One task per connection, and that task drives the connection itself (no separate
//! connection task, no pool, no channel between tasks): it polls the hyper `Connection`
//! alongside its own request. Only `Host` is sent. With a limit below the number of tasks
//! (scenario 3) it runs one task per allowed connection, which is the best any pool can do.

use std::net::SocketAddr;
use std::pin::Pin;

use bench::{client_main, ClientArgs, Mode, Worker};
use bytes::Bytes;
use http::header::HOST;
use http::{HeaderValue, Method, Request, Uri};
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

type Conn = http1::Connection<TokioIo<TcpStream>, Full<Bytes>>;
/// A connection's request handle and the connection itself, driven by the same task.
type Pair = (http1::SendRequest<Full<Bytes>>, Pin<Box<Conn>>);

struct Task {
    addr: SocketAddr,
    host: HeaderValue,
    path: Uri,
    mode: Mode,
    upload: Bytes,
    force_close: bool,
    conn: Option<Pair>,
}

async fn connect(addr: SocketAddr) -> Result<Pair, String> {
    let stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let (sender, conn) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    Ok((sender, Box::pin(conn)))
}

impl Worker for Task {
    async fn request(&mut self) -> Result<u64, String> {
        if self.conn.is_none() {
            self.conn = Some(connect(self.addr).await?);
        }
        let Some((sender, conn)) = self.conn.as_mut() else {
            return Err("no connection".into());
        };
        let mode = self.mode;
        let (method, body) = match mode {
            Mode::Get | Mode::Download => (Method::GET, Bytes::new()),
            Mode::Upload => (Method::POST, self.upload.clone()),
        };
        let sent = body.len() as u64;
        let req = Request::builder()
            .method(method)
            .uri(self.path.clone())
            .header(HOST, self.host.clone())
            .body(Full::new(body))
            .map_err(|e| e.to_string())?;
        let exchange = async {
            sender.ready().await.map_err(|e| e.to_string())?;
            let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
            if resp.status() != 200 {
                return Err(format!("status {}", resp.status()));
            }
            let mut body = resp.into_body();
            let mut n = 0u64;
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(|e| e.to_string())?;
                if let Some(d) = frame.data_ref() {
                    n += d.len() as u64;
                }
            }
            match mode {
                Mode::Upload if n == bench::HELLO.len() as u64 => Ok(sent),
                Mode::Get if n == bench::HELLO.len() as u64 => Ok(n),
                Mode::Download => Ok(n),
                _ => Err(format!("body of {n} bytes")),
            }
        };
        let result = tokio::select! {
            biased;
            r = exchange => r,
            r = conn.as_mut() => Err(match r {
                Ok(()) => "connection closed".to_string(),
                Err(e) => e.to_string(),
            }),
        };
        if self.force_close || result.is_err() {
            self.conn = None;
        }
        result
    }
}

fn main() {
    client_main("hyper", |args: ClientArgs| async move {
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
        let upload = args.upload_body();
        let tasks = args.tasks.min(args.conn_limit());
        Ok((0..tasks)
            .map(|_| Task {
                addr,
                host: host.clone(),
                path: path.clone(),
                mode: args.mode,
                upload: upload.clone(),
                force_close: args.force_close,
                conn: None,
            })
            .collect())
    });
}
