//! Client middlewares (aiohttp 3.12's `middlewares=`): async handlers wrapped around the
//! exchange of every hop of a request.
//!
//! Where they run, as in aiohttp's `ClientSession._request`: the request loop builds the head of
//! a hop (credentials, headers, cookies, framing), hands it to the chain as a [`ClientRequest`],
//! and the innermost handler sends it over a pooled connection. Each redirect hop goes through
//! the chain again; redirects, the cookie jar and `raise_for_status` are handled outside it, on
//! the response the chain returns. The one resend of an idempotent request whose pooled
//! connection turned out closed happens inside the innermost handler (aiohttp runs the chain
//! again for it), so a middleware sees one call for it.
//!
//! A session with no middleware never builds a chain: its requests take the same path, with
//! the same allocations, as before middlewares existed.

use std::fmt;
use std::sync::Arc;

use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Version};
use url::Url;

use crate::body::Body;
use crate::connector::BoxFuture;
use crate::error::{ClientError, ErrorKind};
use crate::head::Prepared;
use crate::response::ClientResponse;

/// What a middleware, and the chain, return.
pub type MiddlewareResult = Result<ClientResponse, ClientError>;

/// An async handler around every exchange of a session or a request (aiohttp's client
/// middleware, `async def mw(req, handler)`).
///
/// [`handle`](Self::handle) gets the hop's request and the rest of the chain as [`Next`]. It
/// may change the request (method, URL, headers, body), call `next` once, not at all (and
/// answer with its own error), or several times (a retry: send a [`ClientRequest::try_clone`]
/// each time), and inspect or replace the response it returns.
///
/// The chain runs for every hop: the first request and each redirect it follows. Middlewares
/// run in the order they were given, the first one outermost: it sees the request first and the
/// response last.
///
/// A middleware making requests with the session it belongs to goes through its own chain again
/// (as in aiohttp): send those with [`.middlewares([])`](crate::RequestBuilder::middlewares)
/// or make them conditional. Chains nested more than [`MAX_MIDDLEWARE_DEPTH`] deep in one task
/// fail instead of recursing forever.
///
/// ```
/// use aiohttp::{BoxFuture, ClientRequest, Middleware, MiddlewareResult, Next};
///
/// /// Adds a header to every hop.
/// struct Tag(&'static str);
///
/// impl Middleware for Tag {
///     fn handle<'a>(
///         &'a self,
///         mut req: ClientRequest,
///         next: Next<'a>,
///     ) -> BoxFuture<'a, MiddlewareResult> {
///         Box::pin(async move {
///             req.headers_mut().insert("x-tag", aiohttp::HeaderValue::from_static(self.0));
///             next.run(req).await
///         })
///     }
/// }
///
/// let session = aiohttp::ClientSession::builder().middleware(Tag("a")).build()?;
/// # Ok::<(), aiohttp::ClientError>(())
/// ```
pub trait Middleware: Send + Sync + 'static {
    /// Handles one hop: call `next.run(req)` to send it on (to the next middleware, or over the
    /// wire after the last one).
    fn handle<'a>(&'a self, req: ClientRequest, next: Next<'a>) -> BoxFuture<'a, MiddlewareResult>;
}

impl<M: Middleware + ?Sized> Middleware for Arc<M> {
    fn handle<'a>(&'a self, req: ClientRequest, next: Next<'a>) -> BoxFuture<'a, MiddlewareResult> {
        (**self).handle(req, next)
    }
}

/// A closure as a [`Middleware`] (see [`from_fn`]).
pub struct FnMiddleware<F>(F);

impl<F> fmt::Debug for FnMiddleware<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FnMiddleware(..)")
    }
}

impl<F> Middleware for FnMiddleware<F>
where
    F: for<'a> Fn(ClientRequest, Next<'a>) -> BoxFuture<'a, MiddlewareResult>
        + Send
        + Sync
        + 'static,
{
    fn handle<'a>(&'a self, req: ClientRequest, next: Next<'a>) -> BoxFuture<'a, MiddlewareResult> {
        (self.0)(req, next)
    }
}

/// A middleware from a closure `|req, next| Box::pin(async move { ... })`.
///
/// ```
/// use aiohttp::middleware;
///
/// let log = middleware::from_fn(|req, next| Box::pin(async move {
///     let (method, url) = (req.method().clone(), req.url().clone());
///     let resp = next.run(req).await;
///     if let Ok(r) = &resp {
///         println!("{method} {url} -> {}", r.status());
///     }
///     resp
/// }));
/// let session = aiohttp::ClientSession::builder().middleware(log).build()?;
/// # Ok::<(), aiohttp::ClientError>(())
/// ```
pub fn from_fn<F>(f: F) -> FnMiddleware<F>
where
    F: for<'a> Fn(ClientRequest, Next<'a>) -> BoxFuture<'a, MiddlewareResult>
        + Send
        + Sync
        + 'static,
{
    FnMiddleware(f)
}

/// How deep chains may nest in one task: a middleware's request through a session with
/// middlewares, from inside a middleware, ... A request beyond it fails with a `ClientError`
/// (kind [`ErrorKind::ClientError`]) before anything is sent.
pub const MAX_MIDDLEWARE_DEPTH: usize = 8;

tokio::task_local! {
    /// How many chains the current task is inside.
    static DEPTH: usize;
}

/// The innermost handler: sends a request over the wire.
pub(crate) type Terminal<'a> =
    dyn Fn(ClientRequest) -> BoxFuture<'a, MiddlewareResult> + Send + Sync + 'a;

/// The rest of the chain, handed to each middleware: [`run`](Self::run) it with the request
/// (as often as needed; it is `Copy`).
#[derive(Clone, Copy)]
pub struct Next<'a> {
    rest: &'a [Arc<dyn Middleware>],
    end: &'a Terminal<'a>,
}

impl fmt::Debug for Next<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Next")
            .field("middlewares_left", &self.rest.len())
            .finish()
    }
}

impl<'a> Next<'a> {
    /// Sends `req` on: through the remaining middlewares, then over a connection of the
    /// session. The response is the hop's: a redirect is not followed here.
    ///
    /// ```
    /// let pass = aiohttp::middleware::from_fn(|req, next| next.run(req));
    /// # let _ = pass;
    /// ```
    pub fn run(self, req: ClientRequest) -> BoxFuture<'a, MiddlewareResult> {
        match self.rest.split_first() {
            Some((first, rest)) => first.handle(
                req,
                Next {
                    rest,
                    end: self.end,
                },
            ),
            None => (self.end)(req),
        }
    }
}

/// The middlewares of a session or a request, in order (never empty).
#[derive(Clone)]
pub(crate) struct Chain(Arc<[Arc<dyn Middleware>]>);

impl fmt::Debug for Chain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Chain({} middlewares)", self.0.len())
    }
}

impl Chain {
    /// The chain of `list`; none for an empty list.
    pub(crate) fn new(list: Vec<Arc<dyn Middleware>>) -> Option<Chain> {
        (!list.is_empty()).then(|| Chain(list.into()))
    }

    /// Runs `req` through the chain, `end` sending it.
    pub(crate) async fn run<'a>(
        &'a self,
        req: ClientRequest,
        end: &'a Terminal<'a>,
    ) -> MiddlewareResult {
        let depth = DEPTH.try_with(|d| *d).unwrap_or(0);
        if depth >= MAX_MIDDLEWARE_DEPTH {
            return Err(ClientError::new(
                ErrorKind::ClientError,
                format!(
                    "middlewares nested more than {MAX_MIDDLEWARE_DEPTH} deep: a middleware's own \
                     request went through the chain again; send it with .middlewares([])"
                ),
            )
            .with_url(req.url()));
        }
        let next = Next { rest: &self.0, end };
        DEPTH.scope(depth + 1, next.run(req)).await
    }
}

/// One hop's request as the middlewares see it (aiohttp's `ClientRequest`): the method, URL,
/// headers and body about to be sent, with the session's headers, credentials, cookies and
/// framing already in the headers.
///
/// ```
/// use aiohttp::middleware;
///
/// // Sends every hop to a mirror instead.
/// let mirror = middleware::from_fn(|mut req, next| Box::pin(async move {
///     let mut url = req.url().clone();
///     let _ = url.set_host(Some("mirror.test"));
///     req.set_url(url)?;
///     next.run(req).await
/// }));
/// # let _ = mirror;
/// ```
pub struct ClientRequest {
    inner: Prepared,
}

impl fmt::Debug for ClientRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientRequest")
            .field("method", &self.inner.method)
            .field("url", &self.inner.url.as_str())
            .field("headers", &self.inner.headers)
            .field("body", &self.inner.body)
            .finish_non_exhaustive()
    }
}

impl ClientRequest {
    pub(crate) fn new(inner: Prepared) -> Self {
        ClientRequest { inner }
    }

    pub(crate) fn into_prepared(self) -> Prepared {
        self.inner
    }

    /// The method.
    ///
    /// ```
    /// let mw = aiohttp::middleware::from_fn(|req, next| {
    ///     assert_ne!(req.method(), aiohttp::Method::CONNECT);
    ///     next.run(req)
    /// });
    /// # let _ = mw;
    /// ```
    pub fn method(&self) -> &Method {
        &self.inner.method
    }

    /// Replaces the method; the headers (framing included) stay as they are.
    ///
    /// ```
    /// let mw = aiohttp::middleware::from_fn(|mut req, next| {
    ///     if req.method() == aiohttp::Method::PATCH {
    ///         req.set_method(aiohttp::Method::POST);
    ///         req.headers_mut().insert("x-http-method-override", "PATCH".parse().expect("value"));
    ///     }
    ///     next.run(req)
    /// });
    /// # let _ = mw;
    /// ```
    pub fn set_method(&mut self, method: Method) {
        self.inner.method = method;
    }

    /// The URL sent to (without its fragment; credentials are already in the headers).
    ///
    /// ```
    /// let mw = aiohttp::middleware::from_fn(|req, next| {
    ///     println!("to {}", req.url().host_str().unwrap_or(""));
    ///     next.run(req)
    /// });
    /// # let _ = mw;
    /// ```
    pub fn url(&self) -> &Url {
        &self.inner.url
    }

    /// Sends the request to another URL: http(s) with a host, and no credentials. A `Host`
    /// header that named the old URL's host names the new one; the connection (and proxy) is
    /// chosen for the new URL. Headers meant for the old origin (`Authorization`, `Cookie`)
    /// stay unless removed.
    ///
    /// # Errors
    /// `NonHttpUrlClientError` for another scheme; `InvalidUrlClientError` without a host;
    /// `InvalidArgument` with credentials in the URL.
    ///
    /// ```
    /// let mw = aiohttp::middleware::from_fn(|mut req, next| Box::pin(async move {
    ///     let mut url = req.url().clone();
    ///     url.set_path("/v2/");
    ///     req.set_url(url)?;
    ///     next.run(req).await
    /// }));
    /// # let _ = mw;
    /// ```
    pub fn set_url(&mut self, url: Url) -> Result<(), ClientError> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ClientError::new(
                ErrorKind::NonHttpUrlClientError,
                format!("unsupported URL scheme {:?}", url.scheme()),
            ));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(ClientError::new(
                ErrorKind::InvalidUrlClientError,
                "the URL has no host",
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(ClientError::invalid_argument(
                "a middleware's URL cannot carry credentials; set the Authorization header",
            ));
        }
        let old_host = crate::head::host_header(&self.inner.url).ok();
        let new_host = crate::head::host_header(&url)?;
        if old_host.is_some() && self.inner.headers.get(header::HOST) == old_host.as_ref() {
            Arc::make_mut(&mut self.inner.headers).insert(header::HOST, new_host);
        }
        let mut url = url;
        self.inner.real_url = url.fragment().is_some().then(|| {
            let real = Box::new(url.clone());
            url.set_fragment(None);
            real
        });
        self.inner.url = url;
        Ok(())
    }

    /// The HTTP version asked for.
    ///
    /// ```
    /// let mw = aiohttp::middleware::from_fn(|req, next| {
    ///     println!("{:?}", req.version());
    ///     next.run(req)
    /// });
    /// # let _ = mw;
    /// ```
    pub fn version(&self) -> Version {
        self.inner.version
    }

    /// The headers about to be sent.
    ///
    /// ```
    /// let mw = aiohttp::middleware::from_fn(|req, next| {
    ///     assert!(req.headers().contains_key("host"));
    ///     next.run(req)
    /// });
    /// # let _ = mw;
    /// ```
    pub fn headers(&self) -> &HeaderMap {
        &self.inner.headers
    }

    /// The headers, to change. Mark a credential's value sensitive
    /// ([`HeaderValue::set_sensitive`]) so that it never shows in `Debug` output.
    ///
    /// ```
    /// let mw = aiohttp::middleware::from_fn(|mut req, next| {
    ///     let mut token = aiohttp::HeaderValue::from_static("Bearer t0k3n");
    ///     token.set_sensitive(true);
    ///     req.headers_mut().insert("authorization", token);
    ///     next.run(req)
    /// });
    /// # let _ = mw;
    /// ```
    pub fn headers_mut(&mut self) -> &mut HeaderMap {
        Arc::make_mut(&mut self.inner.headers)
    }

    /// The body, if any.
    ///
    /// ```
    /// let mw = aiohttp::middleware::from_fn(|req, next| {
    ///     let len = req.body().and_then(|b| b.content_length());
    ///     println!("{len:?} bytes");
    ///     next.run(req)
    /// });
    /// # let _ = mw;
    /// ```
    pub fn body(&self) -> Option<&Body> {
        self.inner.body.as_ref()
    }

    /// Replaces the body (aiohttp's `update_body`), and its framing: `Content-Length` for a
    /// body of known length (none for an empty one of a method that sends none by default),
    /// `Transfer-Encoding: chunked` otherwise. A request sent compressed or in chunks stays
    /// so. `Content-Type` is left as it is.
    ///
    /// ```
    /// let mw = aiohttp::middleware::from_fn(|mut req, next| {
    ///     if req.method() == aiohttp::Method::POST && req.body().is_none() {
    ///         req.set_body(Some(aiohttp::Body::from("{}")));
    ///     }
    ///     next.run(req)
    /// });
    /// # let _ = mw;
    /// ```
    pub fn set_body(&mut self, body: Option<Body>) {
        let keeps_chunks = self.inner.compress || self.inner.chunked.is_some();
        if !keeps_chunks {
            let no_body_by_default = crate::policy::has_no_body_by_default(&self.inner.method);
            let headers = Arc::make_mut(&mut self.inner.headers);
            headers.remove(header::CONTENT_LENGTH);
            headers.remove(header::TRANSFER_ENCODING);
            match body.as_ref().map(Body::content_length) {
                Some(Some(n)) if n > 0 || !no_body_by_default => {
                    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(n));
                }
                Some(Some(_)) => {}
                Some(None) => {
                    headers.insert(
                        header::TRANSFER_ENCODING,
                        HeaderValue::from_static("chunked"),
                    );
                }
                None if !no_body_by_default => {
                    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(0u64));
                }
                None => {}
            }
        }
        self.inner.body = body;
    }

    /// A copy to send again (a retry), when the body can be sent twice: none, or in memory.
    /// A stream body cannot; then `None`.
    ///
    /// ```
    /// use aiohttp::middleware;
    ///
    /// // One more try on a 503, when the request can be sent again.
    /// let retry = middleware::from_fn(|req, next| Box::pin(async move {
    ///     let again = req.try_clone();
    ///     let resp = next.run(req).await?;
    ///     match again {
    ///         Some(again) if resp.status() == 503 => next.run(again).await,
    ///         _ => Ok(resp),
    ///     }
    /// }));
    /// # let _ = retry;
    /// ```
    pub fn try_clone(&self) -> Option<ClientRequest> {
        let body = match &self.inner.body {
            None => None,
            Some(b) => Some(b.try_clone()?),
        };
        Some(ClientRequest {
            inner: Prepared {
                method: self.inner.method.clone(),
                url: self.inner.url.clone(),
                version: self.inner.version,
                headers: Arc::clone(&self.inner.headers),
                body,
                compress: self.inner.compress,
                chunked: self.inner.chunked,
                real_url: self.inner.real_url.clone(),
            },
        })
    }
}
