//! How a request is sent and exchanged, beside its head: plain options, resolved from the
//! request's and the session's settings before it runs.

use crate::connector::{ConnectionKey, Ssl};
use crate::timeout::{ClientTimeout, Timeouts};

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
    pub(crate) fn key(&self, origin: ConnectionKey, version: http::Version) -> ConnectionKey {
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
