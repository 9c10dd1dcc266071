//! The request loop: everything that happens when a request is awaited, in order.
//!
//! [`send`] checks the arguments and makes the future; [`run`] then goes hop after hop:
//!
//! 1. the head of the hop, built without I/O from the request's [`Plan`] and a snapshot of the
//!    session's defaults ([`crate::head`]);
//! 2. a connection from the pool, within `sock_connect` ([`exchange`]);
//! 3. the exchange over it (hyper, behind [`crate::proto`]), within `sock_read`; a reused
//!    connection the server had closed is replaced once ([`crate::policy::retry`]);
//! 4. the response assembled from its parts, and its cookies put into the jar;
//! 5. the redirect decision ([`crate::redirect::decide`]): the final response, or the next hop
//!    after the redirect's body is drained;
//!
//! and at the end, `raise_for_status`. One total deadline covers every hop.

use std::future::Future;

use crate::body::Body;
use crate::connector::{ConnectionKey, Ssl};
use crate::error::{ClientError, ErrorKind};
use crate::head::{Plan, Prepared};
use crate::redirect::{decide, location, Decision, Hop, Policy};
use crate::request::RequestBuilder;
use crate::response::ClientResponse;
use crate::session::{ClientSession, SessionInner};
use crate::timeout::{ClientTimeout, Phase, Timeouts};

/// A redirect body is read as received (so its connection can be reused) up to this many bytes,
/// whatever its framing claims; a larger one closes the connection instead.
const DRAIN_LIMIT: usize = 64 * 1024;

/// How one request is sent, beside its head and body.
#[derive(Debug, Clone)]
pub(crate) struct SendOptions {
    pub(crate) read_until_eof: bool,
    /// Response bodies are decompressed (the session's `auto_decompress`).
    pub(crate) auto_decompress: bool,
    pub(crate) max_body_size: Option<usize>,
    /// The request's own TLS choice, if any (else the connector's).
    pub(crate) ssl: Option<Ssl>,
    /// The TLS server name, if not the URL's host.
    pub(crate) server_hostname: Option<String>,
    pub(crate) timeouts: Timeouts,
}

impl SendOptions {
    /// A redirect to another origin: the request's TLS choice (`ssl(false)`, a fingerprint, a
    /// config) and `server_hostname` were given for the first origin, so the next one gets the
    /// connector's settings, verification included.
    pub(crate) fn leave_origin(&mut self) {
        self.ssl = None;
        self.server_hostname = None;
    }

    /// The pool key of a hop: its origin's, with the request's TLS choices, and asking for
    /// HTTP/2 when the request does.
    fn key(&self, origin: ConnectionKey, version: http::Version) -> ConnectionKey {
        let mut key = origin;
        if version == http::Version::HTTP_2 {
            key = key.with_http2();
        }
        if key.is_tls() {
            if let Some(ssl) = &self.ssl {
                key = key.with_ssl(ssl.clone());
            }
            if let Some(name) = &self.server_hostname {
                key = key.with_server_hostname(name.clone());
            }
        }
        key
    }
}

/// How a request is exchanged: the options of every hop (one total deadline for all of them)
/// and the redirect and status policies.
#[derive(Debug, Clone)]
pub(crate) struct Exchange {
    pub(crate) opts: SendOptions,
    /// The timeouts as configured; the clock of `opts.timeouts` starts when the request starts
    /// running.
    pub(crate) timeout: ClientTimeout,
    pub(crate) raise_for_status: bool,
    pub(crate) allow_redirects: bool,
    pub(crate) max_redirects: usize,
}

/// Sends a request and follows its redirects.
///
/// The arguments are checked before the future is made, so it holds the plan rather than the
/// builder (the state of every request in flight is smaller).
pub(crate) fn send(
    req: RequestBuilder,
) -> impl Future<Output = Result<ClientResponse, ClientError>> + Send {
    use futures_util::future::{ready, Either};
    let session = req.session.clone();
    match req.into_plan() {
        Ok((plan, exchange)) => Either::Left(run(session, plan, exchange)),
        Err(e) => Either::Right(ready(Err(e))),
    }
}

async fn run(
    session: ClientSession,
    mut plan: Plan,
    mut ex: Exchange,
) -> Result<ClientResponse, ClientError> {
    let inner = &*session.inner;
    // The total timeout counts from the first poll, not from when the future was made.
    ex.opts.timeouts = Timeouts::start(ex.timeout);
    let policy = Policy {
        allow: ex.allow_redirects,
        max: ex.max_redirects,
        requote: session.requote_redirect_url(),
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
        let (origin, head) = inner.origin(url)?;
        let prepared = plan.head(&inner.defaults(), &head)?;
        let key = ex.opts.key(origin, prepared.version);

        // 2–4. Connection, exchange, response.
        let mut resp = exchange(inner, &key, prepared, &ex.opts).await?;
        if !resp.cookies().is_empty() {
            inner
                .cookie_jar
                .update_cookies(resp.cookies(), Some(resp.url()));
        }

        // 5. Redirects.
        let hop = Hop {
            status: resp.status(),
            method: &plan.method,
            location: location(resp.headers()),
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
                    status = resp.status().as_u16(),
                    to = %crate::error::without_credentials(&next.url),
                    "redirect"
                );
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
    if ex.raise_for_status {
        resp.raise_for_status()?;
    }
    Ok(resp)
}

/// One hop: a connection for `key`, the exchange over it, and the response. A reused
/// connection that turns out closed (or an HTTP/2 stream the server refused) is replaced once
/// when the request may be sent again.
async fn exchange(
    inner: &SessionInner,
    key: &ConnectionKey,
    prepared: Prepared,
    opts: &SendOptions,
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
                crate::connector::acquire(connector, key, fresh, timeouts.sock_connect),
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
        let mut wire = Body::into_wire(body.take(), compress, chunked);
        let head = crate::proto::Head {
            method: &info.method,
            url,
            version: info.version,
            headers: &info.headers,
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
                async { Ok(crate::proto::exchange(&mut lease, head, wire).await) },
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_choices_stay_with_their_origin() {
        let mut opts = SendOptions {
            read_until_eof: true,
            auto_decompress: true,
            max_body_size: None,
            ssl: Some(Ssl::from(false)),
            server_hostname: Some("internal.test".to_string()),
            timeouts: Timeouts::default(),
        };
        opts.leave_origin();
        assert!(opts.ssl.is_none());
        assert!(opts.server_hostname.is_none());
    }

    #[test]
    fn pool_key_table() {
        let opts = |ssl: bool, name: Option<&str>| SendOptions {
            read_until_eof: true,
            auto_decompress: true,
            max_body_size: None,
            ssl: ssl.then(|| Ssl::from(false)),
            server_hostname: name.map(str::to_string),
            timeouts: Timeouts::default(),
        };
        let origin =
            |u: &str| ConnectionKey::from_url(&url::Url::parse(u).expect("url")).expect("key");
        // (URL, version, the request's ssl and server_hostname, HTTP/2 asked, TLS choices kept)
        let cases = [
            (
                "http://a.test/",
                http::Version::HTTP_11,
                opts(false, None),
                false,
                false,
            ),
            (
                "http://a.test/",
                http::Version::HTTP_2,
                opts(false, None),
                true,
                false,
            ),
            // TLS choices mean nothing to a plain-text origin.
            (
                "http://a.test/",
                http::Version::HTTP_11,
                opts(true, Some("n.test")),
                false,
                false,
            ),
            (
                "https://a.test/",
                http::Version::HTTP_11,
                opts(true, Some("n.test")),
                false,
                true,
            ),
            (
                "https://a.test/",
                http::Version::HTTP_2,
                opts(false, None),
                true,
                false,
            ),
        ];
        for (url, version, opts, http2, tls_choices) in cases {
            let key = opts.key(origin(url), version);
            assert_eq!(key.is_http2(), http2, "{url} {version:?}");
            assert_eq!(key.ssl().is_some(), tls_choices, "{url}");
            assert_eq!(key.server_hostname().is_some(), tls_choices, "{url}");
            assert_eq!(
                (key.host(), key.is_tls()),
                ("a.test", url.starts_with("https"))
            );
        }
        // A key with a request's own TLS choice is not the origin's plain key.
        let plain = opts(false, None).key(origin("https://a.test/"), http::Version::HTTP_11);
        let pinned = opts(true, None).key(origin("https://a.test/"), http::Version::HTTP_11);
        assert_ne!(plain, pinned);
    }
}
