//! Connections through proxies: what a proxy is ([`ProxySpec`], part of the pool key), and
//! the connection once TCP to the proxy is up: TLS to an `https://` proxy, then (unless
//! requests are forwarded) a `CONNECT` tunnel or a SOCKS handshake to the target, then TLS to
//! the target inside the tunnel for `https://` and `wss://`, verified for the target's name (a
//! fingerprint pin checks the target's certificate, never the proxy's). Which proxy a request
//! uses is decided in [`crate::proxy`].

use std::fmt;
use std::net::SocketAddr;

use http::header::{HeaderMap, HeaderName, HeaderValue, PROXY_AUTHORIZATION};
use tokio::net::TcpStream;
use url::Url;

use super::tls::{self, Ssl};
use super::ConnectionKey;
use crate::auth::BasicAuth;
use crate::error::{ClientError, ErrorKind};
use crate::transport::{Io, Transport};

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
    /// The headers an HTTP proxy gets with `CONNECT` and forwarded requests: its
    /// `Proxy-Authorization` first (marked sensitive), then `proxy_headers`.
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
        let mut list = Vec::with_capacity(headers.len() + 1);
        if let Some(v) = authorization {
            list.push((PROXY_AUTHORIZATION, v));
        }
        let has_authorization = !list.is_empty();
        for (name, value) in headers {
            if *name == PROXY_AUTHORIZATION && has_authorization {
                continue;
            }
            let mut value = value.clone();
            if matches!(
                *name,
                PROXY_AUTHORIZATION | http::header::AUTHORIZATION | http::header::COOKIE
            ) {
                value.set_sensitive(true);
            }
            list.push((name.clone(), value));
        }
        Ok(ProxySpec {
            kind,
            port: url.port().unwrap_or_else(|| kind.default_port()),
            host,
            auth: pair,
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
    pub(crate) fn request_headers(&self) -> &[(HeaderName, HeaderValue)] {
        &self.headers
    }

    /// The `Proxy-Authorization` value, if the proxy gets one.
    pub(crate) fn authorization(&self) -> Option<&HeaderValue> {
        self.headers
            .first()
            .filter(|(n, _)| *n == PROXY_AUTHORIZATION)
            .map(|(_, v)| v)
    }

    /// The same proxy with `value` as its `Proxy-Authorization` (an HTTP proxy without
    /// credentials of its own, given the caller's header).
    pub(crate) fn with_authorization(&self, mut value: HeaderValue) -> ProxySpec {
        value.set_sensitive(true);
        let mut spec = self.clone();
        spec.headers.retain(|(n, _)| *n != PROXY_AUTHORIZATION);
        spec.headers.insert(0, (PROXY_AUTHORIZATION, value));
        spec
    }
}

/// Where a SOCKS proxy is asked to connect: a name it resolves (SOCKS4a, SOCKS5h) or an address
/// the client resolved (SOCKS4, SOCKS5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SocksTarget {
    Name(String, u16),
    Addr(SocketAddr),
}

/// Whether the client resolves the target's name itself before the SOCKS handshake.
pub(crate) fn resolves_locally(kind: ProxyKind) -> bool {
    matches!(kind, ProxyKind::Socks4 | ProxyKind::Socks5)
}

/// The error of a proxy that could not be reached or dropped the connection.
pub(crate) fn unreachable(proxy: &ProxySpec, what: &str) -> ClientError {
    ClientError::new(
        ErrorKind::ClientProxyConnectionError,
        format!("cannot connect to proxy {}: {what}", proxy.display()),
    )
    .with_address(proxy.host.clone(), proxy.port)
}

/// The rest of a connection through `proxy` for `key`, over `tcp` (connected to the proxy).
/// `socks_addr` is the target's address when a SOCKS4/5 proxy is given addresses;
/// `connector_ssl` verifies the target when the request makes no TLS choice of its own.
pub(crate) async fn open(
    tcp: TcpStream,
    proxy: &ProxySpec,
    key: &ConnectionKey,
    socks_addr: Option<SocketAddr>,
    connector_ssl: &Ssl,
) -> Result<Transport, ClientError> {
    let io: Box<dyn Io> = match proxy.kind {
        ProxyKind::Https => {
            // The proxy's own verification: `proxy_ssl`, else the trust roots. HTTP/1.1 is
            // what is spoken to it, whatever the target speaks inside a tunnel.
            let ssl = proxy.ssl.clone().unwrap_or(Ssl::Verified);
            let stream = tls::handshake(tcp, &ssl, &proxy.host, &proxy.host, proxy.port, true)
                .await
                .map_err(|e| e.in_context(&format!("proxy {}", proxy.display())))?;
            Box::new(stream)
        }
        _ => Box::new(tcp),
    };
    if key.forward_proxy().is_some() {
        // Requests go to the proxy itself, in absolute form.
        return Ok(Transport::from_box(io));
    }
    let tunnel = match proxy.kind {
        ProxyKind::Http | ProxyKind::Https => {
            let headers = proxy.request_headers().iter().map(|(n, v)| (n, v));
            crate::proto::h1::tunnel(io, &authority(key), headers)
                .await
                .map_err(|e| match e {
                    crate::proto::h1::TunnelError::Refused(details) => ClientError::new(
                        ErrorKind::ClientHttpProxyError,
                        format!(
                            "proxy {} refused CONNECT {}: {} {}",
                            proxy.display(),
                            authority(key),
                            details.status.as_u16(),
                            details.reason
                        ),
                    )
                    .with_address(proxy.host.clone(), proxy.port)
                    .with_response(*details),
                    crate::proto::h1::TunnelError::Lost(source) => {
                        unreachable(proxy, "the connection was lost during CONNECT")
                            .with_source(source)
                    }
                })?
        }
        _ => {
            let target = match socks_addr {
                Some(addr) => SocksTarget::Addr(addr),
                None => SocksTarget::Name(key.host().to_string(), key.port()),
            };
            socks(io, proxy, &target).await?
        }
    };
    if !key.is_tls() {
        return Ok(Transport::from_box(tunnel));
    }
    tls::connect_to(tunnel, key, connector_ssl).await
}

/// `host:port` of the target, as `CONNECT` names it (IPv6 in brackets).
fn authority(key: &ConnectionKey) -> String {
    if key.host().contains(':') {
        format!("[{}]:{}", key.host(), key.port())
    } else {
        format!("{}:{}", key.host(), key.port())
    }
}

/// The SOCKS handshake (tokio-socks) to `target` over `io`.
pub(crate) async fn socks(
    io: Box<dyn Io>,
    proxy: &ProxySpec,
    target: &SocksTarget,
) -> Result<Box<dyn Io>, ClientError> {
    use tokio_socks::tcp::{Socks4Stream, Socks5Stream};
    use tokio_socks::TargetAddr;
    let addr: TargetAddr<'_> = match target {
        SocksTarget::Name(host, port) => TargetAddr::Domain(host.as_str().into(), *port),
        SocksTarget::Addr(a) => TargetAddr::Ip(*a),
    };
    let auth = proxy.auth.as_ref();
    let result: Result<Box<dyn Io>, tokio_socks::Error> = match (proxy.kind, auth) {
        (ProxyKind::Socks4 | ProxyKind::Socks4a, Some((user, _))) => {
            Socks4Stream::connect_with_userid_and_socket(io, addr, user)
                .await
                .map(|s| Box::new(s.into_inner()) as Box<dyn Io>)
        }
        (ProxyKind::Socks4 | ProxyKind::Socks4a, None) => {
            Socks4Stream::connect_with_socket(io, addr)
                .await
                .map(|s| Box::new(s.into_inner()) as Box<dyn Io>)
        }
        (_, Some((user, pass))) => {
            Socks5Stream::connect_with_password_and_socket(io, addr, user, pass)
                .await
                .map(|s| Box::new(s.into_inner()) as Box<dyn Io>)
        }
        (_, None) => Socks5Stream::connect_with_socket(io, addr)
            .await
            .map(|s| Box::new(s.into_inner()) as Box<dyn Io>),
    };
    result.map_err(|e| socks_error(e, proxy, target))
}

/// A failed SOCKS handshake: the proxy gone is a connection error; a reply refusing the
/// request (authentication, rules, an unreachable target) is the proxy's answer.
fn socks_error(e: tokio_socks::Error, proxy: &ProxySpec, target: &SocksTarget) -> ClientError {
    let to = match target {
        SocksTarget::Name(h, p) => format!("{h}:{p}"),
        SocksTarget::Addr(a) => a.to_string(),
    };
    match e {
        tokio_socks::Error::Io(io) => unreachable(
            proxy,
            &format!("the connection was lost during the SOCKS handshake for {to}"),
        )
        .with_source(io),
        tokio_socks::Error::ProxyServerUnreachable => {
            unreachable(proxy, "the SOCKS proxy is unreachable").with_source(e)
        }
        other => ClientError::new(
            ErrorKind::ClientHttpProxyError,
            format!(
                "SOCKS proxy {} refused the connection to {to}: {other}",
                proxy.display()
            ),
        )
        .with_address(proxy.host.clone(), proxy.port)
        .with_source(other),
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
                s.authorization().map(|v| v.to_str().expect("ascii")),
                header,
                "{u}"
            );
            if let Some(v) = s.authorization() {
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
            given.authorization().map(|v| v.as_bytes()),
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
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_bytes()))
                .collect::<Vec<_>>(),
            vec![("x-team", &b"a"[..])]
        );
    }

    #[test]
    fn connect_authority() {
        let key =
            |u: &str| ConnectionKey::from_url(&url::Url::parse(u).expect("url")).expect("key");
        assert_eq!(authority(&key("https://a.test/")), "a.test:443");
        assert_eq!(authority(&key("wss://[::1]:8443/")), "[::1]:8443");
        assert_eq!(authority(&key("ws://127.0.0.1/")), "127.0.0.1:80");
    }

    #[test]
    fn who_resolves() {
        assert!(resolves_locally(ProxyKind::Socks4));
        assert!(resolves_locally(ProxyKind::Socks5));
        assert!(!resolves_locally(ProxyKind::Socks4a));
        assert!(!resolves_locally(ProxyKind::Socks5h));
        assert!(!resolves_locally(ProxyKind::Http));
    }
}
