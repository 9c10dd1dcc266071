//! Benchmark client for scenario 8 (WebSockets): tokio-tungstenite (latest), no compression
//! (it has none). A `TcpStream` with `TCP_NODELAY`, handed to `client_async_with_config`
//! with the default configuration; messages are sent with `SinkExt::send` (feed and flush)
//! and read with `StreamExt::next`; `ws-bulk` splits the stream with `StreamExt::split`.
//! See [`bench::ws`].

use bench::ws::{check_echo, WsRecv, WsSend};
use bench::ClientArgs;
use bytes::Bytes;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

#[global_allocator]
static ALLOC: bench::CountingAlloc = bench::CountingAlloc;

type Stream = WebSocketStream<TcpStream>;

fn check(
    msg: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>,
    want: &[u8],
) -> Result<(), String> {
    match msg {
        Some(Ok(Message::Binary(b))) => check_echo(want, &b),
        Some(Ok(other)) => Err(format!("{other:?} instead of a binary echo")),
        Some(Err(e)) => Err(e.to_string()),
        None => Err("the connection ended".into()),
    }
}

/// Reads until the server's close frame or the end.
async fn until_close<S>(s: &mut S) -> Result<(), String>
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    use tokio_tungstenite::tungstenite::Error;
    loop {
        match s.next().await {
            None | Some(Ok(Message::Close(_))) => return Ok(()),
            Some(Err(Error::ConnectionClosed | Error::AlreadyClosed)) => return Ok(()),
            Some(Err(e)) => return Err(e.to_string()),
            Some(Ok(_)) => {}
        }
    }
}

struct Ws(Stream);

impl WsSend for Ws {
    async fn send(&mut self, msg: &Bytes) -> Result<(), String> {
        self.0
            .send(Message::Binary(msg.clone()))
            .await
            .map_err(|e| e.to_string())
    }

    async fn close(&mut self) -> Result<(), String> {
        self.0.close(None).await.map_err(|e| e.to_string())
    }
}

impl WsRecv for Ws {
    async fn recv_check(&mut self, want: &[u8]) -> Result<(), String> {
        check(self.0.next().await, want)
    }

    async fn closed(&mut self) -> Result<(), String> {
        until_close(&mut self.0).await
    }
}

struct Tx(SplitSink<Stream, Message>);

impl WsSend for Tx {
    async fn send(&mut self, msg: &Bytes) -> Result<(), String> {
        self.0
            .send(Message::Binary(msg.clone()))
            .await
            .map_err(|e| e.to_string())
    }

    async fn close(&mut self) -> Result<(), String> {
        self.0.close().await.map_err(|e| e.to_string())
    }
}

struct Rx(SplitStream<Stream>);

impl WsRecv for Rx {
    async fn recv_check(&mut self, want: &[u8]) -> Result<(), String> {
        check(self.0.next().await, want)
    }

    async fn closed(&mut self) -> Result<(), String> {
        until_close(&mut self.0).await
    }
}

fn main() {
    bench::ws::client_main(
        "tokio-tungstenite",
        |args: ClientArgs| async move {
            if args.compress != 0 {
                return Err("tokio-tungstenite has no permessage-deflate".into());
            }
            let url = args.url();
            let addr = url
                .strip_prefix("ws://")
                .and_then(|r| r.split('/').next())
                .ok_or_else(|| format!("not a ws:// URL: {url}"))?
                .to_string();
            let tcp = TcpStream::connect(&addr).await.map_err(|e| e.to_string())?;
            tcp.set_nodelay(true).map_err(|e| e.to_string())?;
            let (ws, _) = tokio_tungstenite::client_async_with_config(url.as_str(), tcp, None)
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
