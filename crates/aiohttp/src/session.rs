//! `ClientSession`: the shared handle every request goes through, with its defaults.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Method, Version};
use url::Url;

use crate::auth::BasicAuth;
use crate::connector::{BoxFuture, Connector, TcpConnector};
use crate::cookie::{AbstractCookieJar, CookieJar};
use crate::error::ClientError;
use crate::middleware::{Chain, Middleware};
use crate::proto::HeadLimits;
use crate::request::{IntoUrl, RequestBuilder};
use crate::response::{CharsetResolver, ClientResponse, StatusPolicy};
use crate::shared::{JsonSerializer, SessionInner};
use crate::timeout::ClientTimeout;
use crate::trace::TraceConfig;

/// A client session: a connection pool, a cookie jar and default request settings, shared by
/// every clone (aiohttp's `ClientSession`).
///
/// Cloning is cheap (an `Arc`); the session is `Send + Sync` and its request futures are `Send`.
///
/// ```no_run
/// # async fn run() -> Result<(), aiohttp::ClientError> {
/// let session = aiohttp::ClientSession::builder()
///     .header("X-Client", "demo")
///     .raise_for_status(true)
///     .build()?;
/// let body = session.get("http://127.0.0.1:8080/").await?.text().await?;
/// session.close().await;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ClientSession {
    pub(crate) inner: Arc<SessionInner>,
}

impl fmt::Debug for ClientSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientSession")
            .field("connector", &self.inner.connector)
            .field("closed", &self.closed())
            .finish_non_exhaustive()
    }
}

impl Default for ClientSession {
    fn default() -> Self {
        ClientSession::new()
    }
}

fn parse_method<M>(method: M) -> Result<Method, ClientError>
where
    Method: TryFrom<M>,
    <Method as TryFrom<M>>::Error: Into<http::Error>,
{
    Method::try_from(method).map_err(|e| {
        ClientError::invalid_argument("the method is not a valid token").with_source(e.into())
    })
}

impl ClientSession {
    /// A session with the defaults: a new [`TcpConnector`], a private cookie jar, HTTP/1.1.
    ///
    /// ```
    /// let session = aiohttp::ClientSession::new();
    /// assert!(!session.closed());
    /// ```
    pub fn new() -> Self {
        ClientSessionBuilder::default().build_infallible()
    }

    /// A builder taking every keyword argument of aiohttp's `ClientSession`.
    ///
    /// ```
    /// let session = aiohttp::ClientSession::builder().version(aiohttp::Version::HTTP_10).build()?;
    /// # Ok::<(), aiohttp::ClientError>(())
    /// ```
    pub fn builder() -> ClientSessionBuilder {
        ClientSessionBuilder::default()
    }

    /// A request with any method (an invalid method is reported when the request is sent).
    ///
    /// ```no_run
    /// # async fn run(s: aiohttp::ClientSession) -> Result<(), aiohttp::ClientError> {
    /// let resp = s.request("PROPFIND", "http://127.0.0.1:8080/dav").await?;
    /// # Ok(()) }
    /// ```
    pub fn request<M, U>(&self, method: M, url: U) -> RequestBuilder
    where
        Method: TryFrom<M>,
        <Method as TryFrom<M>>::Error: Into<http::Error>,
        U: IntoUrl,
    {
        let url = match &self.inner.base_url {
            Some(base) => url.into_url_with_base(base),
            None => url.into_url(),
        };
        RequestBuilder::new(self.clone(), parse_method(method), url)
    }

    /// A GET request.
    ///
    /// ```no_run
    /// # async fn run(s: aiohttp::ClientSession) -> Result<(), aiohttp::ClientError> {
    /// let text = s.get("http://127.0.0.1:8080/").await?.text().await?;
    /// # Ok(()) }
    /// ```
    pub fn get<U: IntoUrl>(&self, url: U) -> RequestBuilder {
        self.request(Method::GET, url)
    }

    /// A POST request.
    ///
    /// ```no_run
    /// # async fn run(s: aiohttp::ClientSession) -> Result<(), aiohttp::ClientError> {
    /// s.post("http://127.0.0.1:8080/").data("payload").await?;
    /// # Ok(()) }
    /// ```
    pub fn post<U: IntoUrl>(&self, url: U) -> RequestBuilder {
        self.request(Method::POST, url)
    }

    /// A PUT request.
    ///
    /// ```no_run
    /// # async fn run(s: aiohttp::ClientSession) -> Result<(), aiohttp::ClientError> {
    /// s.put("http://127.0.0.1:8080/item").data("payload").await?;
    /// # Ok(()) }
    /// ```
    pub fn put<U: IntoUrl>(&self, url: U) -> RequestBuilder {
        self.request(Method::PUT, url)
    }

    /// A DELETE request.
    ///
    /// ```no_run
    /// # async fn run(s: aiohttp::ClientSession) -> Result<(), aiohttp::ClientError> {
    /// s.delete("http://127.0.0.1:8080/item").await?;
    /// # Ok(()) }
    /// ```
    pub fn delete<U: IntoUrl>(&self, url: U) -> RequestBuilder {
        self.request(Method::DELETE, url)
    }

    /// A HEAD request.
    ///
    /// ```no_run
    /// # async fn run(s: aiohttp::ClientSession) -> Result<(), aiohttp::ClientError> {
    /// let len = s.head("http://127.0.0.1:8080/").await?.headers().get("content-length").cloned();
    /// # Ok(()) }
    /// ```
    pub fn head<U: IntoUrl>(&self, url: U) -> RequestBuilder {
        self.request(Method::HEAD, url)
    }

    /// An OPTIONS request.
    ///
    /// ```no_run
    /// # async fn run(s: aiohttp::ClientSession) -> Result<(), aiohttp::ClientError> {
    /// s.options("http://127.0.0.1:8080/").await?;
    /// # Ok(()) }
    /// ```
    pub fn options<U: IntoUrl>(&self, url: U) -> RequestBuilder {
        self.request(Method::OPTIONS, url)
    }

    /// A PATCH request.
    ///
    /// ```no_run
    /// # async fn run(s: aiohttp::ClientSession) -> Result<(), aiohttp::ClientError> {
    /// s.patch("http://127.0.0.1:8080/item").json(&serde_json::json!({"a": 1})).await?;
    /// # Ok(()) }
    /// ```
    pub fn patch<U: IntoUrl>(&self, url: U) -> RequestBuilder {
        self.request(Method::PATCH, url)
    }

    /// Closes the session: later requests fail, and the connector is closed if the session owns
    /// it.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let session = aiohttp::ClientSession::new();
    /// session.close().await;
    /// assert!(session.closed());
    /// # }
    /// ```
    pub async fn close(&self) {
        self.inner.closed.store(true, Ordering::Release);
        if self.inner.connector_owner && !self.inner.detached.load(Ordering::Acquire) {
            self.inner.connector.close().await;
        }
    }

    /// Marks the session closed without closing its connector, which lives on for its other
    /// users.
    ///
    /// ```
    /// let session = aiohttp::ClientSession::new();
    /// session.detach();
    /// assert!(session.closed());
    /// ```
    pub fn detach(&self) {
        self.inner.detached.store(true, Ordering::Release);
        self.inner.closed.store(true, Ordering::Release);
    }

    /// Whether the session (or its connector) is closed.
    ///
    /// ```
    /// assert!(!aiohttp::ClientSession::new().closed());
    /// ```
    pub fn closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// The connector.
    ///
    /// ```
    /// let s = aiohttp::ClientSession::new();
    /// assert_eq!(s.connector().limit(), 100);
    /// ```
    pub fn connector(&self) -> &Arc<dyn Connector> {
        &self.inner.connector
    }

    /// The cookie jar.
    ///
    /// ```
    /// let s = aiohttp::ClientSession::new();
    /// assert_eq!(s.cookie_jar().len(), 0);
    /// ```
    pub fn cookie_jar(&self) -> &Arc<dyn AbstractCookieJar> {
        &self.inner.cookie_jar
    }

    /// Whether response bodies are decompressed.
    ///
    /// ```
    /// assert!(aiohttp::ClientSession::new().auto_decompress());
    /// ```
    pub fn auto_decompress(&self) -> bool {
        self.inner.auto_decompress
    }

    /// The most decoded bytes [`ClientResponse::read`](crate::ClientResponse::read) (and
    /// `text`, `json`) buffers; `None`: no limit.
    ///
    /// ```
    /// assert_eq!(
    ///     aiohttp::ClientSession::new().max_body_size(),
    ///     Some(aiohttp::DEFAULT_MAX_BODY_SIZE)
    /// );
    /// ```
    pub fn max_body_size(&self) -> Option<usize> {
        self.inner.max_body_size
    }

    /// The default headers.
    ///
    /// ```
    /// assert!(aiohttp::ClientSession::new().headers().is_empty());
    /// ```
    pub fn headers(&self) -> &HeaderMap {
        &self.inner.headers
    }

    /// The default HTTP version.
    ///
    /// ```
    /// assert_eq!(aiohttp::ClientSession::new().version(), aiohttp::Version::HTTP_11);
    /// ```
    pub fn version(&self) -> Version {
        self.inner.version
    }

    /// The URL relative request URLs are resolved against, if any.
    ///
    /// ```
    /// let s = aiohttp::ClientSession::builder().base_url("http://127.0.0.1:8080/api/").build()?;
    /// assert_eq!(s.base_url().map(|u| u.as_str()), Some("http://127.0.0.1:8080/api/"));
    /// # Ok::<(), aiohttp::ClientError>(())
    /// ```
    pub fn base_url(&self) -> Option<&Url> {
        self.inner.base_url.as_ref()
    }

    /// Whether redirect targets are requoted (see
    /// [`ClientSessionBuilder::requote_redirect_url`]).
    ///
    /// ```
    /// assert!(aiohttp::ClientSession::new().requote_redirect_url());
    /// ```
    pub fn requote_redirect_url(&self) -> bool {
        self.inner.requote_redirect_url.load(Ordering::Relaxed)
    }

    /// Changes [`requote_redirect_url`](Self::requote_redirect_url) for later requests of the
    /// session and its clones.
    ///
    /// ```
    /// let s = aiohttp::ClientSession::new();
    /// s.set_requote_redirect_url(false);
    /// assert!(!s.requote_redirect_url());
    /// ```
    pub fn set_requote_redirect_url(&self, requote: bool) {
        self.inner
            .requote_redirect_url
            .store(requote, Ordering::Relaxed);
    }
}

/// The keyword arguments of aiohttp's `ClientSession`; errors surface from [`build`](Self::build).
///
/// ```
/// let session = aiohttp::ClientSession::builder()
///     .headers([("X-A", "1")])
///     .skip_auto_headers(["User-Agent"])
///     .auth(aiohttp::BasicAuth::new("user", "pass")?)
///     .auto_decompress(false)
///     .build()?;
/// # Ok::<(), aiohttp::ClientError>(())
/// ```
#[must_use]
#[derive(Default)]
pub struct ClientSessionBuilder {
    connector: Option<Arc<dyn Connector>>,
    connector_owner: Option<bool>,
    headers: HeaderMap,
    skip_auto_headers: Vec<HeaderName>,
    auth: Option<BasicAuth>,
    json_serialize: Option<Arc<JsonSerializer>>,
    version: Option<Version>,
    raise_for_status: StatusPolicy,
    charset_fallback: Option<CharsetResolver>,
    limits: HeadLimits,
    read_bufsize: Option<usize>,
    trace_configs: Vec<Arc<dyn TraceConfig>>,
    cookie_jar: Option<Arc<dyn AbstractCookieJar>>,
    cookies: Vec<(String, String)>,
    auto_decompress: Option<bool>,
    max_body_size: Option<Option<usize>>,
    timeout: Option<ClientTimeout>,
    read_timeout: Option<Duration>,
    conn_timeout: Option<Duration>,
    base_url: Option<Result<Url, ClientError>>,
    requote_redirect_url: Option<bool>,
    proxy: crate::proxy::ProxyOptions,
    trust_env: bool,
    middlewares: Vec<Arc<dyn Middleware>>,
    error: Option<ClientError>,
}

impl fmt::Debug for ClientSessionBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientSessionBuilder")
            .field("headers", &self.headers)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl ClientSessionBuilder {
    /// The connector the session sends through (default: a new [`TcpConnector`]); the session
    /// owns it and closes it on `close()` unless [`connector_owner(false)`](Self::connector_owner).
    ///
    /// ```
    /// let c = aiohttp::TcpConnector::builder().limit(4).build()?;
    /// let s = aiohttp::ClientSession::builder().connector(c).build()?;
    /// assert_eq!(s.connector().limit(), 4);
    /// # Ok::<(), aiohttp::ClientError>(())
    /// ```
    pub fn connector(mut self, connector: impl Connector) -> Self {
        self.connector = Some(Arc::new(connector));
        self
    }

    /// A connector shared with other sessions (pair it with `connector_owner(false)`).
    ///
    /// ```
    /// use std::sync::Arc;
    /// let shared: Arc<dyn aiohttp::Connector> = Arc::new(aiohttp::TcpConnector::new());
    /// let a = aiohttp::ClientSession::builder()
    ///     .shared_connector(shared.clone())
    ///     .connector_owner(false)
    ///     .build()?;
    /// # Ok::<(), aiohttp::ClientError>(())
    /// ```
    pub fn shared_connector(mut self, connector: Arc<dyn Connector>) -> Self {
        self.connector = Some(connector);
        self
    }

    /// Whether closing the session closes the connector (default true).
    ///
    /// ```
    /// let _ = aiohttp::ClientSession::builder().connector_owner(false);
    /// ```
    pub fn connector_owner(mut self, owner: bool) -> Self {
        self.connector_owner = Some(owner);
        self
    }

    /// Headers sent with every request.
    ///
    /// ```
    /// let _ = aiohttp::ClientSession::builder().headers([("Accept", "text/html")]);
    /// ```
    pub fn headers<I, K, V>(mut self, headers: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: TryInto<HeaderName>,
        V: TryInto<HeaderValue>,
        K::Error: Into<http::Error>,
        V::Error: Into<http::Error>,
    {
        for (k, v) in headers {
            self = self.header(k, v);
        }
        self
    }

    /// One header sent with every request.
    ///
    /// ```
    /// let _ = aiohttp::ClientSession::builder().header("X-A", "1");
    /// ```
    pub fn header<K, V>(mut self, name: K, value: V) -> Self
    where
        K: TryInto<HeaderName>,
        V: TryInto<HeaderValue>,
        K::Error: Into<http::Error>,
        V::Error: Into<http::Error>,
    {
        match (name.try_into(), value.try_into()) {
            (Ok(n), Ok(mut v)) => {
                crate::request::guard_secret(&n, &mut v);
                self.headers.append(n, v);
            }
            (Err(e), _) => {
                self.error.get_or_insert(
                    ClientError::invalid_argument("invalid header name").with_source(e.into()),
                );
            }
            (_, Err(e)) => {
                self.error.get_or_insert(
                    ClientError::invalid_argument("invalid header value").with_source(e.into()),
                );
            }
        }
        self
    }

    /// Auto headers never to add (`User-Agent`, `Accept`, `Accept-Encoding`, `Content-Type`,
    /// `Host`).
    ///
    /// ```
    /// let _ = aiohttp::ClientSession::builder().skip_auto_headers(["Accept-Encoding"]);
    /// ```
    pub fn skip_auto_headers<I, N>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = N>,
        N: AsRef<str>,
    {
        for n in names {
            match HeaderName::from_bytes(n.as_ref().as_bytes()) {
                Ok(n) => self.skip_auto_headers.push(n),
                Err(e) => {
                    self.error.get_or_insert(
                        ClientError::invalid_argument("invalid header name").with_source(e),
                    );
                }
            }
        }
        self
    }

    /// Basic credentials for every request.
    ///
    /// ```
    /// let _ = aiohttp::ClientSession::builder().auth(aiohttp::BasicAuth::new("u", "p")?);
    /// # Ok::<(), aiohttp::ClientError>(())
    /// ```
    pub fn auth(mut self, auth: BasicAuth) -> Self {
        self.auth = Some(auth);
        self
    }

    /// The proxy for every request (aiohttp 3.x's session `proxy`), unless a request names its
    /// own; see [`RequestBuilder::proxy`](crate::RequestBuilder::proxy) for the schemes.
    ///
    /// ```
    /// let s = aiohttp::ClientSession::builder().proxy("http://127.0.0.1:3128").build()?;
    /// # Ok::<(), aiohttp::ClientError>(())
    /// ```
    pub fn proxy<U: IntoUrl>(mut self, url: U) -> Self {
        match url.into_url() {
            Ok(u) => self.proxy.url = Some(u),
            Err(e) => {
                self.error.get_or_insert(e);
            }
        }
        self
    }

    /// Credentials for the session's proxy (aiohttp 3.x's session `proxy_auth`); a request
    /// that names another proxy does not send them.
    ///
    /// ```
    /// let s = aiohttp::ClientSession::builder()
    ///     .proxy("http://127.0.0.1:3128")
    ///     .proxy_auth(aiohttp::BasicAuth::new("user", "pass")?)
    ///     .build()?;
    /// # Ok::<(), aiohttp::ClientError>(())
    /// ```
    pub fn proxy_auth(mut self, auth: BasicAuth) -> Self {
        self.proxy.auth = Some(auth);
        self
    }

    /// Headers for the session's proxy (and the environment's, with `trust_env`).
    ///
    /// ```
    /// let mut h = http::HeaderMap::new();
    /// h.insert("x-proxy-team", http::HeaderValue::from_static("search"));
    /// let s = aiohttp::ClientSession::builder().proxy_headers(h).build()?;
    /// # Ok::<(), aiohttp::ClientError>(())
    /// ```
    pub fn proxy_headers(mut self, headers: HeaderMap) -> Self {
        self.proxy.headers = headers;
        self
    }

    /// How an `https://` proxy's certificate is verified (default: against the trust roots).
    ///
    /// ```
    /// let s = aiohttp::ClientSession::builder().proxy_ssl(aiohttp::Ssl::Verified).build()?;
    /// # Ok::<(), aiohttp::ClientError>(())
    /// ```
    pub fn proxy_ssl(mut self, ssl: impl Into<crate::Ssl>) -> Self {
        self.proxy.ssl = Some(ssl.into());
        self
    }

    /// Use the environment (aiohttp's `trust_env`, default false): proxies from `HTTP_PROXY`,
    /// `HTTPS_PROXY`, `WS_PROXY`, `WSS_PROXY` and `ALL_PROXY` (lower case wins over upper case,
    /// as curl), except for hosts in `NO_PROXY` (names and their subdomains, `.suffix`,
    /// addresses, CIDR networks, `host:port`, `*`); and credentials from `$NETRC` or
    /// `~/.netrc`, for a proxy whose URL has none and for a target when the request has none.
    /// The variables and the file are read when the session is built. A proxy given to the
    /// session or the request wins over the environment's.
    ///
    /// ```
    /// let s = aiohttp::ClientSession::builder().trust_env(true).build()?;
    /// # Ok::<(), aiohttp::ClientError>(())
    /// ```
    pub fn trust_env(mut self, trust: bool) -> Self {
        self.trust_env = trust;
        self
    }

    /// The JSON serializer for `RequestBuilder::json` (default: serde_json, compact).
    ///
    /// ```
    /// let _ = aiohttp::ClientSession::builder()
    ///     .json_serialize(|v| serde_json::to_string_pretty(v).map_err(Into::into));
    /// ```
    pub fn json_serialize<F>(mut self, f: F) -> Self
    where
        F: Fn(&serde_json::Value) -> Result<String, Box<dyn std::error::Error + Send + Sync>>
            + Send
            + Sync
            + 'static,
    {
        self.json_serialize = Some(Arc::new(f));
        self
    }

    /// The HTTP version (HTTP/1.1 default; HTTP/1.0 and HTTP/2 supported). Any other makes
    /// [`build`](Self::build) fail with `InvalidArgument`.
    ///
    /// ```
    /// let _ = aiohttp::ClientSession::builder().version(aiohttp::Version::HTTP_10);
    /// ```
    pub fn version(mut self, version: Version) -> Self {
        if let Err(e) = crate::request::check_version(version) {
            self.error.get_or_insert(e);
        }
        self.version = Some(version);
        self
    }

    /// Turn every response with status ≥ 400 into a `ClientResponseError` (default false).
    ///
    /// ```
    /// let _ = aiohttp::ClientSession::builder().raise_for_status(true);
    /// ```
    pub fn raise_for_status(mut self, raise: bool) -> Self {
        self.raise_for_status = StatusPolicy::from_bool(raise);
        self
    }

    /// Decide the charset `text()` decodes with when `Content-Type` names none (or an unknown
    /// one): `resolve` is given the response and its body and returns a label (aiohttp's
    /// `fallback_charset_resolver`). Without one, the encoding is detected from the bytes.
    ///
    /// ```
    /// // As aiohttp 3.9+ does by default: assume UTF-8.
    /// let _ = aiohttp::ClientSession::builder().fallback_charset_resolver(|_, _| "utf-8".into());
    /// ```
    pub fn fallback_charset_resolver<F>(mut self, resolve: F) -> Self
    where
        F: Fn(&ClientResponse, &[u8]) -> String + Send + Sync + 'static,
    {
        self.charset_fallback = Some(Arc::new(resolve));
        self
    }

    /// Adds a trace config: its callbacks are told of each point of every request's life
    /// (aiohttp's `trace_configs`); several may be added, and are called in order. See
    /// [`TraceConfig`].
    ///
    /// ```
    /// struct Quiet;
    /// impl aiohttp::TraceConfig for Quiet {}
    /// let _ = aiohttp::ClientSession::builder().trace_config(Quiet);
    /// ```
    pub fn trace_config<T: TraceConfig>(mut self, config: T) -> Self {
        self.trace_configs.push(Arc::new(config));
        self
    }

    /// Check every response with `check` before it is handed out (aiohttp's `raise_for_status`
    /// given a callable): its error becomes the request's. Replaces `raise_for_status(true)`.
    ///
    /// ```
    /// use aiohttp::{BoxFuture, ClientError, ClientResponse};
    ///
    /// fn server_errors(resp: &mut ClientResponse) -> BoxFuture<'_, Result<(), ClientError>> {
    ///     Box::pin(async move {
    ///         if resp.status().is_server_error() {
    ///             resp.raise_for_status()?;
    ///         }
    ///         Ok(())
    ///     })
    /// }
    /// let _ = aiohttp::ClientSession::builder().raise_for_status_with(server_errors);
    /// ```
    pub fn raise_for_status_with<F>(mut self, check: F) -> Self
    where
        F: for<'a> Fn(&'a mut ClientResponse) -> BoxFuture<'a, Result<(), ClientError>>
            + Send
            + Sync
            + 'static,
    {
        self.raise_for_status = StatusPolicy::Check(Arc::new(check));
        self
    }

    /// The cookie jar (default: a private [`CookieJar`]).
    ///
    /// ```
    /// let _ = aiohttp::ClientSession::builder().cookie_jar(aiohttp::DummyCookieJar::new());
    /// ```
    pub fn cookie_jar(mut self, jar: impl AbstractCookieJar) -> Self {
        self.cookie_jar = Some(Arc::new(jar));
        self
    }

    /// Cookies put into the jar as shared cookies, sent to every host.
    ///
    /// ```
    /// let _ = aiohttp::ClientSession::builder().cookies([("session", "abc")]);
    /// ```
    pub fn cookies<I, K, V>(mut self, cookies: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        self.cookies
            .extend(cookies.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }

    /// Decompress gzip, deflate, br and zstd response bodies (default true).
    ///
    /// ```
    /// let _ = aiohttp::ClientSession::builder().auto_decompress(false);
    /// ```
    pub fn auto_decompress(mut self, on: bool) -> Self {
        self.auto_decompress = Some(on);
        self
    }

    /// The most decoded bytes [`ClientResponse::read`](crate::ClientResponse::read), `text`
    /// and `json` buffer (default [`DEFAULT_MAX_BODY_SIZE`](crate::DEFAULT_MAX_BODY_SIZE),
    /// 256 MiB); a longer body is a `ClientPayloadError`. `None` removes the limit. It bounds
    /// what a small compressed body can expand to in memory;
    /// [`ClientResponse::content`](crate::ClientResponse::content) streams bodies of any size.
    ///
    /// ```
    /// let _ = aiohttp::ClientSession::builder().max_body_size(Some(16 << 20));
    /// ```
    pub fn max_body_size(mut self, max: Option<usize>) -> Self {
        self.max_body_size = Some(max);
        self
    }

    /// The longest status line a response may have (default 8190 bytes, aiohttp's); a
    /// longer one is a `ClientResponseError`, refused before the rest of it is read.
    ///
    /// ```
    /// let _ = aiohttp::ClientSession::builder().max_line_size(4096);
    /// ```
    pub fn max_line_size(mut self, max: usize) -> Self {
        self.limits.max_line_size = max;
        self
    }

    /// The longest header name, and the longest header value, a response may have
    /// (default 8190 bytes, aiohttp's); a longer one is a `ClientResponseError`, refused before
    /// the rest of it is read.
    ///
    /// ```
    /// let _ = aiohttp::ClientSession::builder().max_field_size(16 * 1024);
    /// ```
    pub fn max_field_size(mut self, max: usize) -> Self {
        self.limits.max_field_size = max;
        self
    }

    /// The most header lines a response may have (default 100: hyper's parser's own
    /// capacity, where aiohttp allows 128; past 100 the parser allocates for each response);
    /// more is a `ClientResponseError`. Over HTTP/2, hyper's own header list limit applies.
    ///
    /// ```
    /// let _ = aiohttp::ClientSession::builder().max_headers(128);
    /// ```
    pub fn max_headers(mut self, max: usize) -> Self {
        self.limits.max_headers = max;
        self
    }

    /// The read buffer of the response's content (default 64 KiB, aiohttp's
    /// `read_bufsize`): [`StreamReader::readline`](crate::StreamReader::readline) and
    /// `readuntil` take lines of up to twice this.
    ///
    /// ```
    /// let _ = aiohttp::ClientSession::builder().read_bufsize(256 * 1024);
    /// ```
    pub fn read_bufsize(mut self, size: usize) -> Self {
        self.read_bufsize = Some(size);
        self
    }

    /// Timeouts for every request (default: 300 s total, 30 s to open a connection).
    ///
    /// ```
    /// use std::time::Duration;
    /// let t = aiohttp::ClientTimeout { sock_read: Some(Duration::from_secs(10)), ..Default::default() };
    /// let _ = aiohttp::ClientSession::builder().timeout(t);
    /// ```
    pub fn timeout(mut self, timeout: ClientTimeout) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The seed's `read_timeout`: a cumulative limit on the request, its redirects and reading
    /// the body (the `total` of [`ClientTimeout`]).
    ///
    /// ```
    /// let _ = aiohttp::ClientSession::builder().read_timeout(std::time::Duration::from_secs(60));
    /// ```
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.read_timeout = Some(timeout);
        self
    }

    /// The seed's `conn_timeout`: the limit on getting a connection, pool wait included (the
    /// `connect` of [`ClientTimeout`]).
    ///
    /// ```
    /// let _ = aiohttp::ClientSession::builder().conn_timeout(std::time::Duration::from_secs(5));
    /// ```
    pub fn conn_timeout(mut self, timeout: Duration) -> Self {
        self.conn_timeout = Some(timeout);
        self
    }

    /// The base for relative request URLs (aiohttp 3.x's `base_url`): `"users/1"` and
    /// `"/users/1"` are resolved against it as links are (RFC 3986), an absolute URL is used
    /// as it is. It must be an http(s) URL whose path ends with `/`. The session's `auth` is
    /// sent to the base's origin only.
    ///
    /// ```
    /// let s = aiohttp::ClientSession::builder().base_url("http://127.0.0.1:8080/api/").build()?;
    /// let req = s.get("users"); // http://127.0.0.1:8080/api/users
    /// # Ok::<(), aiohttp::ClientError>(())
    /// ```
    pub fn base_url(mut self, url: impl IntoUrl) -> Self {
        self.base_url = Some(url.into_url());
        self
    }

    /// Normalize the percent-escapes of redirect targets (default true, as aiohttp): escaped
    /// unreserved characters are decoded (`%7E` → `~`) and other escapes uppercased. With
    /// `false` a `Location` is used as received (characters that cannot be sent at all are
    /// still percent-encoded).
    ///
    /// ```
    /// let s = aiohttp::ClientSession::builder().requote_redirect_url(false).build()?;
    /// assert!(!s.requote_redirect_url());
    /// # Ok::<(), aiohttp::ClientError>(())
    /// ```
    pub fn requote_redirect_url(mut self, requote: bool) -> Self {
        self.requote_redirect_url = Some(requote);
        self
    }

    /// The middlewares of every request (aiohttp's `middlewares=`), replacing any given
    /// before: in order, the first outermost. A request with its own list uses that instead.
    /// See [`Middleware`](crate::Middleware).
    ///
    /// ```
    /// use std::sync::Arc;
    /// let log: Arc<dyn aiohttp::Middleware> = Arc::new(aiohttp::middleware::from_fn(|req, next| {
    ///     println!("{} {}", req.method(), req.url());
    ///     next.run(req)
    /// }));
    /// let digest: Arc<dyn aiohttp::Middleware> = Arc::new(aiohttp::DigestAuth::new("u", "p")?);
    /// let s = aiohttp::ClientSession::builder().middlewares([log, digest]).build()?;
    /// # Ok::<(), aiohttp::ClientError>(())
    /// ```
    pub fn middlewares<I>(mut self, middlewares: I) -> Self
    where
        I: IntoIterator<Item = Arc<dyn Middleware>>,
    {
        self.middlewares = middlewares.into_iter().collect();
        self
    }

    /// Adds a middleware after (inside) those given before.
    ///
    /// ```
    /// let s = aiohttp::ClientSession::builder()
    ///     .middleware(aiohttp::DigestAuth::new("user", "pass")?)
    ///     .build()?;
    /// # Ok::<(), aiohttp::ClientError>(())
    /// ```
    pub fn middleware(mut self, middleware: impl Middleware) -> Self {
        self.middlewares.push(Arc::new(middleware));
        self
    }

    /// Builds the session.
    ///
    /// # Errors
    /// An invalid header name or value given to the builder; a `base_url` that is not an
    /// http(s) URL whose path ends with `/`.
    ///
    /// ```
    /// let err = aiohttp::ClientSession::builder().header("X-A", "a\nb").build().unwrap_err();
    /// assert!(err.is_invalid_argument());
    /// ```
    pub fn build(mut self) -> Result<ClientSession, ClientError> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        if let Some(base) = self.base_url.take() {
            let base = base?;
            if !matches!(base.scheme(), "http" | "https")
                || base.host_str().is_none_or(str::is_empty)
                || !base.path().ends_with('/')
            {
                return Err(ClientError::invalid_argument(
                    "base_url must be an http(s) URL whose path ends with '/'",
                )
                .with_url(&base));
            }
            self.base_url = Some(Ok(base));
        }
        Ok(self.build_infallible())
    }

    fn build_infallible(self) -> ClientSession {
        let jar: Arc<dyn AbstractCookieJar> = self
            .cookie_jar
            .unwrap_or_else(|| Arc::new(CookieJar::new()));
        if !self.cookies.is_empty() {
            let cookies: Vec<cookie::Cookie<'static>> = self
                .cookies
                .into_iter()
                .map(|(k, v)| cookie::Cookie::new(k, v))
                .collect();
            jar.update_cookies(&cookies, None);
        }
        let (env_proxies, netrc) = if self.trust_env {
            let netrc = read_netrc();
            let env = crate::proxy::env::EnvProxies::read(|n| std::env::var(n).ok());
            let routes = crate::proxy::EnvRoutes::new(
                env,
                netrc.as_deref(),
                &self.proxy.headers,
                self.proxy.ssl.clone(),
            );
            (Some(routes), netrc)
        } else {
            (None, None)
        };
        ClientSession {
            inner: Arc::new(SessionInner {
                proxy: self.proxy,
                env_proxies,
                netrc,
                connector: self
                    .connector
                    .unwrap_or_else(|| Arc::new(TcpConnector::new())),
                connector_owner: self.connector_owner.unwrap_or(true),
                headers: self.headers,
                skip_auto_headers: self.skip_auto_headers,
                auth: self.auth,
                json_serialize: self.json_serialize,
                version: self.version.unwrap_or(Version::HTTP_11),
                raise_for_status: self.raise_for_status,
                charset_fallback: self.charset_fallback,
                limits: self.limits,
                trace_configs: self.trace_configs.into(),
                read_bufsize: self
                    .read_bufsize
                    .unwrap_or(crate::options::DEFAULT_READ_BUFSIZE),
                cookie_jar: jar,
                auto_decompress: self.auto_decompress.unwrap_or(true),
                max_body_size: self
                    .max_body_size
                    .unwrap_or(Some(crate::response::DEFAULT_MAX_BODY_SIZE)),
                timeout: {
                    let mut t = self.timeout.unwrap_or_default();
                    if let Some(d) = self.read_timeout {
                        t.total = Some(d);
                    }
                    if let Some(d) = self.conn_timeout {
                        t.connect = Some(d);
                    }
                    t
                },
                base_url: self.base_url.and_then(Result::ok),
                requote_redirect_url: AtomicBool::new(self.requote_redirect_url.unwrap_or(true)),
                closed: AtomicBool::new(false),
                detached: AtomicBool::new(false),
                middlewares: Chain::new(self.middlewares),
                last_origin: Mutex::new(None),
            }),
        }
    }
}

/// The netrc file's text: `$NETRC`, else `~/.netrc`; none when it cannot be read.
fn read_netrc() -> Option<String> {
    let path = match std::env::var_os("NETRC") {
        Some(p) if !p.is_empty() => std::path::PathBuf::from(p),
        _ => std::path::PathBuf::from(std::env::var_os("HOME")?).join(".netrc"),
    };
    std::fs::read_to_string(path).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_cache_follows_the_origin() {
        let s = ClientSession::new();
        let inner = &s.inner;
        let urls = [
            "http://a.test/x",
            "http://a.test:8080/y",
            "https://a.test/z",
            "http://a.test/again",
            "http://[::1]:81/",
            "http://b.test:80/",
        ];
        for _ in 0..2 {
            for u in urls {
                let url = Url::parse(u).expect("url");
                let (key, head) = inner.origin(&url).expect("origin");
                let host = head.host;
                assert_eq!(
                    Some(&key),
                    crate::ConnectionKey::from_url(&url).as_ref(),
                    "{u}"
                );
                let want = crate::head::host_header(&url).expect("host");
                assert_eq!(host, want, "{u}");
            }
        }
    }

    #[test]
    fn session_is_shareable_and_its_futures_are_send() {
        fn send_sync_clone<T: Send + Sync + Clone>() {}
        send_sync_clone::<ClientSession>();
        fn send<T: Send>(_: &T) {}
        let s = ClientSession::new();
        let fut = s.get("http://h/").send();
        send(&fut);
        let into = std::future::IntoFuture::into_future(s.get("http://h/"));
        send(&into);
    }
}
