//! Proxies: which proxy a request goes through, and how a connection is made through it.
//!
//! The decisions are plain functions, table-tested: the proxy a hop uses ([`choose`]: the
//! request's, else the session's, else under `trust_env` the environment's, see [`env`]),
//! whether it is spoken to as a forward proxy or through a tunnel ([`forwards`]), and what
//! happens to a `Proxy-Authorization` header the caller set ([`take_proxy_authorization`]).
//! The connections themselves are made in [`crate::connector`] (`connector/proxy.rs`): TCP
//! (and TLS, for an `https://` proxy) to the proxy, then a `CONNECT` tunnel or a SOCKS
//! handshake to the target.
//!
//! The proxy and the identity of its credentials are part of the pool key
//! ([`ConnectionKey`](crate::ConnectionKey)): a connection made through one proxy, or with one
//! user's credentials, is never used for another.

pub(crate) mod env;
pub(crate) mod netrc;

use std::fmt;
use std::sync::Arc;

use http::header::{HeaderMap, PROXY_AUTHORIZATION};
use url::Url;

use crate::auth::BasicAuth;
use crate::connector::Ssl;
pub(crate) use crate::connector::{ProxyKind, ProxySpec};
use crate::error::ClientError;

/// A request's or a session's proxy settings, as the builders collect them.
#[derive(Clone, Default)]
pub(crate) struct ProxyOptions {
    pub(crate) url: Option<Url>,
    pub(crate) auth: Option<BasicAuth>,
    pub(crate) headers: HeaderMap,
    pub(crate) ssl: Option<Ssl>,
}

impl fmt::Debug for ProxyOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyOptions")
            .field(
                "url",
                &self
                    .url
                    .as_ref()
                    .map(|u| crate::error::without_credentials(u).into_owned()),
            )
            .finish_non_exhaustive()
    }
}

impl ProxyOptions {
    /// The proxy of a request: its own settings, else the session's. A request that names its
    /// own proxy does not get the session's `proxy_auth`, headers or TLS choice, which were
    /// given for the session's proxy.
    pub(crate) fn resolve(
        request: &ProxyOptions,
        session: &ProxyOptions,
    ) -> Result<Option<Arc<ProxySpec>>, ClientError> {
        let chosen = if request.url.is_some() {
            request
        } else {
            session
        };
        // Without a proxy, proxy_auth is ignored (as aiohttp); a proxy from the environment
        // comes with its own credentials.
        let Some(url) = &chosen.url else {
            return Ok(None);
        };
        // A request's proxy_auth or headers alongside the session's proxy apply to it.
        let auth = request.auth.as_ref().or(chosen.auth.as_ref());
        let mut headers = chosen.headers.clone();
        if request.url.is_none() {
            for (n, v) in &request.headers {
                headers.insert(n.clone(), v.clone());
            }
        }
        let ssl = request.ssl.clone().or_else(|| chosen.ssl.clone());
        ProxySpec::new(url, auth, &headers, ssl).map(|s| Some(Arc::new(s)))
    }
}

/// The proxies of the environment as a session uses them (`trust_env`): one spec per variable,
/// made when the session is built, with credentials from the proxy URL or netrc.
#[derive(Debug, Clone, Default)]
pub(crate) struct EnvRoutes {
    env: env::EnvProxies,
    specs: Vec<(Url, Arc<ProxySpec>)>,
}

impl EnvRoutes {
    /// The routes of `env`; `netrc` (the file's text) gives credentials for a proxy host whose
    /// URL has none. `headers` and `ssl` are the session's `proxy_headers` and `proxy_ssl`.
    pub(crate) fn new(
        env: env::EnvProxies,
        netrc: Option<&str>,
        headers: &HeaderMap,
        ssl: Option<Ssl>,
    ) -> Self {
        let mut specs: Vec<(Url, Arc<ProxySpec>)> = Vec::new();
        for url in env.urls() {
            if specs.iter().any(|(u, _)| u == url) {
                continue;
            }
            let has_own = !url.username().is_empty() || url.password().is_some();
            let from_netrc = (!has_own)
                .then(|| netrc.zip(url.host_str()))
                .flatten()
                .and_then(|(text, host)| netrc::lookup(text, host))
                .and_then(|c| BasicAuth::new(c.login, c.password).ok());
            match ProxySpec::new(url, from_netrc.as_ref(), headers, ssl.clone()) {
                Ok(spec) => specs.push((url.clone(), Arc::new(spec))),
                Err(e) => tracing::warn!(error = %e, "proxy from the environment ignored"),
            }
        }
        EnvRoutes { env, specs }
    }

    /// The proxy for a request to `target`, if the environment gives one; a WebSocket
    /// handshake (`upgrade`, sent to the `http(s)://` form of its URL) is looked up as
    /// `ws://` or `wss://`.
    pub(crate) fn proxy_for(&self, target: &Url, upgrade: bool) -> Option<&Arc<ProxySpec>> {
        let url = if upgrade {
            let mut ws = target.clone();
            let scheme = if target.scheme() == "https" {
                "wss"
            } else {
                "ws"
            };
            let _ = ws.set_scheme(scheme);
            self.env.proxy_for(&ws)?
        } else {
            self.env.proxy_for(target)?
        };
        self.specs.iter().find(|(u, _)| u == url).map(|(_, s)| s)
    }
}

/// The proxy of one hop: the request's or session's own, else the environment's (when the
/// session trusts it), else none.
pub(crate) fn choose<'a>(
    explicit: Option<&'a Arc<ProxySpec>>,
    env: Option<&'a EnvRoutes>,
    target: &Url,
    upgrade: bool,
) -> Option<&'a Arc<ProxySpec>> {
    explicit.or_else(|| env.and_then(|e| e.proxy_for(target, upgrade)))
}

/// Whether a hop goes to its proxy as a forward request (absolute-form request line) rather
/// than through a tunnel: only plain `http://` requests through an HTTP proxy; TLS targets,
/// WebSocket upgrades (which many proxies do not forward) and HTTP/2 use `CONNECT`, and SOCKS
/// is always a tunnel.
pub(crate) fn forwards(kind: ProxyKind, target_tls: bool, upgrade: bool, http2: bool) -> bool {
    kind.is_http() && !target_tls && !upgrade && !http2
}

/// A `Proxy-Authorization` header the caller put among the request's (or session's) headers
/// is for the proxy, never for an origin: through a proxy it is taken out of the origin's head
/// and, when the proxy has no credentials of its own, sent to the proxy instead. Without a
/// proxy it is left where the caller put it. Returns the proxy to use.
pub(crate) fn take_proxy_authorization(
    headers: &mut Arc<HeaderMap>,
    proxy: Option<&Arc<ProxySpec>>,
) -> Option<Arc<ProxySpec>> {
    let proxy = proxy?;
    if !headers.contains_key(PROXY_AUTHORIZATION) {
        return Some(Arc::clone(proxy));
    }
    let value = Arc::make_mut(headers).remove(PROXY_AUTHORIZATION);
    match value {
        Some(v) if proxy.authorization().is_none() && proxy.kind.is_http() => {
            Some(Arc::new(proxy.with_authorization(v)))
        }
        _ => Some(Arc::clone(proxy)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::HeaderValue;

    fn url(s: &str) -> Url {
        Url::parse(s).expect("url")
    }

    fn spec(s: &str) -> ProxySpec {
        ProxySpec::new(&url(s), None, &HeaderMap::new(), None).expect("spec")
    }

    #[test]
    fn request_over_session_settings() {
        let opts = |u: Option<&str>, auth: Option<(&str, &str)>| ProxyOptions {
            url: u.map(url),
            auth: auth.map(|(l, p)| BasicAuth::new(l, p).expect("auth")),
            headers: HeaderMap::new(),
            ssl: None,
        };
        let session = opts(Some("http://s.test:1"), Some(("su", "sp")));
        // (request settings, host chosen, login sent)
        let cases = [
            (opts(None, None), Some("s.test"), Some("su")),
            (opts(None, Some(("ru", "rp"))), Some("s.test"), Some("ru")),
            // The session's credentials are for the session's proxy only.
            (opts(Some("http://r.test:2"), None), Some("r.test"), None),
            (
                opts(Some("http://r.test:2"), Some(("ru", "rp"))),
                Some("r.test"),
                Some("ru"),
            ),
        ];
        for (request, host, login) in cases {
            let got = ProxyOptions::resolve(&request, &session).expect("resolve");
            let got = got.as_deref();
            assert_eq!(got.map(|s| s.host.as_str()), host);
            assert_eq!(
                got.and_then(|s| s.auth.as_ref()).map(|(l, _)| l.as_str()),
                login
            );
        }
        let none = ProxyOptions::resolve(&opts(None, None), &opts(None, Some(("a", "b"))));
        assert!(none.expect("resolve").is_none());
    }

    #[test]
    fn forward_or_tunnel_table() {
        use ProxyKind::*;
        // (kind, target TLS, upgrade, HTTP/2, forwarded)
        let cases = [
            (Http, false, false, false, true),
            (Https, false, false, false, true),
            (Http, true, false, false, false),
            (Http, false, true, false, false),
            (Http, false, false, true, false),
            (Https, true, false, false, false),
            (Socks4, false, false, false, false),
            (Socks4a, false, false, false, false),
            (Socks5, false, false, false, false),
            (Socks5h, true, false, false, false),
        ];
        for (kind, tls, upgrade, h2, want) in cases {
            assert_eq!(
                forwards(kind, tls, upgrade, h2),
                want,
                "{kind:?} {tls} {upgrade} {h2}"
            );
        }
    }

    #[test]
    fn choice_table() {
        let explicit = Arc::new(spec("http://e.test:1"));
        let get = |pairs: &'static [(&'static str, &'static str)]| {
            move |n: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == n)
                    .map(|(_, v)| v.to_string())
            }
        };
        let routes = EnvRoutes::new(
            env::EnvProxies::read(get(&[
                ("http_proxy", "http://h.test:1"),
                ("HTTPS_PROXY", "https://s.test:2"),
                ("wss_proxy", "socks5h://w.test:3"),
                ("no_proxy", "direct.test"),
            ])),
            Some("machine h.test login nu password np"),
            &HeaderMap::new(),
            None,
        );
        // (explicit?, target, upgrade, proxy host, login)
        let cases = [
            (true, "http://a.test/", false, Some("e.test"), None),
            (true, "http://direct.test/", false, Some("e.test"), None),
            (false, "http://a.test/", false, Some("h.test"), Some("nu")),
            (false, "https://a.test/", false, Some("s.test"), None),
            (false, "http://direct.test/", false, None, None),
            (false, "ws://a.test/", false, None, None),
            // A WebSocket handshake (sent to the http(s) form) is looked up as ws/wss.
            (false, "http://a.test/", true, None, None),
            (false, "https://a.test/", true, Some("w.test"), None),
            (false, "https://direct.test/", true, None, None),
        ];
        for (use_explicit, target, upgrade, host, login) in cases {
            let got = choose(
                use_explicit.then_some(&explicit),
                Some(&routes),
                &url(target),
                upgrade,
            );
            assert_eq!(got.map(|s| s.host.as_str()), host, "{target}");
            assert_eq!(
                got.and_then(|s| s.auth.as_ref()).map(|(l, _)| l.as_str()),
                login,
                "{target}"
            );
        }
        assert!(choose(None, None, &url("http://a.test/"), false).is_none());
    }

    #[test]
    fn caller_proxy_authorization_goes_to_the_proxy_only() {
        let mut given = HeaderMap::new();
        given.insert(PROXY_AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        given.insert("x-a", HeaderValue::from_static("1"));
        let open = Arc::new(spec("http://p:1"));
        let with_creds = Arc::new(spec("http://u:p@p:1"));
        let socks = Arc::new(spec("socks5://p:1"));
        // (proxy, header left for the origin, Proxy-Authorization the proxy gets)
        let cases = [
            (None, true, None),
            (Some(&open), false, Some("Basic abc")),
            (Some(&with_creds), false, Some("Basic dTpw")),
            (Some(&socks), false, None),
        ];
        for (proxy, kept, sent) in cases {
            let mut headers = Arc::new(given.clone());
            let got = take_proxy_authorization(&mut headers, proxy);
            assert_eq!(headers.contains_key(PROXY_AUTHORIZATION), kept);
            assert!(headers.contains_key("x-a"));
            assert_eq!(
                got.as_deref()
                    .and_then(|s| s.authorization())
                    .map(|v| v.to_str().expect("ascii")),
                sent
            );
        }
    }
}
