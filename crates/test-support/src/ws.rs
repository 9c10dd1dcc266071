//! A WebSocket server for tests: the opening handshake answered as the test says, then raw
//! frames in both directions.

use std::future::Future;
use std::io;

use base64::Engine;
use sha1::{Digest, Sha1};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::raw_server::{RawConn, RawRequest, RawServer};

/// The `Sec-WebSocket-Accept` value for a client's `Sec-WebSocket-Key`.
pub fn ws_accept(key: &str) -> String {
    let mut h = Sha1::new();
    h.update(key.as_bytes());
    h.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    base64::engine::general_purpose::STANDARD.encode(h.finalize())
}

/// One frame as the server read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsFrame {
    /// FIN.
    pub fin: bool,
    /// RSV1 (compressed, with permessage-deflate).
    pub rsv1: bool,
    /// The opcode.
    pub opcode: u8,
    /// Whether the client masked it (clients must).
    pub masked: bool,
    /// The payload, unmasked.
    pub payload: Vec<u8>,
}

impl WsFrame {
    /// The payload as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.payload).into_owned()
    }

    /// The close code of a close frame.
    pub fn close_code(&self) -> Option<u16> {
        (self.opcode == 8 && self.payload.len() >= 2)
            .then(|| u16::from_be_bytes([self.payload[0], self.payload[1]]))
    }
}

/// The server's side of one WebSocket connection.
#[derive(Debug)]
pub struct WsPeer {
    conn: RawConn,
    buf: Vec<u8>,
    /// The upgrade request as received.
    pub request: RawRequest,
    inflate: Option<flate2::Decompress>,
    deflate: Option<flate2::Compress>,
}

/// The bytes of one frame as a server sends it (unmasked).
pub fn frame_bytes(fin: bool, rsv: u8, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![(u8::from(fin) << 7) | (rsv << 4) | opcode];
    match payload.len() {
        n if n < 126 => v.push(n as u8),
        n if n < 65536 => {
            v.push(126);
            v.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            v.push(127);
            v.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    v.extend_from_slice(payload);
    v
}

impl WsPeer {
    /// Reads the next frame; `None` at EOF or on a read error (bounded by the connection's I/O
    /// timeout).
    pub async fn read_frame(&mut self) -> Option<WsFrame> {
        loop {
            if let Some(f) = self.parse() {
                return Some(f);
            }
            let mut chunk = [0u8; 16384];
            let stream = self.conn.stream_mut();
            let n = tokio::time::timeout(crate::DEFAULT_IO_TIMEOUT, stream.read(&mut chunk))
                .await
                .ok()?
                .ok()?;
            if n == 0 {
                return None;
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    fn parse(&mut self) -> Option<WsFrame> {
        let b = &self.buf;
        if b.len() < 2 {
            return None;
        }
        let (fin, rsv1, opcode) = (b[0] & 0x80 != 0, b[0] & 0x40 != 0, b[0] & 0x0f);
        let masked = b[1] & 0x80 != 0;
        let (len, mut at) = match b[1] & 0x7f {
            126 if b.len() >= 4 => (u16::from_be_bytes([b[2], b[3]]) as usize, 4),
            127 if b.len() >= 10 => {
                let mut l = [0u8; 8];
                l.copy_from_slice(&b[2..10]);
                (u64::from_be_bytes(l) as usize, 10)
            }
            126 | 127 => return None,
            n => (n as usize, 2),
        };
        let mask = if masked {
            if b.len() < at + 4 {
                return None;
            }
            let m = [b[at], b[at + 1], b[at + 2], b[at + 3]];
            at += 4;
            Some(m)
        } else {
            None
        };
        if b.len() < at + len {
            return None;
        }
        let mut payload: Vec<u8> = b[at..at + len].to_vec();
        if let Some(m) = mask {
            for (i, x) in payload.iter_mut().enumerate() {
                *x ^= m[i % 4];
            }
        }
        self.buf.drain(..at + len);
        Some(WsFrame {
            fin,
            rsv1,
            opcode,
            masked,
            payload,
        })
    }

    /// Reads the next message: fragments joined, inflated when RSV1 is set (after
    /// [`use_deflate`](Self::use_deflate)); control frames come as they are.
    pub async fn read_message(&mut self) -> Option<WsFrame> {
        let mut first = self.read_frame().await?;
        if first.opcode >= 8 {
            return Some(first);
        }
        while !first.fin {
            let next = self.read_frame().await?;
            first.payload.extend_from_slice(&next.payload);
            first.fin = next.fin;
        }
        if first.rsv1 {
            let z = self.inflate.as_mut()?;
            first.payload.extend_from_slice(&[0, 0, 0xff, 0xff]);
            let mut out = Vec::with_capacity(first.payload.len() * 4 + 1024);
            let start = z.total_in();
            loop {
                let done = (z.total_in() - start) as usize;
                if out.len() == out.capacity() {
                    out.reserve(out.capacity());
                }
                z.decompress_vec(
                    &first.payload[done..],
                    &mut out,
                    flate2::FlushDecompress::Sync,
                )
                .ok()?;
                if (z.total_in() - start) as usize == first.payload.len()
                    && out.len() < out.capacity()
                {
                    break;
                }
            }
            first.payload = out;
            first.rsv1 = false;
        }
        Some(first)
    }

    /// From now on, messages with RSV1 are inflated and [`send_compressed`](Self::send_compressed) deflates.
    pub fn use_deflate(&mut self) {
        self.inflate = Some(flate2::Decompress::new(false));
        self.deflate = Some(flate2::Compress::new(flate2::Compression::default(), false));
    }

    /// Sends raw bytes.
    pub async fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.conn.write(bytes).await
    }

    /// Sends one frame.
    pub async fn send(&mut self, fin: bool, rsv: u8, opcode: u8, payload: &[u8]) -> io::Result<()> {
        self.send_raw(&frame_bytes(fin, rsv, opcode, payload)).await
    }

    /// Sends a text message.
    pub async fn send_text(&mut self, s: &str) -> io::Result<()> {
        self.send(true, 0, 1, s.as_bytes()).await
    }

    /// Sends a binary message.
    pub async fn send_binary(&mut self, b: &[u8]) -> io::Result<()> {
        self.send(true, 0, 2, b).await
    }

    /// Sends a close frame with `code` (none: an empty close frame).
    pub async fn send_close(&mut self, code: Option<u16>, reason: &str) -> io::Result<()> {
        let mut p = Vec::new();
        if let Some(c) = code {
            p.extend_from_slice(&c.to_be_bytes());
            p.extend_from_slice(reason.as_bytes());
        }
        self.send(true, 0, 8, &p).await
    }

    /// Sends a message compressed with permessage-deflate (RSV1), in one frame.
    pub async fn send_compressed(&mut self, opcode: u8, data: &[u8]) -> io::Result<()> {
        let z = self
            .deflate
            .as_mut()
            .ok_or_else(|| io::Error::other("use_deflate first"))?;
        let mut out = Vec::with_capacity(data.len() + 1024);
        let start = z.total_in();
        loop {
            let done = (z.total_in() - start) as usize;
            if out.len() == out.capacity() {
                out.reserve(out.capacity());
            }
            z.compress_vec(&data[done..], &mut out, flate2::FlushCompress::Sync)
                .map_err(io::Error::other)?;
            if (z.total_in() - start) as usize == data.len() && out.len() < out.capacity() {
                break;
            }
        }
        if out.ends_with(&[0, 0, 0xff, 0xff]) {
            out.truncate(out.len() - 4);
        }
        self.send(true, 4, opcode, &out).await
    }

    /// Shuts the writing side down (FIN).
    pub async fn shutdown(&mut self) {
        let _ = self.conn.stream_mut().shutdown().await;
    }

    /// The connection (for raw writes and timing).
    pub fn conn(&mut self) -> &mut RawConn {
        &mut self.conn
    }
}

/// A WebSocket server for tests. Every connection's upgrade request is read and handed with
/// the connection to `handler`, which answers it ([`WsPeer`] helpers, or raw bytes).
#[derive(Debug)]
pub struct WsServer;

impl WsServer {
    /// A server whose `handler` gets each connection after its request was read; it answers
    /// with `accept(extra_headers)` or anything else.
    pub async fn start<H, Fut>(handler: H) -> RawServer
    where
        H: Fn(WsPeer) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let handler = std::sync::Arc::new(handler);
        RawServer::start(move |mut conn| {
            let handler = handler.clone();
            async move {
                let Some(request) = conn.read_head_only().await else {
                    return;
                };
                let buf = conn.buffered().to_vec();
                let peer = WsPeer {
                    conn,
                    buf,
                    request,
                    inflate: None,
                    deflate: None,
                };
                handler(peer).await;
            }
        })
        .await
    }

    /// A server that accepts every upgrade (with `extra` header lines, e.g.
    /// `"Sec-WebSocket-Protocol: chat\r\n"`) and echoes every message back, answering pings
    /// and close frames. Messages are compressed back if the client's were.
    pub async fn echo(extra: &'static str) -> RawServer {
        WsServer::start(move |mut peer| async move {
            if peer.accept(extra).await.is_err() {
                return;
            }
            echo_loop(&mut peer).await;
        })
        .await
    }
}

/// Echoes messages until the client closes (answering its close) or goes away.
pub async fn echo_loop(peer: &mut WsPeer) {
    while let Some(m) = peer.read_message().await {
        let r = match m.opcode {
            8 => {
                let code = m.close_code();
                let _ = peer.send_close(code, "").await;
                return;
            }
            9 => peer.send(true, 0, 10, &m.payload).await,
            10 => Ok(()),
            op => {
                if peer.deflate.is_some() && m.payload.len() > 16 {
                    peer.send_compressed(op, &m.payload).await
                } else {
                    peer.send(true, 0, op, &m.payload).await
                }
            }
        };
        if r.is_err() {
            return;
        }
    }
}

impl WsPeer {
    /// Answers the upgrade with `101` and the right accept key, plus `extra` header lines.
    /// With `permessage-deflate` among them, deflate is used from then on.
    pub async fn accept(&mut self, extra: &str) -> io::Result<()> {
        let key = self
            .request
            .header("sec-websocket-key")
            .unwrap_or("")
            .to_string();
        if extra.to_ascii_lowercase().contains("permessage-deflate") {
            self.use_deflate();
        }
        let resp = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n{extra}\r\n",
            ws_accept(&key)
        );
        self.send_raw(resp.as_bytes()).await
    }
}
