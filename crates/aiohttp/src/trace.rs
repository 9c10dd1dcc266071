//! Tracing hooks: aiohttp's `TraceConfig`, as a trait whose methods the session calls at each
//! point of a request's life, with the request's `trace_request_ctx`.
//!
//! A session without trace configs pays nothing for them: no state is made, and the points in
//! the pool and the resolver cost one task-local lookup. Every point is also a `tracing` event
//! (target `aiohttp`) whatever the trace configs.

use std::any::Any;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{HeaderMap, Method};
use tokio::time::Instant;
use url::Url;

use crate::error::ClientError;
use crate::hooks::ConnectionHooks;
use crate::response::ClientResponse;

/// Callbacks at each point of a request's life (aiohttp's `TraceConfig` signals); every method
/// does nothing unless overridden. Register with
/// [`ClientSessionBuilder::trace_config`](crate::ClientSessionBuilder::trace_config); a
/// request may carry a value for them, its
/// [`trace_request_ctx`](crate::RequestBuilder::trace_request_ctx).
///
/// The callbacks run on the request's task, synchronously, where the point is reached: keep
/// them short (send to a channel to do more).
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use aiohttp::{ClientResponse, TraceConfig, TraceRequest};
///
/// #[derive(Default)]
/// struct Timings { reused: AtomicUsize }
///
/// impl TraceConfig for Timings {
///     fn on_connection_reuseconn(&self, _req: &TraceRequest<'_>) {
///         self.reused.fetch_add(1, Ordering::Relaxed);
///     }
///     fn on_request_end(&self, req: &TraceRequest<'_>, resp: &ClientResponse) {
///         println!("{} {} -> {} in {:?}", req.method(), req.url(), resp.status(), req.elapsed());
///     }
/// }
///
/// let session = aiohttp::ClientSession::builder()
///     .trace_config(Timings::default())
///     .build()
///     .unwrap();
/// ```
#[allow(unused_variables)]
pub trait TraceConfig: Send + Sync + 'static {
    /// The request starts (before its first connection).
    fn on_request_start(&self, req: &TraceRequest<'_>) {}
    /// A hop's head is handed to its connection, with these headers (the session's and the
    /// request's, cookies and auth included).
    fn on_request_headers_sent(&self, req: &TraceRequest<'_>, headers: &HeaderMap) {}
    /// A piece of the request body is handed to the connection.
    fn on_request_chunk_sent(&self, req: &TraceRequest<'_>, chunk: &[u8]) {}
    /// The response body was read whole ([`ClientResponse::read`], and `text`/`json`), as
    /// aiohttp reports it.
    fn on_response_chunk_received(&self, req: &TraceRequest<'_>, chunk: &[u8]) {}
    /// A redirect is followed; `resp` is the redirect response.
    fn on_request_redirect(&self, req: &TraceRequest<'_>, resp: &ClientResponse) {}
    /// The request ends with this response (after its `raise_for_status` check passed).
    fn on_request_end(&self, req: &TraceRequest<'_>, resp: &ClientResponse) {}
    /// The request ends with this error.
    fn on_request_exception(&self, req: &TraceRequest<'_>, error: &ClientError) {}
    /// The request waits for a connection (the pool's limits are reached).
    fn on_connection_queued_start(&self, req: &TraceRequest<'_>) {}
    /// The wait for a connection is over.
    fn on_connection_queued_end(&self, req: &TraceRequest<'_>) {}
    /// A new connection is being opened for the request.
    fn on_connection_create_start(&self, req: &TraceRequest<'_>) {}
    /// The new connection is open (TLS and HTTP handshakes done).
    fn on_connection_create_end(&self, req: &TraceRequest<'_>) {}
    /// A pooled connection (or a stream of a shared HTTP/2 one) is reused.
    fn on_connection_reuseconn(&self, req: &TraceRequest<'_>) {}
    /// A host name is being resolved.
    fn on_dns_resolvehost_start(&self, req: &TraceRequest<'_>, host: &str) {}
    /// The host name is resolved (or failed to).
    fn on_dns_resolvehost_end(&self, req: &TraceRequest<'_>, host: &str) {}
    /// The DNS cache had the host (or a lookup of it was under way already).
    fn on_dns_cache_hit(&self, req: &TraceRequest<'_>, host: &str) {}
    /// The DNS cache did not have the host.
    fn on_dns_cache_miss(&self, req: &TraceRequest<'_>, host: &str) {}
}

/// The request a trace point is about: its method and URL (of the current hop), when it started
/// and its `trace_request_ctx`.
///
/// ```
/// # use aiohttp::{TraceConfig, TraceRequest};
/// struct Tagged;
/// impl TraceConfig for Tagged {
///     fn on_request_start(&self, req: &TraceRequest<'_>) {
///         let tag = req.request_ctx().and_then(|c| c.downcast_ref::<&str>()).copied();
///         println!("{tag:?}: {} {}", req.method(), req.url());
///     }
/// }
/// ```
pub struct TraceRequest<'a> {
    state: &'a TraceState,
    hop: &'a (Method, Url),
}

impl std::fmt::Debug for TraceRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceRequest")
            .field("method", &self.hop.0)
            .field("url", &crate::error::without_credentials(&self.hop.1))
            .field("elapsed", &self.elapsed())
            .finish_non_exhaustive()
    }
}

impl TraceRequest<'_> {
    /// The method of the current hop (a redirect may change it).
    ///
    /// ```
    /// # fn f(req: &aiohttp::TraceRequest<'_>) { println!("{}", req.method()); }
    /// ```
    pub fn method(&self) -> &Method {
        &self.hop.0
    }

    /// The URL of the current hop.
    ///
    /// ```
    /// # fn f(req: &aiohttp::TraceRequest<'_>) { println!("{}", req.url()); }
    /// ```
    pub fn url(&self) -> &Url {
        &self.hop.1
    }

    /// The request's `trace_request_ctx`, if it has one.
    ///
    /// ```
    /// # fn f(req: &aiohttp::TraceRequest<'_>) {
    /// let id = req.request_ctx().and_then(|c| c.downcast_ref::<u64>());
    /// # }
    /// ```
    pub fn request_ctx(&self) -> Option<&(dyn Any + Send + Sync)> {
        self.state.ctx.as_deref()
    }

    /// The time since the request started.
    ///
    /// ```
    /// # fn f(req: &aiohttp::TraceRequest<'_>) { println!("{:?}", req.elapsed()); }
    /// ```
    pub fn elapsed(&self) -> Duration {
        self.state.started.elapsed()
    }
}

/// A request's `trace_request_ctx`.
#[derive(Clone)]
pub(crate) struct TraceCtx(pub(crate) Arc<dyn Any + Send + Sync>);

impl std::fmt::Debug for TraceCtx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TraceCtx(..)")
    }
}

/// The trace configs of a session.
pub(crate) type TraceConfigs = Arc<[Arc<dyn TraceConfig>]>;

/// One traced request: the session's configs, its context and its current hop.
pub(crate) struct TraceState {
    configs: TraceConfigs,
    ctx: Option<Arc<dyn Any + Send + Sync>>,
    started: Instant,
    /// The current hop, shared with each point's `TraceRequest` (replaced per redirect, so a
    /// point costs no copy of the URL).
    hop: Mutex<Arc<(Method, Url)>>,
}

impl TraceState {
    pub(crate) fn new(
        configs: TraceConfigs,
        ctx: Option<TraceCtx>,
        method: Method,
        url: Url,
    ) -> Arc<Self> {
        Arc::new(TraceState {
            configs,
            ctx: ctx.map(|c| c.0),
            started: Instant::now(),
            hop: Mutex::new(Arc::new((method, url))),
        })
    }

    /// The request goes on to another hop.
    pub(crate) fn set_hop(&self, method: &Method, url: &Url) {
        let mut hop = self.hop.lock().unwrap_or_else(|p| p.into_inner());
        if hop.0 != *method || hop.1 != *url {
            *hop = Arc::new((method.clone(), url.clone()));
        }
    }

    /// Calls `f` on every config with the request as it is now.
    pub(crate) fn each(&self, f: impl Fn(&dyn TraceConfig, &TraceRequest<'_>)) {
        let hop = Arc::clone(&*self.hop.lock().unwrap_or_else(|p| p.into_inner()));
        let req = TraceRequest {
            state: self,
            hop: &hop,
        };
        for c in self.configs.iter() {
            f(&**c, &req);
        }
    }
}

impl std::fmt::Debug for TraceState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceState")
            .field("configs", &self.configs.len())
            .finish_non_exhaustive()
    }
}

impl ConnectionHooks for TraceState {
    fn connection_queued_start(&self) {
        self.each(|c, r| c.on_connection_queued_start(r));
    }
    fn connection_queued_end(&self) {
        self.each(|c, r| c.on_connection_queued_end(r));
    }
    fn connection_create_start(&self) {
        self.each(|c, r| c.on_connection_create_start(r));
    }
    fn connection_create_end(&self) {
        self.each(|c, r| c.on_connection_create_end(r));
    }
    fn connection_reuse(&self) {
        self.each(|c, r| c.on_connection_reuseconn(r));
    }
    fn dns_resolve_start(&self, host: &str) {
        self.each(|c, r| c.on_dns_resolvehost_start(r, host));
    }
    fn dns_resolve_end(&self, host: &str) {
        self.each(|c, r| c.on_dns_resolvehost_end(r, host));
    }
    fn dns_cache_hit(&self, host: &str) {
        self.each(|c, r| c.on_dns_cache_hit(r, host));
    }
    fn dns_cache_miss(&self, host: &str) {
        self.each(|c, r| c.on_dns_cache_miss(r, host));
    }
}
