//! `RequestBuilder`: the keyword arguments of `ClientSession.request`, checked and split into
//! the request's plan and how it is exchanged.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Version};
use url::Url;

use crate::auth::BasicAuth;
use crate::body::Body;
use crate::connector::Ssl;
use crate::error::{ClientError, ErrorKind};
use crate::head::{split_credentials, Plan, Prepared};
use crate::middleware::{Chain, Middleware};
use crate::options::SendOptions;
use crate::proto::HeadLimits;
use crate::response::{ClientResponse, StatusPolicy};
use crate::run::Exchange;
use crate::session::ClientSession;
use crate::shared::SessionInner;
use crate::timeout::{ClientTimeout, Timeouts};

pub use crate::head::USER_AGENT;
pub use crate::urls::{IntoParams, IntoUrl};

/// How many redirects a request follows unless told otherwise.
pub(crate) const DEFAULT_MAX_REDIRECTS: usize = 10;

/// The body source chosen on the builder.
enum Payload {
    None,
    Data(Body),
    Json(Result<Vec<u8>, ClientError>),
}

/// One request being configured: every keyword argument of aiohttp's `ClientSession.request`.
/// Send it with [`send`](Self::send) or by awaiting it directly.
///
/// ```no_run
/// # async fn run() -> Result<(), aiohttp::ClientError> {
/// let session = aiohttp::ClientSession::new();
/// let resp = session
///     .post("http://127.0.0.1:8080/submit")
///     .params(&[("page", "2")])
///     .header("X-Trace", "1")
///     .json(&serde_json::json!({"name": "value"}))
///     .await?;
/// println!("{}", resp.status());
/// # Ok(()) }
/// ```
#[must_use = "a request does nothing until it is sent or awaited"]
pub struct RequestBuilder {
    pub(crate) session: ClientSession,
    method: Method,
    url: Option<Url>,
    error: Option<ClientError>,
    headers: HeaderMap,
    skip_auto_headers: Vec<HeaderName>,
    payload: Payload,
    auth: Option<BasicAuth>,
    compress: bool,
    chunked: Option<usize>,
    pub(crate) expect100: bool,
    pub(crate) read_until_eof: bool,
    auto_decompress: Option<bool>,
    version: Option<Version>,
    raise_for_status: Option<StatusPolicy>,
    limits: Option<HeadLimits>,
    read_bufsize: Option<usize>,
    trace_ctx: Option<crate::trace::TraceCtx>,
    max_body_size: Option<Option<usize>>,
    cookies: Vec<(String, String)>,
    timeout: Option<ClientTimeout>,
    allow_redirects: Option<bool>,
    max_redirects: usize,
    ssl: Option<Ssl>,
    server_hostname: Option<String>,
    proxy: crate::proxy::ProxyOptions,
    /// This request's middlewares, replacing the session's (an empty list: none).
    middlewares: Option<Vec<std::sync::Arc<dyn Middleware>>>,
    /// Made by [`crate::request`]: the session is private to this request.
    pub(crate) oneshot: bool,
}

/// A URL for `Debug` output: without `user:password`.
fn shown_url(url: Option<&Url>) -> Option<String> {
    url.map(|u| crate::error::without_credentials(u).as_str().to_owned())
}

impl fmt::Debug for RequestBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestBuilder")
            .field("method", &self.method)
            .field("url", &shown_url(self.url.as_ref()))
            .finish_non_exhaustive()
    }
}

impl RequestBuilder {
    pub(crate) fn new(
        session: ClientSession,
        method: Result<Method, ClientError>,
        url: Result<Url, ClientError>,
    ) -> Self {
        let mut error = None;
        let method = method.unwrap_or_else(|e| {
            error = Some(e);
            Method::GET
        });
        let url = match url {
            Ok(u) => Some(u),
            Err(e) => {
                error.get_or_insert(e);
                None
            }
        };
        RequestBuilder {
            session,
            method,
            url,
            error,
            headers: HeaderMap::new(),
            skip_auto_headers: Vec::new(),
            payload: Payload::None,
            auth: None,
            compress: false,
            chunked: None,
            expect100: false,
            read_until_eof: true,
            auto_decompress: None,
            version: None,
            raise_for_status: None,
            limits: None,
            read_bufsize: None,
            trace_ctx: None,
            max_body_size: None,
            cookies: Vec::new(),
            timeout: None,
            ssl: None,
            server_hostname: None,
            proxy: crate::proxy::ProxyOptions::default(),
            middlewares: None,
            oneshot: false,
            allow_redirects: None,
            max_redirects: DEFAULT_MAX_REDIRECTS,
        }
    }

    /// Changes the URL (when there is one), e.g. a WebSocket URL to the HTTP one it is
    /// requested at.
    pub(crate) fn map_url(&mut self, f: impl FnOnce(Url) -> Url) {
        self.url = self.url.take().map(f);
    }

    /// Replaces the method.
    pub(crate) fn set_method(&mut self, method: Method) {
        self.method = method;
    }

    /// Sets a header unless the caller set one of that name (`force`: whatever the caller set).
    pub(crate) fn set_header_default(&mut self, name: HeaderName, value: HeaderValue, force: bool) {
        if force || !self.headers.contains_key(&name) {
            self.headers.insert(name, value);
        }
    }

    fn fail(&mut self, e: ClientError) {
        self.error.get_or_insert(e);
    }

    /// Query parameters, merged after any query already in the URL.
    ///
    /// ```no_run
    /// # async fn run(s: aiohttp::ClientSession) -> Result<(), aiohttp::ClientError> {
    /// s.get("http://127.0.0.1:8080/search?lang=en").params(&[("q", "a b"), ("q", "c")]).await?;
    /// # Ok(()) }
    /// ```
    pub fn params(mut self, params: impl IntoParams) -> Self {
        if let Some(url) = &mut self.url {
            params.append_to(url);
        }
        self
    }

    /// One header; it replaces a session header of the same name.
    ///
    /// ```no_run
    /// # async fn run(s: aiohttp::ClientSession) -> Result<(), aiohttp::ClientError> {
    /// s.get("http://127.0.0.1:8080/").header("X-Token", "abc").await?;
    /// # Ok(()) }
    /// ```
    pub fn header<K, V>(mut self, name: K, value: V) -> Self
    where
        K: TryInto<HeaderName>,
        V: TryInto<HeaderValue>,
        K::Error: Into<http::Error>,
        V::Error: Into<http::Error>,
    {
        let name = name.try_into().map_err(Into::into);
        let value = value.try_into().map_err(Into::into);
        match (name, value) {
            (Ok(n), Ok(mut v)) => {
                guard_secret(&n, &mut v);
                self.headers.append(n, v);
            }
            (Err(e), _) | (_, Err(e)) => self
                .fail(ClientError::invalid_argument("invalid header name or value").with_source(e)),
        }
        self
    }

    /// Several headers; each replaces a session header of the same name.
    ///
    /// ```no_run
    /// # async fn run(s: aiohttp::ClientSession) -> Result<(), aiohttp::ClientError> {
    /// let mut h = aiohttp::HeaderMap::new();
    /// h.insert("x-a", aiohttp::HeaderValue::from_static("1"));
    /// s.get("http://127.0.0.1:8080/").headers(h).await?;
    /// # Ok(()) }
    /// ```
    pub fn headers(mut self, headers: HeaderMap) -> Self {
        let mut last = None;
        for (name, value) in headers {
            if let Some(n) = name {
                last = Some(n);
            }
            if let Some(n) = &last {
                let mut value = value;
                guard_secret(n, &mut value);
                self.headers.append(n.clone(), value);
            }
        }
        self
    }

    /// Auto headers not to add to this request (`User-Agent`, `Accept`, `Accept-Encoding`,
    /// `Content-Type`, `Host`); `Content-Length` cannot be skipped.
    ///
    /// ```no_run
    /// # async fn run(s: aiohttp::ClientSession) -> Result<(), aiohttp::ClientError> {
    /// s.get("http://127.0.0.1:8080/").skip_auto_headers(["User-Agent"]).await?;
    /// # Ok(()) }
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
                    self.fail(ClientError::invalid_argument("invalid header name").with_source(e))
                }
            }
        }
        self
    }

    /// The body: bytes, text, form pairs (urlencoded), a file or a stream; see [`Body`].
    ///
    /// ```no_run
    /// # async fn run(s: aiohttp::ClientSession) -> Result<(), aiohttp::ClientError> {
    /// s.post("http://127.0.0.1:8080/").data([("name", "value")]).await?;
    /// s.post("http://127.0.0.1:8080/").data(vec![1u8, 2, 3]).await?;
    /// # Ok(()) }
    /// ```
    pub fn data(mut self, body: impl Into<Body>) -> Self {
        if matches!(self.payload, Payload::Json(_)) {
            self.fail(ClientError::invalid_argument(
                "data and json parameters can not be used at the same time",
            ));
        }
        let mut body = body.into();
        if let Some(e) = body.refused.take() {
            self.fail(e);
        }
        self.payload = Payload::Data(body);
        self
    }

    /// A JSON body, serialized with the session's `json_serialize` (serde_json by default);
    /// `Content-Type: application/json`. An error together with [`data`](Self::data).
    ///
    /// ```no_run
    /// # async fn run(s: aiohttp::ClientSession) -> Result<(), aiohttp::ClientError> {
    /// s.post("http://127.0.0.1:8080/").json(&serde_json::json!({"a": 1})).await?;
    /// # Ok(()) }
    /// ```
    pub fn json<T: serde::Serialize + ?Sized>(mut self, value: &T) -> Self {
        if matches!(self.payload, Payload::Data(_)) {
            self.fail(ClientError::invalid_argument(
                "data and json parameters can not be used at the same time",
            ));
        }
        let bytes = self.session.inner.serialize_json(value);
        self.payload = Payload::Json(bytes);
        self
    }

    /// Basic credentials for this request. An error together with credentials in the URL.
    ///
    /// ```no_run
    /// # async fn run(s: aiohttp::ClientSession) -> Result<(), aiohttp::ClientError> {
    /// s.get("http://127.0.0.1:8080/").auth(aiohttp::BasicAuth::new("u", "p")?).await?;
    /// # Ok(()) }
    /// ```
    pub fn auth(mut self, auth: BasicAuth) -> Self {
        self.auth = Some(auth);
        self
    }

    /// Deflate-compress the body (`Content-Encoding: deflate`, sent chunked). An error together
    /// with an explicit `Content-Encoding` header.
    ///
    /// ```no_run
    /// # async fn run(s: aiohttp::ClientSession) -> Result<(), aiohttp::ClientError> {
    /// s.post("http://127.0.0.1:8080/").data("a".repeat(10_000)).compress(true).await?;
    /// # Ok(()) }
    /// ```
    pub fn compress(mut self, compress: bool) -> Self {
        self.compress = compress;
        self
    }

    /// Send the body with chunked transfer encoding, in chunks of at most `size` bytes. An error
    /// together with an explicit `Content-Length` header.
    ///
    /// ```no_run
    /// # async fn run(s: aiohttp::ClientSession) -> Result<(), aiohttp::ClientError> {
    /// s.post("http://127.0.0.1:8080/").data(vec![0u8; 100]).chunked(16).await?;
    /// # Ok(()) }
    /// ```
    pub fn chunked(mut self, size: usize) -> Self {
        if size == 0 {
            self.fail(ClientError::invalid_argument("chunk size must be positive"));
        }
        self.chunked = Some(size);
        self
    }

    /// Send `Expect: 100-continue` and hold the body back until the server answers
    /// `100 Continue`; if it answers with a final status instead, the body is never sent.
    ///
    /// Over HTTP/2 (where hyper does not report `100 Continue`), the body is held for one
    /// second, as curl does: a final answer within it means the body is never sent (the
    /// request's stream ends empty); otherwise the body goes after the second.
    ///
    /// ```no_run
    /// # async fn run(s: aiohttp::ClientSession) -> Result<(), aiohttp::ClientError> {
    /// s.put("http://127.0.0.1:8080/big").data(vec![0u8; 1 << 20]).expect100(true).await?;
    /// # Ok(()) }
    /// ```
    pub fn expect100(mut self, expect: bool) -> Self {
        self.expect100 = expect;
        self
    }

    /// With `false`, a response with neither `Content-Length` nor chunked encoding has an empty
    /// body instead of everything up to the connection's end (default `true`).
    ///
    /// ```no_run
    /// # async fn run(s: aiohttp::ClientSession) -> Result<(), aiohttp::ClientError> {
    /// s.get("http://127.0.0.1:8080/").read_until_eof(false).await?;
    /// # Ok(()) }
    /// ```
    pub fn read_until_eof(mut self, read_until_eof: bool) -> Self {
        self.read_until_eof = read_until_eof;
        self
    }

    /// Whether this response's body is decompressed (default: the session's
    /// `auto_decompress`); with `false`, `read()` gives the body as it came, still encoded.
    ///
    /// ```no_run
    /// # async fn run(s: aiohttp::ClientSession) -> Result<(), aiohttp::ClientError> {
    /// let gz = s.get("http://127.0.0.1:8080/").auto_decompress(false).await?.read().await?;
    /// # Ok(()) }
    /// ```
    pub fn auto_decompress(mut self, on: bool) -> Self {
        self.auto_decompress = Some(on);
        self
    }

    /// The HTTP version for this request (default: the session's): HTTP/1.0, HTTP/1.1 or
    /// HTTP/2. Any other is an `InvalidArgument` error when the request is sent.
    ///
    /// ```no_run
    /// # async fn run(s: aiohttp::ClientSession) -> Result<(), aiohttp::ClientError> {
    /// s.get("http://127.0.0.1:8080/").version(aiohttp::Version::HTTP_10).await?;
    /// # Ok(()) }
    /// ```
    pub fn version(mut self, version: Version) -> Self {
        if let Err(e) = check_version(version) {
            self.fail(e);
        }
        self.version = Some(version);
        self
    }

    /// Override the session's `raise_for_status` for this request.
    ///
    /// ```no_run
    /// # async fn run(s: aiohttp::ClientSession) -> Result<(), aiohttp::ClientError> {
    /// let err = s.get("http://127.0.0.1:8080/missing").raise_for_status(true).await.unwrap_err();
    /// assert_eq!(err.status().map(|s| s.as_u16()), Some(404));
    /// # Ok(()) }
    /// ```
    pub fn raise_for_status(mut self, raise: bool) -> Self {
        self.raise_for_status = Some(StatusPolicy::from_bool(raise));
        self
    }

    /// Check this request's response with `check` (instead of the session's
    /// `raise_for_status`): its error becomes the request's. See [`crate::StatusCheck`].
    ///
    /// ```no_run
    /// # async fn run(s: aiohttp::ClientSession) -> Result<(), aiohttp::ClientError> {
    /// let resp = s
    ///     .get("http://127.0.0.1:8080/")
    ///     .raise_for_status_with(|r| Box::pin(async move {
    ///         if r.headers().contains_key("x-error") {
    ///             let kind = aiohttp::ErrorKind::ClientResponseError;
    ///             return Err(aiohttp::ClientError::new(kind, "the server flagged an error"));
    ///         }
    ///         Ok(())
    ///     }))
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn raise_for_status_with<F>(mut self, check: F) -> Self
    where
        F: for<'a> Fn(&'a mut ClientResponse) -> crate::BoxFuture<'a, Result<(), ClientError>>
            + Send
            + Sync
            + 'static,
    {
        self.raise_for_status = Some(StatusPolicy::Check(std::sync::Arc::new(check)));
        self
    }

    /// The longest status line a response may have (this request; else the session's) (default 8190 bytes, aiohttp's); a
    /// longer one is a `ClientResponseError`, refused before the rest of it is read.
    ///
    /// ```no_run
    /// # fn f(s: aiohttp::ClientSession) {
    /// let _ = s.get("http://127.0.0.1:8080/").max_line_size(4096);
    /// # }
    /// ```
    pub fn max_line_size(mut self, max: usize) -> Self {
        self.limits
            .get_or_insert(self.session.inner.limits)
            .max_line_size = max;
        self
    }

    /// The longest header name, and the longest header value, a response may have (this request; else the session's)
    /// (default 8190 bytes, aiohttp's); a longer one is a `ClientResponseError`, refused before
    /// the rest of it is read.
    ///
    /// ```no_run
    /// # fn f(s: aiohttp::ClientSession) {
    /// let _ = s.get("http://127.0.0.1:8080/").max_field_size(16 * 1024);
    /// # }
    /// ```
    pub fn max_field_size(mut self, max: usize) -> Self {
        self.limits
            .get_or_insert(self.session.inner.limits)
            .max_field_size = max;
        self
    }

    /// The most header lines a response may have (this request; else the session's) (default 100: hyper's parser's own
    /// capacity, where aiohttp allows 128; past 100 the parser allocates for each response);
    /// more is a `ClientResponseError`. Over HTTP/2, hyper's own header list limit applies.
    ///
    /// ```no_run
    /// # fn f(s: aiohttp::ClientSession) {
    /// let _ = s.get("http://127.0.0.1:8080/").max_headers(128);
    /// # }
    /// ```
    pub fn max_headers(mut self, max: usize) -> Self {
        self.limits
            .get_or_insert(self.session.inner.limits)
            .max_headers = max;
        self
    }

    /// The read buffer of the response's content (this request; else the session's) (default 64 KiB, aiohttp's
    /// `read_bufsize`): [`StreamReader::readline`](crate::StreamReader::readline) and
    /// `readuntil` take lines of up to twice this.
    ///
    /// ```no_run
    /// # fn f(s: aiohttp::ClientSession) {
    /// let _ = s.get("http://127.0.0.1:8080/").read_bufsize(256 * 1024);
    /// # }
    /// ```
    pub fn read_bufsize(mut self, size: usize) -> Self {
        self.read_bufsize = Some(size);
        self
    }

    /// A value the session's trace configs see for this request (aiohttp's
    /// `trace_request_ctx`), through [`TraceRequest::request_ctx`](crate::TraceRequest::request_ctx).
    ///
    /// ```no_run
    /// # async fn run(s: aiohttp::ClientSession) -> Result<(), aiohttp::ClientError> {
    /// let resp = s.get("http://127.0.0.1:8080/").trace_request_ctx(42u64).await?;
    /// # Ok(()) }
    /// ```
    pub fn trace_request_ctx<T: std::any::Any + Send + Sync>(mut self, ctx: T) -> Self {
        self.trace_ctx = Some(crate::trace::TraceCtx(std::sync::Arc::new(ctx)));
        self
    }

    /// Override the session's `max_body_size` for this request: the most decoded bytes
    /// `read()`, `text()` and `json()` buffer; `None` removes the limit.
    ///
    /// ```no_run
    /// # async fn run(s: aiohttp::ClientSession) -> Result<(), aiohttp::ClientError> {
    /// let mut resp = s.get("http://127.0.0.1:8080/big").max_body_size(Some(1 << 30)).await?;
    /// let body = resp.read().await?;
    /// # Ok(()) }
    /// ```
    pub fn max_body_size(mut self, max: Option<usize>) -> Self {
        self.max_body_size = Some(max);
        self
    }

    /// Cookies for this request only, sent along with the jar's.
    ///
    /// ```no_run
    /// # async fn run(s: aiohttp::ClientSession) -> Result<(), aiohttp::ClientError> {
    /// s.get("http://127.0.0.1:8080/").cookies([("a", "1")]).await?;
    /// # Ok(()) }
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

    /// Timeouts for this request, replacing the session's: a [`ClientTimeout`], or a
    /// `Duration` for the total. The total covers every redirect and reading the body.
    ///
    /// ```no_run
    /// # async fn run(s: aiohttp::ClientSession) -> Result<(), aiohttp::ClientError> {
    /// use std::time::Duration;
    /// s.get("http://127.0.0.1:8080/").timeout(Duration::from_secs(2)).await?;
    /// # Ok(()) }
    /// ```
    pub fn timeout(mut self, timeout: impl Into<ClientTimeout>) -> Self {
        self.timeout = Some(timeout.into());
        self
    }

    /// Follow redirects (301, 302, 303, 307, 308). The default is `true` for every method but
    /// HEAD. With `false` a 3xx response is returned as it is.
    ///
    /// ```no_run
    /// # async fn run(s: aiohttp::ClientSession) -> Result<(), aiohttp::ClientError> {
    /// let resp = s.get("http://127.0.0.1:8080/moved").allow_redirects(false).await?;
    /// println!("{:?}", resp.headers().get("location"));
    /// # Ok(()) }
    /// ```
    pub fn allow_redirects(mut self, allow: bool) -> Self {
        self.allow_redirects = Some(allow);
        self
    }

    /// The most redirects to follow (default 10); a redirect beyond them is a
    /// `TooManyRedirects` error carrying the responses seen. `0` follows none.
    ///
    /// ```no_run
    /// # async fn run(s: aiohttp::ClientSession) -> Result<(), aiohttp::ClientError> {
    /// match s.get("http://127.0.0.1:8080/loop").max_redirects(3).await {
    ///     Err(e) if e.is_too_many_redirects() => println!("{} hops", e.history().len()),
    ///     other => { other?; }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn max_redirects(mut self, max: usize) -> Self {
        self.max_redirects = max;
        self
    }

    /// The connector of the private session of a one-shot [`aiohttp::request`](crate::request)
    /// (the seed's "Basic API"); an error on a request made from a [`ClientSession`].
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), aiohttp::ClientError> {
    /// let c = aiohttp::TcpConnector::builder().force_close(true).build()?;
    /// let resp = aiohttp::request("GET", "http://127.0.0.1:8080/").connector(c).await?;
    /// # Ok(()) }
    /// ```
    pub fn connector(mut self, connector: impl crate::Connector) -> Self {
        if !self.oneshot {
            self.fail(ClientError::invalid_argument(
                "a connector can only be given to aiohttp::request; configure it on the session",
            ));
            return self;
        }
        match ClientSession::builder().connector(connector).build() {
            Ok(session) => self.session = session,
            Err(e) => self.fail(e),
        }
        self
    }

    /// How this request's TLS connection is verified (aiohttp's `ssl=`), instead of the
    /// connector's choice: `true`/[`Ssl::Verified`], `false`/[`Ssl::Unverified`] (dangerous),
    /// a rustls configuration, or a SHA-256 pin. Connections made with another choice are not
    /// shared with this request.
    ///
    /// ```no_run
    /// # async fn run(s: aiohttp::ClientSession) -> Result<(), aiohttp::ClientError> {
    /// let pin = aiohttp::Ssl::fingerprint(vec![0u8; 32])?;
    /// s.get("https://127.0.0.1:8443/").ssl(pin).await?;
    /// s.get("https://self-signed.test/").ssl(false).await?;
    /// # Ok(()) }
    /// ```
    pub fn ssl(mut self, ssl: impl Into<Ssl>) -> Self {
        self.ssl = Some(ssl.into());
        self
    }

    /// The TLS server name (SNI and the name the certificate must carry), when it is not the
    /// URL's host — e.g. connecting to an IP address for a named service. Part of the pool key.
    ///
    /// ```no_run
    /// # async fn run(s: aiohttp::ClientSession) -> Result<(), aiohttp::ClientError> {
    /// s.get("https://10.0.0.5/").server_hostname("api.internal").await?;
    /// # Ok(()) }
    /// ```
    pub fn server_hostname(mut self, name: impl Into<String>) -> Self {
        self.server_hostname = Some(name.into());
        self
    }

    /// Sends the request through a proxy (aiohttp's `proxy`): `http://` or `https://` (an HTTP
    /// proxy, spoken to over TLS for `https`), `socks4://`, `socks4a://`, `socks5://` or
    /// `socks5h://` (`4a` and `5h` let the proxy resolve the target's name). Credentials in
    /// the URL (`http://user:pass@proxy:3128`) work like [`proxy_auth`](Self::proxy_auth).
    ///
    /// `http://` targets go to an HTTP proxy as forwarded requests (absolute-form request
    /// line, the connection to the proxy kept alive across origins); `https://`, `ws://` and
    /// `wss://` targets go through a `CONNECT` tunnel, with TLS to the target inside it. The
    /// proxy overrides the session's and the environment's.
    ///
    /// ```no_run
    /// # async fn run(s: aiohttp::ClientSession) -> Result<(), aiohttp::ClientError> {
    /// let resp = s.get("https://example.com/").proxy("http://127.0.0.1:3128").await?;
    /// let resp = s.get("http://example.com/").proxy("socks5h://u:p@127.0.0.1:1080").await?;
    /// # Ok(()) }
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

    /// Credentials for the proxy (aiohttp's `proxy_auth`): `Proxy-Authorization: Basic` for an
    /// HTTP proxy, RFC 1929 for SOCKS5, the user id for SOCKS4. Sent to the proxy only, never
    /// to an origin. Credentials in the proxy URL as well are an error.
    ///
    /// ```no_run
    /// # async fn run(s: aiohttp::ClientSession) -> Result<(), aiohttp::ClientError> {
    /// let auth = aiohttp::BasicAuth::new("user", "pass")?;
    /// s.get("http://example.com/").proxy("http://127.0.0.1:3128").proxy_auth(auth).await?;
    /// # Ok(()) }
    /// ```
    pub fn proxy_auth(mut self, auth: BasicAuth) -> Self {
        self.proxy.auth = Some(auth);
        self
    }

    /// Headers for an HTTP proxy (aiohttp's `proxy_headers`): sent with `CONNECT` and with
    /// forwarded requests, never to an origin through a tunnel.
    ///
    /// ```no_run
    /// # async fn run(s: aiohttp::ClientSession) -> Result<(), aiohttp::ClientError> {
    /// let mut h = http::HeaderMap::new();
    /// h.insert("x-proxy-team", http::HeaderValue::from_static("search"));
    /// s.get("https://example.com/").proxy("http://127.0.0.1:3128").proxy_headers(h).await?;
    /// # Ok(()) }
    /// ```
    pub fn proxy_headers(mut self, headers: HeaderMap) -> Self {
        self.proxy.headers = headers;
        self
    }

    /// How an `https://` proxy's own certificate is verified (default: against the trust
    /// roots); the target's is verified as [`ssl`](Self::ssl) says.
    ///
    /// ```no_run
    /// # async fn run(s: aiohttp::ClientSession) -> Result<(), aiohttp::ClientError> {
    /// s.get("https://example.com/").proxy("https://proxy.test:8443").proxy_ssl(false).await?;
    /// # Ok(()) }
    /// ```
    pub fn proxy_ssl(mut self, ssl: impl Into<Ssl>) -> Self {
        self.proxy.ssl = Some(ssl.into());
        self
    }

    /// The middlewares of this request (aiohttp's per-request `middlewares=`), in order, the
    /// first outermost; they replace the session's. An empty list sends the request without
    /// any, as a middleware should for the requests it makes itself with its own session.
    /// See [`Middleware`](crate::Middleware).
    ///
    /// ```no_run
    /// # async fn run(s: aiohttp::ClientSession) -> Result<(), aiohttp::ClientError> {
    /// use std::sync::Arc;
    /// let digest: Arc<dyn aiohttp::Middleware> = Arc::new(aiohttp::DigestAuth::new("u", "p")?);
    /// s.get("http://127.0.0.1:8080/private").middlewares([digest]).await?;
    /// // Without the session's middlewares.
    /// s.get("http://127.0.0.1:8080/token").middlewares([]).await?;
    /// # Ok(()) }
    /// ```
    pub fn middlewares<I>(mut self, middlewares: I) -> Self
    where
        I: IntoIterator<Item = std::sync::Arc<dyn Middleware>>,
    {
        self.middlewares = Some(middlewares.into_iter().collect());
        self
    }

    /// Adds a middleware to this request's own list (which replaces the session's; see
    /// [`middlewares`](Self::middlewares)); it runs inside those added before it.
    ///
    /// ```no_run
    /// # async fn run(s: aiohttp::ClientSession) -> Result<(), aiohttp::ClientError> {
    /// s.get("http://127.0.0.1:8080/private")
    ///     .middleware(aiohttp::DigestAuth::new("user", "pass")?)
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn middleware(mut self, middleware: impl Middleware) -> Self {
        self.middlewares
            .get_or_insert_with(Vec::new)
            .push(std::sync::Arc::new(middleware));
        self
    }

    /// Sends the request, follows redirects, and waits for the final response head.
    ///
    /// # Errors
    /// Anything in [`ClientError`]'s tree: invalid arguments before sending, connection
    /// failures, a malformed response, a rejected redirect, `raise_for_status`.
    ///
    /// ```no_run
    /// # async fn run(s: aiohttp::ClientSession) -> Result<(), aiohttp::ClientError> {
    /// let resp = s.get("http://127.0.0.1:8080/").send().await?;
    /// # Ok(()) }
    /// ```
    pub fn send(self) -> impl Future<Output = Result<ClientResponse, ClientError>> + Send {
        let session = self.session.inner.clone();
        crate::run::send(session, self.into_plan())
    }

    /// Splits the builder into the request's plan (what is sent, hop after hop) and how it is
    /// exchanged. Checks the arguments and the URL; no I/O.
    pub(crate) fn into_plan(self) -> Result<(Plan, Exchange), ClientError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let session = &self.session.inner;
        let url = self
            .url
            .ok_or_else(|| ClientError::new(ErrorKind::InvalidUrlClientError, "no URL"))?;
        check_http_url(&url)?;
        let (url, url_auth) = split_credentials(url)?;
        if url_auth.is_some() && self.auth.is_some() {
            return Err(ClientError::invalid_argument(
                "cannot combine the auth argument with credentials encoded in the URL",
            ));
        }
        let body = match self.payload {
            Payload::None => None,
            Payload::Data(b) => Some(b),
            Payload::Json(bytes) => Some(Body::from(bytes?).with_content_type("application/json")),
        };
        let exchange = Exchange {
            opts: SendOptions {
                read_until_eof: self.read_until_eof,
                auto_decompress: self.auto_decompress.unwrap_or(session.auto_decompress),
                max_body_size: self.max_body_size.unwrap_or(session.max_body_size),
                ssl: self.ssl,
                server_hostname: self.server_hostname,
                // Started when the request starts running (redirect::send).
                timeouts: Timeouts::default(),
                upgrade: false,
                proxy: crate::proxy::ProxyOptions::resolve(&self.proxy, &session.proxy)?,
                limits: self.limits.unwrap_or(session.limits),
                read_bufsize: self.read_bufsize.unwrap_or(session.read_bufsize),
            },
            timeout: self.timeout.unwrap_or(session.timeout),
            raise_for_status: self
                .raise_for_status
                .unwrap_or_else(|| session.raise_for_status.clone()),
            allow_redirects: self
                .allow_redirects
                .unwrap_or_else(|| crate::policy::follows_redirects_by_default(&self.method)),
            max_redirects: self.max_redirects,
            trace_ctx: self.trace_ctx,
            trace: None,
            middlewares: match self.middlewares {
                Some(own) => Chain::new(own),
                None => session.middlewares.clone(),
            },
        };
        let plan = Plan {
            origin: session.auth.as_ref().map(|_| url.origin()),
            method: self.method,
            url: Some(url),
            headers: self.headers,
            skip_auto_headers: self.skip_auto_headers,
            dropped: Vec::new(),
            body,
            replay: None,
            sent_body: false,
            auth: self.auth.or(url_auth),
            compress: self.compress,
            chunked: self.chunked,
            expect100: self.expect100,
            version: self.version.unwrap_or(session.version),
            cookies: self.cookies,
            no_secure_cookies: false,
        };
        Ok((plan, exchange))
    }
}

impl IntoFuture for RequestBuilder {
    type Output = Result<ClientResponse, ClientError>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.send())
    }
}

/// Marks the value of a header that carries credentials (`Authorization`, `Proxy-Authorization`,
/// `Cookie`) as sensitive: `Debug` output shows it as `Sensitive`, and HTTP/2 never puts it in
/// its compression table.
pub(crate) fn guard_secret(name: &HeaderName, value: &mut HeaderValue) {
    if *name == header::AUTHORIZATION
        || *name == header::PROXY_AUTHORIZATION
        || *name == header::COOKIE
    {
        value.set_sensitive(true);
    }
}

/// HTTP/1.0, HTTP/1.1 and HTTP/2 are spoken; HTTP/0.9 and HTTP/3 are not.
pub(crate) fn check_version(version: Version) -> Result<(), ClientError> {
    if matches!(
        version,
        Version::HTTP_10 | Version::HTTP_11 | Version::HTTP_2
    ) {
        Ok(())
    } else {
        Err(ClientError::invalid_argument(format!(
            "unsupported HTTP version {version:?}: use HTTP/1.0, HTTP/1.1 or HTTP/2"
        )))
    }
}

/// Builds the head of a request's first exchange: [`RequestBuilder::into_plan`] then
/// [`Plan::head`] over the session's defaults. No I/O.
pub(crate) fn prepare(
    session: &SessionInner,
    req: RequestBuilder,
) -> Result<Prepared, ClientError> {
    let (mut plan, _) = req.into_plan()?;
    let url = plan
        .url()
        .ok_or_else(|| ClientError::invalid_argument("the request was already sent"))?;
    let (_, head) = session.origin(url)?;
    plan.head(&session.defaults(), &head)
}

/// An http(s) URL with a host.
fn check_http_url(url: &Url) -> Result<(), ClientError> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ClientError::new(
            ErrorKind::NonHttpUrlClientError,
            format!("unsupported URL scheme {:?}", url.scheme()),
        )
        .with_url(url));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(
            ClientError::new(ErrorKind::InvalidUrlClientError, "the URL has no host").with_url(url),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::head::BodyState;
    use std::sync::Arc;

    #[test]
    fn only_spoken_versions_are_accepted() {
        for ok in [Version::HTTP_10, Version::HTTP_11, Version::HTTP_2] {
            assert!(check_version(ok).is_ok(), "{ok:?}");
        }
        for no in [Version::HTTP_09, Version::HTTP_3] {
            assert!(
                check_version(no).is_err_and(|e| e.is_invalid_argument()),
                "{no:?}"
            );
        }
    }

    #[test]
    fn credential_headers_are_marked_sensitive() {
        for (name, sensitive) in [
            (header::AUTHORIZATION, true),
            (header::PROXY_AUTHORIZATION, true),
            (header::COOKIE, true),
            (header::ACCEPT, false),
            (header::SET_COOKIE, false),
        ] {
            let mut value = HeaderValue::from_static("x");
            guard_secret(&name, &mut value);
            assert_eq!(value.is_sensitive(), sensitive, "{name}");
        }
    }

    fn session() -> ClientSession {
        ClientSession::new()
    }

    fn head(b: RequestBuilder) -> Result<Prepared, ClientError> {
        let s = b.session.clone();
        prepare(&s.inner, b)
    }

    fn names(p: &Prepared) -> Vec<String> {
        p.headers.keys().map(|k| k.as_str().to_string()).collect()
    }

    #[test]
    fn params_table() {
        let s = session();
        let cases: Vec<(RequestBuilder, &str)> = vec![
            (
                s.get("http://h/p").params(&[("a", "1")][..]),
                "http://h/p?a=1",
            ),
            (
                s.get("http://h/p?x=0").params([("a", "1"), ("a", "2")]),
                "http://h/p?x=0&a=1&a=2",
            ),
            (
                s.get("http://h/p#frag").params([("a", "b c")]),
                "http://h/p?a=b+c",
            ),
            (s.get("http://h/p?").params([("k", 5)]), "http://h/p?k=5"),
            (s.get("http://h/p").params("a=%2F&b"), "http://h/p?a=%2F&b"),
            (s.get("http://h/p?x=1").params("y=2"), "http://h/p?x=1&y=2"),
            (
                s.get("http://h/p")
                    .params(std::collections::BTreeMap::from([("b", "2"), ("a", "1")])),
                "http://h/p?a=1&b=2",
            ),
            (
                s.get("http://h/p").params(Vec::<(&str, &str)>::new()),
                "http://h/p",
            ),
        ];
        for (b, want) in cases {
            let p = head(b).expect("prepared");
            assert_eq!(p.url.as_str(), want);
        }
    }

    #[test]
    fn auto_headers_and_lengths_by_method() {
        let s = session();
        let p = head(s.get("http://h:81/")).expect("get");
        assert_eq!(
            names(&p),
            ["host", "accept", "accept-encoding", "user-agent"]
        );
        assert_eq!(p.headers["host"], "h:81");
        assert_eq!(p.headers["accept"], "*/*");
        assert_eq!(p.headers["accept-encoding"], "gzip, deflate, br, zstd");
        assert!(p.headers["user-agent"]
            .to_str()
            .unwrap_or("")
            .starts_with("aiohttp-rs/"));
        for m in ["GET", "HEAD", "OPTIONS", "TRACE"] {
            let p = head(s.request(m, "http://h/")).expect("no body");
            assert!(!p.headers.contains_key("content-length"), "{m}");
        }
        for m in ["POST", "PUT", "PATCH", "DELETE"] {
            let p = head(s.request(m, "http://h/")).expect("no body");
            assert_eq!(p.headers["content-length"], "0", "{m}");
        }
    }

    #[test]
    fn content_type_by_body_kind() {
        let s = session();
        let cases: Vec<(RequestBuilder, &str, &str)> = vec![
            (
                s.post("http://h/").data(vec![1u8, 2]),
                "application/octet-stream",
                "2",
            ),
            (
                s.post("http://h/").data([("a", "b")]),
                "application/x-www-form-urlencoded",
                "3",
            ),
            (
                s.post("http://h/").json(&serde_json::json!({"a": 1})),
                "application/json",
                "7",
            ),
            (
                s.post("http://h/").data(String::from("hé")),
                "text/plain; charset=utf-8",
                "3",
            ),
        ];
        for (b, ct, len) in cases {
            let p = head(b).expect("prepared");
            assert_eq!(p.headers["content-type"], ct);
            assert_eq!(p.headers["content-length"], len);
        }
        let p = head(
            s.post("http://h/")
                .data(vec![1u8])
                .header("content-type", "x/y")
                .skip_auto_headers(["Accept"]),
        )
        .expect("explicit");
        assert_eq!(p.headers["content-type"], "x/y");
        assert!(!p.headers.contains_key("accept"));
        let p = head(
            s.post("http://h/")
                .data(vec![1u8])
                .skip_auto_headers(["content-type"]),
        )
        .expect("skipped");
        assert!(!p.headers.contains_key("content-type"));
        assert_eq!(p.headers["content-length"], "1");
    }

    #[test]
    fn skip_auto_headers_cannot_skip_content_length() {
        let s = session();
        let p = head(s.post("http://h/").skip_auto_headers([
            "Content-Length",
            "User-Agent",
            "Accept-Encoding",
            "Host",
        ]))
        .expect("prepared");
        assert_eq!(p.headers["content-length"], "0");
        assert!(!p.headers.contains_key("user-agent"));
        assert!(!p.headers.contains_key("accept-encoding"));
        assert!(!p.headers.contains_key("host"));
    }

    #[test]
    fn session_headers_merge_and_request_wins() {
        let s = ClientSession::builder()
            .header("X-A", "session")
            .header("X-B", "session")
            .header("User-Agent", "custom")
            .build()
            .expect("session");
        let p = head(s.get("http://h/").header("x-a", "request")).expect("prepared");
        let a: Vec<_> = p.headers.get_all("x-a").iter().collect();
        assert_eq!(a, ["request"]);
        assert_eq!(p.headers["x-b"], "session");
        assert_eq!(p.headers["user-agent"], "custom");
    }

    #[test]
    fn invalid_input_fails_before_sending() {
        let s = session();
        let cases: Vec<(RequestBuilder, ErrorKind)> = vec![
            (s.request("GE T", "http://h/"), ErrorKind::InvalidArgument),
            (
                s.request("GET\r\n", "http://h/"),
                ErrorKind::InvalidArgument,
            ),
            (
                s.get("http://h/").header("x-a", "a\r\nb: c"),
                ErrorKind::InvalidArgument,
            ),
            (
                s.get("http://h/").header("x-a", "a\0"),
                ErrorKind::InvalidArgument,
            ),
            (
                s.get("http://h/").header("x-a", "a\x07"),
                ErrorKind::InvalidArgument,
            ),
            (
                s.get("http://h/").header("x a", "v"),
                ErrorKind::InvalidArgument,
            ),
            (s.get("ftp://h/"), ErrorKind::NonHttpUrlClientError),
            (s.get("http://"), ErrorKind::InvalidUrlClientError),
            (s.get("not a url"), ErrorKind::InvalidUrlClientError),
            (s.get("http://[::1/"), ErrorKind::InvalidUrlClientError),
            (
                s.post("http://h/").data("x").json(&1),
                ErrorKind::InvalidArgument,
            ),
            (
                s.post("http://h/").json(&1).data("x"),
                ErrorKind::InvalidArgument,
            ),
            (
                s.post("http://h/")
                    .data("x")
                    .compress(true)
                    .header("content-encoding", "br"),
                ErrorKind::InvalidArgument,
            ),
            (
                s.post("http://h/")
                    .data("x")
                    .chunked(4)
                    .header("content-length", "1"),
                ErrorKind::InvalidArgument,
            ),
            (
                s.get("http://u:p@h/")
                    .auth(BasicAuth::new("a", "b").expect("auth")),
                ErrorKind::InvalidArgument,
            ),
            (
                s.get("http://h/")
                    .auth(BasicAuth::new("a", "b").expect("auth"))
                    .header("authorization", "Bearer x"),
                ErrorKind::InvalidArgument,
            ),
        ];
        for (i, (b, kind)) in cases.into_iter().enumerate() {
            let err = head(b).expect_err("must fail");
            assert_eq!(err.kind(), kind, "case {i}: {err}");
        }
    }

    #[test]
    fn credentials_in_url_become_basic_auth() {
        let s = session();
        let p = head(s.get("http://us%20er:p%40ss@h/x")).expect("prepared");
        assert_eq!(p.url.as_str(), "http://h/x");
        let want = BasicAuth::new("us er", "p@ss").expect("auth").encode();
        assert_eq!(p.headers["authorization"], want.as_str());
    }

    #[test]
    fn compress_chunked_and_expect100_framing() {
        let s = session();
        let p = head(s.post("http://h/").data("abc").compress(true)).expect("compress");
        assert_eq!(p.headers["content-encoding"], "deflate");
        assert_eq!(p.headers["transfer-encoding"], "chunked");
        assert!(!p.headers.contains_key("content-length"));
        let p = head(s.post("http://h/").data("abc").chunked(1)).expect("chunked");
        assert_eq!(p.headers["transfer-encoding"], "chunked");
        assert!(!p.headers.contains_key("content-length"));
        let p = head(s.post("http://h/").data("abc").expect100(true)).expect("expect");
        assert_eq!(p.headers["expect"], "100-continue");
        let stream = futures_util::stream::iter(vec![Ok::<_, std::io::Error>("a")]);
        let p = head(s.post("http://h/").data(Body::wrap_stream(stream))).expect("stream");
        assert_eq!(p.headers["transfer-encoding"], "chunked");
    }

    #[test]
    fn cookies_merge_with_explicit_header() {
        let s = session();
        let p = head(
            s.get("http://h/")
                .header("cookie", "a=1")
                .cookies([("b", "2")]),
        )
        .expect("prepared");
        assert_eq!(p.headers["cookie"], "a=1; b=2");
    }

    #[test]
    fn fragment_is_removed_but_kept_in_real_url() {
        let p = head(session().get("http://h/p?q=1#top")).expect("prepared");
        assert_eq!(p.url.as_str(), "http://h/p?q=1");
        assert_eq!(p.real_url.as_deref().and_then(Url::fragment), Some("top"));
    }

    // ---- redirect hops: what each exchange of a chain sends ----

    /// The head of the plan's next exchange on `s`.
    fn next_head(s: &ClientSession, p: &mut Plan) -> Result<Prepared, ClientError> {
        let url = p.url().expect("url");
        let (_, head) = s.inner.origin(url)?;
        p.head(&s.inner.defaults(), &head)
    }

    #[test]
    fn plain_head_is_what_the_steps_build() {
        use crate::head::OriginHead;
        let b = ClientSession::builder;
        let auth = || BasicAuth::new("u", "p").expect("auth");
        let sessions = [
            ClientSession::new(),
            b().header("X-A", "1")
                .header("Accept", "text/html")
                .build()
                .expect("s"),
            b().skip_auto_headers(["User-Agent", "Host"])
                .build()
                .expect("s"),
            b().header("Host", "other.test").build().expect("s"),
            b().auth(auth()).build().expect("s"),
            // Headers the steps rewrite: a Cookie line is normalised, Transfer-Encoding framed.
            b().header("Cookie", "a=1;b=2").build().expect("s"),
            b().header("Transfer-Encoding", "chunked")
                .build()
                .expect("s"),
        ];
        for s in &sessions {
            let with_cookie = ClientSession::new();
            with_cookie.cookie_jar().update_cookies(
                &[crate::Cookie::parse("k=v").expect("cookie")],
                Some(&Url::parse("http://h.test/").expect("url")),
            );
            type Make<'a> = Box<dyn Fn(&ClientSession) -> RequestBuilder + 'a>;
            // (request, takes the plain head)
            let requests: [(Make<'_>, bool); 7] = [
                (Box::new(|s| s.get("http://h.test/a?b=1")), true),
                (Box::new(|s| s.head("http://h.test/")), true),
                (Box::new(|s| s.get("http://h.test/#frag")), true),
                (Box::new(|s| s.post("http://h.test/")), false),
                (
                    Box::new(|s| s.get("http://h.test/").header("X-R", "1")),
                    false,
                ),
                (
                    Box::new(|s| s.get("http://h.test/").cookies([("c", "1")])),
                    false,
                ),
                (Box::new(|s| s.get("http://u:p@h.test/")), false),
            ];
            for (make, plain) in &requests {
                let (mut fast, _) = make(s).into_plan().expect("plan");
                let (mut slow, _) = make(s).into_plan().expect("plan");
                let url = fast.url().expect("url").clone();
                let (_, head) = s.inner.origin(&url).expect("origin");
                let steps_only = OriginHead {
                    host: head.host.clone(),
                    plain: None,
                };
                let a = fast.head(&s.inner.defaults(), &head).expect("head");
                let b = slow.head(&s.inner.defaults(), &steps_only).expect("head");
                let shared = head
                    .plain
                    .as_ref()
                    .is_some_and(|p| Arc::ptr_eq(p, &a.headers));
                // Session credentials make every request to the first origin add something.
                let plain = *plain && s.inner.auth.is_none();
                assert_eq!(shared, plain, "{url}");
                let list = |h: &HeaderMap| -> Vec<(String, String)> {
                    h.iter()
                        .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("?").to_string()))
                        .collect()
                };
                assert_eq!(list(&a.headers), list(&b.headers), "{url}");
            }
            // A cookie in the jar for the URL is added: not the plain head.
            let (mut p, _) = with_cookie.get("http://h.test/").into_plan().expect("plan");
            let (_, head) = with_cookie
                .inner
                .origin(&Url::parse("http://h.test/").expect("url"))
                .expect("origin");
            let a = p.head(&with_cookie.inner.defaults(), &head).expect("head");
            assert_eq!(
                a.headers.get("cookie").map(|v| v.to_str().unwrap_or("?")),
                Some("k=v")
            );
        }
    }

    fn plan(b: RequestBuilder) -> (ClientSession, Plan) {
        let s = b.session.clone();
        let (plan, _) = b.into_plan().expect("plan");
        (s, plan)
    }

    /// Sends nothing: builds the head, then applies the redirect `decide` chooses.
    fn hop(s: &ClientSession, p: &mut Plan, status: u16, location: &'static str) -> Prepared {
        use crate::redirect::{decide, Decision, Hop, Policy};
        let head = next_head(s, p).expect("head");
        let loc = HeaderValue::from_static(location);
        let decision = decide(
            &Hop {
                status: http::StatusCode::from_u16(status).expect("status"),
                method: &p.method,
                location: Some(&loc),
                url: &head.url,
                body: p.body_state(),
                followed: 0,
            },
            &Policy {
                allow: true,
                max: 10,
                requote: true,
            },
        )
        .expect("decides");
        match decision {
            Decision::Follow(next) => p.follow(next).expect("follows"),
            other => panic!("not a redirect: {other:?}"),
        }
        head
    }

    fn get(p: &Prepared, name: &str) -> Option<String> {
        p.headers
            .get(name)
            .map(|v| v.to_str().unwrap_or("?").to_string())
    }

    fn basic(login: &str, password: &str) -> String {
        BasicAuth::new(login, password).expect("auth").encode()
    }

    #[test]
    fn crossing_origins_drops_every_credential_of_the_request() {
        let s = ClientSession::builder()
            .header("Proxy-Authorization", "Basic c2Vzc2lvbg==")
            .header("X-Session", "kept")
            .build()
            .expect("session");
        let (s, mut p) = plan(
            s.get("http://a.test/start")
                .header("Authorization", "Bearer secret")
                .header("Cookie", "explicit=1")
                .header("X-Request", "kept")
                .cookies([("own", "1")]),
        );
        let first = hop(&s, &mut p, 302, "/same-origin");
        assert_eq!(
            get(&first, "authorization").as_deref(),
            Some("Bearer secret")
        );
        assert_eq!(get(&first, "cookie").as_deref(), Some("explicit=1; own=1"));
        let same = hop(&s, &mut p, 302, "http://b.test:8080/other");
        assert_eq!(same.url.as_str(), "http://a.test/same-origin");
        assert_eq!(
            get(&same, "authorization").as_deref(),
            Some("Bearer secret")
        );
        assert!(get(&same, "proxy-authorization").is_some());
        assert_eq!(get(&same, "cookie").as_deref(), Some("explicit=1; own=1"));
        let other = hop(&s, &mut p, 307, "http://a.test/back");
        assert_eq!(other.url.as_str(), "http://b.test:8080/other");
        assert_eq!(get(&other, "host").as_deref(), Some("b.test:8080"));
        for name in ["authorization", "proxy-authorization", "cookie"] {
            assert!(get(&other, name).is_none(), "{name} crossed origins");
        }
        assert_eq!(get(&other, "x-session").as_deref(), Some("kept"));
        assert_eq!(get(&other, "x-request").as_deref(), Some("kept"));
        // Back on the first origin, what was dropped stays dropped.
        let back = next_head(&s, &mut p).expect("head");
        assert_eq!(back.url.as_str(), "http://a.test/back");
        for name in ["authorization", "proxy-authorization", "cookie"] {
            assert!(get(&back, name).is_none(), "{name} came back");
        }
    }

    #[test]
    fn session_auth_goes_to_the_first_origin_only() {
        let s = ClientSession::builder()
            .auth(BasicAuth::new("session", "pw").expect("auth"))
            .build()
            .expect("session");
        let (s, mut p) = plan(s.get("http://a.test/"));
        let want = basic("session", "pw");
        let first = hop(&s, &mut p, 302, "https://a.test/");
        assert_eq!(get(&first, "authorization"), Some(want.clone()));
        let upgraded = hop(&s, &mut p, 302, "http://a.test/again");
        assert!(get(&upgraded, "authorization").is_none(), "scheme change");
        let again = hop(&s, &mut p, 302, "http://a.test:81/");
        assert_eq!(get(&again, "authorization"), Some(want));
        let port = next_head(&s, &mut p).expect("head");
        assert!(get(&port, "authorization").is_none(), "port change");
    }

    #[test]
    fn request_auth_is_dropped_for_good_and_location_credentials_are_used() {
        let s = session();
        let (s, mut p) = plan(
            s.get("http://a.test/")
                .auth(BasicAuth::new("req", "pw").expect("auth")),
        );
        let first = hop(&s, &mut p, 302, "http://b.test/");
        assert_eq!(get(&first, "authorization"), Some(basic("req", "pw")));
        let crossed = hop(&s, &mut p, 302, "http://a.test/");
        assert!(get(&crossed, "authorization").is_none());
        let back = hop(&s, &mut p, 302, "http://loc:secret@c.test/in");
        assert!(get(&back, "authorization").is_none());
        let with_creds = next_head(&s, &mut p).expect("head");
        assert_eq!(with_creds.url.as_str(), "http://c.test/in");
        assert_eq!(
            get(&with_creds, "authorization"),
            Some(basic("loc", "secret"))
        );
    }

    #[test]
    fn dropped_bodies_take_their_headers_and_framing_along() {
        let s = ClientSession::builder()
            .header("Content-Language", "en")
            .build()
            .expect("session");
        let (s, mut p) = plan(
            s.post("http://a.test/form")
                .data("abc")
                .header("Content-Type", "x/y")
                .compress(true)
                .expect100(true),
        );
        let first = hop(&s, &mut p, 307, "/kept");
        assert_eq!(get(&first, "content-type").as_deref(), Some("x/y"));
        assert_eq!(get(&first, "content-encoding").as_deref(), Some("deflate"));
        assert!(first.body.is_some());
        let kept = hop(&s, &mut p, 303, "/seen");
        assert_eq!(kept.method, Method::POST);
        assert_eq!(
            kept.body
                .as_ref()
                .and_then(Body::as_bytes)
                .map(|b| b.to_vec()),
            Some(b"abc".to_vec())
        );
        assert_eq!(get(&kept, "content-type").as_deref(), Some("x/y"));
        let get_ = next_head(&s, &mut p).expect("head");
        assert_eq!(get_.method, Method::GET);
        assert!(get_.body.is_none());
        for name in [
            "content-type",
            "content-length",
            "content-encoding",
            "transfer-encoding",
            "expect",
        ] {
            assert!(
                get(&get_, name).is_none(),
                "{name} after the body was dropped"
            );
        }
        assert_eq!(get(&get_, "content-language").as_deref(), Some("en"));
    }

    #[test]
    fn streams_are_not_replayable() {
        let s = session();
        let stream = futures_util::stream::iter(vec![Ok::<_, std::io::Error>("a")]);
        let (s, mut p) = plan(s.post("http://a.test/").data(Body::wrap_stream(stream)));
        assert_eq!(p.body_state(), BodyState::Empty);
        let _ = next_head(&s, &mut p).expect("head");
        assert_eq!(p.body_state(), BodyState::Consumed);
        let (s, mut p) = plan(session().post("http://a.test/").data("x"));
        let _ = next_head(&s, &mut p).expect("head");
        assert_eq!(p.body_state(), BodyState::Replayable);
        let _ = s;
    }

    #[test]
    fn no_secure_cookie_after_a_downgrade() {
        use crate::cookie::AbstractCookieJar;
        let jar = crate::CookieJar::new()
            .treat_as_secure_origin(["http://a.test"])
            .expect("origin");
        jar.update_cookies(
            &[
                cookie::Cookie::parse("s=1; Secure").expect("cookie"),
                cookie::Cookie::parse("p=1").expect("cookie"),
            ],
            Some(&Url::parse("https://a.test/").expect("url")),
        );
        let s = ClientSession::builder()
            .cookie_jar(jar)
            .build()
            .expect("session");
        // Declared secure: sent over http.
        let direct = head(s.get("http://a.test/")).expect("head");
        assert_eq!(get(&direct, "cookie").as_deref(), Some("s=1; p=1"));
        let (s, mut p) = plan(s.get("https://a.test/"));
        let first = hop(&s, &mut p, 302, "http://a.test/");
        assert_eq!(get(&first, "cookie").as_deref(), Some("s=1; p=1"));
        let down = hop(&s, &mut p, 302, "https://a.test/up");
        assert_eq!(get(&down, "cookie").as_deref(), Some("p=1"));
        let up = next_head(&s, &mut p).expect("head");
        assert_eq!(get(&up, "cookie").as_deref(), Some("s=1; p=1"));
    }

    #[test]
    fn session_auth_and_an_authorization_header_conflict() {
        let s = ClientSession::builder()
            .auth(BasicAuth::new("u", "p").expect("auth"))
            .header("Authorization", "Bearer x")
            .build()
            .expect("session");
        let err = head(s.get("http://a.test/")).expect_err("conflict");
        assert!(err.is_invalid_argument());
        let s = ClientSession::builder()
            .auth(BasicAuth::new("u", "p").expect("auth"))
            .build()
            .expect("session");
        let err = head(s.get("http://a.test/").header("Authorization", "Bearer x"))
            .expect_err("conflict");
        assert!(err.is_invalid_argument());
        // A URL's credentials win over the session's, without conflict.
        let p = head(s.get("http://x:y@a.test/")).expect("head");
        assert_eq!(get(&p, "authorization"), Some(basic("x", "y")));
    }

    #[test]
    fn base_url_resolution_table() {
        let s = ClientSession::builder()
            .base_url("http://h.test/api/v1/")
            .auth(BasicAuth::new("u", "p").expect("auth"))
            .build()
            .expect("session");
        let cases = [
            ("users", "http://h.test/api/v1/users"),
            ("users/7?x=1", "http://h.test/api/v1/users/7?x=1"),
            ("/health", "http://h.test/health"),
            ("../v2/x", "http://h.test/api/v2/x"),
            ("", "http://h.test/api/v1/"),
            ("http://other.test/p", "http://other.test/p"),
            ("//cdn.test/x", "http://cdn.test/x"),
        ];
        for (input, want) in cases {
            let p = head(s.get(input)).expect(input);
            assert_eq!(p.url.as_str(), want, "{input}");
            let authed = get(&p, "authorization").is_some();
            assert_eq!(authed, want.starts_with("http://h.test/"), "{input}");
        }
        let p = head(s.get(Url::parse("http://abs.test/").expect("url"))).expect("url");
        assert_eq!(p.url.as_str(), "http://abs.test/");
        for bad in ["http://h.test/api", "ftp://h.test/", "/relative/"] {
            let err = ClientSession::builder()
                .base_url(bad)
                .build()
                .expect_err(bad);
            assert!(
                err.is_invalid_argument() || err.is_invalid_url(),
                "{bad}: {err}"
            );
        }
        let none = head(session().get("relative/path")).expect_err("no base");
        assert_eq!(none.kind(), ErrorKind::InvalidUrlClientError);
    }

    #[test]
    fn redirect_policy_defaults() {
        let s = session();
        let cases = [
            (s.get("http://h/"), true, DEFAULT_MAX_REDIRECTS),
            (s.head("http://h/"), false, DEFAULT_MAX_REDIRECTS),
            (s.head("http://h/").allow_redirects(true), true, 10),
            (s.post("http://h/").allow_redirects(false), false, 10),
            (s.options("http://h/").max_redirects(2), true, 2),
        ];
        for (b, allow, max) in cases {
            let (_, exchange) = b.into_plan().expect("plan");
            assert_eq!(exchange.allow_redirects, allow);
            assert_eq!(exchange.max_redirects, max);
        }
    }
}
