//! The state a session shares with its requests: the connector, the defaults, the jar, and a
//! cache of what the last origin needs. The request loop reads it; `ClientSession` is the handle.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use http::header::{HeaderMap, HeaderName};
use http::Version;
use url::Url;

use crate::auth::BasicAuth;
use crate::connector::{ConnectionKey, Connector};
use crate::cookie::AbstractCookieJar;
use crate::error::{BoxError, ClientError, ErrorKind};
use crate::head::{Defaults, OriginHead};
use crate::timeout::ClientTimeout;

pub(crate) type JsonSerializer =
    dyn Fn(&serde_json::Value) -> Result<String, BoxError> + Send + Sync;

/// A session's state, shared by its handles and its requests in flight.
pub(crate) struct SessionInner {
    pub(crate) connector: Arc<dyn Connector>,
    pub(crate) connector_owner: bool,
    pub(crate) headers: HeaderMap,
    pub(crate) skip_auto_headers: Vec<HeaderName>,
    pub(crate) auth: Option<BasicAuth>,
    pub(crate) json_serialize: Option<Arc<JsonSerializer>>,
    pub(crate) version: Version,
    pub(crate) raise_for_status: crate::response::StatusPolicy,
    pub(crate) charset_fallback: Option<crate::response::CharsetResolver>,
    pub(crate) limits: crate::proto::HeadLimits,
    pub(crate) trace_configs: crate::trace::TraceConfigs,
    pub(crate) read_bufsize: usize,
    pub(crate) cookie_jar: Arc<dyn AbstractCookieJar>,
    pub(crate) auto_decompress: bool,
    pub(crate) max_body_size: Option<usize>,
    pub(crate) timeout: ClientTimeout,
    pub(crate) base_url: Option<Url>,
    pub(crate) requote_redirect_url: AtomicBool,
    pub(crate) closed: AtomicBool,
    pub(crate) detached: AtomicBool,
    /// The session's proxy settings (`proxy`, `proxy_auth`, `proxy_headers`, `proxy_ssl`).
    pub(crate) proxy: crate::proxy::ProxyOptions,
    /// With `trust_env`: the proxies of the environment, read when the session was built.
    pub(crate) env_proxies: Option<crate::proxy::EnvRoutes>,
    /// With `trust_env`: the netrc file's text (`$NETRC`, else `~/.netrc`), for credentials.
    pub(crate) netrc: Option<String>,
    /// The session's middlewares; none when there are none.
    pub(crate) middlewares: Option<crate::middleware::Chain>,
    /// What was derived from the origin of the last request, reused while the origin repeats.
    pub(crate) last_origin: Mutex<Option<OriginCache>>,
}

/// The pool key and `Host` value of one origin (`scheme://host[:port]` as the URL writes it).
pub(crate) struct OriginCache {
    origin: String,
    /// The key with no per-request TLS choice and no HTTP/2 requirement.
    key: ConnectionKey,
    head: OriginHead,
}

/// `scheme://host[:port]` of an http(s) URL, as serialized (a default port is left out).
fn origin_text(url: &Url) -> &str {
    &url[..url::Position::AfterPort]
}

impl SessionInner {
    /// The pool key of `url`'s origin, its `Host` value and its plain head (cached while the
    /// origin repeats).
    pub(crate) fn origin(&self, url: &Url) -> Result<(ConnectionKey, OriginHead), ClientError> {
        self.with_origin(url, |c| (c.key.clone(), c.head.clone()))
    }

    /// The defaults the head of every exchange is built from.
    pub(crate) fn defaults(&self) -> Defaults<'_> {
        Defaults {
            headers: &self.headers,
            skip_auto_headers: &self.skip_auto_headers,
            auth: self.auth.as_ref(),
            base_url: self.base_url.as_ref(),
            jar: &*self.cookie_jar,
            netrc: self.netrc.as_deref(),
        }
    }

    /// Applies `f` to what is derived from `url`'s origin, made (and cached) when it is not
    /// the origin of the previous request. A lock held by another thread means no cache this
    /// time rather than a wait.
    fn with_origin<T>(&self, url: &Url, f: impl Fn(&OriginCache) -> T) -> Result<T, ClientError> {
        let text = origin_text(url);
        if let Ok(guard) = self.last_origin.try_lock() {
            if let Some(c) = guard.as_ref().filter(|c| c.origin == text) {
                return Ok(f(c));
            }
        }
        let key = ConnectionKey::from_url(url).ok_or_else(|| {
            ClientError::new(ErrorKind::InvalidUrlClientError, "the URL has no host").with_url(url)
        })?;
        let made = OriginCache {
            origin: text.to_string(),
            key,
            head: OriginHead::new(&self.defaults(), crate::head::host_header(url)?),
        };
        let out = f(&made);
        if let Ok(mut guard) = self.last_origin.try_lock() {
            *guard = Some(made);
        }
        Ok(out)
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire) || self.connector.closed()
    }

    pub(crate) fn serialize_json<T: serde::Serialize + ?Sized>(
        &self,
        value: &T,
    ) -> Result<Vec<u8>, ClientError> {
        let err =
            |e: BoxError| ClientError::invalid_argument("cannot serialize JSON").with_source(e);
        match &self.json_serialize {
            None => serde_json::to_vec(value).map_err(|e| err(e.into())),
            Some(f) => {
                let v = serde_json::to_value(value).map_err(|e| err(e.into()))?;
                f(&v).map(String::into_bytes).map_err(err)
            }
        }
    }
}

impl Drop for SessionInner {
    fn drop(&mut self) {
        if self.connector_owner && !self.detached.load(Ordering::Acquire) {
            self.connector.pool().close();
        }
    }
}
