//! Benchmark client: this crate (`aiohttp`), one `ClientSession` shared by every task.
//!
//! Over `https://` the connector gets `ssl_context` with the server's certificate as the only
//! root and ALPN `http/1.1` (or `h2` with `--http2`: every task then shares one connection).
//!
//! Every response's status and body size are checked ([`bench::check_status`],
//! [`bench::check_body`]).
//!
//! `--mode ws-echo` and `--mode ws-bulk` (scenario 8) use the crate's WebSockets instead:
//! `session.ws_connect(url).compress(N).max_msg_size(0)` (`--compress`, 0 by default), the
//! whole `ClientWebSocketResponse` for round trips and its halves (`split()`) for bulk; see
//! [`bench::ws`].

use aiohttp::{
    ClientSession, ClientWebSocketResponse, TcpConnector, Url, WSMsgType, WsReader, WsWriter,
};
use bench::ws::{check_echo, WsRecv, WsSend};
use bench::{check_body, check_status, client_main, ClientArgs, Mode, Worker};
use bytes::Bytes;

#[global_allocator]
static ALLOC: bench::CountingAlloc = bench::CountingAlloc;

struct Task {
    session: ClientSession,
    url: Url,
    mode: Mode,
    /// `--bytes`: the download's size, or the upload body's.
    bytes: u64,
    upload: Bytes,
}

impl Worker for Task {
    async fn request(&mut self) -> Result<u64, String> {
        let req = match self.mode {
            Mode::Get | Mode::Download => self.session.get(&self.url),
            Mode::Upload => self.session.post(&self.url).data(self.upload.clone()),
            Mode::WsEcho | Mode::WsBulk => return Err(bench::NOT_HTTP.into()),
        };
        let mut resp = req.await.map_err(|e| e.to_string())?;
        check_status(resp.status().as_u16())?;
        let got = match self.mode {
            Mode::Get | Mode::Upload => {
                let body = resp.read().await.map_err(|e| e.to_string())?;
                body.len() as u64
            }
            Mode::Download => {
                let content = resp.content();
                let mut n = 0u64;
                loop {
                    let chunk = content.readany().await.map_err(|e| e.to_string())?;
                    if chunk.is_empty() {
                        break;
                    }
                    n += chunk.len() as u64;
                }
                n
            }
            Mode::WsEcho | Mode::WsBulk => return Err(bench::NOT_HTTP.into()),
        };
        check_body(self.mode, self.bytes, got)
    }
}

/// The next message must be a binary echo of `want`.
fn check_message(msg: &aiohttp::WSMessage, want: &[u8]) -> Result<(), String> {
    match msg.kind {
        WSMsgType::Binary => check_echo(want, &msg.data),
        kind => Err(match msg.error() {
            Some(e) => format!("{kind:?} message: {e}"),
            None => format!("{kind:?} message instead of a binary echo"),
        }),
    }
}

/// Reads until the close frame (or the end) after ours went out.
fn is_end(msg: &aiohttp::WSMessage) -> bool {
    matches!(
        msg.kind,
        WSMsgType::Close | WSMsgType::Closed | WSMsgType::Closing | WSMsgType::Error
    )
}

/// The whole WebSocket (`ws-echo`).
struct Ws(ClientWebSocketResponse);

impl WsSend for Ws {
    async fn send(&mut self, msg: &Bytes) -> Result<(), String> {
        self.0.send_bytes(msg).await.map_err(|e| e.to_string())
    }

    async fn close(&mut self) -> Result<(), String> {
        // The whole close handshake: our frame, then the server's.
        self.0.close(1000, b"").await.map_err(|e| e.to_string())?;
        Ok(())
    }
}

impl WsRecv for Ws {
    async fn recv_check(&mut self, want: &[u8]) -> Result<(), String> {
        let msg = self.0.receive().await;
        check_message(&msg, want)
    }

    async fn closed(&mut self) -> Result<(), String> {
        match self.0.exception() {
            Some(e) => Err(e.to_string()),
            None => Ok(()),
        }
    }
}

struct Tx(WsWriter);

impl WsSend for Tx {
    async fn send(&mut self, msg: &Bytes) -> Result<(), String> {
        self.0.send_bytes(msg).await.map_err(|e| e.to_string())
    }

    async fn close(&mut self) -> Result<(), String> {
        self.0.close(1000, b"").await.map_err(|e| e.to_string())?;
        Ok(())
    }
}

struct Rx(WsReader);

impl WsRecv for Rx {
    async fn recv_check(&mut self, want: &[u8]) -> Result<(), String> {
        let msg = self.0.receive().await;
        check_message(&msg, want)
    }

    async fn closed(&mut self) -> Result<(), String> {
        loop {
            let msg = self.0.receive().await;
            if is_end(&msg) {
                return match msg.error() {
                    Some(e) => Err(e.to_string()),
                    None => Ok(()),
                };
            }
        }
    }
}

fn ws_main() {
    let deflate = ClientArgs::from_env().is_ok_and(|a| a.compress != 0);
    bench::ws::client_main(
        if deflate {
            "aiohttp-rs-deflate"
        } else {
            "aiohttp-rs"
        },
        |args: ClientArgs| async move {
            let session = ClientSession::builder()
                .build()
                .map_err(|e| e.to_string())?;
            let ws = session
                .ws_connect(args.url().as_str())
                .compress(args.compress)
                .max_msg_size(0)
                .await
                .map_err(|e| e.to_string())?;
            if ws.compress() != args.compress {
                return Err(format!(
                    "permessage-deflate: asked for {} window bits, the server agreed to {}",
                    args.compress,
                    ws.compress()
                ));
            }
            Ok(Ws(ws))
        },
        |ws: Ws| {
            let (rx, tx) = ws.0.split();
            (Tx(tx), Rx(rx))
        },
    );
}

fn main() {
    if ClientArgs::from_env().is_ok_and(|a| a.mode.is_ws()) {
        return ws_main();
    }
    client_main("aiohttp-rs", |args: ClientArgs| async move {
        let mut connector = TcpConnector::builder()
            .limit(args.conn_limit())
            .force_close(args.force_close);
        if let Some(tls) = args.tls_config()? {
            connector = connector.ssl_context(tls);
        }
        let connector = connector.build().map_err(|e| e.to_string())?;
        let session = ClientSession::builder()
            .connector(connector)
            .build()
            .map_err(|e| e.to_string())?;
        let url = Url::parse(&args.url()).map_err(|e| e.to_string())?;
        let upload = args.upload_body();
        Ok((0..args.tasks)
            .map(|_| Task {
                session: session.clone(),
                url: url.clone(),
                mode: args.mode,
                bytes: args.bytes,
                upload: upload.clone(),
            })
            .collect())
    });
}
