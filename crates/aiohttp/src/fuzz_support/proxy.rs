//! Replies of HTTP and SOCKS proxies, `NO_PROXY` and netrc.

use super::*;

// ---- proxy_replies ----

/// What a proxy's answer came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxyReply {
    /// A tunnel was opened: the bytes read through it until the end.
    Tunnel(Vec<u8>),
    /// The proxy refused `CONNECT` with this status.
    Refused(u16),
    /// The handshake failed otherwise.
    Failed(ErrorKind),
    /// `NO_PROXY`: whether each host goes direct.
    Exempt(Vec<bool>),
    /// netrc: the credentials found.
    Netrc(Option<(String, String)>),
}

/// Proxies: the answer to `CONNECT` (`proto/h1.rs` `tunnel`), the SOCKS4/5 reply
/// (`connector/proxy.rs` `socks`), `NO_PROXY` (`proxy/env.rs`) and netrc (`proxy/netrc.rs`).
///
/// Layout: a byte whose bits 0-1 pick the part — 0 [`proxy_connect`], 1 [`socks_reply`], 2
/// [`no_proxy`], 3 [`netrc`] — and whose other bits, with the rest, are that part's input.
///
/// ```
/// use aiohttp::fuzz_support::{proxy_replies, ProxyReply};
/// let got = proxy_replies(b"\x1cHTTP/1.1 407 Auth\r\nContent-Length: 0\r\n\r\n");
/// assert_eq!(got, ProxyReply::Refused(407));
/// ```
pub fn proxy_replies(data: &[u8]) -> ProxyReply {
    let Some((&first, rest)) = data.split_first() else {
        return ProxyReply::Exempt(Vec::new());
    };
    let mut inner = Vec::with_capacity(data.len());
    inner.push(first >> 2);
    inner.extend_from_slice(rest);
    match first & 3 {
        0 => proxy_connect(&inner),
        1 => socks_reply(&inner),
        2 => no_proxy(rest),
        _ => netrc(rest),
    }
}

/// The bytes read through a tunnel: all of them, until the end (the peer always ends).
async fn read_through(mut io: Box<dyn Io>) -> Vec<u8> {
    let mut got = Vec::new();
    let _ = io.read_to_end(&mut got).await;
    got
}

/// A `CONNECT` to `target.test:443` through an HTTP proxy that answers with the input.
///
/// Layout: a byte for how the proxy cuts its writes, then its answer.
///
/// Checks: a tunnel is opened only on a 2xx, and what is read through it is the end of the
/// proxy's stream, byte for byte (nothing of the answer's head, nothing made up).
///
/// ```
/// use aiohttp::fuzz_support::{proxy_connect, ProxyReply};
/// let got = proxy_connect(b"\x07HTTP/1.1 200 OK\r\n\r\nhello");
/// assert_eq!(got, ProxyReply::Tunnel(b"hello".to_vec()));
/// ```
pub fn proxy_connect(data: &[u8]) -> ProxyReply {
    let mut input = Input(data);
    let seed = input.byte();
    let wire = Bytes::copy_from_slice(input.rest());
    let script = Script::of(vec![wire.clone()]);
    block_on(async move {
        let (client, task) = peer(script, seed, b"\r\n\r\n");
        let auth = [(
            header::PROXY_AUTHORIZATION,
            HeaderValue::from_static("Basic dTpw"),
        )];
        let out = bounded("CONNECT", async {
            match h1::tunnel(
                Box::new(client),
                "target.test:443",
                auth.iter().map(|(n, v)| (n, v)),
            )
            .await
            {
                Ok(io) => {
                    let got = read_through(io).await;
                    assert!(got.len() < wire.len(), "a tunnel without an answer");
                    assert!(wire.ends_with(&got), "the tunnel made bytes up");
                    ProxyReply::Tunnel(got)
                }
                Err(TunnelError::Refused(details)) => {
                    assert!(!details.status.is_success());
                    ProxyReply::Refused(details.status.as_u16())
                }
                Err(TunnelError::Lost(_)) => {
                    ProxyReply::Failed(ErrorKind::ClientProxyConnectionError)
                }
            }
        })
        .await;
        task.abort();
        let _ = task.await;
        out
    })
}

/// A SOCKS handshake through a proxy that answers with the input.
///
/// Layout: a flags byte — bits 0-1 the protocol (SOCKS4, 4a, 5, 5h), bit 2 with credentials,
/// bit 3 the target given as an address (bit 4: IPv6) rather than the name `target.test` —
/// then a byte for how the proxy cuts its writes, then its answer.
///
/// Checks: what is read through the connection after a handshake is the end of the proxy's
/// stream, byte for byte.
///
/// ```
/// use aiohttp::fuzz_support::{socks_reply, ProxyReply};
/// // SOCKS5, no credentials: "no authentication", then "succeeded" with an IPv4 address.
/// let got = socks_reply(b"\x02\x07\x05\x00\x05\x00\x00\x01\x7f\x00\x00\x01\x00\x50hi");
/// assert_eq!(got, ProxyReply::Tunnel(b"hi".to_vec()));
/// ```
pub fn socks_reply(data: &[u8]) -> ProxyReply {
    let mut input = Input(data);
    let flags = input.byte();
    let seed = input.byte();
    let scheme = ["socks4", "socks4a", "socks5", "socks5h"][usize::from(flags & 3)];
    let creds = if flags & 4 != 0 { "user:pass@" } else { "" };
    let spec = Url::parse(&format!("{scheme}://{creds}proxy.test:1080"))
        .map_err(|e| ClientError::invalid_argument("proxy URL").with_source(e))
        .and_then(|u| ProxySpec::new(&u, None, &HeaderMap::new(), None));
    let spec = match spec {
        Ok(s) => s,
        Err(e) => return ProxyReply::Failed(e.kind()),
    };
    let target = match (flags & 8 != 0, flags & 16 != 0) {
        (false, _) => SocksTarget::Name("target.test".into(), 443),
        (true, false) => SocksTarget::Addr(([192, 0, 2, 1], 443).into()),
        (true, true) => SocksTarget::Addr(
            (
                std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1),
                443,
            )
                .into(),
        ),
    };
    let wire = Bytes::copy_from_slice(input.rest());
    let script = Script::of(vec![wire.clone()]);
    block_on(async move {
        // The client speaks first (its greeting).
        let (client, task) = peer(script, seed, b"");
        let out = bounded("the SOCKS handshake", async {
            match crate::connector::socks(Box::new(client), &spec, &target).await {
                Ok(io) => {
                    let got = read_through(io).await;
                    assert!(wire.ends_with(&got), "the SOCKS connection made bytes up");
                    ProxyReply::Tunnel(got)
                }
                Err(e) => ProxyReply::Failed(e.kind()),
            }
        })
        .await;
        task.abort();
        let _ = task.await;
        out
    })
}

/// `NO_PROXY` parsed and asked about hosts.
///
/// Layout: the `NO_PROXY` value up to a `\n`, then one `host[:port]` a line.
///
/// Checks: a domain exempt is exempt with its subdomains; under `trust_env` a request goes
/// direct exactly when `NO_PROXY` exempts its host and port.
///
/// ```
/// use aiohttp::fuzz_support::{no_proxy, ProxyReply};
/// let got = no_proxy(b".internal, 10.0.0.0/8\napi.internal\nexample.com\n10.1.2.3:8080");
/// assert_eq!(got, ProxyReply::Exempt(vec![true, false, true]));
/// ```
pub fn no_proxy(data: &[u8]) -> ProxyReply {
    use crate::proxy::env::{EnvProxies, NoProxy};
    let mut input = Input(data);
    let value = String::from_utf8_lossy(input.line()).into_owned();
    let list = NoProxy::parse(&value);
    let env = EnvProxies::read(|name| match name {
        "no_proxy" => Some(value.clone()),
        "all_proxy" => Some("http://proxy.test:3128".to_string()),
        _ => None,
    });
    let mut out = Vec::new();
    for line in input.rest().split(|&b| b == b'\n') {
        let Ok(text) = std::str::from_utf8(line) else {
            continue;
        };
        let Ok(url) = Url::parse(&format!("http://{text}/")) else {
            continue;
        };
        let Some(host) = url.host() else {
            continue;
        };
        let port = url.port_or_known_default();
        let exempt = list.exempts(&host, port);
        if let url::Host::Domain(d) = host {
            let sub = format!("sub.{d}");
            assert!(
                !exempt || list.exempts(&url::Host::Domain(sub.as_str()), port),
                "{d} is exempt and {sub} is not"
            );
        }
        assert_eq!(
            env.proxy_for(&url).is_none(),
            exempt,
            "NO_PROXY={value:?} and {url}"
        );
        out.push(exempt);
    }
    ProxyReply::Exempt(out)
}

/// A netrc file's credentials for a host.
///
/// Layout: the host up to a `\n`, then the file.
///
/// Checks: host names match whatever their case.
///
/// ```
/// use aiohttp::fuzz_support::{netrc, ProxyReply};
/// let got = netrc(b"h.test\nmachine h.test login u password p");
/// assert_eq!(got, ProxyReply::Netrc(Some(("u".into(), "p".into()))));
/// ```
pub fn netrc(data: &[u8]) -> ProxyReply {
    let mut input = Input(data);
    let host = String::from_utf8_lossy(input.line()).into_owned();
    let text = String::from_utf8_lossy(input.rest());
    let found = crate::proxy::netrc::lookup(&text, &host);
    assert_eq!(
        found,
        crate::proxy::netrc::lookup(&text, &host.to_ascii_uppercase()),
        "the host's case matters"
    );
    ProxyReply::Netrc(found.map(|c| (c.login, c.password)))
}
