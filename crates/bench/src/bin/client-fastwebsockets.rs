//! Benchmark client for scenario 8 (WebSockets): fastwebsockets (latest), no compression (it
//! has none). The handshake is the crate's own client (`handshake::client`, over hyper, on a
//! `TcpStream` with `TCP_NODELAY`); messages are read through a `FragmentCollector` (whole
//! messages, as the other clients deliver them). Each message is copied into a scratch buffer
//! and sent as `Payload::BorrowedMut`, which the crate masks in place and writes with
//! `writev` (header and payload) when it is larger than 1 KiB: the cheapest way its API
//! offers to send a message the caller keeps. `ws-bulk` splits the WebSocket with
//! `WebSocket::split(tokio::io::split)` (the `unstable-split` feature) and reads through a
//! `FragmentCollectorRead`. See [`bench::ws`].

use bench::ws::{check_echo, WsRecv, WsSend};
use bench::ClientArgs;
use bytes::Bytes;
use fastwebsockets::{
    FragmentCollector, FragmentCollectorRead, Frame, OpCode, Payload, WebSocket, WebSocketError,
    WebSocketRead, WebSocketWrite,
};
use http_body_util::Empty;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::io::{ReadHalf, WriteHalf};
use tokio::net::TcpStream;

#[global_allocator]
static ALLOC: bench::CountingAlloc = bench::CountingAlloc;

type Io = TokioIo<Upgraded>;

fn check(frame: Result<Frame<'_>, WebSocketError>, want: &[u8]) -> Result<(), String> {
    let frame = frame.map_err(|e| e.to_string())?;
    match frame.opcode {
        OpCode::Binary => check_echo(want, &frame.payload),
        op => Err(format!("{op:?} frame instead of a binary echo")),
    }
}

fn is_end(frame: Result<Frame<'_>, WebSocketError>) -> Result<bool, String> {
    match frame {
        Ok(f) => Ok(f.opcode == OpCode::Close),
        Err(WebSocketError::ConnectionClosed | WebSocketError::UnexpectedEOF) => Ok(true),
        Err(e) => Err(e.to_string()),
    }
}

/// The whole WebSocket: as connected, or read through a `FragmentCollector` once used
/// (`ws-bulk` splits it before).
struct Ws {
    raw: Option<WebSocket<Io>>,
    collector: Option<FragmentCollector<Io>>,
    scratch: Vec<u8>,
}

impl Ws {
    fn ws(&mut self) -> &mut FragmentCollector<Io> {
        if let Some(raw) = self.raw.take() {
            self.collector = Some(FragmentCollector::new(raw));
        }
        self.collector.as_mut().expect("a WebSocket")
    }
}

/// A frame of `msg`, copied into `scratch` (masked there in place when written).
fn frame<'a>(scratch: &'a mut Vec<u8>, msg: &Bytes) -> Frame<'a> {
    scratch.clear();
    scratch.extend_from_slice(msg);
    Frame::binary(Payload::BorrowedMut(&mut scratch[..]))
}

impl WsSend for Ws {
    async fn send(&mut self, msg: &Bytes) -> Result<(), String> {
        self.ws();
        let f = frame(&mut self.scratch, msg);
        let ws = self.collector.as_mut().expect("a WebSocket");
        ws.write_frame(f).await.map_err(|e| e.to_string())
    }

    async fn close(&mut self) -> Result<(), String> {
        self.ws()
            .write_frame(Frame::close(1000, b""))
            .await
            .map_err(|e| e.to_string())
    }
}

impl WsRecv for Ws {
    async fn recv_check(&mut self, want: &[u8]) -> Result<(), String> {
        check(self.ws().read_frame().await, want)
    }

    async fn closed(&mut self) -> Result<(), String> {
        while !is_end(self.ws().read_frame().await)? {}
        Ok(())
    }
}

struct Tx {
    ws: WebSocketWrite<WriteHalf<Io>>,
    scratch: Vec<u8>,
}

impl WsSend for Tx {
    async fn send(&mut self, msg: &Bytes) -> Result<(), String> {
        let f = frame(&mut self.scratch, msg);
        self.ws.write_frame(f).await.map_err(|e| e.to_string())
    }

    async fn close(&mut self) -> Result<(), String> {
        self.ws
            .write_frame(Frame::close(1000, b""))
            .await
            .map_err(|e| e.to_string())
    }
}

struct Rx(FragmentCollectorRead<ReadHalf<Io>>);

/// What the reading half must send (pongs, the close answer) cannot go out from here; the
/// server sends no pings, and the close is ours.
async fn no_send(_: Frame<'_>) -> Result<(), std::io::Error> {
    Ok(())
}

impl WsRecv for Rx {
    async fn recv_check(&mut self, want: &[u8]) -> Result<(), String> {
        check(self.0.read_frame(&mut no_send).await, want)
    }

    async fn closed(&mut self) -> Result<(), String> {
        while !is_end(self.0.read_frame(&mut no_send).await)? {}
        Ok(())
    }
}

/// Runs hyper's connection task (the handshake) on the runtime.
struct SpawnExecutor;

impl<Fut> hyper::rt::Executor<Fut> for SpawnExecutor
where
    Fut: std::future::Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    fn execute(&self, fut: Fut) {
        tokio::task::spawn(fut);
    }
}

fn main() {
    bench::ws::client_main(
        "fastwebsockets",
        |args: ClientArgs| async move {
            if args.compress != 0 {
                return Err("fastwebsockets has no permessage-deflate".into());
            }
            let url = args.url();
            let addr = url
                .strip_prefix("ws://")
                .and_then(|r| r.split('/').next())
                .ok_or_else(|| format!("not a ws:// URL: {url}"))?
                .to_string();
            let tcp = TcpStream::connect(&addr).await.map_err(|e| e.to_string())?;
            tcp.set_nodelay(true).map_err(|e| e.to_string())?;
            let req = http::Request::builder()
                .method("GET")
                .uri(url.as_str())
                .header(http::header::HOST, addr.as_str())
                .header(http::header::UPGRADE, "websocket")
                .header(http::header::CONNECTION, "upgrade")
                .header(
                    "Sec-WebSocket-Key",
                    fastwebsockets::handshake::generate_key(),
                )
                .header("Sec-WebSocket-Version", "13")
                .body(Empty::<Bytes>::new())
                .map_err(|e| e.to_string())?;
            let (ws, _) = fastwebsockets::handshake::client(&SpawnExecutor, req, tcp)
                .await
                .map_err(|e| e.to_string())?;
            Ok(Ws {
                raw: Some(ws),
                collector: None,
                scratch: Vec::new(),
            })
        },
        |ws: Ws| {
            let ws = ws.raw.expect("split before any use");
            let (rx, tx): (WebSocketRead<ReadHalf<Io>>, WebSocketWrite<WriteHalf<Io>>) =
                ws.split(tokio::io::split);
            (
                Tx {
                    ws: tx,
                    scratch: Vec::new(),
                },
                Rx(FragmentCollectorRead::new(rx)),
            )
        },
    );
}
