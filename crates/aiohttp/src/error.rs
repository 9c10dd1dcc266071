//! `ClientError`: one opaque error type carrying aiohttp's exception tree as kinds.
//!
//! aiohttp raises a class per failure, arranged in a hierarchy (`ClientConnectorError` is a
//! `ClientOSError` is a `ClientConnectionError` is a `ClientError`). Here the class is an
//! [`ErrorKind`], and every `is_*()` predicate is true for the kind itself and for all of its
//! descendants, so `err.is_client_connection_error()` holds for a refused connection exactly as
//! `isinstance(err, ClientConnectionError)` does in Python.

use std::error::Error as StdError;
use std::fmt;

use http::{HeaderMap, StatusCode};
use url::Url;

use crate::info::RequestInfo;

/// A boxed error from a lower layer (I/O, hyper, decoding), kept in the `source()` chain.
pub(crate) type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// The kind of a [`ClientError`]: one variant per class of aiohttp's exception tree.
///
/// Use the `is_*()` predicates on [`ClientError`] to test for a class *and its subclasses*; use
/// `kind()` to match the exact class.
///
/// ```
/// use aiohttp::ErrorKind;
/// assert_eq!(ErrorKind::ClientConnectorError.parent(), Some(ErrorKind::ClientOSError));
/// assert!(ErrorKind::ServerDisconnectedError.is_a(ErrorKind::ClientConnectionError));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The root class: any client failure.
    ClientError,
    /// The server answered, and the answer is an error (status, headers, request info).
    ClientResponseError,
    /// `json()` was called on a response whose content type is not JSON.
    ContentTypeError,
    /// More redirects than `max_redirects` allows.
    TooManyRedirects,
    /// A WebSocket handshake was refused or malformed.
    WSServerHandshakeError,
    /// An HTTP proxy refused the CONNECT tunnel.
    ClientHttpProxyError,
    /// Any failure of the connection itself.
    ClientConnectionError,
    /// The peer reset the connection.
    ClientConnectionResetError,
    /// An operating-system level socket error.
    ClientOSError,
    /// Opening the connection failed (refused, unreachable, no such socket path).
    ClientConnectorError,
    /// The host name could not be resolved.
    ClientConnectorDNSError,
    /// Connecting to the proxy failed.
    ClientProxyConnectionError,
    /// Connecting to a UNIX socket failed.
    UnixClientConnectorError,
    /// A TLS failure while connecting.
    ClientSSLError,
    /// The TLS handshake failed for a reason other than the certificate.
    ClientConnectorSSLError,
    /// The server's certificate was rejected.
    ClientConnectorCertificateError,
    /// The server broke the exchange after the connection was made.
    ServerConnectionError,
    /// The server closed the connection before a complete response.
    ServerDisconnectedError,
    /// A timeout expired.
    ServerTimeoutError,
    /// The connect phase (including the wait for a pool slot) timed out.
    ConnectionTimeoutError,
    /// A socket read timed out.
    SocketTimeoutError,
    /// The server certificate's SHA-256 digest is not the pinned one.
    ServerFingerprintMismatch,
    /// The response body is broken: truncated, malformed chunking, corrupt compression.
    ClientPayloadError,
    /// A URL is invalid.
    InvalidURL,
    /// A request URL could not be parsed.
    InvalidUrlClientError,
    /// A request URL has a scheme other than http(s).
    NonHttpUrlClientError,
    /// A redirect `Location` could not be parsed.
    InvalidUrlRedirectClientError,
    /// A redirect `Location` has a scheme other than http(s).
    NonHttpUrlRedirectClientError,
    /// An argument was rejected before anything was sent (aiohttp's `ValueError`/`TypeError`):
    /// `json` with `data`, a header value with CR/LF, a method that is not a token, a closed
    /// session.
    InvalidArgument,
    /// A WebSocket protocol failure (aiohttp's `WebSocketError`, outside the `ClientError`
    /// tree): the server broke RFC 6455; [`ClientError::ws_close_code`] is the close code.
    WebSocketError,
    /// `receive_str`/`receive_bytes`/`receive_json` got another kind of message (aiohttp
    /// 3.x `WSMessageTypeError`, a `TypeError`).
    WSMessageTypeError,
}

impl ErrorKind {
    /// The class this one derives from in aiohttp's tree; `None` for the roots.
    ///
    /// ```
    /// use aiohttp::ErrorKind;
    /// assert_eq!(ErrorKind::ClientError.parent(), None);
    /// assert_eq!(ErrorKind::TooManyRedirects.parent(), Some(ErrorKind::ClientResponseError));
    /// ```
    pub fn parent(self) -> Option<ErrorKind> {
        use ErrorKind::*;
        Some(match self {
            ClientError | InvalidArgument | WebSocketError | WSMessageTypeError => return None,
            ClientResponseError | ClientConnectionError | ClientPayloadError | InvalidURL => {
                ClientError
            }
            ContentTypeError | TooManyRedirects | WSServerHandshakeError | ClientHttpProxyError => {
                ClientResponseError
            }
            ClientConnectionResetError | ClientOSError | ServerConnectionError => {
                ClientConnectionError
            }
            ClientConnectorError => ClientOSError,
            ClientConnectorDNSError
            | ClientProxyConnectionError
            | UnixClientConnectorError
            | ClientSSLError => ClientConnectorError,
            ClientConnectorSSLError | ClientConnectorCertificateError => ClientSSLError,
            ServerDisconnectedError | ServerTimeoutError | ServerFingerprintMismatch => {
                ServerConnectionError
            }
            ConnectionTimeoutError | SocketTimeoutError => ServerTimeoutError,
            InvalidUrlClientError | NonHttpUrlClientError => InvalidURL,
            InvalidUrlRedirectClientError => InvalidUrlClientError,
            NonHttpUrlRedirectClientError => NonHttpUrlClientError,
        })
    }

    /// Whether this kind is `ancestor` or one of its descendants.
    ///
    /// ```
    /// use aiohttp::ErrorKind;
    /// assert!(ErrorKind::ClientConnectorDNSError.is_a(ErrorKind::ClientOSError));
    /// assert!(!ErrorKind::ClientPayloadError.is_a(ErrorKind::ClientConnectionError));
    /// ```
    pub fn is_a(self, ancestor: ErrorKind) -> bool {
        let mut k = Some(self);
        while let Some(kind) = k {
            if kind == ancestor {
                return true;
            }
            k = kind.parent();
        }
        false
    }
}

/// The details a `ClientResponseError` carries, as aiohttp's exception attributes.
#[derive(Debug, Clone)]
pub(crate) struct ResponseDetails {
    pub(crate) status: StatusCode,
    pub(crate) reason: String,
    pub(crate) headers: HeaderMap,
    pub(crate) request_info: Option<RequestInfo>,
}

#[derive(Debug)]
struct Inner {
    kind: ErrorKind,
    message: String,
    url: Option<Url>,
    response: Option<ResponseDetails>,
    address: Option<(String, u16)>,
    /// For a connector error: whether the connection was to use TLS.
    tls: Option<bool>,
    fingerprint: Option<(Vec<u8>, Vec<u8>)>,
    /// The responses of a `TooManyRedirects` (a `Vec<ClientResponse>`, typed where responses
    /// are: this module knows no response type), and how many there are.
    history: Option<Box<dyn std::any::Any + Send + Sync>>,
    history_len: usize,
    source: Option<BoxError>,
    /// The close code of a WebSocket protocol failure.
    ws_code: Option<u16>,
}

/// The error of every fallible operation in this crate.
///
/// One pointer wide, `Send + Sync`, with the cause in [`source()`](StdError::source). Test the
/// class with the `is_*()` predicates, each true for its aiohttp subclasses as well.
///
/// ```no_run
/// # async fn run() {
/// let session = aiohttp::ClientSession::new();
/// match session.get("http://127.0.0.1:9/").await {
///     Ok(resp) => println!("{}", resp.status()),
///     Err(e) if e.is_client_connector_error() => println!("cannot connect: {e}"),
///     Err(e) => println!("other failure: {e}"),
/// }
/// # }
/// ```
pub struct ClientError {
    inner: Box<Inner>,
}

impl ClientError {
    /// An error of `kind` with `message`, for code of one's own that answers with the crate's
    /// errors: a `raise_for_status_with` check, a custom [`Connector`](crate::Connector).
    ///
    /// ```
    /// use aiohttp::{ClientError, ErrorKind};
    /// let e = ClientError::new(ErrorKind::ClientResponseError, "the server flagged an error");
    /// assert!(e.is(ErrorKind::ClientError));
    /// assert_eq!(e.message(), "the server flagged an error");
    /// ```
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ClientError {
            inner: Box::new(Inner {
                kind,
                message: message.into(),
                url: None,
                response: None,
                address: None,
                tls: None,
                fingerprint: None,
                history: None,
                history_len: 0,
                source: None,
                ws_code: None,
            }),
        }
    }

    pub(crate) fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.inner.source = Some(source.into());
        self
    }

    /// The URL the error is about, without any `user:password` in it.
    /// The same error with `context` before its message ("context: message").
    pub(crate) fn in_context(mut self, context: &str) -> Self {
        self.inner.message = format!("{context}: {}", self.inner.message);
        self
    }

    pub(crate) fn with_url(mut self, url: &Url) -> Self {
        self.inner.url = Some(without_credentials(url).into_owned());
        self
    }

    /// A connector error learns whether its connection was to use TLS.
    pub(crate) fn with_tls(mut self, tls: bool) -> Self {
        if self.is(ErrorKind::ClientConnectorError) {
            self.inner.tls = Some(tls);
        }
        self
    }

    pub(crate) fn with_address(mut self, host: impl Into<String>, port: u16) -> Self {
        self.inner.address = Some((host.into(), port));
        self
    }

    #[allow(dead_code)]
    pub(crate) fn with_fingerprint(mut self, expected: Vec<u8>, got: Vec<u8>) -> Self {
        self.inner.fingerprint = Some((expected, got));
        self
    }

    pub(crate) fn with_response(mut self, details: ResponseDetails) -> Self {
        self.inner.response = Some(details);
        self
    }

    /// Attaches the responses behind the error; see `ClientError::history` (response.rs).
    pub(crate) fn with_erased_history(
        mut self,
        history: Box<dyn std::any::Any + Send + Sync>,
        len: usize,
    ) -> Self {
        self.inner.history = Some(history);
        self.inner.history_len = len;
        self
    }

    pub(crate) fn erased_history(&self) -> Option<&(dyn std::any::Any + Send + Sync)> {
        self.inner.history.as_deref()
    }

    /// A WebSocket protocol failure with its close code.
    pub(crate) fn websocket(code: u16, message: impl Into<String>) -> Self {
        let mut e = ClientError::new(ErrorKind::WebSocketError, message);
        e.inner.ws_code = Some(code);
        e
    }

    /// The close code of a `WebSocketError` (1002 protocol error, 1007 invalid data, 1009
    /// message too big).
    ///
    /// ```
    /// let err = aiohttp::BasicAuth::new("a:b", "c").unwrap_err();
    /// assert_eq!(err.ws_close_code(), None);
    /// ```
    pub fn ws_close_code(&self) -> Option<u16> {
        self.inner.ws_code
    }

    /// A copy of the error (its kind, message, URL, response details, address and code; the
    /// cause is not copied).
    pub(crate) fn duplicate(&self) -> Self {
        let i = &self.inner;
        let mut e = ClientError::new(i.kind, i.message.clone());
        e.inner.url = i.url.clone();
        e.inner.response = i.response.clone();
        e.inner.address = i.address.clone();
        e.inner.tls = i.tls;
        e.inner.fingerprint = i.fingerprint.clone();
        e.inner.ws_code = i.ws_code;
        e
    }

    pub(crate) fn invalid_argument(message: impl Into<String>) -> Self {
        ClientError::new(ErrorKind::InvalidArgument, message)
    }

    pub(crate) fn payload(message: impl Into<String>) -> Self {
        ClientError::new(ErrorKind::ClientPayloadError, message)
    }

    /// The exact class of this error.
    ///
    /// ```
    /// let err = aiohttp::BasicAuth::new("a:b", "c").unwrap_err();
    /// assert_eq!(err.kind(), aiohttp::ErrorKind::InvalidArgument);
    /// ```
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// Whether this error is of class `kind` or one of its subclasses.
    ///
    /// ```
    /// let err = aiohttp::BasicAuth::new("a:b", "c").unwrap_err();
    /// assert!(err.is(aiohttp::ErrorKind::InvalidArgument));
    /// ```
    pub fn is(&self, kind: ErrorKind) -> bool {
        self.inner.kind.is_a(kind)
    }

    /// The URL of the request that failed, when there was one.
    ///
    /// ```
    /// let err = aiohttp::BasicAuth::new("a:b", "c").unwrap_err();
    /// assert!(err.url().is_none());
    /// ```
    pub fn url(&self) -> Option<&Url> {
        self.inner.url.as_ref()
    }

    /// The response status of a `ClientResponseError`.
    ///
    /// ```
    /// let err = aiohttp::BasicAuth::new("a:b", "c").unwrap_err();
    /// assert!(err.status().is_none());
    /// ```
    pub fn status(&self) -> Option<StatusCode> {
        self.inner.response.as_ref().map(|r| r.status)
    }

    /// The reason phrase (aiohttp's `message`) of a `ClientResponseError`.
    ///
    /// ```
    /// let err = aiohttp::BasicAuth::new("a:b", "c").unwrap_err();
    /// assert!(err.reason().is_none());
    /// ```
    pub fn reason(&self) -> Option<&str> {
        self.inner.response.as_ref().map(|r| r.reason.as_str())
    }

    /// The response headers of a `ClientResponseError`.
    ///
    /// ```
    /// let err = aiohttp::BasicAuth::new("a:b", "c").unwrap_err();
    /// assert!(err.headers().is_none());
    /// ```
    pub fn headers(&self) -> Option<&HeaderMap> {
        self.inner.response.as_ref().map(|r| &r.headers)
    }

    /// What was sent, for a `ClientResponseError`.
    ///
    /// ```
    /// let err = aiohttp::BasicAuth::new("a:b", "c").unwrap_err();
    /// assert!(err.request_info().is_none());
    /// ```
    pub fn request_info(&self) -> Option<&RequestInfo> {
        self.inner
            .response
            .as_ref()
            .and_then(|r| r.request_info.as_ref())
    }

    /// Host and port of a `ClientConnectorError` (or of a fingerprint mismatch).
    ///
    /// ```
    /// let err = aiohttp::BasicAuth::new("a:b", "c").unwrap_err();
    /// assert!(err.host().is_none() && err.port().is_none());
    /// ```
    pub fn host(&self) -> Option<&str> {
        self.inner.address.as_ref().map(|(h, _)| h.as_str())
    }

    /// See [`host`](Self::host).
    ///
    /// ```
    /// let err = aiohttp::BasicAuth::new("a:b", "c").unwrap_err();
    /// assert!(err.port().is_none());
    /// ```
    pub fn port(&self) -> Option<u16> {
        self.inner.address.as_ref().map(|(_, p)| *p)
    }

    /// For a `ClientConnectorError` (and its kinds): whether the connection that failed was
    /// to use TLS (aiohttp's `ClientConnectorError.ssl`, which gives the `ssl` setting itself).
    ///
    /// ```no_run
    /// # async fn run(s: aiohttp::ClientSession) {
    /// let err = s.get("https://127.0.0.1:1/").await.unwrap_err();
    /// assert_eq!(err.ssl(), Some(true));
    /// # }
    /// ```
    pub fn ssl(&self) -> Option<bool> {
        self.inner.tls
    }

    /// Expected and received certificate digests of a `ServerFingerprintMismatch`.
    ///
    /// ```
    /// let err = aiohttp::BasicAuth::new("a:b", "c").unwrap_err();
    /// assert!(err.fingerprint().is_none());
    /// ```
    pub fn fingerprint(&self) -> Option<(&[u8], &[u8])> {
        self.inner
            .fingerprint
            .as_ref()
            .map(|(e, g)| (e.as_slice(), g.as_slice()))
    }

    /// The message of this layer, without the cause.
    ///
    /// ```
    /// let err = aiohttp::BasicAuth::new("a:b", "c").unwrap_err();
    /// assert!(err.message().contains(':'));
    /// ```
    pub fn message(&self) -> &str {
        &self.inner.message
    }
}

macro_rules! predicates {
    ($($(#[$doc:meta])* $name:ident => $kind:ident;)*) => {
        impl ClientError {
            $(
                $(#[$doc])*
                ///
                /// True for this class and its subclasses.
                ///
                /// ```
                /// let err = aiohttp::BasicAuth::new("a:b", "c").unwrap_err();
                /// let _ = err.
                #[doc = stringify!($name)]
                /// ();
                /// ```
                pub fn $name(&self) -> bool {
                    self.is(ErrorKind::$kind)
                }
            )*
        }
    };
}

predicates! {
    /// aiohttp's `ClientResponseError`.
    is_client_response_error => ClientResponseError;
    /// aiohttp's `ContentTypeError`.
    is_content_type_error => ContentTypeError;
    /// aiohttp's `TooManyRedirects`.
    is_too_many_redirects => TooManyRedirects;
    /// aiohttp's `WSServerHandshakeError`.
    is_ws_server_handshake_error => WSServerHandshakeError;
    /// aiohttp's `ClientHttpProxyError`.
    is_client_http_proxy_error => ClientHttpProxyError;
    /// aiohttp's `ClientConnectionError`.
    is_client_connection_error => ClientConnectionError;
    /// aiohttp's `ClientConnectionResetError`.
    is_client_connection_reset_error => ClientConnectionResetError;
    /// aiohttp's `ClientOSError`.
    is_client_os_error => ClientOSError;
    /// aiohttp's `ClientConnectorError` (connecting failed).
    is_client_connector_error => ClientConnectorError;
    /// aiohttp's `ClientConnectorDNSError`.
    is_client_connector_dns_error => ClientConnectorDNSError;
    /// aiohttp's `ClientProxyConnectionError`.
    is_client_proxy_connection_error => ClientProxyConnectionError;
    /// aiohttp's `UnixClientConnectorError`.
    is_unix_client_connector_error => UnixClientConnectorError;
    /// aiohttp's `ClientSSLError`.
    is_client_ssl_error => ClientSSLError;
    /// aiohttp's `ClientConnectorSSLError`.
    is_client_connector_ssl_error => ClientConnectorSSLError;
    /// aiohttp's `ClientConnectorCertificateError`.
    is_certificate => ClientConnectorCertificateError;
    /// aiohttp's `ServerConnectionError`.
    is_server_connection_error => ServerConnectionError;
    /// aiohttp's `ServerDisconnectedError`.
    is_server_disconnected => ServerDisconnectedError;
    /// aiohttp's `ServerTimeoutError` (any timeout).
    is_timeout => ServerTimeoutError;
    /// aiohttp's `ConnectionTimeoutError`.
    is_connection_timeout => ConnectionTimeoutError;
    /// aiohttp's `SocketTimeoutError`.
    is_socket_timeout => SocketTimeoutError;
    /// aiohttp's `ServerFingerprintMismatch`.
    is_server_fingerprint_mismatch => ServerFingerprintMismatch;
    /// aiohttp's `ClientPayloadError` (a broken body).
    is_client_payload_error => ClientPayloadError;
    /// aiohttp's `InvalidURL`.
    is_invalid_url => InvalidURL;
    /// aiohttp's `NonHttpUrlClientError`.
    is_non_http_url => NonHttpUrlClientError;
    /// aiohttp's `InvalidUrlRedirectClientError` or `NonHttpUrlRedirectClientError`.
    is_invalid_redirect_url => InvalidUrlRedirectClientError;
    /// An argument rejected before sending (aiohttp's `ValueError`/`TypeError`).
    is_invalid_argument => InvalidArgument;
    /// aiohttp's `WebSocketError`: the server broke the WebSocket protocol.
    is_websocket_error => WebSocketError;
    /// aiohttp's `WSMessageTypeError`: a message of another kind than asked for.
    is_ws_message_type_error => WSMessageTypeError;
}

impl ClientError {
    /// Whether the redirect target was rejected (`InvalidUrlRedirectClientError` or
    /// `NonHttpUrlRedirectClientError`).
    ///
    /// ```
    /// let err = aiohttp::BasicAuth::new("a:b", "c").unwrap_err();
    /// assert!(!err.is_redirect_url_error());
    /// ```
    pub fn is_redirect_url_error(&self) -> bool {
        self.is(ErrorKind::InvalidUrlRedirectClientError)
            || self.is(ErrorKind::NonHttpUrlRedirectClientError)
    }
}

impl fmt::Debug for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("ClientError");
        d.field("kind", &self.inner.kind)
            .field("message", &self.inner.message);
        if let Some(url) = &self.inner.url {
            d.field("url", &url.as_str());
        }
        if let Some(r) = &self.inner.response {
            d.field("status", &r.status);
        }
        if let Some(a) = &self.inner.address {
            d.field("address", a);
        }
        if self.inner.history_len > 0 {
            d.field("history", &self.inner.history_len);
        }
        if let Some(s) = &self.inner.source {
            d.field("source", s);
        }
        d.finish()
    }
}

/// `url` without the `user:password@` part, for errors and logs.
pub(crate) fn without_credentials(url: &Url) -> std::borrow::Cow<'_, Url> {
    if url.username().is_empty() && url.password().is_none() {
        return std::borrow::Cow::Borrowed(url);
    }
    let mut clean = url.clone();
    // Only URLs that cannot have credentials refuse these, and those have none.
    let _ = clean.set_username("");
    let _ = clean.set_password(None);
    std::borrow::Cow::Owned(clean)
}

/// URL text that may not parse, with anything before an `@` in its authority replaced, for
/// error messages about it.
pub(crate) fn redact_url_text(text: &str) -> std::borrow::Cow<'_, str> {
    let Some(scheme_end) = text.find("://") else {
        return std::borrow::Cow::Borrowed(text);
    };
    let authority_start = scheme_end + 3;
    let rest = &text[authority_start..];
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_len].rfind('@') {
        Some(at) => std::borrow::Cow::Owned(format!(
            "{}***@{}",
            &text[..authority_start],
            &rest[at + 1..]
        )),
        None => std::borrow::Cow::Borrowed(text),
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.inner.kind, self.inner.message)?;
        if let Some(r) = &self.inner.response {
            write!(f, " ({} {})", r.status.as_u16(), r.reason)?;
        }
        if let Some((h, p)) = &self.inner.address {
            write!(f, " [{h}:{p}]")?;
        }
        if let Some(url) = &self.inner.url {
            write!(f, ", url: {url}")?;
        }
        Ok(())
    }
}

impl StdError for ClientError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.inner
            .source
            .as_ref()
            .map(|s| &**s as &(dyn StdError + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_removed_from_urls_and_url_text() {
        let url = Url::parse("http://user:pw@host.test:81/p?q#f").expect("url");
        assert_eq!(
            without_credentials(&url).as_str(),
            "http://host.test:81/p?q#f"
        );
        let plain = Url::parse("http://host.test/").expect("url");
        assert!(matches!(
            without_credentials(&plain),
            std::borrow::Cow::Borrowed(_)
        ));
        let err = ClientError::new(ErrorKind::ClientConnectionError, "x").with_url(&url);
        assert!(!err.to_string().contains("pw"), "{err}");
        let table = [
            ("http://user:pw@[bad/x", "http://***@[bad/x"),
            ("ftp://a:b@c@host/x@y", "ftp://***@host/x@y"),
            ("http://host/path@x", "http://host/path@x"),
            ("no scheme user:pw@host", "no scheme user:pw@host"),
            ("http://host?x=a@b", "http://host?x=a@b"),
        ];
        for (text, want) in table {
            assert_eq!(redact_url_text(text), want, "{text}");
        }
    }

    #[test]
    fn tree_matches_aiohttp() {
        use ErrorKind::*;
        let chains: &[(ErrorKind, &[ErrorKind])] = &[
            (ContentTypeError, &[ClientResponseError, ClientError]),
            (
                ClientConnectorCertificateError,
                &[
                    ClientSSLError,
                    ClientConnectorError,
                    ClientOSError,
                    ClientConnectionError,
                    ClientError,
                ],
            ),
            (
                SocketTimeoutError,
                &[
                    ServerTimeoutError,
                    ServerConnectionError,
                    ClientConnectionError,
                ],
            ),
            (
                NonHttpUrlRedirectClientError,
                &[NonHttpUrlClientError, InvalidURL, ClientError],
            ),
            (ClientPayloadError, &[ClientError]),
        ];
        for (kind, ancestors) in chains {
            for a in *ancestors {
                assert!(kind.is_a(*a), "{kind:?} should be a {a:?}");
            }
        }
        assert!(!ClientPayloadError.is_a(ClientConnectionError));
        assert!(!InvalidArgument.is_a(ClientError));
        assert!(!ServerTimeoutError.is_a(ConnectionTimeoutError));
    }

    #[test]
    fn error_is_one_pointer_and_thread_safe() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<ClientError>();
        assert_eq!(
            std::mem::size_of::<ClientError>(),
            std::mem::size_of::<usize>()
        );
    }

    #[test]
    fn source_chain_and_display() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let e = ClientError::new(ErrorKind::ClientConnectorError, "cannot connect")
            .with_address("example.test", 81)
            .with_source(io);
        assert!(e.is_client_os_error());
        assert_eq!(e.host(), Some("example.test"));
        assert_eq!(e.port(), Some(81));
        let src = e.source().map(|s| s.to_string());
        assert_eq!(src.as_deref(), Some("refused"));
        assert!(e.to_string().contains("example.test:81"));
    }
}
