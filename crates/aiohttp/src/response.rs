//! `ClientResponse`: status, headers as parsed and as received, and the body as bytes, text,
//! JSON or a stream.

use std::fmt;
use std::sync::OnceLock;

use bytes::Bytes;
use http::header::{self, HeaderMap};
use http::{Method, StatusCode, Version};
use url::Url;

use crate::connector::{ConnShared, Connection, Lease};
use crate::decode;
use crate::error::{ClientError, ErrorKind, ResponseDetails};
use crate::info::RequestInfo;
use crate::options::SendOptions;
use crate::proto::body::LeasedBody;
use crate::proto::h1::RawHead;
use crate::proto::Sent;
use crate::stream::{BodyStream, StreamReader};

/// The most decoded bytes [`ClientResponse::read`] buffers unless the session or the request
/// sets another `max_body_size`: 256 MiB.
///
/// ```
/// assert_eq!(aiohttp::DEFAULT_MAX_BODY_SIZE, 256 * 1024 * 1024);
/// ```
pub const DEFAULT_MAX_BODY_SIZE: usize = 256 * 1024 * 1024;

/// A check of each response before the session hands it out (aiohttp's `raise_for_status`
/// given a callable): an async function given the response, whose error becomes the request's.
/// It may read the body. Set with `raise_for_status_with` on the session or the request.
///
/// ```
/// use aiohttp::{BoxFuture, ClientError, ClientResponse};
///
/// fn teapots_fail(resp: &mut ClientResponse) -> BoxFuture<'_, Result<(), ClientError>> {
///     Box::pin(async move {
///         if resp.status() == 418 {
///             let body = resp.text().await?;
///             let why = format!("a teapot: {body}");
///             return Err(ClientError::new(aiohttp::ErrorKind::ClientResponseError, why));
///         }
///         Ok(())
///     })
/// }
/// let session = aiohttp::ClientSession::builder()
///     .raise_for_status_with(teapots_fail)
///     .build()
///     .unwrap();
/// ```
pub type StatusCheck = std::sync::Arc<
    dyn for<'a> Fn(&'a mut ClientResponse) -> crate::BoxFuture<'a, Result<(), ClientError>>
        + Send
        + Sync,
>;

/// The session's `fallback_charset_resolver` (aiohttp 3.8.6+): given the response and its body,
/// the charset label `text()` decodes with when `Content-Type` names none (or one that is
/// unknown). Without one, the encoding is detected from the bytes.
///
/// ```
/// let session = aiohttp::ClientSession::builder()
///     .fallback_charset_resolver(|_resp, _body| "windows-1251".to_string())
///     .build()
///     .unwrap();
/// ```
pub type CharsetResolver = std::sync::Arc<dyn Fn(&ClientResponse, &[u8]) -> String + Send + Sync>;

/// What the session does with a response's status before handing it out.
#[derive(Clone, Default)]
pub(crate) enum StatusPolicy {
    #[default]
    Off,
    /// A status of 400 or more is a `ClientResponseError`.
    Raise,
    Check(StatusCheck),
}

impl StatusPolicy {
    pub(crate) fn from_bool(raise: bool) -> Self {
        if raise {
            StatusPolicy::Raise
        } else {
            StatusPolicy::Off
        }
    }
}

impl fmt::Debug for StatusPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StatusPolicy::Off => "Off",
            StatusPolicy::Raise => "Raise",
            StatusPolicy::Check(_) => "Check(..)",
        })
    }
}

/// A response: the head is read, the body is read on demand (aiohttp's `ClientResponse`).
///
/// Dropping a response whose body was read to the end returns its connection to the pool;
/// dropping it earlier closes the connection.
///
/// ```no_run
/// # async fn run() -> Result<(), aiohttp::ClientError> {
/// let session = aiohttp::ClientSession::new();
/// let mut resp = session.get("http://127.0.0.1:8080/data.json").await?;
/// println!("{} {}", resp.status().as_u16(), resp.reason());
/// let value: serde_json::Value = resp.json().await?;
/// # Ok(()) }
/// ```
pub struct ClientResponse {
    /// Boxed: a response is moved several times on its way to the caller.
    inner: Box<Inner>,
}

struct Inner {
    version: Version,
    status: StatusCode,
    /// Parsed from the captured head on first use.
    reason: OnceLock<String>,
    headers: HeaderMap,
    raw: RawHead,
    raw_headers: OnceLock<Vec<(Bytes, Bytes)>>,
    media_type: OnceLock<(String, Option<String>)>,
    cookies: Vec<cookie::Cookie<'static>>,
    request_info: RequestInfo,
    history: Vec<ClientResponse>,
    connection: Option<Connection>,
    content: StreamReader,
    /// The body as received and the Content-Encoding to remove from it, until the content is
    /// first used; `content` is empty meanwhile. A body that is only drained (a redirect's) is
    /// never decoded.
    /// (In a mutex only so that the response is `Sync`; it is never locked.)
    /// (Boxed: most responses are not compressed, and a response is moved often.)
    undecoded: Option<Box<(std::sync::Mutex<BodyStream>, Box<str>)>>,
    /// The most decoded bytes `read()` buffers (`usize::MAX`: no limit).
    max_body_size: usize,
    /// The longest line `content().readline()` takes: twice `read_bufsize`, as aiohttp's.
    line_limit: usize,
    /// The end of the connection delimits the body: it cannot be drained for reuse.
    close_delimited: bool,
    body: Option<Bytes>,
    /// The connection a `101 Switching Protocols` hands over; the lease stays with the
    /// response (and its slot counted) until the response is dropped.
    upgrade: Option<crate::proto::h1::Upgrade>,
    /// The session's `fallback_charset_resolver`, if it has one.
    charset_fallback: Option<CharsetResolver>,
    /// Told of the body once `read()` has it (a traced request's trace configs).
    on_body: Option<OnBody>,
    /// The bytes written for the request (HTTP/1).
    output: Option<std::sync::Arc<std::sync::atomic::AtomicU64>>,
    /// How far the request body got (an HTTP/1 request with a body).
    upload: Option<crate::proto::h1::Upload>,
}

/// What is told of a response's body once it is read whole.
pub(crate) type OnBody = std::sync::Arc<dyn Fn(&[u8]) + Send + Sync>;

impl fmt::Debug for ClientResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientResponse")
            .field("url", &self.inner.request_info.url.as_str())
            .field("status", &self.inner.status)
            .field("reason", &self.reason())
            .field("version", &self.inner.version)
            .field("headers", &self.inner.headers)
            .finish_non_exhaustive()
    }
}

impl ClientError {
    /// The responses of a `TooManyRedirects`, earliest first: every redirect received, the
    /// one not followed last. Empty for other errors.
    ///
    /// ```no_run
    /// # async fn run(s: aiohttp::ClientSession) {
    /// if let Err(e) = s.get("http://127.0.0.1:8080/loop").max_redirects(2).await {
    ///     for r in e.history() {
    ///         println!("{} {:?}", r.url(), r.headers().get("location"));
    ///     }
    /// }
    /// # }
    /// ```
    pub fn history(&self) -> &[ClientResponse] {
        self.erased_history()
            .and_then(|h| h.downcast_ref::<Vec<ClientResponse>>())
            .map_or(&[], Vec::as_slice)
    }

    pub(crate) fn with_history(self, history: Vec<ClientResponse>) -> Self {
        let len = history.len();
        self.with_erased_history(Box::new(history), len)
    }
}

/// The media type (lowercase, `application/octet-stream` when absent) and the `charset`
/// parameter of a `Content-Type`.
pub(crate) fn parse_content_type(headers: &HeaderMap) -> (String, Option<String>) {
    let raw = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    match raw.parse::<mime::Mime>() {
        Ok(m) => (
            m.essence_str().to_string(),
            m.get_param(mime::CHARSET).map(|c| c.as_str().to_string()),
        ),
        Err(_) if raw.trim().is_empty() => ("application/octet-stream".to_string(), None),
        Err(_) => (
            raw.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase(),
            None,
        ),
    }
}

/// aiohttp's `json_re`: `application/json` and `application/<anything>+json`.
pub(crate) fn is_json_content_type(ct: &str) -> bool {
    let Some(sub) = ct.strip_prefix("application/") else {
        return false;
    };
    sub == "json" || (sub.ends_with("+json") && sub.len() > 5)
}

impl ClientResponse {
    pub(crate) fn new(
        sent: Sent,
        lease: Lease,
        request_info: RequestInfo,
        opts: &SendOptions,
    ) -> Result<ClientResponse, ClientError> {
        let Sent {
            response,
            raw,
            body_withheld,
            upload,
            upgrade,
            output,
        } = sent;
        let upload_state = upload.clone();
        let (parts, incoming) = response.into_parts();
        // One pass over the names says which of the lookups below are needed at all.
        let (mut set_cookie, mut framing, mut coding, mut connection) =
            (false, false, false, false);
        for name in parts.headers.keys() {
            if name == header::SET_COOKIE {
                set_cookie = true;
            } else if name == header::CONNECTION {
                connection = true;
            } else if name == header::CONTENT_LENGTH || name == header::TRANSFER_ENCODING {
                framing = true;
            } else if name == header::CONTENT_ENCODING {
                coding = true;
            }
        }
        let cookies: Vec<cookie::Cookie<'static>> = if set_cookie {
            parts
                .headers
                .get_all(header::SET_COOKIE)
                .iter()
                .filter_map(|v| std::str::from_utf8(v.as_bytes()).ok())
                .filter_map(|s| cookie::Cookie::parse(s.to_string()).ok())
                .collect()
        } else {
            Vec::new()
        };
        let shared = ConnShared::holding(lease);
        let reusable = crate::policy::close_reason(
            request_info.version,
            parts.version,
            connection
                .then(|| parts.headers.get_all(header::CONNECTION))
                .into_iter()
                .flatten(),
            body_withheld,
        )
        .is_none();
        let connection = Connection {
            shared: shared.clone(),
        };
        // No length and no chunking, and not a body that is empty by rule (HEAD, 1xx, 204, 304):
        // the end of the connection delimits the body.
        // (HTTP/2 frames every body, so none is.)
        let close_delimited = parts.version != Version::HTTP_2
            && !framing
            && !http_body::Body::is_end_stream(&incoming);
        let mut undecoded = None;
        let content = if upgrade.is_some() {
            // The connection now speaks another protocol: no body, and never pooled again.
            drop(incoming);
            StreamReader::empty()
        } else if !opts.read_until_eof && close_delimited {
            // Without read_until_eof such a body is empty, and the connection (whose end would
            // have delimited it) is closed.
            shared.close();
            drop(incoming);
            StreamReader::empty()
        } else {
            let body = LeasedBody::new(incoming, shared, reusable, upload, &opts.timeouts);
            let encoding = if coding && opts.auto_decompress {
                parts
                    .headers
                    .get(header::CONTENT_ENCODING)
                    .and_then(|v| v.to_str().ok())
                    .filter(|enc| decode::is_supported(enc))
            } else {
                None
            };
            match encoding {
                Some(enc) => {
                    let body: BodyStream = Box::pin(body);
                    undecoded = Some(Box::new((std::sync::Mutex::new(body), enc.into())));
                    StreamReader::empty()
                }
                None => StreamReader::from_body(body),
            }
        };
        Ok(ClientResponse {
            inner: Box::new(Inner {
                version: parts.version,
                status: parts.status,
                reason: OnceLock::new(),
                headers: parts.headers,
                raw,
                raw_headers: OnceLock::new(),
                media_type: OnceLock::new(),
                cookies,
                request_info,
                history: Vec::new(),
                connection: Some(connection),
                content,
                undecoded,
                max_body_size: opts.max_body_size.unwrap_or(usize::MAX),
                line_limit: opts.read_bufsize.saturating_mul(2),
                close_delimited,
                body: None,
                upgrade,
                charset_fallback: None,
                on_body: None,
                output,
                upload: upload_state,
            }),
        })
    }

    /// The connection handed over by a `101 Switching Protocols` response, once.
    pub(crate) fn take_upgrade(&mut self) -> Option<crate::proto::h1::Upgrade> {
        self.inner.upgrade.take()
    }

    /// The HTTP version of the response.
    ///
    /// ```no_run
    /// # fn f(r: &aiohttp::ClientResponse) { assert_eq!(r.version(), aiohttp::Version::HTTP_11); }
    /// ```
    pub fn version(&self) -> Version {
        self.inner.version
    }

    /// The status code.
    ///
    /// ```no_run
    /// # fn f(r: &aiohttp::ClientResponse) { let _ = r.status().as_u16(); }
    /// ```
    pub fn status(&self) -> StatusCode {
        self.inner.status
    }

    /// The reason phrase as the server sent it (empty if it sent none, as aiohttp); a phrase
    /// that is not UTF-8 is read as latin-1.
    ///
    /// ```no_run
    /// # fn f(r: &aiohttp::ClientResponse) { println!("{}", r.reason()); }
    /// ```
    pub fn reason(&self) -> &str {
        self.inner.reason.get_or_init(|| {
            self.inner.raw.reason().unwrap_or_else(|| {
                self.inner
                    .status
                    .canonical_reason()
                    .unwrap_or_default()
                    .to_string()
            })
        })
    }

    /// Whether the status is below 400.
    ///
    /// ```no_run
    /// # fn f(r: &aiohttp::ClientResponse) { if !r.ok() { eprintln!("failed"); } }
    /// ```
    pub fn ok(&self) -> bool {
        self.inner.status.as_u16() < 400
    }

    /// The request method.
    ///
    /// ```no_run
    /// # fn f(r: &aiohttp::ClientResponse) { let _ = r.method(); }
    /// ```
    pub fn method(&self) -> &Method {
        &self.inner.request_info.method
    }

    /// The URL of the response (without fragment).
    ///
    /// ```no_run
    /// # fn f(r: &aiohttp::ClientResponse) { println!("{}", r.url()); }
    /// ```
    pub fn url(&self) -> &Url {
        &self.inner.request_info.url
    }

    /// The URL as requested, fragment included.
    ///
    /// ```no_run
    /// # fn f(r: &aiohttp::ClientResponse) { let _ = r.real_url().fragment(); }
    /// ```
    pub fn real_url(&self) -> &Url {
        self.inner.request_info.real_url()
    }

    /// The `Link` headers (RFC 8288), parsed as aiohttp's `links`: each link keyed by its
    /// `rel` (else its URL as written), its URL joined to the response's.
    ///
    /// ```no_run
    /// # fn f(r: &aiohttp::ClientResponse) {
    /// if let Some(next) = r.links().get("next").and_then(|l| l.url()) {
    ///     println!("next page: {next}");
    /// }
    /// # }
    /// ```
    pub fn links(&self) -> crate::Links {
        let values = self
            .headers()
            .get_all(http::header::LINK)
            .iter()
            .filter_map(|v| v.to_str().ok());
        crate::Links::parse(values, self.url())
    }

    /// The bytes written for the request so far, as the connection took them: request line,
    /// headers, body and chunk framing (aiohttp's `output_size`). It grows while a body is
    /// still being sent. `None` over HTTP/2, where requests share the connection's frames.
    ///
    /// ```no_run
    /// # async fn f(s: aiohttp::ClientSession) -> Result<(), aiohttp::ClientError> {
    /// let resp = s.post("http://127.0.0.1:8080/").data("hello").await?;
    /// assert!(resp.output_size().is_some_and(|n| n >= 5));
    /// # Ok(()) }
    /// ```
    pub fn output_size(&self) -> Option<u64> {
        self.inner
            .output
            .as_ref()
            .map(|n| n.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// Whether the request body has been sent whole and flushed to the connection (aiohttp's
    /// `upload_complete`); true for a request without a body. A server may answer before it
    /// has read the body, so this can be false when the response head arrives.
    ///
    /// ```no_run
    /// # async fn f(s: aiohttp::ClientSession) -> Result<(), aiohttp::ClientError> {
    /// let resp = s.get("http://127.0.0.1:8080/").await?;
    /// assert!(resp.upload_complete());
    /// # Ok(()) }
    /// ```
    pub fn upload_complete(&self) -> bool {
        self.inner
            .upload
            .as_ref()
            .is_none_or(crate::proto::h1::Upload::finished)
    }

    /// The bytes of the body received so far as they came off the connection, before any
    /// `Content-Encoding` was undone (aiohttp's `StreamReader.total_raw_bytes`).
    ///
    /// ```no_run
    /// # async fn f(s: aiohttp::ClientSession) -> Result<(), aiohttp::ClientError> {
    /// let mut resp = s.get("http://127.0.0.1:8080/").await?;
    /// let body = resp.read().await?;
    /// println!("{} bytes received for {} decoded", resp.total_raw_bytes(), body.len());
    /// # Ok(()) }
    /// ```
    pub fn total_raw_bytes(&self) -> u64 {
        self.inner
            .connection
            .as_ref()
            .map_or(0, |c| c.shared.received_bytes())
    }

    /// The connection carrying the body, until the body is done with it.
    ///
    /// ```no_run
    /// # fn f(r: &aiohttp::ClientResponse) { let open = r.connection().is_some(); }
    /// ```
    pub fn connection(&self) -> Option<&Connection> {
        self.inner.connection.as_ref().filter(|c| !c.closed())
    }

    /// The cookies of the response's `Set-Cookie` headers (malformed ones skipped).
    ///
    /// ```no_run
    /// # fn f(r: &aiohttp::ClientResponse) {
    /// for c in r.cookies() { println!("{}={}", c.name(), c.value()); }
    /// # }
    /// ```
    pub fn cookies(&self) -> &[cookie::Cookie<'static>] {
        &self.inner.cookies
    }

    /// The headers, case-insensitive, duplicates kept.
    ///
    /// ```no_run
    /// # fn f(r: &aiohttp::ClientResponse) { let _ = r.headers().get_all("set-cookie"); }
    /// ```
    pub fn headers(&self) -> &HeaderMap {
        &self.inner.headers
    }

    /// The header lines exactly as received: original case, order and duplicates.
    ///
    /// ```no_run
    /// # fn f(r: &aiohttp::ClientResponse) {
    /// for (name, value) in r.raw_headers() { println!("{:?}: {:?}", name, value); }
    /// # }
    /// ```
    pub fn raw_headers(&self) -> &[(Bytes, Bytes)] {
        self.inner
            .raw_headers
            .get_or_init(|| self.inner.raw.header_lines(&self.inner.headers))
    }

    /// Media type and charset, parsed from `Content-Type` on first use.
    fn media_type(&self) -> &(String, Option<String>) {
        self.inner
            .media_type
            .get_or_init(|| parse_content_type(&self.inner.headers))
    }

    /// The media type without parameters, lowercase; `application/octet-stream` when absent.
    ///
    /// ```no_run
    /// # fn f(r: &aiohttp::ClientResponse) { assert_eq!(r.content_type(), "text/html"); }
    /// ```
    pub fn content_type(&self) -> &str {
        &self.media_type().0
    }

    /// The `charset` parameter of `Content-Type`, if any.
    ///
    /// ```no_run
    /// # fn f(r: &aiohttp::ClientResponse) { let _ = r.charset(); }
    /// ```
    pub fn charset(&self) -> Option<&str> {
        self.media_type().1.as_deref()
    }

    /// The redirect responses that led here, earliest first.
    ///
    /// ```no_run
    /// # fn f(r: &aiohttp::ClientResponse) { println!("{} hops", r.history().len()); }
    /// ```
    pub fn history(&self) -> &[ClientResponse] {
        &self.inner.history
    }

    /// The redirect responses, to read their bodies (each was read when it was small, and is
    /// empty otherwise).
    ///
    /// ```no_run
    /// # async fn f(mut r: aiohttp::ClientResponse) -> Result<(), aiohttp::ClientError> {
    /// for hop in r.history_mut() {
    ///     println!("{}: {}", hop.status(), hop.text().await?);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn history_mut(&mut self) -> &mut [ClientResponse] {
        &mut self.inner.history
    }

    pub(crate) fn set_history(&mut self, history: Vec<ClientResponse>) {
        self.inner.history = history;
    }

    pub(crate) fn set_on_body(&mut self, on_body: OnBody) {
        self.inner.on_body = Some(on_body);
    }

    pub(crate) fn set_charset_fallback(&mut self, resolver: CharsetResolver) {
        self.inner.charset_fallback = Some(resolver);
    }

    /// The encoding `text()` uses for `body`, and its label as given (aiohttp's
    /// `get_encoding`): the `charset` parameter if known; UTF-8 for JSON (RFC 8259); else the
    /// session's fallback resolver (which also decides for an unknown `charset`); else the
    /// encoding detected from the bytes.
    fn encoding_of(&self, body: &[u8]) -> Result<&'static encoding_rs::Encoding, ClientError> {
        let declared = self.charset();
        if let Some(enc) = declared.and_then(decode::encoding_for_label) {
            return Ok(enc);
        }
        if declared.is_none() && is_json_content_type(self.content_type()) {
            return Ok(encoding_rs::UTF_8);
        }
        match &self.inner.charset_fallback {
            Some(resolve) => {
                let label = resolve(self, body);
                decode::encoding_for_label(&label).ok_or_else(|| {
                    ClientError::invalid_argument(format!(
                        "unknown encoding from the fallback charset resolver: {label:?}"
                    ))
                })
            }
            None => match declared {
                Some(label) => Err(ClientError::invalid_argument(format!(
                    "unknown encoding: {label:?}"
                ))),
                None => Ok(decode::detect_encoding(body)),
            },
        }
    }

    pub(crate) fn take_history(&mut self) -> Vec<ClientResponse> {
        std::mem::take(&mut self.inner.history)
    }

    /// What was sent.
    ///
    /// ```no_run
    /// # fn f(r: &aiohttp::ClientResponse) { let _ = r.request_info().headers(); }
    /// ```
    pub fn request_info(&self) -> &RequestInfo {
        &self.inner.request_info
    }

    /// The body as a stream: `read`, `readline`, `iter_chunked`, … (aiohttp's `content`).
    ///
    /// ```no_run
    /// # async fn f(mut r: aiohttp::ClientResponse) -> Result<(), aiohttp::ClientError> {
    /// while let Ok(line) = r.content().readline().await {
    ///     if line.is_empty() { break; }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn content(&mut self) -> &mut StreamReader {
        if let Some(undecoded) = self.inner.undecoded.take() {
            let (raw, coding) = *undecoded;
            let raw = raw.into_inner().unwrap_or_else(|e| e.into_inner());
            self.inner.content = StreamReader::new(decode::decompress(raw, &coding));
        }
        self.inner.content.set_limit(self.inner.line_limit);
        &mut self.inner.content
    }

    /// Reads the body as received, without decoding it, so that the connection can be reused:
    /// at most about `limit` bytes, whatever the framing says. A body that ends within the limit
    /// is kept (still encoded) for a later [`read`](Self::read); a longer or broken one closes
    /// the connection and reads as empty. A body delimited by the end of the connection is not
    /// read at all: its connection cannot be reused, and its end may never come.
    pub(crate) async fn drain(&mut self, limit: usize) {
        if self.inner.close_delimited {
            self.close();
            return;
        }
        let coding = match self.inner.undecoded.take().map(|u| *u) {
            Some((raw, coding)) => {
                self.inner.content =
                    StreamReader::new(raw.into_inner().unwrap_or_else(|e| e.into_inner()));
                Some(coding)
            }
            None => None,
        };
        let mut kept = Vec::new();
        let mut received = 0;
        let complete = loop {
            match self.inner.content.readany().await {
                Ok(chunk) if chunk.is_empty() => break true,
                Ok(chunk) => {
                    received += chunk.len();
                    if received > limit {
                        break false;
                    }
                    kept.push(chunk);
                }
                Err(_) => break false,
            }
        };
        // Dropping an unfinished body closes its connection; a finished one is back in the pool.
        self.inner.content = StreamReader::empty();
        if complete {
            let body: BodyStream = Box::pin(futures_util::stream::iter(kept.into_iter().map(Ok)));
            match coding {
                Some(coding) => {
                    self.inner.undecoded = Some(Box::new((std::sync::Mutex::new(body), coding)));
                }
                None => self.inner.content = StreamReader::new(body),
            }
        }
    }

    /// The whole body (decompressed), read once and cached for `text` and `json`.
    ///
    /// At most the session's or the request's `max_body_size` decoded bytes are buffered
    /// (default [`DEFAULT_MAX_BODY_SIZE`](crate::DEFAULT_MAX_BODY_SIZE)); a longer body is an
    /// error and its connection is closed. [`content`](Self::content) streams a body of any size.
    ///
    /// # Errors
    /// A broken body, or one longer than `max_body_size`: `ClientPayloadError`.
    ///
    /// ```no_run
    /// # async fn f(mut r: aiohttp::ClientResponse) -> Result<(), aiohttp::ClientError> {
    /// let bytes = r.read().await?;
    /// # Ok(()) }
    /// ```
    pub async fn read(&mut self) -> Result<Bytes, ClientError> {
        if let Some(b) = &self.inner.body {
            return Ok(b.clone());
        }
        let max = self.inner.max_body_size;
        let read = self.content().read_to_end_at_most(max).await;
        let b = match read {
            Ok(b) => b,
            Err(e) => {
                // The connection is closed, and later reads fail the same way rather than
                // return a truncated body.
                self.inner.undecoded = None;
                let again = ClientError::new(e.kind(), e.message());
                self.inner.content =
                    StreamReader::from_stream(futures_util::stream::iter([Err(again)]));
                return Err(e.with_url(&self.inner.request_info.url));
            }
        };
        if let Some(on_body) = &self.inner.on_body {
            on_body(&b);
        }
        self.inner.body = Some(b.clone());
        Ok(b)
    }

    /// The encoding `text()` uses: the `charset` parameter; UTF-8 for JSON without one; else
    /// the session's `fallback_charset_resolver` (which also decides for an unknown
    /// `charset`), else the encoding detected from the body.
    ///
    /// # Errors
    /// Reading the body failed.
    ///
    /// ```no_run
    /// # async fn f(mut r: aiohttp::ClientResponse) -> Result<(), aiohttp::ClientError> {
    /// println!("{}", r.get_encoding().await?);
    /// # Ok(()) }
    /// ```
    pub async fn get_encoding(&mut self) -> Result<String, ClientError> {
        if let Some(enc) = self.charset().and_then(decode::encoding_for_label) {
            return Ok(enc.name().to_string());
        }
        let body = self.read().await?;
        Ok(self.encoding_of(&body)?.name().to_string())
    }

    /// The body decoded as text, with the encoding [`get_encoding`](Self::get_encoding)
    /// names. Malformed sequences become U+FFFD.
    ///
    /// # Errors
    /// A broken body, or an unknown charset label.
    ///
    /// ```no_run
    /// # async fn f(mut r: aiohttp::ClientResponse) -> Result<(), aiohttp::ClientError> {
    /// let text = r.text().await?;
    /// # Ok(()) }
    /// ```
    pub async fn text(&mut self) -> Result<String, ClientError> {
        let body = self.read().await?;
        let encoding = self.encoding_of(&body)?;
        Ok(decode::decode_with(encoding, &body))
    }

    /// The body decoded with an explicit encoding label (`"utf-8"`, `"latin1"`, `"cp1251"`, …).
    ///
    /// # Errors
    /// A broken body, or an unknown label.
    ///
    /// ```no_run
    /// # async fn f(mut r: aiohttp::ClientResponse) -> Result<(), aiohttp::ClientError> {
    /// let text = r.text_with_encoding("windows-1251").await?;
    /// # Ok(()) }
    /// ```
    pub async fn text_with_encoding(&mut self, encoding: &str) -> Result<String, ClientError> {
        let body = self.read().await?;
        decode::decode_text(&body, Some(encoding))
    }

    /// The body parsed as JSON; the content type must be `application/json` (or `…+json`).
    /// An empty body parses as JSON `null`, so `T = Option<_>` gives `None` (aiohttp returns
    /// `None`).
    ///
    /// # Errors
    /// `ContentTypeError` for another content type; `ClientPayloadError` for a broken body or
    /// invalid JSON.
    ///
    /// ```no_run
    /// # async fn f(mut r: aiohttp::ClientResponse) -> Result<(), aiohttp::ClientError> {
    /// let v: Option<serde_json::Value> = r.json().await?;
    /// # Ok(()) }
    /// ```
    pub async fn json<T: serde::de::DeserializeOwned>(&mut self) -> Result<T, ClientError> {
        self.json_with(Some("application/json")).await
    }

    /// [`json`](Self::json) with another expected content type (a substring match, as
    /// aiohttp), or `None` to skip the check.
    ///
    /// # Errors
    /// As [`json`](Self::json).
    ///
    /// ```no_run
    /// # async fn f(mut r: aiohttp::ClientResponse) -> Result<(), aiohttp::ClientError> {
    /// let v: serde_json::Value = r.json_with(None).await?;
    /// # Ok(()) }
    /// ```
    pub async fn json_with<T: serde::de::DeserializeOwned>(
        &mut self,
        content_type: Option<&str>,
    ) -> Result<T, ClientError> {
        if let Some(expected) = content_type {
            let ok = if expected == "application/json" {
                is_json_content_type(self.content_type())
            } else {
                self.content_type().contains(expected)
            };
            if !ok {
                return Err(ClientError::new(
                    ErrorKind::ContentTypeError,
                    format!(
                        "attempt to decode JSON with unexpected mimetype: {}",
                        self.content_type()
                    ),
                )
                .with_url(&self.inner.request_info.url)
                .with_response(self.details()));
            }
        }
        let body = self.read().await?;
        let text: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
            b"null"
        } else {
            &body
        };
        serde_json::from_slice(text).map_err(|e| {
            ClientError::payload("the body is not valid JSON for the requested type")
                .with_url(&self.inner.request_info.url)
                .with_source(e)
        })
    }

    /// How many decoded bytes `read()` buffers at most (`usize::MAX` without a cap).
    pub(crate) fn max_body_size(&self) -> usize {
        self.inner.max_body_size
    }

    pub(crate) fn details(&self) -> ResponseDetails {
        ResponseDetails {
            status: self.inner.status,
            reason: self.reason().to_string(),
            headers: self.inner.headers.clone(),
            request_info: Some(self.inner.request_info.clone()),
        }
    }

    /// `Err(ClientResponseError)` when the status is 400 or above.
    ///
    /// # Errors
    /// The status is 400 or above; the error carries status, reason, headers and request info.
    /// (When the session raises it, with `raise_for_status(true)`, the error also carries the
    /// redirects that led here in its `history`.)
    ///
    /// ```no_run
    /// # async fn f(r: aiohttp::ClientResponse) -> Result<(), aiohttp::ClientError> {
    /// r.raise_for_status()?;
    /// # Ok(()) }
    /// ```
    pub fn raise_for_status(&self) -> Result<(), ClientError> {
        if self.ok() {
            return Ok(());
        }
        Err(ClientError::new(
            ErrorKind::ClientResponseError,
            "response status is an error",
        )
        .with_url(&self.inner.request_info.url)
        .with_response(self.details()))
    }

    /// Done with the body: the connection goes back to the pool if the body was read to the
    /// end, and is closed otherwise.
    ///
    /// ```no_run
    /// # async fn f(mut r: aiohttp::ClientResponse) {
    /// r.release().await;
    /// # }
    /// ```
    pub async fn release(&mut self) {
        self.close();
    }

    /// Closes the connection unless the body was already read to the end (then it is pooled).
    ///
    /// ```no_run
    /// # fn f(mut r: aiohttp::ClientResponse) { r.close(); }
    /// ```
    pub fn close(&mut self) {
        self.inner.undecoded = None;
        self.inner.content = StreamReader::empty();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hm(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, http::HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn content_type_table() {
        let cases = [
            (hm(&[]), "application/octet-stream", None),
            (
                hm(&[("content-type", "text/HTML; charset=UTF-8")]),
                "text/html",
                Some("utf-8"),
            ),
            (
                hm(&[("content-type", "application/json")]),
                "application/json",
                None,
            ),
            (hm(&[("content-type", "weird")]), "weird", None),
        ];
        for (h, ct, cs) in cases {
            let (got_ct, got_cs) = parse_content_type(&h);
            assert_eq!(got_ct, ct);
            assert_eq!(
                got_cs.as_deref().map(str::to_ascii_lowercase).as_deref(),
                cs
            );
        }
    }

    #[test]
    fn json_content_types() {
        for (ct, want) in [
            ("application/json", true),
            ("application/problem+json", true),
            ("application/vnd.api+json", true),
            ("application/+json", false),
            ("text/json", false),
            ("application/jsonp", false),
            ("text/plain", false),
        ] {
            assert_eq!(is_json_content_type(ct), want, "{ct}");
        }
    }
}
