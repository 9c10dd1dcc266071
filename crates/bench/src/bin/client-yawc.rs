//! Benchmark client for scenario 8 (WebSockets): yawc (latest, without its TLS features), no
//! compression. `WebSocket::connect(url)` with `Options::default().with_no_delay()`
//! (`TCP_NODELAY`; UTF-8 checks are off by default, and the test sends binary messages only);
//! frames are sent with `SinkExt::send` and read with `StreamExt::next`; `ws-bulk` splits the
//! WebSocket with `StreamExt::split`. See [`bench::ws`].

use bench::ws::{check_echo, WsRecv, WsSend};
use bench::ClientArgs;
use bytes::Bytes;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt as _, StreamExt as _};
use yawc::frame::{Frame, OpCode};
use yawc::{Options, TcpWebSocket};

#[global_allocator]
static ALLOC: bench::CountingAlloc = bench::CountingAlloc;

fn check(frame: Option<Frame>, want: &[u8]) -> Result<(), String> {
    match frame {
        Some(f) if f.opcode() == OpCode::Binary => check_echo(want, f.payload()),
        Some(f) => Err(format!("{:?} frame instead of a binary echo", f.opcode())),
        None => Err("the connection ended".into()),
    }
}

async fn until_close<S: futures_util::Stream<Item = Frame> + Unpin>(s: &mut S) {
    while let Some(f) = s.next().await {
        if f.opcode() == OpCode::Close {
            break;
        }
    }
}

struct Ws(TcpWebSocket);

impl WsSend for Ws {
    async fn send(&mut self, msg: &Bytes) -> Result<(), String> {
        self.0
            .send(Frame::binary(msg.clone()))
            .await
            .map_err(|e| e.to_string())
    }

    async fn close(&mut self) -> Result<(), String> {
        self.0
            .send(Frame::close(yawc::close::CloseCode::Normal, b""))
            .await
            .map_err(|e| e.to_string())
    }
}

impl WsRecv for Ws {
    async fn recv_check(&mut self, want: &[u8]) -> Result<(), String> {
        check(self.0.next().await, want)
    }

    async fn closed(&mut self) -> Result<(), String> {
        until_close(&mut self.0).await;
        Ok(())
    }
}

struct Tx(SplitSink<TcpWebSocket, Frame>);

impl WsSend for Tx {
    async fn send(&mut self, msg: &Bytes) -> Result<(), String> {
        self.0
            .send(Frame::binary(msg.clone()))
            .await
            .map_err(|e| e.to_string())
    }

    async fn close(&mut self) -> Result<(), String> {
        self.0
            .send(Frame::close(yawc::close::CloseCode::Normal, b""))
            .await
            .map_err(|e| e.to_string())
    }
}

struct Rx(SplitStream<TcpWebSocket>);

impl WsRecv for Rx {
    async fn recv_check(&mut self, want: &[u8]) -> Result<(), String> {
        check(self.0.next().await, want)
    }

    async fn closed(&mut self) -> Result<(), String> {
        until_close(&mut self.0).await;
        Ok(())
    }
}

fn main() {
    bench::ws::client_main(
        "yawc",
        |args: ClientArgs| async move {
            if args.compress != 0 {
                return Err("the yawc client runs without compression here".into());
            }
            let url = args.url().parse().map_err(|e| format!("{e}"))?;
            let ws = yawc::WebSocket::connect(url)
                .with_options(Options::default().with_no_delay())
                .await
                .map_err(|e| e.to_string())?;
            Ok(Ws(ws))
        },
        |ws: Ws| {
            let (tx, rx) = ws.0.split();
            (Tx(tx), Rx(rx))
        },
    );
}
