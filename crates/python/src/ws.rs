//! `WebSocket`: a client WebSocket of the crate, split so that one task can send while
//! another waits in `receive()`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use aiohttp::{ClientWebSocketResponse, WSMessage, WSMsgType, WsReader, WsWriter};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};
use tokio::sync::{watch, Mutex, Notify};

use crate::error::{to_py, IntoPy};
use crate::runtime::{spawn, Task};

/// Messages the background reader took while no `receive()` was waiting, oldest first.
type Pending = Arc<std::sync::Mutex<VecDeque<WSMessage>>>;

/// The most messages the background reader keeps before it stops reading until a
/// `receive()` takes some.
const PENDING_MAX: usize = 64;

fn pop(pending: &Pending) -> Option<WSMessage> {
    pending.lock().ok().and_then(|mut q| q.pop_front())
}

/// Whether no message follows this one.
fn ends(kind: WSMsgType) -> bool {
    matches!(
        kind,
        WSMsgType::Close | WSMsgType::Closed | WSMsgType::Error
    )
}

/// With a heartbeat, reads while no `receive()` is waiting, as aiohttp's reader does: the
/// crate's heartbeat (and its answers to pings) runs only while a read is in progress, so a
/// client that only sends, or sleeps, still pings and is closed with 1006 when no pong
/// comes. A `receive()` takes the reader over through `want`; what was read meanwhile waits
/// in `pending` for it. Stops at the last message, or when `close()` starts.
async fn read_in_background(
    reader: Arc<Mutex<WsReader>>,
    pending: Pending,
    want: Arc<Notify>,
    mut closing: watch::Receiver<bool>,
) {
    loop {
        if *closing.borrow_and_update() {
            return;
        }
        let full = pending.lock().map_or(true, |q| q.len() >= PENDING_MAX);
        if full {
            tokio::select! {
                () = want.notified() => continue,
                _ = closing.changed() => return,
            }
        }
        let mut r = reader.lock().await;
        tokio::select! {
            biased;
            // A receive() waits for the reader (it stands in line for the lock, which is
            // fair, so it comes next).
            _ = want.notified() => {}
            _ = closing.changed() => return,
            // Reads are cancel-safe: a message half-read stays for the next read.
            msg = r.receive() => {
                let last = ends(msg.kind);
                if let Ok(mut q) = pending.lock() {
                    q.push_back(msg);
                }
                if last {
                    return;
                }
            }
        }
    }
}

/// A message as the Python half builds aiohttp's `WSMessage` from it: `(type, data,
/// extra)`, with `data` the text, the bytes, the close code or the error (a `CoreError`).
type MessageTuple = (u16, Py<PyAny>, Option<String>);

fn message_tuple(py: Python<'_>, msg: WSMessage) -> MessageTuple {
    let kind = msg.kind as u16;
    match msg.kind {
        WSMsgType::Text => {
            let text = String::from_utf8_lossy(&msg.data);
            (kind, PyString::new(py, &text).into_any().unbind(), None)
        }
        WSMsgType::Close => {
            let code = msg.close_code().unwrap_or(0);
            let extra = msg.extra.clone();
            let code = code.into_pyobject(py).map(|c| c.into_any().unbind());
            (kind, code.unwrap_or_else(|_| py.None()), extra)
        }
        WSMsgType::Error => match msg.into_error() {
            Some(e) => (kind, to_py(e).into_value(py).into_any(), None),
            None => (kind, py.None(), None),
        },
        WSMsgType::Closed | WSMsgType::Closing => (kind, py.None(), None),
        _ => (kind, PyBytes::new(py, &msg.data).into_any().unbind(), None),
    }
}

/// A client WebSocket.
#[pyclass(frozen, module = "aiohttp_rs._core")]
pub struct WebSocket {
    reader: Arc<Mutex<WsReader>>,
    writer: Arc<WsWriter>,
    /// Set when `close()` starts; a `receive()` waiting then answers `CLOSING`, and later
    /// ones `CLOSED` (aiohttp's order).
    closing: watch::Sender<bool>,
    /// The subprotocol the server chose.
    #[pyo3(get)]
    protocol: Option<String>,
    /// The window bits of permessage-deflate (0: not in use).
    #[pyo3(get)]
    compress: u8,
    peername: Option<String>,
    sockname: Option<String>,
    close_timeout: Option<Duration>,
    pending: Pending,
    want: Arc<Notify>,
    /// The background reader (with a heartbeat only); stopped when the WebSocket is dropped.
    _background: Option<Task<()>>,
}

impl std::fmt::Debug for WebSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocket")
            .field("protocol", &self.protocol)
            .field("closed", &self.writer.closed())
            .finish_non_exhaustive()
    }
}

impl WebSocket {
    /// `heartbeat`: the WebSocket pings, so it is read in the background too.
    pub(crate) fn new(
        ws: ClientWebSocketResponse,
        close_timeout: Option<Duration>,
        heartbeat: bool,
    ) -> Self {
        let protocol = ws.protocol().map(str::to_owned);
        let compress = ws.compress();
        let peername = ws.get_extra_info("peername");
        let sockname = ws.get_extra_info("sockname");
        let (reader, writer) = ws.split();
        let reader = Arc::new(Mutex::new(reader));
        let closing = watch::Sender::new(false);
        let pending = Pending::default();
        let want = Arc::new(Notify::new());
        let background = heartbeat.then(|| {
            spawn(read_in_background(
                reader.clone(),
                pending.clone(),
                want.clone(),
                closing.subscribe(),
            ))
        });
        WebSocket {
            reader,
            writer: Arc::new(writer),
            closing,
            protocol,
            compress,
            peername,
            sockname,
            close_timeout,
            pending,
            want,
            _background: background,
        }
    }
}

#[pymethods]
impl WebSocket {
    /// The next message, within `timeout` seconds if given (else the connect's
    /// `receive_timeout`).
    #[pyo3(signature = (timeout=None))]
    async fn receive(&self, timeout: Option<f64>) -> PyResult<MessageTuple> {
        let reader = self.reader.clone();
        // Whether close() came before this receive is decided here, on the Python thread,
        // in the order the calls were made; a close() after it interrupts it.
        let mut closing = self.closing.subscribe();
        let closed_before = *closing.borrow_and_update();
        let limit = timeout.filter(|t| t.is_finite() && *t >= 0.0);
        let pending = self.pending.clone();
        let want = self.want.clone();
        let background = self._background.is_some();
        let msg = spawn(async move {
            if closed_before {
                return Err(WSMsgType::Closed);
            }
            let read = async {
                if background {
                    want.notify_one();
                }
                let mut r = reader.lock().await;
                if let Some(msg) = pop(&pending) {
                    return msg;
                }
                match limit {
                    Some(t) => r.receive_timeout(Duration::from_secs_f64(t)).await,
                    None => r.receive().await,
                }
            };
            // Reads are cancel-safe: a message half-read stays for the next receive.
            tokio::select! {
                msg = read => Ok(msg),
                _ = closing.changed() => Err(WSMsgType::Closing),
            }
        })
        .await?;
        Ok(Python::attach(|py| match msg {
            Ok(msg) => message_tuple(py, msg),
            Err(kind) => (kind as u16, py.None(), None),
        }))
    }

    /// Sends a text message.
    async fn send_str(&self, data: String) -> PyResult<()> {
        let w = self.writer.clone();
        spawn(async move { w.send_str(data).await }).await?.py_err()
    }

    /// Sends a binary message.
    async fn send_bytes(&self, data: Vec<u8>) -> PyResult<()> {
        let w = self.writer.clone();
        spawn(async move { w.send_bytes(data).await })
            .await?
            .py_err()
    }

    /// Sends a ping.
    async fn ping(&self, data: Vec<u8>) -> PyResult<()> {
        let w = self.writer.clone();
        spawn(async move { w.ping(data).await }).await?.py_err()
    }

    /// Sends a pong.
    async fn pong(&self, data: Vec<u8>) -> PyResult<()> {
        let w = self.writer.clone();
        spawn(async move { w.pong(data).await }).await?.py_err()
    }

    /// Sends a close frame and waits (up to the close timeout) for the server's. Answers
    /// whether this call closed the WebSocket (false if it was closed already) and whether
    /// the wait timed out.
    async fn close(&self, code: u16, message: Vec<u8>) -> PyResult<(bool, bool)> {
        let w = self.writer.clone();
        let reader = self.reader.clone();
        let pending = self.pending.clone();
        let wait = self.close_timeout;
        let first = !self.closing.send_replace(true);
        spawn(async move {
            if w.closed() || !first {
                return Ok((false, false));
            }
            let sent = w.close(code, message).await;
            // The server's close frame (or the end of the connection) ends the WebSocket;
            // messages before it are dropped, as aiohttp's close() does.
            let drain = async {
                let mut r = reader.lock().await;
                // What the background reader took counts too.
                while let Some(msg) = pop(&pending) {
                    if ends(msg.kind) {
                        return;
                    }
                }
                loop {
                    if ends(r.receive().await.kind) {
                        break;
                    }
                }
            };
            let timed_out = match wait {
                Some(t) => tokio::time::timeout(t, drain).await.is_err(),
                None => {
                    drain.await;
                    false
                }
            };
            sent.map(|_| (true, timed_out))
        })
        .await?
        .py_err()
    }

    /// Whether the WebSocket is closed, or closing since `close()` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.writer.closed() || *self.closing.borrow()
    }

    /// The close code (`None` while open).
    #[getter]
    fn close_code(&self) -> Option<u16> {
        self.writer.close_code()
    }

    /// The failure that closed the WebSocket, as a `CoreError`, if one did.
    fn exception(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.writer
            .exception()
            .map(|e| to_py(e).into_value(py).into_any())
    }

    /// `"peername"` or `"sockname"` as `host:port` text.
    fn extra_info(&self, name: &str) -> Option<String> {
        match name {
            "peername" => self.peername.clone(),
            "sockname" => self.sockname.clone(),
            _ => None,
        }
    }
}
