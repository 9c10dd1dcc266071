//! How a request is sent and exchanged, beside its head: plain options, resolved from the
//! request's and the session's settings before it runs.

use crate::connector::{ConnectionKey, Ssl};
use crate::timeout::Timeouts;

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
    /// The request asks to switch protocols (a WebSocket handshake): its connection speaks
    /// HTTP/1.1 and is never pooled again.
    pub(crate) upgrade: bool,
    /// The request's or the session's proxy, if either names one (the environment's is
    /// chosen hop by hop).
    pub(crate) proxy: Option<std::sync::Arc<crate::connector::ProxySpec>>,
    /// What a response head may hold (`max_line_size`, `max_field_size`, `max_headers`).
    pub(crate) limits: crate::proto::HeadLimits,
    /// The response content's read buffer (`read_bufsize`): `readline` takes lines of up to
    /// twice this, as aiohttp's.
    pub(crate) read_bufsize: usize,
}

/// aiohttp's default `read_bufsize`: 64 KiB.
pub(crate) const DEFAULT_READ_BUFSIZE: usize = 64 * 1024;

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
    pub(crate) fn key(
        &self,
        origin: ConnectionKey,
        version: http::Version,
        proxy: Option<&std::sync::Arc<crate::connector::ProxySpec>>,
    ) -> ConnectionKey {
        let mut key = origin;
        if self.upgrade {
            // Over TLS only `http/1.1` is offered; in cleartext, HTTP/1.1 is what is spoken
            // anyway, and an idle keep-alive connection of the origin may carry the upgrade.
            if key.is_tls() {
                key = key.with_http1_only();
            }
        } else if version == http::Version::HTTP_2 {
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
        if let Some(proxy) = proxy {
            let forward =
                crate::proxy::forwards(proxy.kind, key.is_tls(), self.upgrade, key.is_http2());
            key = key.with_proxy(proxy.clone(), forward);
        }
        key
    }
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
            upgrade: false,
            proxy: None,
            limits: crate::proto::HeadLimits::DEFAULT,
            read_bufsize: DEFAULT_READ_BUFSIZE,
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
            upgrade: false,
            proxy: None,
            limits: crate::proto::HeadLimits::DEFAULT,
            read_bufsize: DEFAULT_READ_BUFSIZE,
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
            let key = opts.key(origin(url), version, None);
            assert_eq!(key.is_http2(), http2, "{url} {version:?}");
            assert_eq!(key.ssl().is_some(), tls_choices, "{url}");
            assert_eq!(key.server_hostname().is_some(), tls_choices, "{url}");
            assert_eq!(
                (key.host(), key.is_tls()),
                ("a.test", url.starts_with("https"))
            );
        }
        // A key with a request's own TLS choice is not the origin's plain key.
        let plain = opts(false, None).key(origin("https://a.test/"), http::Version::HTTP_11, None);
        let pinned = opts(true, None).key(origin("https://a.test/"), http::Version::HTTP_11, None);
        assert_ne!(plain, pinned);
    }

    #[test]
    fn proxied_keys_table() {
        use std::sync::Arc;
        let opts = |upgrade: bool| SendOptions {
            read_until_eof: true,
            auto_decompress: true,
            max_body_size: None,
            ssl: None,
            server_hostname: None,
            timeouts: Timeouts::default(),
            upgrade,
            proxy: None,
            limits: crate::proto::HeadLimits::DEFAULT,
            read_bufsize: DEFAULT_READ_BUFSIZE,
        };
        let spec = |u: &str| {
            let url = url::Url::parse(u).expect("url");
            Arc::new(
                crate::connector::ProxySpec::new(&url, None, &http::HeaderMap::new(), None)
                    .expect("spec"),
            )
        };
        let origin =
            |u: &str| ConnectionKey::from_url(&url::Url::parse(u).expect("url")).expect("key");
        let http = spec("http://p.test:3128");
        let other_user = spec("http://u:p@p.test:3128");
        let socks = spec("socks5h://s.test:1080");
        let h11 = http::Version::HTTP_11;
        // (target, upgrade, version, proxy, forwarded, key host and port)
        let cases = [
            ("http://a.test/", false, h11, &http, true, ("p.test", 3128)),
            (
                "http://b.test:81/",
                false,
                h11,
                &http,
                true,
                ("p.test", 3128),
            ),
            ("https://a.test/", false, h11, &http, false, ("a.test", 443)),
            ("ws://a.test/", true, h11, &http, false, ("a.test", 80)),
            ("wss://a.test/", true, h11, &http, false, ("a.test", 443)),
            (
                "http://a.test/",
                false,
                http::Version::HTTP_2,
                &http,
                false,
                ("a.test", 80),
            ),
            ("http://a.test/", false, h11, &socks, false, ("a.test", 80)),
        ];
        for (target, upgrade, version, proxy, forward, (host, port)) in cases {
            let key = opts(upgrade).key(origin(target), version, Some(proxy));
            assert!(key.is_proxied());
            assert_eq!(key.forward_proxy().is_some(), forward, "{target}");
            assert_eq!((key.host(), key.port()), (host, port), "{target}");
        }
        // Forwarded requests to two origins share the proxy's key; tunnels do not; and no
        // key is shared between two proxies, or two users of one proxy, or with a direct one.
        let k = |t: &str, p: Option<&Arc<crate::connector::ProxySpec>>| {
            opts(false).key(origin(t), h11, p)
        };
        assert_eq!(
            k("http://a.test/", Some(&http)),
            k("http://b.test:81/", Some(&http))
        );
        assert_ne!(
            k("https://a.test/", Some(&http)),
            k("https://b.test/", Some(&http))
        );
        assert_ne!(
            k("http://a.test/", Some(&http)),
            k("http://a.test/", Some(&other_user))
        );
        assert_ne!(
            k("https://a.test/", Some(&http)),
            k("https://a.test/", Some(&other_user))
        );
        assert_ne!(
            k("https://a.test/", Some(&http)),
            k("https://a.test/", None)
        );
        assert_ne!(k("http://a.test/", Some(&socks)), k("http://a.test/", None));
        // Keys are shown without the proxy's credentials.
        let shown = format!("{:?}", k("https://a.test/", Some(&other_user)));
        assert!(
            shown.contains("p.test") && !shown.contains("u:p"),
            "{shown}"
        );
    }
}
