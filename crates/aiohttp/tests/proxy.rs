//! Proxies, against the local proxies of test-support: an HTTP forward and `CONNECT` proxy
//! (optionally over TLS) and a SOCKS4/4a/5 proxy, both recording what they received. Each
//! test checks both sides: what the proxy saw (no origin credentials) and what the origin saw
//! (no proxy headers).

use std::sync::Arc;
use std::time::Duration;

use aiohttp::rustls;
use aiohttp::{BasicAuth, ClientSession, ErrorKind, Ssl, WSMsgType};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::Value;
use sha2::Digest;
use test_support::{full, HttpProxy, HttpServer, SocksProxy, SocksTarget, WsServer};

/// Runs `f`, failing the test if it is not done within `secs` seconds.
async fn within<F: std::future::IntoFuture>(secs: u64, f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(secs), f.into_future())
        .await
        .unwrap_or_else(|_| panic!("not done within {secs}s"))
}

// ---- certificates and a TLS origin -------------------------------------------------------

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

struct Ca {
    cert: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
}

fn new_ca(name: &str) -> Ca {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let key = KeyPair::generate().expect("key");
    let cert = params.self_signed(&key).expect("ca cert");
    Ca {
        cert: cert.der().clone(),
        issuer: Issuer::new(params, key),
    }
}

/// A server config for `localhost` and 127.0.0.1 signed by `ca`, and the leaf's SHA-256.
fn server_config(ca: &Ca) -> (Arc<rustls::ServerConfig>, Vec<u8>) {
    let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    let params = CertificateParams::new(names).expect("params");
    let key = KeyPair::generate().expect("key");
    let cert = params.signed_by(&key, &ca.issuer).expect("signed");
    let digest = sha2::Sha256::digest(cert.der().as_ref()).to_vec();
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .expect("server config");
    (Arc::new(config), digest)
}

fn client_config(ca: &Ca) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.cert.clone()).expect("root");
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// An HTTPS origin whose every answer is the request's headers as JSON (`[[name, value]]`).
struct TlsOrigin {
    addr: std::net::SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TlsOrigin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn tls_origin(config: Arc<rustls::ServerConfig>) -> TlsOrigin {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let task = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let svc =
                    hyper::service::service_fn(|req: http::Request<hyper::body::Incoming>| {
                        let headers: Vec<(String, String)> = req
                            .headers()
                            .iter()
                            .map(|(n, v)| {
                                (
                                    n.as_str().to_string(),
                                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                                )
                            })
                            .collect();
                        let body = serde_json::to_string(&headers).expect("json");
                        let mut resp = http::Response::new(full(body));
                        resp.headers_mut().insert(
                            http::header::CONTENT_TYPE,
                            http::HeaderValue::from_static("application/json"),
                        );
                        async move { Ok::<_, std::convert::Infallible>(resp) }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    TlsOrigin { addr, task }
}

impl TlsOrigin {
    fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.addr.port())
    }
}

/// A session that trusts `ca` for targets.
fn tls_session(ca: &Ca) -> ClientSession {
    let connector = aiohttp::TcpConnector::builder()
        .ssl_context(client_config(ca))
        .build()
        .expect("connector");
    ClientSession::builder()
        .connector(connector)
        .build()
        .expect("session")
}

/// The header names an origin reported (TLS origin: `[[name, value]]`; echo: the same under
/// `headers`).
fn names(headers: &Value) -> Vec<String> {
    headers
        .as_array()
        .expect("headers array")
        .iter()
        .map(|p| p[0].as_str().expect("name").to_ascii_lowercase())
        .collect()
}

fn header<'a>(headers: &'a Value, name: &str) -> Option<&'a str> {
    headers
        .as_array()?
        .iter()
        .find(|p| p[0].as_str().is_some_and(|n| n.eq_ignore_ascii_case(name)))
        .and_then(|p| p[1].as_str())
}

fn basic(user: &str, pass: &str) -> String {
    BasicAuth::new(user, pass).expect("auth").encode()
}

// ---- HTTP proxy: forwarded requests ------------------------------------------------------

#[tokio::test]
async fn http_target_is_forwarded_in_absolute_form_with_proxy_credentials_to_the_proxy_only() {
    let origin = HttpServer::echo().await;
    let proxy = HttpProxy::builder().auth("pu", "pp").start().await;
    let s = ClientSession::new();
    let proxy_url = proxy.url().replace("http://", "http://pu:pp@");
    let target = origin.url("/a?x=1");
    let mut resp = within(
        10,
        s.get(&target)
            .proxy(&*proxy_url)
            .auth(BasicAuth::new("ou", "op").expect("auth")),
    )
    .await
    .expect("response");
    assert_eq!(resp.status(), 200);
    // What the request reports is what the origin got: no proxy header.
    assert!(!resp
        .request_info()
        .headers()
        .contains_key(http::header::PROXY_AUTHORIZATION));
    let echo: Value = resp.json().await.expect("json");
    let seen = names(&echo["headers"]);
    assert!(
        !seen.contains(&"proxy-authorization".to_string()),
        "{seen:?}"
    );
    assert_eq!(
        header(&echo["headers"], "authorization"),
        Some(&*basic("ou", "op"))
    );

    let reqs = proxy.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].method, "GET");
    assert_eq!(reqs[0].target, target, "absolute form");
    assert_eq!(
        reqs[0].header("proxy-authorization"),
        Some(&*basic("pu", "pp"))
    );
    proxy.check();
}

#[tokio::test]
async fn proxy_keep_alive_serves_every_http_origin() {
    let a = HttpServer::echo().await;
    let b = HttpServer::echo().await;
    let proxy = HttpProxy::start().await;
    let s = ClientSession::builder()
        .proxy(proxy.url())
        .build()
        .expect("session");
    let mut reused = Vec::new();
    for url in [a.url("/1"), b.url("/2"), a.url("/3")] {
        let mut resp = within(10, s.get(&url)).await.expect("response");
        reused.push(resp.connection().map(|c| c.is_reused()));
        resp.read().await.expect("body");
    }
    assert_eq!(reused, [Some(false), Some(true), Some(true)]);
    assert_eq!(proxy.connections(), 1);
    assert_eq!(proxy.requests().len(), 3);
    proxy.check();
}

#[tokio::test]
async fn forwarded_requests_count_against_their_targets_limit_per_host() {
    let a = HttpServer::echo().await;
    let b = HttpServer::echo().await;
    let proxy = HttpProxy::start().await;
    let connector = aiohttp::TcpConnector::builder()
        .limit_per_host(1)
        .build()
        .expect("connector");
    let s = ClientSession::builder()
        .connector(connector)
        .proxy(proxy.url())
        .build()
        .expect("session");
    // A response to `a` holds its proxy connection (its body is not read yet).
    let held = within(10, s.get(a.url("/1"))).await.expect("first");
    let timeout = aiohttp::ClientTimeout {
        connect: Some(Duration::from_millis(300)),
        ..Default::default()
    };
    let err = within(10, s.get(a.url("/2")).timeout(timeout))
        .await
        .expect_err("`a` is at its limit");
    assert!(err.is(ErrorKind::ConnectionTimeoutError), "{err:?}");
    // Another origin through the same proxy is not: it opens a second proxy connection.
    let mut other = within(10, s.get(b.url("/1")).timeout(timeout))
        .await
        .expect("`b` has its own limit");
    other.read().await.expect("body");
    assert_eq!(proxy.connections(), 2);
    drop(held);
    // `a` may go again, on an idle proxy connection.
    let mut again = within(10, s.get(a.url("/3"))).await.expect("third");
    assert_eq!(again.connection().map(|c| c.is_reused()), Some(true));
    again.read().await.expect("body");
    assert_eq!(proxy.connections(), 2);
    let paths: Vec<String> = proxy.requests().iter().map(|r| r.target.clone()).collect();
    assert_eq!(
        paths,
        [a.url("/1"), b.url("/1"), a.url("/3")].map(|u| u.to_string())
    );
    proxy.check();
}

#[tokio::test]
async fn forwarded_407_is_an_ordinary_response() {
    let origin = HttpServer::echo().await;
    let proxy = HttpProxy::builder().auth("pu", "pp").start().await;
    let s = ClientSession::new();
    let resp = within(10, s.get(origin.url("/")).proxy(proxy.url()))
        .await
        .expect("response");
    assert_eq!(resp.status(), 407);
    assert!(resp
        .headers()
        .contains_key(http::header::PROXY_AUTHENTICATE));
    let ok = within(
        10,
        s.get(origin.url("/"))
            .proxy(proxy.url())
            .proxy_auth(BasicAuth::new("pu", "pp").expect("auth")),
    )
    .await
    .expect("response");
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn redirects_keep_proxy_credentials_with_the_proxy() {
    let b = HttpServer::echo().await;
    let to = b.url("/landed");
    let a = HttpServer::start(move |_req| {
        let to = to.clone();
        async move {
            let mut r = http::Response::new(full(""));
            *r.status_mut() = http::StatusCode::FOUND;
            r.headers_mut()
                .insert(http::header::LOCATION, to.parse().expect("location"));
            r
        }
    })
    .await;
    let proxy = HttpProxy::builder().auth("pu", "pp").start().await;
    let s = ClientSession::new();
    let mut resp = within(
        10,
        s.get(a.url("/start"))
            .proxy(proxy.url())
            .proxy_auth(BasicAuth::new("pu", "pp").expect("auth"))
            .header("Proxy-Authorization", "Basic c3RvbGVu"),
    )
    .await
    .expect("response");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.history().len(), 1);
    let echo: Value = resp.json().await.expect("json");
    assert!(header(&echo["headers"], "proxy-authorization").is_none());
    let reqs = proxy.requests();
    assert_eq!(reqs.len(), 2);
    for r in &reqs {
        // The proxy's own credentials, not the header the caller set.
        assert_eq!(r.header("proxy-authorization"), Some(&*basic("pu", "pp")));
    }
    assert_eq!(reqs[1].target, b.url("/landed"));
}

// ---- HTTP proxy: CONNECT tunnels ---------------------------------------------------------

#[tokio::test]
async fn https_target_goes_through_connect_with_tls_to_the_target() {
    let ca = new_ca("origin CA");
    let (config, _) = server_config(&ca);
    let origin = tls_origin(config).await;
    let proxy = HttpProxy::builder().auth("pu", "pp").start().await;
    let s = tls_session(&ca);
    let mut proxy_headers = http::HeaderMap::new();
    proxy_headers.insert("x-proxy-team", http::HeaderValue::from_static("search"));
    let mut resp = within(
        10,
        s.get(origin.url("/secret"))
            .proxy(proxy.url())
            .proxy_auth(BasicAuth::new("pu", "pp").expect("auth"))
            .proxy_headers(proxy_headers)
            .auth(BasicAuth::new("ou", "op").expect("auth"))
            .header("Proxy-Authorization", "Basic c3RvbGVu"),
    )
    .await
    .expect("response");
    assert_eq!(resp.status(), 200);
    let seen: Value = resp.json().await.expect("json");
    // The origin: its credentials, none of the proxy's headers.
    assert_eq!(header(&seen, "authorization"), Some(&*basic("ou", "op")));
    assert!(header(&seen, "proxy-authorization").is_none());
    assert!(header(&seen, "x-proxy-team").is_none());
    // The proxy: one CONNECT with its credentials and headers, nothing of the origin's.
    let reqs = proxy.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].method, "CONNECT");
    assert_eq!(reqs[0].target, format!("localhost:{}", origin.addr.port()));
    assert_eq!(
        reqs[0].header("proxy-authorization"),
        Some(&*basic("pu", "pp"))
    );
    assert_eq!(reqs[0].header("x-proxy-team"), Some("search"));
    assert!(reqs[0].header("authorization").is_none());
    assert!(reqs[0].header("cookie").is_none());
    proxy.check();
}

#[tokio::test]
async fn connect_refusals_are_http_proxy_errors_with_status_and_headers() {
    let ca = new_ca("origin CA");
    let (config, _) = server_config(&ca);
    let origin = tls_origin(config).await;
    let s = tls_session(&ca);

    let auth = HttpProxy::builder().auth("pu", "pp").start().await;
    let err = within(10, s.get(origin.url("/")).proxy(auth.url()))
        .await
        .expect_err("407");
    assert_eq!(err.kind(), ErrorKind::ClientHttpProxyError, "{err:?}");
    assert!(err.is(ErrorKind::ClientResponseError));
    assert_eq!(err.status().map(|s| s.as_u16()), Some(407));
    assert!(err
        .headers()
        .is_some_and(|h| h.contains_key(http::header::PROXY_AUTHENTICATE)));
    let wrong = within(
        10,
        s.get(origin.url("/"))
            .proxy(auth.url())
            .proxy_auth(BasicAuth::new("pu", "nope").expect("auth")),
    )
    .await
    .expect_err("407");
    assert_eq!(wrong.status().map(|s| s.as_u16()), Some(407));

    for status in [403u16, 502] {
        let refusing = HttpProxy::builder().refuse_connect(status).start().await;
        let err = within(10, s.get(origin.url("/")).proxy(refusing.url()))
            .await
            .expect_err("refused");
        assert_eq!(err.kind(), ErrorKind::ClientHttpProxyError);
        assert_eq!(err.status().map(|s| s.as_u16()), Some(status));
        assert_eq!(
            err.headers()
                .and_then(|h| h.get("x-proxy-refused"))
                .map(|v| v.as_bytes()),
            Some(&b"yes"[..])
        );
    }
}

#[tokio::test]
async fn a_proxy_that_is_down_or_drops_connect_is_a_proxy_connection_error() {
    let origin = HttpServer::echo().await;
    let s = ClientSession::new();
    // Nothing listens there any more.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let err = within(
        10,
        s.get(origin.url("/"))
            .proxy(format!("http://user:s3cret@{closed}")),
    )
    .await
    .expect_err("refused");
    assert_eq!(err.kind(), ErrorKind::ClientProxyConnectionError, "{err:?}");
    // The proxy is named, its password is not.
    assert!(err.message().contains(&closed.to_string()), "{err}");
    assert!(!format!("{err:?} {err}").contains("s3cret"), "{err:?}");
    assert!(err.is(ErrorKind::ClientConnectorError));

    let dropping = HttpProxy::builder().drop_connect().start().await;
    let err = within(
        10,
        s.get(origin.url("/").replace("http://", "https://"))
            .proxy(dropping.url()),
    )
    .await
    .expect_err("dropped");
    assert_eq!(err.kind(), ErrorKind::ClientProxyConnectionError, "{err:?}");
    let err = within(
        10,
        s.ws_connect(origin.url("/ws").replace("http://", "ws://"))
            .proxy(dropping.url()),
    )
    .await
    .expect_err("dropped");
    assert_eq!(err.kind(), ErrorKind::ClientProxyConnectionError, "{err:?}");
}

#[tokio::test]
async fn a_stalled_proxy_handshake_is_bounded_by_sock_connect() {
    // A proxy that accepts and never answers CONNECT.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((c, _)) = listener.accept().await {
            held.push(c);
        }
    });
    let s = ClientSession::new();
    let timeout = aiohttp::ClientTimeout {
        sock_connect: Some(Duration::from_millis(300)),
        ..Default::default()
    };
    let started = std::time::Instant::now();
    let err = within(
        10,
        s.get("https://localhost:9/")
            .proxy(format!("http://{addr}"))
            .timeout(timeout),
    )
    .await
    .expect_err("stalled");
    assert!(
        err.is(ErrorKind::ServerTimeoutError) || err.is(ErrorKind::ConnectionTimeoutError),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    hold.abort();
}

#[tokio::test]
async fn ws_target_goes_through_connect() {
    let server = WsServer::echo("").await;
    let proxy = HttpProxy::start().await;
    let s = ClientSession::new();
    let url = server.url("/chat").replace("http://", "ws://");
    let mut ws = within(10, s.ws_connect(&url).proxy(proxy.url()))
        .await
        .expect("ws through the proxy");
    ws.send_str("hello").await.expect("send");
    let msg = within(10, ws.receive()).await;
    assert_eq!(msg.kind, WSMsgType::Text);
    assert_eq!(msg.text(), Some("hello"));
    ws.close(1000, b"").await.expect("close");
    let reqs = proxy.requests();
    assert_eq!(reqs.len(), 1, "one CONNECT, the upgrade inside it");
    assert_eq!(reqs[0].method, "CONNECT");
    assert_eq!(
        reqs[0].target,
        format!("127.0.0.1:{}", server.addr().port())
    );
}

#[tokio::test]
async fn tunnels_count_against_the_limits() {
    let ca = new_ca("origin CA");
    let (config, _) = server_config(&ca);
    let origin = tls_origin(config).await;
    let proxy = HttpProxy::start().await;
    let connector = aiohttp::TcpConnector::builder()
        .ssl_context(client_config(&ca))
        .limit(1)
        .build()
        .expect("connector");
    let s = ClientSession::builder()
        .connector(connector)
        .proxy(proxy.url())
        .build()
        .expect("session");
    let held = within(10, s.get(origin.url("/1"))).await.expect("first");
    let stats = s.connector().pool().stats();
    assert_eq!((stats.open, stats.in_use), (1, 1));
    let timeout = aiohttp::ClientTimeout {
        connect: Some(Duration::from_millis(300)),
        ..Default::default()
    };
    let err = within(10, s.get(origin.url("/2")).timeout(timeout))
        .await
        .expect_err("the limit is taken by the tunnel");
    assert!(err.is(ErrorKind::ConnectionTimeoutError), "{err:?}");
    drop(held);
    let mut again = within(10, s.get(origin.url("/3"))).await.expect("third");
    again.read().await.expect("body");
}

// ---- HTTPS proxies -----------------------------------------------------------------------

#[tokio::test]
async fn https_proxy_for_http_and_https_targets_and_pinning_checks_the_target() {
    let proxy_ca = new_ca("proxy CA");
    let origin_ca = new_ca("origin CA");
    let (proxy_config, proxy_digest) = server_config(&proxy_ca);
    let (origin_config, origin_digest) = server_config(&origin_ca);
    let proxy = HttpProxy::builder().tls(proxy_config).start().await;
    assert!(proxy.url().starts_with("https://"));
    let origin = tls_origin(origin_config).await;
    let plain = HttpServer::echo().await;
    let s = tls_session(&origin_ca);
    let proxy_ssl = Ssl::Config(client_config(&proxy_ca));

    // http:// target: forwarded over TLS to the proxy.
    let resp = within(
        10,
        s.get(plain.url("/p"))
            .proxy(proxy.url())
            .proxy_ssl(proxy_ssl.clone()),
    )
    .await
    .expect("forwarded over TLS");
    assert_eq!(resp.status(), 200);
    // https:// target: TLS inside TLS, the target verified with the session's CA.
    let mut resp = within(
        10,
        s.get(origin.url("/s"))
            .proxy(proxy.url())
            .proxy_ssl(proxy_ssl.clone()),
    )
    .await
    .expect("TLS in TLS");
    assert_eq!(resp.status(), 200);
    resp.read().await.expect("body");
    // The pin is the target's, not the proxy's.
    let pinned = within(
        10,
        s.get(origin.url("/pin"))
            .proxy(proxy.url())
            .proxy_ssl(proxy_ssl.clone())
            .ssl(Ssl::fingerprint(origin_digest).expect("pin")),
    )
    .await
    .expect("the target's pin");
    assert_eq!(pinned.status(), 200);
    let err = within(
        10,
        s.get(origin.url("/pin2"))
            .proxy(proxy.url())
            .proxy_ssl(proxy_ssl)
            .ssl(Ssl::fingerprint(proxy_digest).expect("pin")),
    )
    .await
    .expect_err("the proxy's pin does not match the target");
    assert_eq!(err.kind(), ErrorKind::ServerFingerprintMismatch, "{err:?}");
    // Without proxy_ssl the proxy's certificate is checked against the trust roots.
    let err = within(10, s.get(plain.url("/p")).proxy(proxy.url()))
        .await
        .expect_err("unknown proxy CA");
    assert!(
        err.is(ErrorKind::ClientConnectorCertificateError),
        "{err:?}"
    );
    assert!(err.message().contains("proxy"), "{err}");
}

// ---- SOCKS -------------------------------------------------------------------------------

#[tokio::test]
async fn socks_kinds_and_who_resolves_the_name() {
    let origin = HttpServer::echo().await;
    let port = origin.addr().port();
    let target = format!("http://localhost:{port}/s");
    let proxy = SocksProxy::start().await;
    let s = ClientSession::new();
    // (scheme, SOCKS version, the target the proxy was given is a name)
    let cases = [
        ("socks5h", 5u8, true),
        ("socks5", 5, false),
        ("socks4a", 4, true),
        ("socks4", 4, false),
    ];
    for (i, (scheme, version, by_name)) in cases.into_iter().enumerate() {
        let mut resp = within(10, s.get(&target).proxy(proxy.url(scheme)))
            .await
            .unwrap_or_else(|e| panic!("{scheme}: {e:?}"));
        assert_eq!(resp.status(), 200, "{scheme}");
        let echo: Value = resp.json().await.expect("json");
        assert_eq!(
            echo["target"], "/s",
            "{scheme}: origin form inside the tunnel"
        );
        let reqs = proxy.requests();
        assert_eq!(reqs.len(), i + 1);
        let r = &reqs[i];
        assert_eq!(r.version, version, "{scheme}");
        match (&r.target, by_name) {
            (SocksTarget::Domain(host, p), true) => {
                assert_eq!((host.as_str(), *p), ("localhost", port))
            }
            (SocksTarget::Ip(addr), false) => assert_eq!(addr.port(), port),
            (t, _) => panic!("{scheme}: target {t:?}"),
        }
    }
    proxy.check();
}

#[tokio::test]
async fn socks5_credentials_and_refusals() {
    let ca = new_ca("origin CA");
    let (config, _) = server_config(&ca);
    let origin = tls_origin(config).await;
    let proxy = SocksProxy::builder().auth("su", "sp").start().await;
    let s = tls_session(&ca);
    let with_creds = proxy.url("socks5h").replace("://", "://su:sp@");
    let mut resp = within(10, s.get(origin.url("/tls-in-socks")).proxy(&*with_creds))
        .await
        .expect("https through SOCKS5 with credentials");
    assert_eq!(resp.status(), 200);
    resp.read().await.expect("body");
    assert_eq!(proxy.requests()[0].user.as_deref(), Some("su"));
    let via_auth = within(
        10,
        s.get(origin.url("/2"))
            .proxy(proxy.url("socks5"))
            .proxy_auth(BasicAuth::new("su", "sp").expect("auth")),
    )
    .await
    .expect("proxy_auth for SOCKS5");
    assert_eq!(via_auth.status(), 200);

    let bad = proxy.url("socks5h").replace("://", "://su:wrong@");
    let err = within(10, s.get(origin.url("/")).proxy(&*bad))
        .await
        .expect_err("bad password");
    assert_eq!(err.kind(), ErrorKind::ClientHttpProxyError, "{err:?}");
    assert!(err.message().contains("SOCKS"), "{err}");

    let refusing = SocksProxy::builder().connect_reply(0x05).start().await;
    let err = within(10, s.get(origin.url("/")).proxy(refusing.url("socks5h")))
        .await
        .expect_err("refused");
    assert_eq!(err.kind(), ErrorKind::ClientHttpProxyError, "{err:?}");
    assert!(
        err.message().to_ascii_lowercase().contains("refused"),
        "{err}"
    );
}

// ---- arguments ---------------------------------------------------------------------------

#[tokio::test]
async fn proxy_arguments_are_checked() {
    let s = ClientSession::new();
    let err = s
        .get("http://127.0.0.1:9/")
        .proxy("http://u:p@127.0.0.1:9")
        .proxy_auth(BasicAuth::new("a", "b").expect("auth"))
        .await
        .expect_err("both");
    assert!(err.is_invalid_argument(), "{err:?}");
    let err = s
        .get("http://127.0.0.1:9/")
        .proxy("ftp://127.0.0.1:9")
        .await
        .expect_err("scheme");
    assert!(err.is_invalid_argument(), "{err:?}");
}
