//! `Session` and `Connector`: the crate's session and connectors behind Python's
//! `ClientSession`, `TCPConnector` and `UnixConnector`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use aiohttp::{BasicAuth, ClientTimeout, Family, PoolConfig, Ssl, TcpConnector, UnixConnector};
use bytes::Bytes;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;

use crate::cookies::Jar;
use crate::error::IntoPy;
use crate::response::Response;
use crate::runtime::spawn;
use crate::tls::TlsConfig;
use crate::ws::WebSocket;

/// `(login, password, encoding)` as the Python half passes a `BasicAuth`.
type AuthTuple = (String, String, String);
/// `(total, connect, sock_read, sock_connect)` in seconds, `None` for no limit.
type TimeoutTuple = (Option<f64>, Option<f64>, Option<f64>, Option<f64>);
/// Header or parameter pairs.
type Pairs = Vec<(String, String)>;

/// Header pairs as a header map (`proxy_headers=`); a bad name or value is a `ValueError`.
fn header_map(pairs: Pairs) -> PyResult<http::HeaderMap> {
    let mut map = http::HeaderMap::with_capacity(pairs.len());
    for (name, value) in pairs {
        let n = http::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| PyValueError::new_err(format!("invalid header name {name:?}")))?;
        let v = http::HeaderValue::from_str(&value)
            .map_err(|_| PyValueError::new_err(format!("invalid value for header {name:?}")))?;
        map.append(n, v);
    }
    Ok(map)
}

fn basic_auth((login, password, encoding): AuthTuple) -> PyResult<BasicAuth> {
    BasicAuth::new_with_encoding(login, password, &encoding).py_err()
}

fn seconds(value: Option<f64>, what: &str) -> PyResult<Option<Duration>> {
    match value {
        None => Ok(None),
        Some(s) if s.is_finite() && s >= 0.0 => Ok(Some(Duration::from_secs_f64(s))),
        Some(s) => Err(PyValueError::new_err(format!(
            "{what}: {s} is not a duration"
        ))),
    }
}

fn timeout((total, connect, sock_read, sock_connect): TimeoutTuple) -> PyResult<ClientTimeout> {
    Ok(ClientTimeout {
        total: seconds(total, "total")?,
        connect: seconds(connect, "connect")?,
        sock_read: seconds(sock_read, "sock_read")?,
        sock_connect: seconds(sock_connect, "sock_connect")?,
    })
}

fn version(v: (u8, u8)) -> PyResult<http::Version> {
    match v {
        (1, 0) => Ok(http::Version::HTTP_10),
        (1, 1) => Ok(http::Version::HTTP_11),
        (2, _) => Ok(http::Version::HTTP_2),
        (a, b) => Err(PyValueError::new_err(format!(
            "unsupported HTTP version {a}.{b}"
        ))),
    }
}

/// `ssl=` as the Python half passes it: `True` (verify), `False` (don't), the SHA-256
/// digest of a `Fingerprint`, or the configuration made from an `SSLContext`.
#[derive(FromPyObject)]
pub(crate) enum SslArg {
    Verify(bool),
    Fingerprint(Vec<u8>),
    Config(Py<TlsConfig>),
}

impl SslArg {
    fn into_ssl(self) -> Ssl {
        match self {
            SslArg::Verify(true) => Ssl::Verified,
            SslArg::Verify(false) => Ssl::Unverified,
            SslArg::Fingerprint(digest) => Ssl::Fingerprint(digest),
            SslArg::Config(c) => Ssl::Config(c.get().config.clone()),
        }
    }
}

/// Bodies up to this size, sent with a `Content-Length` and no `Content-Encoding`, and the
/// empty bodies of HEAD, 204 and 304 responses, are read with the head, in the same task: the connection goes back to the pool at once and
/// `read()` answers without another round trip through the runtime. (aiohttp reads ahead
/// too: its protocol buffers what arrives up to twice `read_bufsize`.)
const PREFETCH_MAX: u64 = 64 * 1024;

/// Sends the request, and reads the body with the head when [`prefetch`] says so.
async fn send_and_prefetch(
    b: aiohttp::RequestBuilder,
) -> Result<(aiohttp::ClientResponse, Option<Bytes>), aiohttp::ClientError> {
    let mut r = b.send().await?;
    let body = if prefetch(&r) {
        r.read().await.ok()
    } else {
        None
    };
    if let Some(b) = &body {
        // Streaming reads see the body too.
        r.content().unread_data(b.clone());
    }
    Ok((r, body))
}

/// A request's body from Python: copied once, or sent as a one-shot stream (`once`).
fn body_of(b: aiohttp::RequestBuilder, data: PyBackedBytes, once: bool) -> aiohttp::RequestBuilder {
    let data = Bytes::from_owner(data);
    if once {
        // A body that can be sent once (aiohttp's async iterables): a redirect that
        // needs it again is an error rather than a second copy.
        let once = futures_util::stream::once(std::future::ready(Ok::<_, std::io::Error>(data)));
        b.data(aiohttp::Body::wrap_stream(once))
    } else {
        b.data(data)
    }
}

/// The arguments every request has, `Session.start`'s and `Session.request`'s: query
/// parameters, headers, a body or form fields, and the body's `Content-Type`.
fn with_common(
    mut b: aiohttp::RequestBuilder,
    params: Option<Pairs>,
    headers: Option<Pairs>,
    body: Option<PyBackedBytes>,
    form: Option<Pairs>,
    content_type: Option<String>,
    once: bool,
) -> aiohttp::RequestBuilder {
    if let Some(p) = params {
        b = b.params(p);
    }
    if let Some(h) = headers {
        for (name, value) in h {
            b = b.header(name, value);
        }
    }
    if let Some(data) = body {
        b = body_of(b, data, once);
    }
    if let Some(fields) = form {
        b = b.data(aiohttp::Body::form(&fields));
    }
    if let Some(ct) = content_type {
        b = b.header("Content-Type", ct);
    }
    b
}

fn prefetch(r: &aiohttp::ClientResponse) -> bool {
    let status = r.status();
    // These have no body whatever their headers say: reading it ends at once.
    if r.method() == http::Method::HEAD
        || status == http::StatusCode::NO_CONTENT
        || status == http::StatusCode::NOT_MODIFIED
    {
        return true;
    }
    let h = r.headers();
    !h.contains_key(http::header::CONTENT_ENCODING)
        && h.get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|n| n <= PREFETCH_MAX)
}

/// A connector: TCP (with TLS) or a UNIX socket, with its pool.
#[pyclass(frozen, module = "aiohttp_rs._core")]
pub struct Connector {
    inner: Arc<dyn aiohttp::Connector>,
    /// The same connector as a TCP one, for its DNS cache.
    tcp: Option<Arc<TcpConnector>>,
}

#[pymethods]
impl Connector {
    /// A TCP connector (`TCPConnector`'s keywords).
    #[staticmethod]
    #[pyo3(signature = (*, limit=100, limit_per_host=0, keepalive_timeout=Some(15.0),
        force_close=false, ssl=None, use_dns_cache=true, ttl_dns_cache=Some(10.0),
        family=0, local_addr=None, happy_eyeballs_delay=Some(0.25), interleave=None,
        enable_cleanup_closed=false, resolver=None))]
    #[allow(clippy::too_many_arguments)]
    fn tcp(
        limit: usize,
        limit_per_host: usize,
        keepalive_timeout: Option<f64>,
        force_close: bool,
        ssl: Option<SslArg>,
        use_dns_cache: bool,
        ttl_dns_cache: Option<f64>,
        family: i32,
        local_addr: Option<(String, u16)>,
        happy_eyeballs_delay: Option<f64>,
        interleave: Option<usize>,
        enable_cleanup_closed: bool,
        resolver: Option<(Py<PyAny>, Py<PyAny>)>,
    ) -> PyResult<Self> {
        let mut b = TcpConnector::builder()
            .limit(limit)
            .limit_per_host(limit_per_host)
            .force_close(force_close)
            .use_dns_cache(use_dns_cache)
            .ttl_dns_cache(seconds(ttl_dns_cache, "ttl_dns_cache")?)
            .happy_eyeballs_delay(seconds(happy_eyeballs_delay, "happy_eyeballs_delay")?)
            .enable_cleanup_closed(enable_cleanup_closed);
        if !force_close {
            b = b.keepalive_timeout(seconds(keepalive_timeout, "keepalive_timeout")?);
        }
        b = b.family(match family {
            0 => Family::Any,
            2 => Family::Ipv4,
            10 => Family::Ipv6,
            f => return Err(PyValueError::new_err(format!("unsupported family {f}"))),
        });
        if let Some(ssl) = ssl {
            b = b.ssl(ssl.into_ssl());
        }
        if let Some((host, port)) = local_addr {
            let ip = host
                .parse()
                .map_err(|_| PyValueError::new_err(format!("local_addr: {host} is not an IP")))?;
            b = b.local_addr(SocketAddr::new(ip, port));
        }
        if let Some(n) = interleave {
            b = b.interleave(n);
        }
        if let Some((resolver, event_loop)) = resolver {
            b = b.resolver(crate::resolver::PyResolver::new(resolver, event_loop));
        }
        let tcp = Arc::new(b.build().py_err()?);
        Ok(Connector {
            inner: tcp.clone(),
            tcp: Some(tcp),
        })
    }

    /// A UNIX socket connector.
    #[staticmethod]
    #[pyo3(signature = (path, *, limit=100, limit_per_host=0, keepalive_timeout=Some(15.0),
        force_close=false))]
    fn unix(
        path: std::path::PathBuf,
        limit: usize,
        limit_per_host: usize,
        keepalive_timeout: Option<f64>,
        force_close: bool,
    ) -> PyResult<Self> {
        let config = PoolConfig {
            limit,
            limit_per_host,
            keepalive_timeout: seconds(keepalive_timeout, "keepalive_timeout")?,
            force_close,
        };
        Ok(Connector {
            inner: Arc::new(UnixConnector::with_pool(path, config).py_err()?),
            tcp: None,
        })
    }

    /// The total connection limit (0: none).
    #[getter]
    fn limit(&self) -> usize {
        self.inner.limit()
    }

    /// The per-host connection limit (0: none).
    #[getter]
    fn limit_per_host(&self) -> usize {
        self.inner.limit_per_host()
    }

    /// Whether connections close after each request.
    #[getter]
    fn force_close(&self) -> bool {
        self.inner.force_close()
    }

    /// Whether the connector is closed.
    #[getter]
    fn closed(&self) -> bool {
        self.inner.closed()
    }

    /// Forgets the cached addresses of `(host, port)`, or of every host.
    #[pyo3(signature = (host=None, port=None))]
    fn clear_dns_cache(&self, host: Option<String>, port: Option<u16>) {
        if let Some(tcp) = &self.tcp {
            match (host, port) {
                (Some(h), Some(p)) => tcp.clear_dns_cache(Some((h.as_str(), p))),
                _ => tcp.clear_dns_cache(None),
            }
        }
    }

    /// Closes every connection.
    async fn close(&self) -> PyResult<()> {
        let inner = self.inner.clone();
        spawn(async move { inner.close().await }).await
    }
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("limit", &self.inner.limit())
            .field("limit_per_host", &self.inner.limit_per_host())
            .finish_non_exhaustive()
    }
}

/// A session: the crate's `ClientSession`.
#[pyclass(frozen, module = "aiohttp_rs._core")]
#[derive(Debug)]
pub struct Session {
    pub(crate) inner: aiohttp::ClientSession,
    /// Parsed URLs of `start` by their text, for a session without a `base_url` (a
    /// request repeats its URL; parsing it is a good part of starting one).
    urls: Option<std::sync::Mutex<std::collections::HashMap<String, aiohttp::Url>>>,
}

/// How many parsed URLs a session keeps (all are forgotten when it is full).
const URL_CACHE: usize = 256;

impl Session {
    /// `url` parsed as the crate parses it, from the cache when it was seen; `None` when
    /// there is no cache or the text does not parse (the crate then reports it).
    fn parsed(&self, url: &str) -> Option<aiohttp::Url> {
        use aiohttp::IntoUrl;
        let mut urls = self
            .urls
            .as_ref()?
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(u) = urls.get(url) {
            return Some(u.clone());
        }
        let u = url.into_url().ok()?;
        if urls.len() >= URL_CACHE {
            urls.clear();
        }
        urls.insert(url.to_owned(), u.clone());
        Some(u)
    }
}

#[pymethods]
impl Session {
    #[new]
    #[pyo3(signature = (*, connector=None, connector_owner=true, base_url=None, headers=None,
        skip_auto_headers=None, auth=None, cookie_jar=None, timeout=None,
        raise_for_status=false, trust_env=false, auto_decompress=true, version=None,
        requote_redirect_url=true, max_line_size=8190, max_field_size=8190,
        max_headers=128, read_bufsize=65536, proxy=None, proxy_auth=None, trace=false))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        connector: Option<PyRef<'_, Connector>>,
        connector_owner: bool,
        base_url: Option<String>,
        headers: Option<Pairs>,
        skip_auto_headers: Option<Vec<String>>,
        auth: Option<AuthTuple>,
        cookie_jar: Option<PyRef<'_, Jar>>,
        timeout: Option<TimeoutTuple>,
        raise_for_status: bool,
        trust_env: bool,
        auto_decompress: bool,
        version: Option<(u8, u8)>,
        requote_redirect_url: bool,
        max_line_size: usize,
        max_field_size: usize,
        max_headers: usize,
        read_bufsize: usize,
        proxy: Option<String>,
        proxy_auth: Option<AuthTuple>,
        trace: bool,
    ) -> PyResult<Self> {
        let mut b = aiohttp::ClientSession::builder()
            .raise_for_status(raise_for_status)
            .trust_env(trust_env)
            .auto_decompress(auto_decompress)
            .requote_redirect_url(requote_redirect_url)
            .max_line_size(max_line_size)
            .max_field_size(max_field_size)
            .max_headers(max_headers)
            .read_bufsize(read_bufsize)
            .connector_owner(connector_owner)
            // The Python half reads bodies with `read()`, whose cap is aiohttp's: none.
            .max_body_size(None);
        if let Some(c) = connector {
            b = b.shared_connector(c.inner.clone());
        }
        let has_base = base_url.is_some();
        if let Some(url) = base_url {
            b = b.base_url(url);
        }
        if let Some(h) = headers {
            b = b.headers(h);
        }
        if let Some(names) = skip_auto_headers {
            b = b.skip_auto_headers(names);
        }
        if let Some(a) = auth {
            b = b.auth(basic_auth(a)?);
        }
        if let Some(jar) = cookie_jar {
            b = jar.install(b);
        }
        if let Some(t) = timeout {
            b = b.timeout(self::timeout(t)?);
        }
        if let Some(v) = version {
            b = b.version(self::version(v)?);
        }
        if let Some(p) = proxy {
            b = b.proxy(p);
        }
        if let Some(a) = proxy_auth {
            b = b.proxy_auth(basic_auth(a)?);
        }
        if trace {
            b = b.trace_config(crate::trace::Forward);
        }
        Ok(Session {
            inner: b.build().py_err()?,
            urls: (!has_base).then(Default::default),
        })
    }

    /// Whether the session is closed.
    #[getter]
    fn closed(&self) -> bool {
        self.inner.closed()
    }

    /// Closes the session (and its connector if it owns it).
    async fn close(&self) -> PyResult<()> {
        let inner = self.inner.clone();
        spawn(async move { inner.close().await }).await
    }

    /// Leaves the connector open for others.
    fn detach(&self) {
        self.inner.detach();
    }

    /// Opens a WebSocket (aiohttp's `ws_connect` keywords).
    #[pyo3(signature = (url, *, method=None, protocols=None, ws_receive=None,
        ws_close=Some(10.0), receive_timeout=None, autoclose=true, autoping=true,
        heartbeat=None, auth=None, origin=None, params=None, headers=None, proxy=None,
        proxy_auth=None, proxy_headers=None, ssl=None, server_hostname=None, compress=0,
        max_msg_size=4194304))]
    #[allow(clippy::too_many_arguments)]
    async fn ws_connect(
        &self,
        url: String,
        method: Option<String>,
        protocols: Option<Vec<String>>,
        ws_receive: Option<f64>,
        ws_close: Option<f64>,
        receive_timeout: Option<f64>,
        autoclose: bool,
        autoping: bool,
        heartbeat: Option<f64>,
        auth: Option<AuthTuple>,
        origin: Option<String>,
        params: Option<Pairs>,
        headers: Option<Pairs>,
        proxy: Option<String>,
        proxy_auth: Option<AuthTuple>,
        proxy_headers: Option<Pairs>,
        ssl: Option<SslArg>,
        server_hostname: Option<String>,
        compress: u8,
        max_msg_size: usize,
    ) -> PyResult<WebSocket> {
        let close_timeout = seconds(ws_close, "ws_close")?;
        let mut b = self
            .inner
            .ws_connect(url.as_str())
            .timeout(aiohttp::ClientWSTimeout {
                ws_receive: seconds(ws_receive, "ws_receive")?,
                ws_close: close_timeout,
            })
            .autoclose(autoclose)
            .autoping(autoping)
            .max_msg_size(max_msg_size);
        if let Some(m) = method {
            let m = http::Method::from_bytes(m.as_bytes())
                .map_err(|_| PyValueError::new_err(format!("invalid method {m:?}")))?;
            b = b.method(m);
        }
        if let Some(p) = protocols {
            b = b.protocols(p);
        }
        if let Some(t) = seconds(receive_timeout, "receive_timeout")? {
            b = b.receive_timeout(t);
        }
        let heartbeat_on = match seconds(heartbeat, "heartbeat")? {
            Some(t) => {
                b = b.heartbeat(t);
                true
            }
            None => false,
        };
        if let Some(a) = auth {
            b = b.auth(basic_auth(a)?);
        }
        if let Some(o) = origin {
            b = b.origin(o);
        }
        if let Some(p) = params {
            b = b.params(p);
        }
        if let Some(h) = headers {
            for (name, value) in h {
                b = b.header(name, value);
            }
        }
        if let Some(p) = proxy {
            b = b.proxy(p);
        }
        if let Some(a) = proxy_auth {
            b = b.proxy_auth(basic_auth(a)?);
        }
        if let Some(h) = proxy_headers {
            b = b.proxy_headers(header_map(h)?);
        }
        if let Some(s) = ssl {
            b = b.ssl(s.into_ssl());
        }
        if let Some(name) = server_hostname {
            b = b.server_hostname(name);
        }
        b = b.compress(compress);
        let ws = spawn(b.send()).await?.py_err()?;
        Ok(WebSocket::new(ws, close_timeout, heartbeat_on))
    }

    /// Starts a request with the arguments most requests have, and answers at once; its
    /// outcome (a `Response`, or the error) completes `future` through `completer` (see
    /// `completion.rs`). The returned handle aborts it.
    #[pyo3(signature = (completer, future, method, url, params=None, headers=None, body=None,
        form=None, content_type=None, allow_redirects=true, once=false))]
    #[allow(clippy::too_many_arguments)]
    fn start(
        &self,
        completer: &Bound<'_, crate::completion::Completer>,
        future: Py<PyAny>,
        method: &str,
        url: &str,
        params: Option<Pairs>,
        headers: Option<Pairs>,
        body: Option<PyBackedBytes>,
        form: Option<Pairs>,
        content_type: Option<String>,
        allow_redirects: bool,
        once: bool,
    ) -> PyResult<crate::completion::Started> {
        let method = http::Method::from_bytes(method.as_bytes())
            .map_err(|_| PyValueError::new_err(format!("invalid method {method:?}")))?;
        let b = match self.parsed(url) {
            Some(u) => self.inner.request(method, u),
            None => self.inner.request(method, url),
        };
        let b = with_common(
            b.allow_redirects(allow_redirects).max_redirects(9),
            params,
            headers,
            body,
            form,
            content_type,
            once,
        );
        let slot = crate::completion::Slot::new(completer.get(), future);
        let abort = crate::runtime::start(async move {
            let outcome = send_and_prefetch(b).await;
            slot.complete(outcome);
        });
        Ok(crate::completion::Started(abort))
    }

    /// Sends a request and answers with the response head; the body is read on demand.
    ///
    /// The arguments of every request come first, by position: keyword arguments cost
    /// PyO3 a name search each, a cost the common request does not pay. `max_redirects`
    /// counts the redirects followed (aiohttp's default of 10 responses is 9 of them).
    #[pyo3(signature = (method, url, params=None, headers=None, body=None, form=None,
        content_type=None, allow_redirects=true, once=false, *, skip_auto_headers=None,
        auth=None, max_redirects=9,
        compress=false, chunked=None, expect100=false, raise_for_status=None,
        read_until_eof=true, proxy=None, proxy_auth=None, proxy_headers=None, timeout=None, ssl=None,
        server_hostname=None, cookies=None, version=None, read_bufsize=None,
        max_line_size=None, max_field_size=None, max_headers=None, auto_decompress=None,
        trace=None))]
    #[allow(clippy::too_many_arguments)]
    async fn request(
        &self,
        method: String,
        url: String,
        params: Option<Pairs>,
        headers: Option<Pairs>,
        body: Option<PyBackedBytes>,
        form: Option<Pairs>,
        content_type: Option<String>,
        allow_redirects: bool,
        once: bool,
        skip_auto_headers: Option<Vec<String>>,
        auth: Option<AuthTuple>,
        max_redirects: usize,
        compress: bool,
        chunked: Option<usize>,
        expect100: bool,
        raise_for_status: Option<bool>,
        read_until_eof: bool,
        proxy: Option<String>,
        proxy_auth: Option<AuthTuple>,
        proxy_headers: Option<Pairs>,
        timeout: Option<TimeoutTuple>,
        ssl: Option<SslArg>,
        server_hostname: Option<String>,
        cookies: Option<Pairs>,
        version: Option<(u8, u8)>,
        read_bufsize: Option<usize>,
        max_line_size: Option<usize>,
        max_field_size: Option<usize>,
        max_headers: Option<usize>,
        auto_decompress: Option<bool>,
        trace: Option<Py<crate::trace::TraceEvents>>,
    ) -> PyResult<Response> {
        let method = http::Method::from_bytes(method.as_bytes())
            .map_err(|_| PyValueError::new_err(format!("invalid method {method:?}")))?;
        let mut b = self
            .inner
            .request(method, url.as_str())
            .allow_redirects(allow_redirects)
            .max_redirects(max_redirects)
            .compress(compress)
            .expect100(expect100)
            .read_until_eof(read_until_eof);
        if let Some(on) = auto_decompress {
            b = b.auto_decompress(on);
        }
        b = with_common(b, params, headers, body, form, content_type, once);
        if let Some(names) = skip_auto_headers {
            b = b.skip_auto_headers(names);
        }
        if let Some(a) = auth {
            b = b.auth(basic_auth(a)?);
        }
        if let Some(size) = chunked {
            b = b.chunked(size);
        }
        if let Some(r) = raise_for_status {
            b = b.raise_for_status(r);
        }
        if let Some(p) = proxy {
            b = b.proxy(p);
        }
        if let Some(a) = proxy_auth {
            b = b.proxy_auth(basic_auth(a)?);
        }
        if let Some(h) = proxy_headers {
            b = b.proxy_headers(header_map(h)?);
        }
        if let Some(t) = timeout {
            b = b.timeout(self::timeout(t)?);
        }
        if let Some(s) = ssl {
            b = b.ssl(s.into_ssl());
        }
        if let Some(name) = server_hostname {
            b = b.server_hostname(name);
        }
        if let Some(c) = cookies {
            b = b.cookies(c);
        }
        if let Some(v) = version {
            b = b.version(self::version(v)?);
        }
        if let Some(n) = read_bufsize {
            b = b.read_bufsize(n);
        }
        if let Some(n) = max_line_size {
            b = b.max_line_size(n);
        }
        if let Some(n) = max_field_size {
            b = b.max_field_size(n);
        }
        if let Some(n) = max_headers {
            b = b.max_headers(n);
        }
        let mut done = None;
        if let Some(t) = trace {
            let sender = t.get().sender();
            b = b.trace_request_ctx(sender.clone());
            done = Some(crate::trace::DoneOnDrop(sender));
        }
        let (response, body) = spawn(async move {
            // Dropped with the task: the trace reader stops after the last point.
            let _done = done;
            send_and_prefetch(b).await
        })
        .await?
        .py_err()?;
        Ok(Response::new(response, body))
    }
}
