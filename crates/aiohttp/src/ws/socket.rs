//! `ClientWebSocketResponse`: an open WebSocket, its reading and writing halves, and the
//! protocol's automatic behaviour (ping answers, close answers, heartbeat).

use std::fmt;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use tokio::time::Instant;
use tungstenite::protocol::frame::coding::{Control, Data, OpCode};

use super::frame::{code, Frame, ReadError, Reader, Writer};
use super::message::{WSMessage, WSMsgType};
use crate::error::{ClientError, ErrorKind};

/// How the WebSocket behaves, from `ws_connect`'s options.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) autoclose: bool,
    pub(crate) autoping: bool,
    pub(crate) heartbeat: Option<Duration>,
    pub(crate) receive_timeout: Option<Duration>,
    /// How long `close` waits for the peer's close frame.
    pub(crate) close_timeout: Option<Duration>,
}

/// What the handshake settled, for the getters.
#[derive(Debug, Clone, Default)]
pub(crate) struct Settled {
    pub(crate) protocol: Option<String>,
    /// The window bits of permessage-deflate (0: not in use).
    pub(crate) compress: u8,
    pub(crate) peer_addr: Option<SocketAddr>,
    pub(crate) local_addr: Option<SocketAddr>,
    pub(crate) tls: Option<crate::transport::TlsInfo>,
}

#[derive(Debug, Default)]
struct State {
    /// Nothing more is read or written.
    closed: bool,
    /// Our close frame went out.
    close_sent: bool,
    /// The peer's close frame (or the failure) set the code.
    close_code: Option<u16>,
    exception: Option<ClientError>,
}

/// What both halves share.
struct Shared {
    writer: tokio::sync::Mutex<Writer>,
    state: Mutex<State>,
    config: Config,
    settled: Settled,
    /// The pool's lease on the connection: held while the WebSocket is open, so the
    /// connection counts as in use; let go once the transport is closed.
    lease: Mutex<Option<crate::connector::Connection>>,
}

impl Shared {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends one frame, unless the WebSocket is closing or closed.
    async fn send(
        &self,
        opcode: OpCode,
        data: &[u8],
        compress: Option<bool>,
    ) -> Result<(), ClientError> {
        {
            let st = self.state();
            if st.closed || st.close_sent {
                return Err(ClientError::new(
                    ErrorKind::ClientConnectionResetError,
                    "cannot write to a closing WebSocket",
                ));
            }
        }
        let mut w = self.writer.lock().await;
        let compress = compress.unwrap_or(true) && w.compresses();
        w.send(opcode, data, compress).await.map_err(send_error)
    }

    /// Sends our close frame, once: `Ok(false)` when it went out before.
    async fn send_close(&self, code: u16, message: &[u8]) -> Result<bool, ClientError> {
        {
            let mut st = self.state();
            if st.close_sent || st.closed {
                return Ok(false);
            }
            st.close_sent = true;
        }
        let mut payload = Vec::with_capacity(2 + message.len());
        payload.extend_from_slice(&code.to_be_bytes());
        payload.extend_from_slice(&message[..message.len().min(123)]);
        let mut w = self.writer.lock().await;
        w.send(OpCode::Control(Control::Close), &payload, false)
            .await
            .map_err(send_error)?;
        Ok(true)
    }

    /// Ends the connection: FIN after what was written, the halves let go.
    async fn finish(&self, reader: &mut Reader) {
        self.state().closed = true;
        reader.shut();
        let mut w = self.writer.lock().await;
        match self.config.close_timeout {
            Some(d) => {
                if tokio::time::timeout(d, w.shutdown()).await.is_err() {
                    w.drop_io();
                }
            }
            None => w.shutdown().await,
        }
        drop(w);
        self.let_go();
    }

    /// Drops the connection at once (no FIN waited for) after a failure.
    async fn abort(&self, reader: &mut Reader) {
        self.state().closed = true;
        reader.shut();
        self.writer.lock().await.drop_io();
        self.let_go();
    }

    /// Gives the pool its slot back (the transport is closed by now).
    fn let_go(&self) {
        let lease = self.lease.lock().unwrap_or_else(|e| e.into_inner()).take();
        drop(lease);
    }

    /// A failure that closes the WebSocket: code, exception, closed.
    fn fail(&self, code: u16, error: &ClientError) {
        let mut st = self.state();
        st.close_code.get_or_insert(code);
        st.exception = Some(error.duplicate());
        st.closed = true;
    }
}

fn send_error(e: std::io::Error) -> ClientError {
    let kind = match e.kind() {
        std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe => {
            ErrorKind::ClientConnectionResetError
        }
        _ => ErrorKind::ClientConnectionError,
    };
    ClientError::new(kind, "sending on the WebSocket failed").with_source(e)
}

/// The reading state: the frame reader and the heartbeat clock.
struct ReadState {
    reader: Reader,
    /// When the next heartbeat ping goes out.
    next_ping: Option<Instant>,
    /// A heartbeat ping is out: the pong (or any frame) must come by then.
    pong_deadline: Option<Instant>,
}

/// Why a read gave nothing.
enum Fail {
    Read(ReadError),
    ReceiveTimeout,
    Heartbeat,
}

impl ReadState {
    /// The next frame, within the receive timeout, keeping the heartbeat going meanwhile.
    async fn frame(&mut self, shared: &Shared, timeout: Option<Duration>) -> Result<Frame, Fail> {
        let until = timeout.map(|d| Instant::now() + d);
        loop {
            let beat = self.pong_deadline.or(self.next_ping);
            let wake = match (beat, until) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let read = match wake {
                None => self.reader.next().await,
                Some(at) => match tokio::time::timeout_at(at, self.reader.next()).await {
                    Ok(r) => r,
                    Err(_) => {
                        let now = Instant::now();
                        if until.is_some_and(|u| now >= u) {
                            return Err(Fail::ReceiveTimeout);
                        }
                        if self.pong_deadline.is_some_and(|p| now >= p) {
                            return Err(Fail::Heartbeat);
                        }
                        if self.next_ping.is_some_and(|p| now >= p) {
                            let every = shared.config.heartbeat.unwrap_or(Duration::from_secs(1));
                            self.next_ping = None;
                            self.pong_deadline = Some(now + every / 2);
                            if shared
                                .send(OpCode::Control(Control::Ping), b"", Some(false))
                                .await
                                .is_err()
                            {
                                return Err(Fail::Heartbeat);
                            }
                        }
                        continue;
                    }
                },
            };
            if let Some(every) = shared.config.heartbeat {
                // Anything heard from the peer shows it is there.
                self.next_ping = Some(Instant::now() + every);
                self.pong_deadline = None;
            }
            return read.map_err(Fail::Read);
        }
    }

    /// aiohttp's `receive()`: the next message for the caller, answering pings and close
    /// frames on the way as configured. Failures come as [`WSMsgType::Error`] messages.
    async fn receive(&mut self, shared: &Shared, timeout: Option<Duration>) -> WSMessage {
        loop {
            if shared.state().closed {
                return WSMessage::closed();
            }
            let frame = match self.frame(shared, timeout).await {
                Ok(f) => f,
                Err(Fail::ReceiveTimeout) => {
                    return WSMessage::failure(ClientError::new(
                        ErrorKind::SocketTimeoutError,
                        "no WebSocket message within receive_timeout",
                    ));
                }
                Err(Fail::Heartbeat) => {
                    let e = ClientError::new(
                        ErrorKind::ServerTimeoutError,
                        "no pong to the heartbeat ping in time",
                    );
                    shared.fail(code::ABNORMAL, &e);
                    shared.abort(&mut self.reader).await;
                    return WSMessage::failure(e);
                }
                Err(Fail::Read(ReadError::Protocol(c, why))) => {
                    let e = ClientError::websocket(c, why);
                    {
                        let mut st = shared.state();
                        st.close_code = Some(c);
                        st.exception = Some(e.duplicate());
                    }
                    let _ = shared.send_close(c, why.as_bytes()).await;
                    shared.finish(&mut self.reader).await;
                    return WSMessage::failure(e);
                }
                Err(Fail::Read(ReadError::Eof { mid })) => {
                    shared.abort(&mut self.reader).await;
                    if mid {
                        let e = ClientError::new(
                            ErrorKind::ServerDisconnectedError,
                            "the server closed the connection in the middle of a message",
                        );
                        shared.fail(code::ABNORMAL, &e);
                        return WSMessage::failure(e);
                    }
                    let mut st = shared.state();
                    st.close_code.get_or_insert(code::ABNORMAL);
                    st.closed = true;
                    return WSMessage::closed();
                }
                Err(Fail::Read(ReadError::Io(io))) => {
                    let kind = if io.kind() == std::io::ErrorKind::ConnectionReset {
                        ErrorKind::ClientConnectionResetError
                    } else {
                        ErrorKind::ClientConnectionError
                    };
                    let e =
                        ClientError::new(kind, "reading from the WebSocket failed").with_source(io);
                    shared.fail(code::ABNORMAL, &e);
                    shared.abort(&mut self.reader).await;
                    return WSMessage::failure(e);
                }
            };
            match frame {
                Frame::Text(b) => return WSMessage::new(WSMsgType::Text, b),
                Frame::Binary(b) => return WSMessage::new(WSMsgType::Binary, b),
                Frame::Ping(p) if shared.config.autoping => {
                    // A pong that cannot go out means the connection is gone; the next read
                    // says how.
                    let _ = shared
                        .send(OpCode::Control(Control::Pong), &p, Some(false))
                        .await;
                }
                Frame::Ping(p) => return WSMessage::new(WSMsgType::Ping, p),
                Frame::Pong(_) if shared.config.autoping => {}
                Frame::Pong(p) => return WSMessage::new(WSMsgType::Pong, p),
                Frame::Close(c, reason) => {
                    let (answer, ours) = {
                        let mut st = shared.state();
                        st.close_code = Some(c.unwrap_or(1005));
                        (shared.config.autoclose, st.close_sent)
                    };
                    if ours || answer {
                        // Our close went out already (the handshake is complete), or it goes
                        // out now, echoing the peer's code.
                        let _ = shared.send_close(c.unwrap_or(code::NORMAL), b"").await;
                        shared.finish(&mut self.reader).await;
                    }
                    return WSMessage::close(c, reason);
                }
            }
        }
    }

    /// After our close frame: reads (and drops) messages until the peer's close frame, for at
    /// most `wait`.
    async fn await_close(&mut self, shared: &Shared, wait: Option<Duration>) {
        let deadline = wait.map(|d| Instant::now() + d);
        loop {
            let read = match deadline {
                Some(at) => match tokio::time::timeout_at(at, self.reader.next()).await {
                    Ok(r) => r,
                    Err(_) => {
                        let e = ClientError::new(
                            ErrorKind::ServerTimeoutError,
                            "no close frame from the server in time",
                        );
                        shared.fail(code::ABNORMAL, &e);
                        break;
                    }
                },
                None => self.reader.next().await,
            };
            match read {
                Ok(Frame::Close(c, _)) => {
                    shared.state().close_code = Some(c.unwrap_or(1005));
                    break;
                }
                Ok(_) => {}
                Err(ReadError::Protocol(c, why)) => {
                    shared.fail(c, &ClientError::websocket(c, why));
                    break;
                }
                Err(_) => {
                    let mut st = shared.state();
                    st.close_code.get_or_insert(code::ABNORMAL);
                    break;
                }
            }
        }
        shared.finish(&mut self.reader).await;
    }
}

/// The reading half of a WebSocket ([`ClientWebSocketResponse::split`]): `receive*`, and a
/// [`Stream`](futures_util::Stream) of messages that ends at the close.
pub struct WsReader {
    state: Arc<tokio::sync::Mutex<ReadState>>,
    shared: Arc<Shared>,
    /// A receive the stream started (in a mutex only to make the half `Sync`; reached
    /// through `&mut self`, it is never locked).
    pending: Mutex<Option<BoxFuture<'static, WSMessage>>>,
    ended: bool,
}

/// The writing half of a WebSocket ([`ClientWebSocketResponse::split`]): `send_*`, `ping`,
/// `pong`, `close`, and a [`Sink`](futures_util::Sink) of messages.
pub struct WsWriter {
    shared: Arc<Shared>,
    /// A send the sink started (in a mutex only to make the half `Sync`).
    sending: Mutex<Option<BoxFuture<'static, Result<(), ClientError>>>>,
}

/// An open WebSocket (aiohttp's `ClientWebSocketResponse`), from
/// [`ClientSession::ws_connect`](crate::ClientSession::ws_connect).
///
/// ```no_run
/// # async fn run() -> Result<(), aiohttp::ClientError> {
/// let session = aiohttp::ClientSession::new();
/// let mut ws = session.ws_connect("ws://127.0.0.1:8080/ws").await?;
/// ws.send_str("hello").await?;
/// let reply = ws.receive_str().await?;
/// ws.close(1000, b"").await?;
/// # Ok(()) }
/// ```
pub struct ClientWebSocketResponse {
    reader: WsReader,
    writer: WsWriter,
}

impl fmt::Debug for ClientWebSocketResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientWebSocketResponse")
            .field("protocol", &self.reader.shared.settled.protocol)
            .field("compress", &self.reader.shared.settled.compress)
            .field("closed", &self.closed())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for WsReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WsReader").finish_non_exhaustive()
    }
}

impl fmt::Debug for WsWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WsWriter").finish_non_exhaustive()
    }
}

impl ClientWebSocketResponse {
    pub(crate) fn new(
        reader: Reader,
        writer: Writer,
        config: Config,
        settled: Settled,
        lease: Option<crate::connector::Connection>,
    ) -> Self {
        let now = Instant::now();
        let shared = Arc::new(Shared {
            writer: tokio::sync::Mutex::new(writer),
            state: Mutex::new(State::default()),
            settled,
            config,
            lease: Mutex::new(lease),
        });
        let state = ReadState {
            reader,
            next_ping: shared.config.heartbeat.map(|d| now + d),
            pong_deadline: None,
        };
        ClientWebSocketResponse {
            reader: WsReader {
                state: Arc::new(tokio::sync::Mutex::new(state)),
                shared: shared.clone(),
                pending: Mutex::new(None),
                ended: false,
            },
            writer: WsWriter {
                shared,
                sending: Mutex::new(None),
            },
        }
    }

    /// Splits the WebSocket into a reading half and a writing half, for two tasks.
    ///
    /// ```no_run
    /// # async fn run(ws: aiohttp::ClientWebSocketResponse) {
    /// let (mut rx, tx) = ws.split();
    /// tokio::spawn(async move { tx.send_str("from another task").await });
    /// let msg = rx.receive().await;
    /// # }
    /// ```
    pub fn split(self) -> (WsReader, WsWriter) {
        (self.reader, self.writer)
    }

    /// The next message (aiohttp's `receive()`); see [`WsReader::receive`].
    ///
    /// ```no_run
    /// # async fn run(mut ws: aiohttp::ClientWebSocketResponse) {
    /// let msg = ws.receive().await;
    /// println!("{:?} {:?}", msg.kind, msg.data);
    /// # }
    /// ```
    pub async fn receive(&mut self) -> WSMessage {
        self.reader.receive().await
    }

    /// The next message, within `timeout` (this call only).
    ///
    /// ```no_run
    /// # async fn run(mut ws: aiohttp::ClientWebSocketResponse) {
    /// let msg = ws.receive_timeout(std::time::Duration::from_secs(1)).await;
    /// # }
    /// ```
    pub async fn receive_timeout(&mut self, timeout: Duration) -> WSMessage {
        self.reader.receive_timeout(timeout).await
    }

    /// The next message, which must be text.
    ///
    /// # Errors
    /// Another kind of message (`WSMessageTypeError`), or the failure that ended the WebSocket.
    ///
    /// ```no_run
    /// # async fn run(mut ws: aiohttp::ClientWebSocketResponse) -> Result<(), aiohttp::ClientError> {
    /// let s: String = ws.receive_str().await?;
    /// # Ok(()) }
    /// ```
    pub async fn receive_str(&mut self) -> Result<String, ClientError> {
        self.reader.receive_str().await
    }

    /// The next message, which must be binary.
    ///
    /// # Errors
    /// Another kind of message (`WSMessageTypeError`), or the failure that ended the WebSocket.
    ///
    /// ```no_run
    /// # async fn run(mut ws: aiohttp::ClientWebSocketResponse) -> Result<(), aiohttp::ClientError> {
    /// let b = ws.receive_bytes().await?;
    /// # Ok(()) }
    /// ```
    pub async fn receive_bytes(&mut self) -> Result<Bytes, ClientError> {
        self.reader.receive_bytes().await
    }

    /// The next message, a text message parsed as JSON.
    ///
    /// # Errors
    /// Not a text message, or not valid JSON for `T`.
    ///
    /// ```no_run
    /// # async fn run(mut ws: aiohttp::ClientWebSocketResponse) -> Result<(), aiohttp::ClientError> {
    /// let v: serde_json::Value = ws.receive_json().await?;
    /// # Ok(()) }
    /// ```
    pub async fn receive_json<T: serde::de::DeserializeOwned>(&mut self) -> Result<T, ClientError> {
        self.reader.receive_json().await
    }

    /// Sends a text message.
    ///
    /// # Errors
    /// The WebSocket is closing or closed, or the connection failed.
    ///
    /// ```no_run
    /// # async fn run(ws: aiohttp::ClientWebSocketResponse) -> Result<(), aiohttp::ClientError> {
    /// ws.send_str("hi").await?;
    /// # Ok(()) }
    /// ```
    pub async fn send_str(&self, data: impl AsRef<str>) -> Result<(), ClientError> {
        self.writer.send_str(data).await
    }

    /// Sends a binary message.
    ///
    /// # Errors
    /// The WebSocket is closing or closed, or the connection failed.
    ///
    /// ```no_run
    /// # async fn run(ws: aiohttp::ClientWebSocketResponse) -> Result<(), aiohttp::ClientError> {
    /// ws.send_bytes(&[1u8, 2, 3][..]).await?;
    /// # Ok(()) }
    /// ```
    pub async fn send_bytes(&self, data: impl AsRef<[u8]>) -> Result<(), ClientError> {
        self.writer.send_bytes(data).await
    }

    /// Sends `value` as a JSON text message.
    ///
    /// # Errors
    /// `value` cannot be serialized, or sending failed.
    ///
    /// ```no_run
    /// # async fn run(ws: aiohttp::ClientWebSocketResponse) -> Result<(), aiohttp::ClientError> {
    /// ws.send_json(&serde_json::json!({"op": "subscribe"})).await?;
    /// # Ok(()) }
    /// ```
    pub async fn send_json<T: serde::Serialize + ?Sized>(
        &self,
        value: &T,
    ) -> Result<(), ClientError> {
        self.writer.send_json(value).await
    }

    /// Sends one frame of any kind; `compress: None` compresses data frames when
    /// permessage-deflate is in use (aiohttp 3.x `send_frame`).
    ///
    /// # Errors
    /// `kind` is not a frame type, or sending failed.
    ///
    /// ```no_run
    /// # async fn run(ws: aiohttp::ClientWebSocketResponse) -> Result<(), aiohttp::ClientError> {
    /// ws.send_frame(b"raw", aiohttp::WSMsgType::Binary, Some(false)).await?;
    /// # Ok(()) }
    /// ```
    pub async fn send_frame(
        &self,
        data: impl AsRef<[u8]>,
        kind: WSMsgType,
        compress: Option<bool>,
    ) -> Result<(), ClientError> {
        self.writer.send_frame(data, kind, compress).await
    }

    /// Sends a ping.
    ///
    /// # Errors
    /// Sending failed, or the payload is longer than 125 bytes.
    ///
    /// ```no_run
    /// # async fn run(ws: aiohttp::ClientWebSocketResponse) -> Result<(), aiohttp::ClientError> {
    /// ws.ping(b"are you there").await?;
    /// # Ok(()) }
    /// ```
    pub async fn ping(&self, data: impl AsRef<[u8]>) -> Result<(), ClientError> {
        self.writer.ping(data).await
    }

    /// Sends a pong.
    ///
    /// # Errors
    /// Sending failed, or the payload is longer than 125 bytes.
    ///
    /// ```no_run
    /// # async fn run(ws: aiohttp::ClientWebSocketResponse) -> Result<(), aiohttp::ClientError> {
    /// ws.pong(b"").await?;
    /// # Ok(()) }
    /// ```
    pub async fn pong(&self, data: impl AsRef<[u8]>) -> Result<(), ClientError> {
        self.writer.pong(data).await
    }

    /// Starts the close handshake with `code` and `message` and waits (up to the `timeout` of
    /// `ws_connect`, 10 s by default) for the server's close frame; then the connection is
    /// closed. Returns whether this call closed the WebSocket (`false`: it was closed already).
    ///
    /// # Errors
    /// Only when the close frame cannot be sent; the WebSocket is closed either way.
    ///
    /// ```no_run
    /// # async fn run(mut ws: aiohttp::ClientWebSocketResponse) -> Result<(), aiohttp::ClientError> {
    /// ws.close(1000, b"done").await?;
    /// assert!(ws.closed());
    /// # Ok(()) }
    /// ```
    pub async fn close(
        &mut self,
        code: u16,
        message: impl AsRef<[u8]>,
    ) -> Result<bool, ClientError> {
        // A receive left half-way by the stream is dropped: reads are cancel-safe.
        *self.reader.pending_mut() = None;
        let shared = self.reader.shared.clone();
        let mut st = self.reader.state.lock().await;
        if shared.state().closed {
            return Ok(false);
        }
        let peer_closed = shared.state().close_code.is_some();
        let sent = shared.send_close(code, message.as_ref()).await;
        match sent {
            Err(e) => {
                shared.fail(code::ABNORMAL, &e);
                shared.finish(&mut st.reader).await;
                return Err(e);
            }
            Ok(false) if !peer_closed => {
                // Our close went out earlier (from the writing half): wait for the answer.
            }
            Ok(_) => {}
        }
        if peer_closed {
            shared.finish(&mut st.reader).await;
        } else {
            st.await_close(&shared, shared.config.close_timeout).await;
        }
        Ok(true)
    }

    /// Whether the WebSocket is closed.
    ///
    /// ```no_run
    /// # fn f(ws: &aiohttp::ClientWebSocketResponse) { let _ = ws.closed(); }
    /// ```
    pub fn closed(&self) -> bool {
        self.reader.shared.state().closed
    }

    /// The close code: the peer's, or the one a failure closed with (1006 for a lost
    /// connection, 1002, 1007, 1009 for protocol failures); `None` while open.
    ///
    /// ```no_run
    /// # fn f(ws: &aiohttp::ClientWebSocketResponse) { let _ = ws.close_code(); }
    /// ```
    pub fn close_code(&self) -> Option<u16> {
        self.reader.shared.state().close_code
    }

    /// The subprotocol the server chose among those offered (`None` if none, or if it chose
    /// one that was not offered).
    ///
    /// ```no_run
    /// # fn f(ws: &aiohttp::ClientWebSocketResponse) { let _ = ws.protocol(); }
    /// ```
    pub fn protocol(&self) -> Option<&str> {
        self.reader.shared.settled.protocol.as_deref()
    }

    /// The window bits the client compresses with under permessage-deflate (the server's
    /// `client_max_window_bits`, else 15, as aiohttp reports it); 0 when not in use.
    ///
    /// ```no_run
    /// # fn f(ws: &aiohttp::ClientWebSocketResponse) { let _ = ws.compress(); }
    /// ```
    pub fn compress(&self) -> u8 {
        self.reader.shared.settled.compress
    }

    /// The failure that closed the WebSocket, if one did.
    ///
    /// ```no_run
    /// # fn f(ws: &aiohttp::ClientWebSocketResponse) { let _ = ws.exception(); }
    /// ```
    pub fn exception(&self) -> Option<ClientError> {
        self.reader
            .shared
            .state()
            .exception
            .as_ref()
            .map(ClientError::duplicate)
    }

    /// Information about the connection (aiohttp's `get_extra_info`), as text: `"peername"`
    /// and `"sockname"` (the remote and local socket addresses); over TLS also
    /// `"tls_version"`, `"cipher"` and `"alpn_protocol"`.
    ///
    /// ```no_run
    /// # fn f(ws: &aiohttp::ClientWebSocketResponse) { println!("{:?}", ws.get_extra_info("peername")); }
    /// ```
    pub fn get_extra_info(&self, name: &str) -> Option<String> {
        let s = &self.reader.shared.settled;
        match name {
            "peername" => s.peer_addr.map(|a| a.to_string()),
            "sockname" => s.local_addr.map(|a| a.to_string()),
            "tls_version" => s.tls.as_ref().map(|t| t.version().to_string()),
            "cipher" => s.tls.as_ref().map(|t| t.cipher().to_string()),
            "alpn_protocol" => s
                .tls
                .as_ref()
                .and_then(|t| t.alpn_protocol())
                .map(str::to_string),
            _ => None,
        }
    }

    /// The remote socket address, when the transport has one.
    ///
    /// ```no_run
    /// # fn f(ws: &aiohttp::ClientWebSocketResponse) { let _ = ws.peer_addr(); }
    /// ```
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.reader.shared.settled.peer_addr
    }

    /// What the TLS handshake settled, for `wss://`.
    ///
    /// ```no_run
    /// # fn f(ws: &aiohttp::ClientWebSocketResponse) { let _ = ws.tls(); }
    /// ```
    pub fn tls(&self) -> Option<&crate::transport::TlsInfo> {
        self.reader.shared.settled.tls.as_ref()
    }

    /// The local socket address, when the transport has one.
    ///
    /// ```no_run
    /// # fn f(ws: &aiohttp::ClientWebSocketResponse) { let _ = ws.local_addr(); }
    /// ```
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.reader.shared.settled.local_addr
    }
}

impl WsReader {
    fn pending_mut(&mut self) -> &mut Option<BoxFuture<'static, WSMessage>> {
        self.pending.get_mut().unwrap_or_else(|e| e.into_inner())
    }

    /// The next message (aiohttp's `receive()`): text and binary messages; pings and pongs
    /// only with `autoping(false)` (else pings are answered and pongs dropped); the peer's
    /// [`Close`](WSMsgType::Close) (answered at once with `autoclose`); then
    /// [`Closed`](WSMsgType::Closed). A protocol violation closes the WebSocket with its code
    /// and comes as an [`Error`](WSMsgType::Error) message; so does a heartbeat without a pong
    /// (`ServerTimeoutError`, close code 1006) and a `receive_timeout` that expired (a
    /// `SocketTimeoutError`, the WebSocket still open).
    ///
    /// The heartbeat runs while a receive is waiting.
    ///
    /// ```no_run
    /// # async fn run(ws: aiohttp::ClientWebSocketResponse) {
    /// let (mut rx, _tx) = ws.split();
    /// let msg = rx.receive().await;
    /// # }
    /// ```
    pub async fn receive(&mut self) -> WSMessage {
        let timeout = self.shared.config.receive_timeout;
        self.receive_within(timeout).await
    }

    /// The next message, within `timeout` (this call only).
    ///
    /// ```no_run
    /// # async fn run(ws: aiohttp::ClientWebSocketResponse) {
    /// let (mut rx, _tx) = ws.split();
    /// let msg = rx.receive_timeout(std::time::Duration::from_millis(100)).await;
    /// # }
    /// ```
    pub async fn receive_timeout(&mut self, timeout: Duration) -> WSMessage {
        self.receive_within(Some(timeout)).await
    }

    async fn receive_within(&mut self, timeout: Option<Duration>) -> WSMessage {
        if let Some(pending) = self.pending_mut().take() {
            // A receive the stream started: its message is the next one.
            return pending.await;
        }
        let mut st = self.state.lock().await;
        st.receive(&self.shared, timeout).await
    }

    /// The next message, which must be text.
    ///
    /// # Errors
    /// Another kind of message (`WSMessageTypeError`), or the failure that ended the WebSocket.
    ///
    /// ```no_run
    /// # async fn run(ws: aiohttp::ClientWebSocketResponse) -> Result<(), aiohttp::ClientError> {
    /// let (mut rx, _tx) = ws.split();
    /// let s = rx.receive_str().await?;
    /// # Ok(()) }
    /// ```
    pub async fn receive_str(&mut self) -> Result<String, ClientError> {
        let msg = self.receive().await;
        match msg.kind {
            WSMsgType::Text => String::from_utf8(msg.data.to_vec())
                .map_err(|_| ClientError::new(ErrorKind::WebSocketError, "invalid UTF-8")),
            _ => Err(wrong_kind(msg, "Text")),
        }
    }

    /// The next message, which must be binary.
    ///
    /// # Errors
    /// Another kind of message (`WSMessageTypeError`), or the failure that ended the WebSocket.
    ///
    /// ```no_run
    /// # async fn run(ws: aiohttp::ClientWebSocketResponse) -> Result<(), aiohttp::ClientError> {
    /// let (mut rx, _tx) = ws.split();
    /// let b = rx.receive_bytes().await?;
    /// # Ok(()) }
    /// ```
    pub async fn receive_bytes(&mut self) -> Result<Bytes, ClientError> {
        let msg = self.receive().await;
        match msg.kind {
            WSMsgType::Binary => Ok(msg.data),
            _ => Err(wrong_kind(msg, "Binary")),
        }
    }

    /// The next message, a text message parsed as JSON.
    ///
    /// # Errors
    /// Not a text message, or not valid JSON for `T`.
    ///
    /// ```no_run
    /// # async fn run(ws: aiohttp::ClientWebSocketResponse) -> Result<(), aiohttp::ClientError> {
    /// let (mut rx, _tx) = ws.split();
    /// let v: serde_json::Value = rx.receive_json().await?;
    /// # Ok(()) }
    /// ```
    pub async fn receive_json<T: serde::de::DeserializeOwned>(&mut self) -> Result<T, ClientError> {
        let msg = self.receive().await;
        match msg.kind {
            WSMsgType::Text => serde_json::from_slice(&msg.data).map_err(|e| {
                ClientError::new(ErrorKind::InvalidArgument, "the message is not valid JSON")
                    .with_source(e)
            }),
            _ => Err(wrong_kind(msg, "Text")),
        }
    }
}

/// `receive_str`/`receive_bytes` got another kind of message: the failure it carries, or
/// aiohttp's `WSMessageTypeError`.
fn wrong_kind(msg: WSMessage, want: &str) -> ClientError {
    let kind = msg.kind;
    match msg.into_error() {
        Some(e) => e,
        None => ClientError::new(
            ErrorKind::WSMessageTypeError,
            format!("received a {kind:?} message, not {want}"),
        ),
    }
}

impl futures_util::Stream for WsReader {
    type Item = WSMessage;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<WSMessage>> {
        let this = &mut *self;
        if this.ended {
            return Poll::Ready(None);
        }
        let slot = this.pending.get_mut().unwrap_or_else(|e| e.into_inner());
        let pending = slot.get_or_insert_with(|| {
            let (state, shared) = (this.state.clone(), this.shared.clone());
            Box::pin(async move {
                let timeout = shared.config.receive_timeout;
                let mut st = state.lock_owned().await;
                st.receive(&shared, timeout).await
            })
        });
        let msg = std::task::ready!(pending.as_mut().poll(cx));
        *slot = None;
        if msg.ends_stream() {
            this.ended = true;
            return Poll::Ready(None);
        }
        if msg.kind == WSMsgType::Error && this.shared.state().closed {
            // The error is the last message.
            this.ended = true;
        }
        Poll::Ready(Some(msg))
    }
}

impl futures_util::Stream for ClientWebSocketResponse {
    type Item = WSMessage;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<WSMessage>> {
        Pin::new(&mut self.reader).poll_next(cx)
    }
}

fn opcode_of(kind: WSMsgType) -> Result<OpCode, ClientError> {
    Ok(match kind {
        WSMsgType::Continuation => OpCode::Data(Data::Continue),
        WSMsgType::Text => OpCode::Data(Data::Text),
        WSMsgType::Binary => OpCode::Data(Data::Binary),
        WSMsgType::Ping => OpCode::Control(Control::Ping),
        WSMsgType::Pong => OpCode::Control(Control::Pong),
        WSMsgType::Close => OpCode::Control(Control::Close),
        other => {
            return Err(ClientError::invalid_argument(format!(
                "{other:?} is not a WebSocket frame type"
            )))
        }
    })
}

fn control_payload(data: &[u8]) -> Result<(), ClientError> {
    if data.len() > 125 {
        return Err(ClientError::invalid_argument(
            "a control frame's payload is at most 125 bytes",
        ));
    }
    Ok(())
}

impl WsWriter {
    /// Sends a text message.
    ///
    /// # Errors
    /// The WebSocket is closing or closed, or the connection failed.
    ///
    /// ```no_run
    /// # async fn run(ws: aiohttp::ClientWebSocketResponse) -> Result<(), aiohttp::ClientError> {
    /// let (_rx, tx) = ws.split();
    /// tx.send_str("hi").await?;
    /// # Ok(()) }
    /// ```
    pub async fn send_str(&self, data: impl AsRef<str>) -> Result<(), ClientError> {
        self.shared
            .send(OpCode::Data(Data::Text), data.as_ref().as_bytes(), None)
            .await
    }

    /// Sends a binary message.
    ///
    /// # Errors
    /// The WebSocket is closing or closed, or the connection failed.
    ///
    /// ```no_run
    /// # async fn run(ws: aiohttp::ClientWebSocketResponse) -> Result<(), aiohttp::ClientError> {
    /// let (_rx, tx) = ws.split();
    /// tx.send_bytes(b"\x00\x01").await?;
    /// # Ok(()) }
    /// ```
    pub async fn send_bytes(&self, data: impl AsRef<[u8]>) -> Result<(), ClientError> {
        self.shared
            .send(OpCode::Data(Data::Binary), data.as_ref(), None)
            .await
    }

    /// Sends `value` as a JSON text message.
    ///
    /// # Errors
    /// `value` cannot be serialized, or sending failed.
    ///
    /// ```no_run
    /// # async fn run(ws: aiohttp::ClientWebSocketResponse) -> Result<(), aiohttp::ClientError> {
    /// let (_rx, tx) = ws.split();
    /// tx.send_json(&[1, 2, 3]).await?;
    /// # Ok(()) }
    /// ```
    pub async fn send_json<T: serde::Serialize + ?Sized>(
        &self,
        value: &T,
    ) -> Result<(), ClientError> {
        let text = serde_json::to_string(value).map_err(|e| {
            ClientError::invalid_argument("the value cannot be serialized as JSON").with_source(e)
        })?;
        self.send_str(text).await
    }

    /// Sends one frame of any kind (aiohttp 3.x `send_frame`).
    ///
    /// # Errors
    /// `kind` is not a frame type, a control payload is over 125 bytes, or sending failed.
    ///
    /// ```no_run
    /// # async fn run(ws: aiohttp::ClientWebSocketResponse) -> Result<(), aiohttp::ClientError> {
    /// let (_rx, tx) = ws.split();
    /// tx.send_frame(b"x", aiohttp::WSMsgType::Text, None).await?;
    /// # Ok(()) }
    /// ```
    pub async fn send_frame(
        &self,
        data: impl AsRef<[u8]>,
        kind: WSMsgType,
        compress: Option<bool>,
    ) -> Result<(), ClientError> {
        let op = opcode_of(kind)?;
        if matches!(op, OpCode::Control(_)) {
            control_payload(data.as_ref())?;
        }
        self.shared.send(op, data.as_ref(), compress).await
    }

    /// Sends a ping.
    ///
    /// # Errors
    /// Sending failed, or the payload is longer than 125 bytes.
    ///
    /// ```no_run
    /// # async fn run(ws: aiohttp::ClientWebSocketResponse) -> Result<(), aiohttp::ClientError> {
    /// let (_rx, tx) = ws.split();
    /// tx.ping(b"").await?;
    /// # Ok(()) }
    /// ```
    pub async fn ping(&self, data: impl AsRef<[u8]>) -> Result<(), ClientError> {
        control_payload(data.as_ref())?;
        self.shared
            .send(OpCode::Control(Control::Ping), data.as_ref(), Some(false))
            .await
    }

    /// Sends a pong.
    ///
    /// # Errors
    /// Sending failed, or the payload is longer than 125 bytes.
    ///
    /// ```no_run
    /// # async fn run(ws: aiohttp::ClientWebSocketResponse) -> Result<(), aiohttp::ClientError> {
    /// let (_rx, tx) = ws.split();
    /// tx.pong(b"").await?;
    /// # Ok(()) }
    /// ```
    pub async fn pong(&self, data: impl AsRef<[u8]>) -> Result<(), ClientError> {
        control_payload(data.as_ref())?;
        self.shared
            .send(OpCode::Control(Control::Pong), data.as_ref(), Some(false))
            .await
    }

    /// Sends the close frame. The reading half sees the server's answer (a
    /// [`Close`](WSMsgType::Close) message) and then closes the connection. Returns whether
    /// this call sent it.
    ///
    /// # Errors
    /// Sending failed.
    ///
    /// ```no_run
    /// # async fn run(ws: aiohttp::ClientWebSocketResponse) -> Result<(), aiohttp::ClientError> {
    /// let (_rx, tx) = ws.split();
    /// tx.close(1000, b"").await?;
    /// # Ok(()) }
    /// ```
    pub async fn close(&self, code: u16, message: impl AsRef<[u8]>) -> Result<bool, ClientError> {
        self.shared.send_close(code, message.as_ref()).await
    }

    /// Whether the WebSocket is closed.
    ///
    /// ```no_run
    /// # fn f(tx: &aiohttp::WsWriter) { let _ = tx.closed(); }
    /// ```
    pub fn closed(&self) -> bool {
        self.shared.state().closed
    }

    /// The close code: the peer's, or the one a failure closed with; `None` while open
    /// (as [`ClientWebSocketResponse::close_code`]).
    ///
    /// ```no_run
    /// # fn f(tx: &aiohttp::WsWriter) { let _ = tx.close_code(); }
    /// ```
    pub fn close_code(&self) -> Option<u16> {
        self.shared.state().close_code
    }

    /// The failure that closed the WebSocket, if one did (as
    /// [`ClientWebSocketResponse::exception`]).
    ///
    /// ```no_run
    /// # fn f(tx: &aiohttp::WsWriter) { let _ = tx.exception(); }
    /// ```
    pub fn exception(&self) -> Option<ClientError> {
        self.shared
            .state()
            .exception
            .as_ref()
            .map(ClientError::duplicate)
    }

    fn poll_sending(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ClientError>> {
        let slot = self.sending.get_mut().unwrap_or_else(|e| e.into_inner());
        match slot.as_mut() {
            None => Poll::Ready(Ok(())),
            Some(f) => {
                let r = std::task::ready!(f.as_mut().poll(cx));
                *slot = None;
                Poll::Ready(r)
            }
        }
    }

    fn set_sending(&mut self, f: BoxFuture<'static, Result<(), ClientError>>) {
        *self.sending.get_mut().unwrap_or_else(|e| e.into_inner()) = Some(f);
    }
}

impl futures_util::Sink<WSMessage> for WsWriter {
    type Error = ClientError;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), ClientError>> {
        self.poll_sending(cx)
    }

    fn start_send(mut self: Pin<&mut Self>, item: WSMessage) -> Result<(), ClientError> {
        let shared = self.shared.clone();
        let op = match item.kind {
            WSMsgType::Close => None,
            kind => Some(opcode_of(kind)?),
        };
        let code = item.close_code().unwrap_or(code::NORMAL);
        self.set_sending(Box::pin(async move {
            match op {
                Some(op) => shared.send(op, &item.data, None).await,
                None => shared
                    .send_close(code, item.extra.as_deref().unwrap_or("").as_bytes())
                    .await
                    .map(|_| ()),
            }
        }));
        Ok(())
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), ClientError>> {
        self.poll_sending(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), ClientError>> {
        std::task::ready!(self.poll_sending(cx))?;
        let shared = self.shared.clone();
        if shared.state().close_sent || shared.state().closed {
            return Poll::Ready(Ok(()));
        }
        self.set_sending(Box::pin(async move {
            shared.send_close(code::NORMAL, b"").await.map(|_| ())
        }));
        self.poll_sending(cx)
    }
}
