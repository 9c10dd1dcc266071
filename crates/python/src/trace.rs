//! `trace_configs=`: the crate's trace points of a request, sent as they happen to the
//! coroutine that made it, which runs the Python signals (aiohttp's `TraceConfig`).
//!
//! A session with trace configs gets one crate [`TraceConfig`] ([`Forward`]); each traced
//! request carries, as its `trace_request_ctx`, the sending half of a channel whose
//! receiving half ([`TraceEvents`]) the Python half reads until the request's task ends.
//! The points Python can see itself (start, end, exception, the body read) are sent from
//! Python; the rest (connection, DNS, headers sent, body chunks sent, redirects) come from
//! here, in the order the crate reaches them.

use std::sync::Mutex;

use aiohttp::{ClientResponse, TraceConfig, TraceRequest};
use bytes::Bytes;
use http::HeaderMap;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use crate::response::Response;

/// One trace point of a request.
#[pyclass(frozen, module = "aiohttp_rs._core")]
#[derive(Debug)]
pub struct TraceEvent {
    /// The signal's name without `on_` (`connection_create_start`, `dns_cache_hit`, ...).
    #[pyo3(get)]
    name: &'static str,
    /// The method of the hop.
    #[pyo3(get)]
    method: String,
    /// The URL of the hop.
    #[pyo3(get)]
    url: String,
    /// The host name of a DNS point.
    #[pyo3(get)]
    host: Option<String>,
    /// The headers of `request_headers_sent`, or of the request a redirect answered.
    #[pyo3(get)]
    headers: Option<Vec<(String, String)>>,
    chunk: Option<Bytes>,
    response: Mutex<Option<Box<Response>>>,
}

#[pymethods]
impl TraceEvent {
    /// The bytes of `request_chunk_sent`.
    #[getter]
    fn chunk<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        self.chunk.as_ref().map(|c| PyBytes::new(py, c))
    }

    /// The redirect response of `request_redirect` (its head), once.
    fn take_response(&self) -> Option<Response> {
        self.response
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .map(|r| *r)
    }
}

impl TraceEvent {
    fn new(name: &'static str, req: &TraceRequest<'_>) -> Self {
        TraceEvent {
            name,
            method: req.method().as_str().to_owned(),
            url: req.url().to_string(),
            host: None,
            headers: None,
            chunk: None,
            response: Mutex::new(None),
        }
    }
}

fn pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

/// What the channel carries: a point, or the end of the request's task.
pub(crate) enum Message {
    Event(TraceEvent),
    Done,
}

/// The sending half, as a request's `trace_request_ctx`.
#[derive(Clone, Debug)]
pub(crate) struct Sender(UnboundedSender<Message>);

/// Sends `Done` when dropped: with the request's task, however it ends (completed,
/// failed, aborted by a cancelled coroutine, or panicked), so the reader never waits on a
/// task that is gone.
#[derive(Debug)]
pub(crate) struct DoneOnDrop(pub(crate) Sender);

impl Drop for DoneOnDrop {
    fn drop(&mut self) {
        let _ = self.0 .0.send(Message::Done);
    }
}

/// The receiving half, read by the Python half while its request runs.
#[pyclass(frozen, module = "aiohttp_rs._core")]
#[derive(Debug)]
pub struct TraceEvents {
    sender: Sender,
    receiver: tokio::sync::Mutex<UnboundedReceiver<Message>>,
}

#[pymethods]
impl TraceEvents {
    #[new]
    fn new() -> Self {
        let (tx, rx) = unbounded_channel();
        TraceEvents {
            sender: Sender(tx),
            receiver: tokio::sync::Mutex::new(rx),
        }
    }

    /// The next point, or `None` once the request's task has ended (every point it reached
    /// was read before).
    async fn next(slf: Py<Self>) -> Option<TraceEvent> {
        let this = slf.get();
        match this.receiver.lock().await.recv().await {
            Some(Message::Event(e)) => Some(e),
            Some(Message::Done) | None => None,
        }
    }
}

impl TraceEvents {
    pub(crate) fn sender(&self) -> Sender {
        self.sender.clone()
    }
}

/// The session's one crate trace config: it forwards each point to the request's channel
/// (a request without one, such as a WebSocket handshake, is not traced).
pub(crate) struct Forward;

impl Forward {
    fn send(req: &TraceRequest<'_>, make: impl FnOnce() -> TraceEvent) {
        if let Some(Sender(tx)) = req.request_ctx().and_then(|c| c.downcast_ref::<Sender>()) {
            let _ = tx.send(Message::Event(make()));
        }
    }

    fn point(req: &TraceRequest<'_>, name: &'static str) {
        Self::send(req, || TraceEvent::new(name, req));
    }

    fn dns(req: &TraceRequest<'_>, name: &'static str, host: &str) {
        Self::send(req, || TraceEvent {
            host: Some(host.to_owned()),
            ..TraceEvent::new(name, req)
        });
    }
}

impl TraceConfig for Forward {
    fn on_request_headers_sent(&self, req: &TraceRequest<'_>, headers: &HeaderMap) {
        Self::send(req, || TraceEvent {
            headers: Some(pairs(headers)),
            ..TraceEvent::new("request_headers_sent", req)
        });
    }
    fn on_request_chunk_sent(&self, req: &TraceRequest<'_>, chunk: &[u8]) {
        Self::send(req, || TraceEvent {
            chunk: Some(Bytes::copy_from_slice(chunk)),
            ..TraceEvent::new("request_chunk_sent", req)
        });
    }
    fn on_request_redirect(&self, req: &TraceRequest<'_>, resp: &ClientResponse) {
        Self::send(req, || TraceEvent {
            headers: Some(pairs(resp.request_info().headers())),
            response: Mutex::new(Some(Box::new(Response::head(resp)))),
            ..TraceEvent::new("request_redirect", req)
        });
    }
    fn on_connection_queued_start(&self, req: &TraceRequest<'_>) {
        Self::point(req, "connection_queued_start");
    }
    fn on_connection_queued_end(&self, req: &TraceRequest<'_>) {
        Self::point(req, "connection_queued_end");
    }
    fn on_connection_create_start(&self, req: &TraceRequest<'_>) {
        Self::point(req, "connection_create_start");
    }
    fn on_connection_create_end(&self, req: &TraceRequest<'_>) {
        Self::point(req, "connection_create_end");
    }
    fn on_connection_reuseconn(&self, req: &TraceRequest<'_>) {
        Self::point(req, "connection_reuseconn");
    }
    fn on_dns_resolvehost_start(&self, req: &TraceRequest<'_>, host: &str) {
        Self::dns(req, "dns_resolvehost_start", host);
    }
    fn on_dns_resolvehost_end(&self, req: &TraceRequest<'_>, host: &str) {
        Self::dns(req, "dns_resolvehost_end", host);
    }
    fn on_dns_cache_hit(&self, req: &TraceRequest<'_>, host: &str) {
        Self::dns(req, "dns_cache_hit", host);
    }
    fn on_dns_cache_miss(&self, req: &TraceRequest<'_>, host: &str) {
        Self::dns(req, "dns_cache_miss", host);
    }
}
