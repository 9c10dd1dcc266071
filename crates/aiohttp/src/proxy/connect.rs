//! A connection through a proxy, once TCP to the proxy is up: TLS to an `https://` proxy, then
//! (unless requests are forwarded) a `CONNECT` tunnel or a SOCKS handshake to the target, then
//! TLS to the target inside the tunnel for `https://` and `wss://`, verified for the target's
//! name (a fingerprint pin checks the target's certificate, never the proxy's).

use std::net::SocketAddr;

use tokio::net::TcpStream;

use super::{ProxyKind, ProxySpec};
use crate::connector::{tls, ConnectionKey, Ssl};
use crate::error::{ClientError, ErrorKind};
use crate::transport::{Io, Transport};

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
            crate::proto::h1::tunnel(io, &authority(key), proxy.request_headers())
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
async fn socks(
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
