//! `Response`: a response head, taken once, and the body behind a lock for the reads.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use aiohttp::ClientResponse;
use bytes::Bytes;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use tokio::sync::{Mutex, Notify};

use crate::error::IntoPy;
use crate::runtime::spawn;

fn bytes_out(b: Bytes) -> Py<PyBytes> {
    Python::attach(|py| PyBytes::new(py, &b).unbind())
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A response: its head as plain values, its body read through the crate.
#[pyclass(frozen, module = "aiohttp_rs._core")]
#[derive(Debug)]
pub struct Response {
    /// The status code.
    #[pyo3(get)]
    status: u16,
    /// The reason phrase.
    #[pyo3(get)]
    reason: String,
    /// `(major, minor)`.
    #[pyo3(get)]
    version: (u8, u8),
    method: http::Method,
    /// The final URL (credentials removed).
    #[pyo3(get)]
    url: String,
    /// The request: its URL before redirects and its headers, turned into Python values
    /// when asked for (most responses never are).
    info: aiohttp::RequestInfo,
    /// The media type, lower case (`application/octet-stream` without a header).
    #[pyo3(get)]
    content_type: String,
    /// The `charset` parameter.
    #[pyo3(get)]
    charset: Option<String>,
    raw_headers: Vec<(Bytes, Bytes)>,
    history: Vec<Py<Response>>,
    ready: Option<Py<PyBytes>>,
    body: Option<Arc<Body>>,
    /// The request's bytes written, when the head arrived (HTTP/1).
    output_at_head: Option<u64>,
    upload_at_head: bool,
}

/// The response's body, and whether `close()` was called: a read waiting then ends at once
/// (the connection closes under it, as in aiohttp) instead of holding the body.
#[derive(Debug)]
struct Body {
    response: Mutex<ClientResponse>,
    closed: AtomicBool,
    close_now: Notify,
}

fn closed_error() -> aiohttp::ClientError {
    aiohttp::ClientError::new(
        aiohttp::ErrorKind::ClientConnectionError,
        "Connection closed",
    )
}

impl Response {
    pub(crate) fn head(r: &ClientResponse) -> Self {
        let v = r.version();
        let version = if v == http::Version::HTTP_10 {
            (1, 0)
        } else if v == http::Version::HTTP_2 {
            (2, 0)
        } else {
            (1, 1)
        };
        let info = r.request_info();
        Response {
            status: r.status().as_u16(),
            reason: r.reason().to_owned(),
            version,
            method: r.method().clone(),
            url: r.url().as_str().to_owned(),
            content_type: r.content_type().to_owned(),
            charset: r.charset().map(str::to_owned),
            raw_headers: r.raw_headers().to_vec(),
            info: info.clone(),
            history: Vec::new(),
            ready: None,
            output_at_head: r.output_size(),
            upload_at_head: r.upload_complete(),
            body: None,
        }
    }

    /// The response; `body` if it was read with the head.
    pub(crate) fn new(r: ClientResponse, body: Option<Bytes>) -> Self {
        let mut head = Self::head(&r);
        Python::attach(|py| {
            if !r.history().is_empty() {
                head.history = r
                    .history()
                    .iter()
                    .filter_map(|h| Py::new(py, Self::head(h)).ok())
                    .collect();
            }
            head.ready = body.map(|b| PyBytes::new(py, &b).unbind());
        });
        head.body = Some(Arc::new(Body {
            response: Mutex::new(r),
            closed: AtomicBool::new(false),
            close_now: Notify::new(),
        }));
        head
    }

    /// A response of a redirect history (its head only).
    pub(crate) fn of_history(py: Python<'_>, r: &ClientResponse) -> Option<Py<Response>> {
        Py::new(py, Self::head(r)).ok()
    }

    /// Runs `f` on the response unless a read holds it.
    fn peek<T>(&self, f: impl FnOnce(&ClientResponse) -> T) -> Option<T> {
        let body = self.body.as_ref()?;
        let r = body.response.try_lock().ok()?;
        Some(f(&r))
    }

    /// Runs `f` on the body on the runtime; a response of the history has none.
    async fn with_body<T, F>(&self, f: F) -> PyResult<T>
    where
        T: Send + 'static,
        F: for<'a> FnOnce(
                &'a mut ClientResponse,
            ) -> std::pin::Pin<
                Box<dyn std::future::Future<Output = Result<T, aiohttp::ClientError>> + Send + 'a>,
            > + Send
            + 'static,
    {
        let Some(body) = self.body.clone() else {
            return Err(pyo3::exceptions::PyRuntimeError::new_err(
                "a response of the redirect history has no body",
            ));
        };
        spawn(async move {
            let mut r = body.response.lock().await;
            // Made before the flag is read: a close() after that wakes it.
            let close_now = body.close_now.notified();
            if body.closed.load(Ordering::Acquire) {
                r.close();
                return Err(closed_error());
            }
            let done = tokio::select! {
                res = f(&mut r) => Some(res),
                () = close_now => None,
            };
            match done {
                Some(res) => res,
                None => {
                    r.close();
                    Err(closed_error())
                }
            }
        })
        .await?
        .py_err()
    }
}

#[pymethods]
impl Response {
    /// The headers as received: `(name, value)` pairs, decoded as UTF-8 (lossy).
    #[getter]
    fn headers(&self) -> Vec<(String, String)> {
        self.raw_headers
            .iter()
            .map(|(k, v)| (text(k), text(v)))
            .collect()
    }

    /// The headers as received, as bytes.
    #[getter]
    fn raw_headers<'py>(&self, py: Python<'py>) -> Vec<(Bound<'py, PyBytes>, Bound<'py, PyBytes>)> {
        self.raw_headers
            .iter()
            .map(|(k, v)| (PyBytes::new(py, k), PyBytes::new(py, v)))
            .collect()
    }

    /// The headers the request was sent with.
    #[getter]
    fn request_headers(&self) -> Vec<(String, String)> {
        self.info
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), text(v.as_bytes())))
            .collect()
    }

    /// The request's method.
    #[getter]
    fn method(&self) -> &str {
        self.method.as_str()
    }

    /// The URL as requested, before redirects.
    #[getter]
    fn real_url(&self) -> String {
        self.info.real_url().to_string()
    }

    /// The body if it was read with the head, else `None` (then `read()` reads it).
    #[getter]
    fn ready_body(&self, py: Python<'_>) -> Option<Py<PyBytes>> {
        self.ready.as_ref().map(|b| b.clone_ref(py))
    }

    /// The redirect responses before this one, oldest first.
    #[getter]
    fn history(&self, py: Python<'_>) -> Vec<Py<Response>> {
        self.history.iter().map(|h| h.clone_ref(py)).collect()
    }

    /// The whole body, decompressed.
    async fn read(&self) -> PyResult<Py<PyBytes>> {
        let b = self.with_body(|r| Box::pin(r.read())).await?;
        Ok(bytes_out(b))
    }

    /// The body as text: `encoding` if given, else the crate's choice.
    #[pyo3(signature = (encoding=None))]
    async fn text(&self, encoding: Option<String>) -> PyResult<String> {
        match encoding {
            Some(e) => {
                self.with_body(move |r| Box::pin(async move { r.text_with_encoding(&e).await }))
                    .await
            }
            None => self.with_body(|r| Box::pin(r.text())).await,
        }
    }

    /// The encoding `text()` would use.
    async fn get_encoding(&self) -> PyResult<String> {
        self.with_body(|r| Box::pin(r.get_encoding())).await
    }

    /// Done with the body: pooled if read to the end, else closed.
    async fn release(&self) -> PyResult<()> {
        self.with_body(|r| {
            Box::pin(async move {
                r.release().await;
                Ok(())
            })
        })
        .await
    }

    /// Closes the connection unless the body was read to the end. A read in progress ends
    /// with "Connection closed" and closes it; so does any later read.
    fn close(&self) {
        if let Some(body) = &self.body {
            body.closed.store(true, Ordering::Release);
            body.close_now.notify_waiters();
            if let Ok(mut r) = body.response.try_lock() {
                r.close();
            }
        }
    }

    /// `content.read(n)`: up to `n` bytes, or everything with `n < 0`.
    #[pyo3(signature = (n=-1))]
    async fn content_read(&self, n: isize) -> PyResult<Py<PyBytes>> {
        let b = self
            .with_body(move |r| {
                Box::pin(async move {
                    if n < 0 {
                        r.content().read_to_end().await
                    } else {
                        r.content().read(n.unsigned_abs()).await
                    }
                })
            })
            .await?;
        Ok(bytes_out(b))
    }

    /// `content.readany()`.
    async fn content_readany(&self) -> PyResult<Py<PyBytes>> {
        let b = self
            .with_body(|r| Box::pin(async move { r.content().readany().await }))
            .await?;
        Ok(bytes_out(b))
    }

    /// `content.readline()`.
    async fn content_readline(&self) -> PyResult<Py<PyBytes>> {
        let b = self
            .with_body(|r| Box::pin(async move { r.content().readline().await }))
            .await?;
        Ok(bytes_out(b))
    }

    /// `content.readuntil(separator)`.
    async fn content_readuntil(&self, separator: Vec<u8>) -> PyResult<Py<PyBytes>> {
        let b = self
            .with_body(move |r| Box::pin(async move { r.content().readuntil(&separator).await }))
            .await?;
        Ok(bytes_out(b))
    }

    /// `content.readexactly(n)`.
    async fn content_readexactly(&self, n: usize) -> PyResult<Py<PyBytes>> {
        let b = self
            .with_body(move |r| Box::pin(async move { r.content().readexactly(n).await }))
            .await?;
        Ok(bytes_out(b))
    }

    /// `content.readchunk()`: `(data, end_of_http_chunk)`.
    async fn content_readchunk(&self) -> PyResult<(Py<PyBytes>, bool)> {
        let (b, end) = self
            .with_body(|r| Box::pin(async move { r.content().readchunk().await }))
            .await?;
        Ok((bytes_out(b), end))
    }

    /// The bytes written for the request so far (`None` over HTTP/2); while a read holds the
    /// body, the count when the head arrived.
    #[getter]
    fn output_size(&self) -> Option<u64> {
        self.peek(ClientResponse::output_size)
            .unwrap_or(self.output_at_head)
    }

    /// Whether the request body was sent whole; while a read holds the body, as it was when
    /// the head arrived.
    #[getter]
    fn upload_complete(&self) -> bool {
        self.peek(ClientResponse::upload_complete)
            .unwrap_or(self.upload_at_head)
    }

    /// The body bytes received before decoding (0 while a read holds the body and for a
    /// response of the history).
    #[getter]
    fn total_raw_bytes(&self) -> u64 {
        self.peek(ClientResponse::total_raw_bytes).unwrap_or(0)
    }

    /// Whether the response still holds its connection (true while a read holds the body).
    #[getter]
    fn connection_open(&self) -> bool {
        if self.body.is_none() {
            return false;
        }
        self.peek(|r| r.connection().is_some()).unwrap_or(true)
    }

    /// `content.at_eof()`; true while a read holds the body.
    fn content_at_eof(&self) -> bool {
        match &self.body {
            Some(body) => match body.response.try_lock() {
                Ok(mut r) => r.content().at_eof(),
                Err(_) => false,
            },
            None => true,
        }
    }
}
