//! Proxies: which proxy a request goes through, and how a connection is made through it.
//!
//! The decisions are plain functions, table-tested: the proxy a hop uses ([`choose`]: the
//! request's, else the session's, else under `trust_env` the environment's, see [`env`]),
//! whether it is spoken to as a forward proxy or through a tunnel ([`forwards`]), and what
//! happens to a `Proxy-Authorization` header the caller set ([`take_proxy_authorization`]).
//! [`connect`] opens the connections: TCP (and TLS, for an `https://` proxy) to the proxy,
//! then a `CONNECT` tunnel or a SOCKS handshake to the target.
//!
//! The proxy and the identity of its credentials are part of the pool key
//! ([`ConnectionKey`](crate::ConnectionKey)): a connection made through one proxy, or with one
//! user's credentials, is never used for another.

pub(crate) mod connect;
pub(crate) mod env;
pub(crate) mod netrc;

use std::fmt;
use std::sync::Arc;

use http::header::{HeaderMap, HeaderName, HeaderValue, PROXY_AUTHORIZATION};
use url::Url;

use crate::auth::BasicAuth;
use crate::connector::Ssl;
use crate::error::ClientError;

/// How a proxy is spoken to, from its URL's scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum ProxyKind {
    /// `http://`: forward requests for `http://` targets, `CONNECT` tunnels for the rest.
    Http,
    /// `https://`: the same, over TLS to the proxy.
    Https,
    /// `socks4://`: the client resolves the target's name (SOCKS4 carries IPv4 addresses).
    Socks4,
    /// `socks4a://`: the proxy resolves the target's name.
    Socks4a,
    /// `socks5://`: the client resolves the target's name.
    Socks5,
    /// `socks5h://`: the proxy resolves the target's name.
    Socks5h,
}

impl ProxyKind {
    fn of(scheme: &str) -> Option<ProxyKind> {
        Some(match scheme {
            "http" => ProxyKind::Http,
            "https" => ProxyKind::Https,
            "socks4" => ProxyKind::Socks4,
            "socks4a" => ProxyKind::Socks4a,
            "socks5" => ProxyKind::Socks5,
            "socks5h" => ProxyKind::Socks5h,
            _ => return None,
        })
    }

    /// The port when the URL names none (curl's defaults: 1080 for SOCKS).
    fn default_port(self) -> u16 {
        match self {
            ProxyKind::Http => 80,
            ProxyKind::Https => 443,
            _ => 1080,
        }
    }

    /// An HTTP proxy (forward requests and `CONNECT`), over TLS or not.
    pub(crate) fn is_http(self) -> bool {
        matches!(self, ProxyKind::Http | ProxyKind::Https)
    }

    fn scheme(self) -> &'static str {
        match self {
            ProxyKind::Http => "http",
            ProxyKind::Https => "https",
            ProxyKind::Socks4 => "socks4",
            ProxyKind::Socks4a => "socks4a",
            ProxyKind::Socks5 => "socks5",
            ProxyKind::Socks5h => "socks5h",
        }
    }
}

/// A proxy as connections are made through it. Part of the pool key: two specs are the same
/// proxy only with the same address, credentials, headers and TLS choice.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct ProxySpec {
    pub(crate) kind: ProxyKind,
    /// The host name or IP address (IPv6 without brackets).
    pub(crate) host: String,
    pub(crate) port: u16,
    /// Login and password: Basic credentials for an HTTP proxy, RFC 1929 for SOCKS5, the user
    /// id for SOCKS4.
    pub(crate) auth: Option<(String, String)>,
    /// The `Proxy-Authorization` value sent to an HTTP proxy (marked sensitive).
    pub(crate) authorization: Option<HeaderValue>,
    /// Further headers for an HTTP proxy (`proxy_headers`), on `CONNECT` and forwarded requests.
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
    /// How an `https://` proxy's certificate is verified (default: against the trust roots).
    pub(crate) ssl: Option<Ssl>,
}

impl fmt::Debug for ProxySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the credentials.
        f.debug_struct("ProxySpec")
            .field("kind", &self.kind)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("auth", &self.auth.as_ref().map(|_| "<hidden>"))
            .finish_non_exhaustive()
    }
}

impl ProxySpec {
    /// The proxy at `url` (credentials in the URL count as `auth`; giving both is an error).
    pub(crate) fn new(
        url: &Url,
        auth: Option<&BasicAuth>,
        headers: &HeaderMap,
        ssl: Option<Ssl>,
    ) -> Result<ProxySpec, ClientError> {
        let kind = ProxyKind::of(url.scheme()).ok_or_else(|| {
            ClientError::invalid_argument(format!(
                "unsupported proxy scheme {:?}: use http, https, socks4, socks4a, socks5 or socks5h",
                url.scheme()
            ))
        })?;
        let host = match url.host() {
            Some(url::Host::Ipv6(a)) => a.to_string(),
            Some(h) => h.to_string(),
            None => return Err(ClientError::invalid_argument("the proxy URL has no host")),
        };
        let in_url = !url.username().is_empty() || url.password().is_some();
        if in_url && auth.is_some() {
            return Err(ClientError::invalid_argument(
                "cannot combine proxy_auth with credentials in the proxy URL",
            ));
        }
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        };
        let pair = if in_url {
            Some((decode(url.username()), decode(url.password().unwrap_or(""))))
        } else {
            auth.map(|a| (a.login().to_string(), a.password().to_string()))
        };
        let authorization = match (&pair, kind.is_http()) {
            (Some((login, password)), true) => {
                let basic = match auth {
                    Some(a) => a.clone(),
                    None => BasicAuth::new(login.clone(), password.clone())?,
                };
                let mut v = HeaderValue::from_str(&basic.encode()).map_err(|e| {
                    ClientError::invalid_argument("invalid proxy credentials").with_source(e)
                })?;
                v.set_sensitive(true);
                Some(v)
            }
            _ => None,
        };
        let mut list = Vec::with_capacity(headers.len());
        for (name, value) in headers {
            if *name == PROXY_AUTHORIZATION && authorization.is_some() {
                continue;
            }
            let mut value = value.clone();
            crate::request::guard_secret(name, &mut value);
            list.push((name.clone(), value));
        }
        Ok(ProxySpec {
            kind,
            port: url.port().unwrap_or_else(|| kind.default_port()),
            host,
            auth: pair,
            authorization,
            headers: list,
            ssl,
        })
    }

    /// `scheme://host:port` of the proxy, without credentials (for messages).
    pub(crate) fn display(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!("{}://{}:{}", self.kind.scheme(), host, self.port)
    }

    /// The headers sent to an HTTP proxy with a `CONNECT` or a forwarded request.
    pub(crate) fn request_headers(&self) -> impl Iterator<Item = (&HeaderName, &HeaderValue)> {
        self.authorization
            .iter()
            .map(|v| (&PROXY_AUTHORIZATION, v))
            .chain(self.headers.iter().map(|(n, v)| (n, v)))
    }
}

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
        Some(mut v) if proxy.authorization.is_none() && proxy.kind.is_http() => {
            v.set_sensitive(true);
            let mut spec = ProxySpec::clone(proxy);
            spec.authorization = Some(v);
            Some(Arc::new(spec))
        }
        _ => Some(Arc::clone(proxy)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).expect("url")
    }

    fn spec(s: &str) -> ProxySpec {
        ProxySpec::new(&url(s), None, &HeaderMap::new(), None).expect("spec")
    }

    #[test]
    fn spec_from_url_table() {
        // (URL, kind, host, port, credentials, Proxy-Authorization)
        type Case = (
            &'static str,
            ProxyKind,
            &'static str,
            u16,
            Option<(&'static str, &'static str)>,
            Option<&'static str>,
        );
        let cases: &[Case] = &[
            ("http://p.test", ProxyKind::Http, "p.test", 80, None, None),
            (
                "https://p.test",
                ProxyKind::Https,
                "p.test",
                443,
                None,
                None,
            ),
            (
                "http://u:p@p.test:3128",
                ProxyKind::Http,
                "p.test",
                3128,
                Some(("u", "p")),
                Some("Basic dTpw"),
            ),
            (
                "http://us%40er:p%3Ass@[::1]:8080/",
                ProxyKind::Http,
                "::1",
                8080,
                Some(("us@er", "p:ss")),
                Some("Basic dXNAZXI6cDpzcw=="),
            ),
            (
                "socks4://10.0.0.1",
                ProxyKind::Socks4,
                "10.0.0.1",
                1080,
                None,
                None,
            ),
            ("socks4a://h:1", ProxyKind::Socks4a, "h", 1, None, None),
            (
                "socks5://u:p@h:1081",
                ProxyKind::Socks5,
                "h",
                1081,
                Some(("u", "p")),
                None,
            ),
            ("socks5h://h", ProxyKind::Socks5h, "h", 1080, None, None),
        ];
        for &(u, kind, host, port, creds, header) in cases {
            let s = spec(u);
            assert_eq!((s.kind, s.host.as_str(), s.port), (kind, host, port), "{u}");
            assert_eq!(
                s.auth.as_ref().map(|(a, b)| (a.as_str(), b.as_str())),
                creds,
                "{u}"
            );
            assert_eq!(
                s.authorization.as_ref().map(|v| v.to_str().expect("ascii")),
                header,
                "{u}"
            );
            if let Some(v) = &s.authorization {
                assert!(v.is_sensitive());
            }
            assert!(!format!("{s:?}").contains(":p"), "Debug hides credentials");
        }
        for bad in ["ftp://p.test", "unix:/x", "file:///x"] {
            let e = ProxySpec::new(&url(bad), None, &HeaderMap::new(), None).expect_err(bad);
            assert!(e.is_invalid_argument(), "{bad}");
        }
        let auth = BasicAuth::new("a", "b").expect("auth");
        let both = ProxySpec::new(&url("http://u:p@h"), Some(&auth), &HeaderMap::new(), None);
        assert!(both.expect_err("both").is_invalid_argument());
        let given =
            ProxySpec::new(&url("http://h"), Some(&auth), &HeaderMap::new(), None).expect("spec");
        assert_eq!(
            given.authorization.as_ref().map(|v| v.as_bytes()),
            Some(&b"Basic YTpi"[..])
        );
    }

    #[test]
    fn specs_differ_by_credentials_and_headers() {
        let a = spec("http://u:p@h:1");
        let b = spec("http://v:p@h:1");
        let c = spec("http://h:1");
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_eq!(a, spec("http://u:p@h:1"));
        let mut headers = HeaderMap::new();
        headers.insert("x-team", HeaderValue::from_static("a"));
        let d = ProxySpec::new(&url("http://h:1"), None, &headers, None).expect("spec");
        assert_ne!(c, d);
        assert_eq!(
            d.request_headers()
                .map(|(n, v)| (n.as_str(), v.as_bytes()))
                .collect::<Vec<_>>(),
            vec![("x-team", &b"a"[..])]
        );
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
                    .and_then(|s| s.authorization.as_ref())
                    .map(|v| v.to_str().expect("ascii")),
                sent
            );
        }
    }
}
