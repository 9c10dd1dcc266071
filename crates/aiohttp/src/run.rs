//! The request loop: everything that happens when a request is awaited, in order.
//!
//! [`send`] checks the arguments and makes the future; [`run`] then goes hop after hop:
//!
//! 1. the head of the hop, built without I/O from the request's [`Plan`] and a snapshot of the
//!    session's defaults ([`crate::head`]);
//! 2. the middlewares, if the request or its session has any ([`crate::middleware`]): they get
//!    the hop's request and the rest of the chain, the innermost handler doing steps 3–4;
//!    without middlewares the hop goes straight on; either way [`route`] picks the
//!    proxy and the pool key;
//! 3. a connection from the pool, within `sock_connect` ([`exchange`]);
//! 4. the exchange over it (hyper, behind [`crate::proto`]), within `sock_read`; a reused
//!    connection the server had closed is replaced once ([`crate::policy::retry`]); the
//!    response assembled from its parts;
//! 5. the cookies of the response the chain returns put into the jar;
//! 6. the redirect decision ([`crate::redirect::decide`]): the final response, or the next hop
//!    after the redirect's body is drained;
//!
//! and at the end, `raise_for_status`. One total deadline covers every hop.

use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::body::Body;
use crate::connector::{BoxFuture, ConnectionKey};
use crate::error::{ClientError, ErrorKind};
use crate::head::{Plan, Prepared};
use crate::middleware::{Chain, ClientRequest, MiddlewareResult};
use crate::options::SendOptions;
use crate::redirect::{decide, location, Decision, Hop, Policy};
use crate::response::{ClientResponse, StatusPolicy};
use crate::shared::SessionInner;
use crate::timeout::ClientTimeout;
use crate::timeout::{Phase, Timeouts};
use crate::trace::{TraceCtx, TraceState};

/// A redirect body is read as received (so its connection can be reused) up to this many bytes,
/// whatever its framing claims; a larger one closes the connection instead.
const DRAIN_LIMIT: usize = 64 * 1024;

/// Sends a request on the session `inner` and follows its redirects.
///
/// How a request is exchanged: the options of every hop (one total deadline for all of them)
/// and the redirect and status policies.
#[derive(Debug, Clone)]
pub(crate) struct Exchange {
    pub(crate) opts: SendOptions,
    /// The timeouts as configured; the clock of `opts.timeouts` starts when the request starts
    /// running.
    pub(crate) timeout: ClientTimeout,
    pub(crate) raise_for_status: StatusPolicy,
    pub(crate) allow_redirects: bool,
    pub(crate) max_redirects: usize,
    /// The request's `trace_request_ctx`.
    pub(crate) trace_ctx: Option<TraceCtx>,
    /// The request's trace, when its session has trace configs.
    pub(crate) trace: Option<Arc<TraceState>>,
    /// The request's middlewares, else the session's; none when there are none.
    pub(crate) middlewares: Option<Chain>,
}

/// The caller checks the arguments before the future is made (`planned`), so it holds the plan
/// rather than the builder (the state of every request in flight is smaller).
pub(crate) fn send(
    inner: Arc<SessionInner>,
    planned: Result<(Plan, Exchange), ClientError>,
) -> impl Future<Output = Result<ClientResponse, ClientError>> + Send {
    use futures_util::future::{ready, Either};
    match planned {
        Ok((plan, exchange))
            if inner.trace_configs.is_empty()
                && !matches!(exchange.raise_for_status, StatusPolicy::Check(_)) =>
        {
            Either::Left(run(inner, plan, exchange))
        }
        // Boxed: only a traced or checked request carries the state of those.
        Ok((plan, exchange)) => {
            Either::Right(Either::Left(Box::pin(checked(inner, plan, exchange))))
        }
        Err(e) => Either::Right(Either::Right(ready(Err(e)))),
    }
}

/// [`run`], traced if the session has trace configs, and checked by a `raise_for_status`
/// callback if there is one.
async fn checked(
    inner: Arc<SessionInner>,
    plan: Plan,
    mut ex: Exchange,
) -> Result<ClientResponse, ClientError> {
    let check = match std::mem::take(&mut ex.raise_for_status) {
        StatusPolicy::Check(check) => Some(check),
        other => {
            ex.raise_for_status = other;
            None
        }
    };
    if !inner.trace_configs.is_empty() {
        return traced(inner, plan, ex, check).await;
    }
    let mut resp = run(inner, plan, ex).await?;
    if let Some(check) = check {
        check(&mut resp).await?;
    }
    Ok(resp)
}

/// [`run`] (and the `raise_for_status` callback `check`) with the session's trace configs
/// told of each point (aiohttp's `TraceConfig`).
async fn traced(
    inner: Arc<SessionInner>,
    plan: Plan,
    mut ex: Exchange,
    check: Option<crate::response::StatusCheck>,
) -> Result<ClientResponse, ClientError> {
    let url = plan
        .url()
        .cloned()
        .ok_or_else(|| ClientError::invalid_argument("the request was already sent"))?;
    let trace = TraceState::new(
        inner.trace_configs.clone(),
        ex.trace_ctx.take(),
        plan.method.clone(),
        url,
    );
    ex.trace = Some(trace.clone());
    trace.each(|c, r| c.on_request_start(r));
    let hooks: Arc<dyn crate::hooks::ConnectionHooks> = trace.clone();
    let mut result = crate::hooks::scope(hooks, run(inner, plan, ex)).await;
    // As aiohttp's: the callback's verdict comes before the request's end is reported.
    if let (Ok(resp), Some(check)) = (&mut result, check) {
        if let Err(e) = check(resp).await {
            result = Err(e);
        }
    }
    match &result {
        Ok(resp) => trace.each(|c, r| c.on_request_end(r, resp)),
        Err(e) => trace.each(|c, r| c.on_request_exception(r, e)),
    }
    result
}

async fn run(
    session: Arc<SessionInner>,
    mut plan: Plan,
    mut ex: Exchange,
) -> Result<ClientResponse, ClientError> {
    let inner = &*session;
    // The total timeout counts from the first poll, not from when the future was made.
    ex.opts.timeouts = Timeouts::start(ex.timeout);
    let policy = Policy {
        allow: ex.allow_redirects,
        max: ex.max_redirects,
        requote: inner.requote_redirect_url.load(Ordering::Relaxed),
    };
    let mut history: Vec<ClientResponse> = Vec::new();
    let mut resp = loop {
        // 1. The head.
        if inner.is_closed() {
            return Err(ClientError::invalid_argument("the session is closed"));
        }
        let url = plan
            .url()
            .ok_or_else(|| ClientError::invalid_argument("the request was already sent"))?;
        if let Some(t) = &ex.trace {
            t.set_hop(&plan.method, url);
        }
        let (origin, head) = inner.origin(url)?;
        let mut prepared = plan.head(&inner.defaults(), &head)?;

        // 2–4. Connection, exchange, response: directly, or through the middlewares, which may
        // change the request, send it several times or not at all.
        let trace = ex.trace.as_ref();
        let mut resp = match &ex.middlewares {
            None => {
                let (key, target) = route(inner, origin, &mut prepared, &ex.opts);
                exchange(inner, &key, target.as_ref(), prepared, &ex.opts, trace).await?
            }
            Some(chain) => {
                let opts = &ex.opts;
                let end = move |req: ClientRequest| -> BoxFuture<'_, MiddlewareResult> {
                    Box::pin(async move {
                        let mut prepared = req.into_prepared();
                        // The middlewares may have changed the URL.
                        let (origin, _) = inner.origin(&prepared.url)?;
                        let (key, target) = route(inner, origin, &mut prepared, opts);
                        exchange(inner, &key, target.as_ref(), prepared, opts, trace).await
                    })
                };
                chain.run(ClientRequest::new(prepared), &end).await?
            }
        };
        if !resp.cookies().is_empty() {
            inner
                .cookie_jar
                .update_cookies(resp.cookies(), Some(resp.url()));
        }

        // 6. Redirects.
        let hop = Hop {
            status: resp.status(),
            method: &plan.method,
            location: location(resp.status(), resp.headers()),
            url: resp.url(),
            body: plan.body_state(),
            followed: history.len(),
        };
        match decide(&hop, &policy) {
            Ok(Decision::Final) => break resp,
            Ok(Decision::TooMany) => {
                resp.close();
                history.push(resp);
                return Err(too_many(history, policy.max));
            }
            Ok(Decision::Follow(next)) => {
                tracing::debug!(
                    target: "aiohttp",
                    status = resp.status().as_u16(),
                    to = %crate::error::without_credentials(&next.url),
                    "redirect"
                );
                if let Some(t) = &ex.trace {
                    t.each(|c, r| c.on_request_redirect(r, &resp));
                }
                // Into the history first: the response is not part of this future's state
                // while its body drains.
                history.push(resp);
                if let Some(last) = history.last_mut() {
                    last.drain(DRAIN_LIMIT).await;
                }
                if next.cross_origin {
                    ex.opts.leave_origin();
                }
                plan.follow(next)?;
            }
            Err(e) => {
                resp.close();
                return Err(e);
            }
        }
    };
    if !history.is_empty() {
        resp.set_history(history);
    }
    if let Some(t) = &ex.trace {
        let t = t.clone();
        resp.set_on_body(Arc::new(move |body| {
            t.each(|c, r| c.on_response_chunk_received(r, body));
        }));
    }
    if let Some(resolve) = &inner.charset_fallback {
        for hop in resp.history_mut() {
            hop.set_charset_fallback(resolve.clone());
        }
        resp.set_charset_fallback(resolve.clone());
    }
    match &ex.raise_for_status {
        StatusPolicy::Off => {}
        StatusPolicy::Raise => {
            if let Err(e) = resp.raise_for_status() {
                // As aiohttp's: the error carries the redirects that led to the response.
                let history = resp.take_history();
                return Err(if history.is_empty() {
                    e
                } else {
                    e.with_history(history)
                });
            }
        }
        // Checked by `checked`, around this future.
        StatusPolicy::Check(_) => {}
    }
    Ok(resp)
}

/// Where one hop's request goes: the pool key (through the request's or session's proxy, else
/// the environment's for its target) and, for a request forwarded through a proxy, the target
/// it counts against. A caller's `Proxy-Authorization` header is taken out of the request for
/// the proxy. Not async, so that the caller's future holds no more than the exchange's.
fn route(
    inner: &SessionInner,
    origin: ConnectionKey,
    prepared: &mut Prepared,
    opts: &SendOptions,
) -> (ConnectionKey, Option<ConnectionKey>) {
    let proxy = crate::proxy::choose(
        opts.proxy.as_ref(),
        inner.env_proxies.as_ref(),
        &prepared.url,
        opts.upgrade,
    );
    let proxy = crate::proxy::take_proxy_authorization(&mut prepared.headers, proxy);
    let plain = proxy.as_ref().map(|_| origin.clone());
    let key = opts.key(origin, prepared.version, proxy.as_ref());
    // A forward proxy's connection serves every origin: the request counts against its
    // target's `limit_per_host` (the target as a tunnel through this proxy would key it).
    let target = match (plain, &proxy) {
        (Some(plain), Some(p)) if key.forward_proxy().is_some() => {
            Some(plain.with_proxy(p.clone(), false))
        }
        _ => None,
    };
    (key, target)
}

/// One hop: a connection for `key` (serving `target`, for a request forwarded through a
/// proxy), the exchange over it, and the response. A reused
/// connection that turns out closed (or an HTTP/2 stream the server refused) is replaced once
/// when the request may be sent again.
async fn exchange(
    inner: &SessionInner,
    key: &ConnectionKey,
    target: Option<&ConnectionKey>,
    prepared: Prepared,
    opts: &SendOptions,
    trace: Option<&Arc<TraceState>>,
) -> Result<ClientResponse, ClientError> {
    let (info, mut body, compress, chunked) = prepared.into_info();
    let url = &info.url;
    let connector = &*inner.connector;
    let timeouts = &opts.timeouts;
    // `fresh`: skip pooled connections; `retried`: the one retry has been used.
    let (mut fresh, mut retried) = (false, false);
    loop {
        let mut lease = timeouts
            .run(
                Phase::Connect,
                crate::connector::acquire(
                    connector,
                    key,
                    target,
                    fresh,
                    crate::connector::OpenOptions {
                        sock_connect: timeouts.sock_connect,
                        max_headers: opts.limits.max_headers,
                    },
                ),
            )
            .await
            .map_err(|e| e.with_url(url))?;
        // A reused connection may have been closed by the server while idle; keep a copy of a
        // replayable body so that the request can be tried once more on a new connection.
        let replay =
            if crate::policy::may_replay(retried, lease.is_reused(), &info.method, lease.is_h2()) {
                match &body {
                    None => Some(None),
                    Some(b) => b.try_clone().map(Some),
                }
            } else {
                None
            };
        let mut this_body = body.take();
        if let Some(t) = trace {
            t.each(|c, r| c.on_request_headers_sent(r, &info.headers));
            if let Some(b) = this_body.take() {
                let state = t.clone();
                this_body = Some(b.inspected(move |piece| {
                    state.each(|c, r| c.on_request_chunk_sent(r, piece));
                }));
            }
        }
        let mut wire = Body::into_wire(this_body, compress, chunked);
        let head = crate::proto::Head {
            method: &info.method,
            url,
            version: info.version,
            headers: &info.headers,
            proxy: key.forward_proxy().map(|p| p.request_headers()),
            limits: opts.limits,
        };
        // The head's `sock_read` counts from the last bytes that moved, so a head that arrives
        // slowly but steadily, or after a long upload, is not cut off: over HTTP/1 the
        // connection's reads and writes; over HTTP/2 (one connection for many requests) this
        // request's body going out.
        let activity = match (timeouts.sock_read.is_some(), lease.is_h2()) {
            (false, _) => None,
            (true, false) => Some(lease.conn().activity()),
            (true, true) => (!wire.is_empty()).then(|| wire.track_progress()),
        };
        let outcome = timeouts
            .run_active(
                Phase::Read,
                async { Ok(lease.exchange(head, wire).await) },
                activity,
            )
            .await
            .map_err(|e| e.with_url(url))?;
        match outcome {
            Ok(sent) => return ClientResponse::new(sent, lease, info, opts),
            Err(e) if crate::policy::retry(e.retryable, e.unprocessed, replay.is_some()) => {
                tracing::debug!(url = %url, "request not processed; retrying on a new connection");
                body = replay.flatten();
                if lease.is_h2() {
                    // Other HTTP/2 requests may share the new connection; only the one that
                    // refused is avoided.
                    lease.retire_connection();
                } else {
                    fresh = true;
                }
                retried = true;
            }
            Err(e) => return Err(e.error.with_url(url)),
        }
    }
}

/// The error of a redirect beyond `max_redirects`, with the responses so far as its history.
fn too_many(history: Vec<ClientResponse>, max: usize) -> ClientError {
    let mut err = ClientError::new(
        ErrorKind::TooManyRedirects,
        format!("more than {max} redirects"),
    );
    if let (Some(first), Some(last)) = (history.first(), history.last()) {
        // aiohttp's TooManyRedirects carries the first request; the status and headers are
        // those of the redirect not followed.
        let mut details = last.details();
        details.request_info = Some(first.request_info().clone());
        err = err.with_url(first.url()).with_response(details);
    }
    err.with_history(history)
}
