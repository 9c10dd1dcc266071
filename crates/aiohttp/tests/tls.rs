//! TLS against a local rustls server with certificates made at test time (rcgen): a valid
//! chain, expired, wrong host, self-signed, mutual TLS, and fingerprint pinning.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aiohttp::rustls;
use aiohttp::{ClientSession, ErrorKind, TcpConnector};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sha2::Digest;
use test_support::full;

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

struct Leaf {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

fn leaf(ca: Option<&Ca>, names: &[&str], expired: bool, client: bool) -> Leaf {
    let mut params =
        CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .expect("params");
    params.distinguished_name.push(DnType::CommonName, names[0]);
    params.extended_key_usages = vec![if client {
        ExtendedKeyUsagePurpose::ClientAuth
    } else {
        ExtendedKeyUsagePurpose::ServerAuth
    }];
    if expired {
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    }
    let key = KeyPair::generate().expect("key");
    let cert = match ca {
        Some(ca) => params.signed_by(&key, &ca.issuer).expect("signed"),
        None => params.self_signed(&key).expect("self-signed"),
    };
    Leaf {
        chain: vec![cert.der().clone()],
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    }
}

/// An HTTPS server (hyper over rustls) on 127.0.0.1 or ::1, counting requests served.
struct TlsServer {
    addr: SocketAddr,
    requests: Arc<AtomicUsize>,
    handshakes: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn tls_server(config: rustls::ServerConfig, bind: &str) -> TlsServer {
    let listener = tokio::net::TcpListener::bind(bind).await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let requests = Arc::new(AtomicUsize::new(0));
    let handshakes = Arc::new(AtomicUsize::new(0));
    let (r, h) = (requests.clone(), handshakes.clone());
    let task = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let (r, h) = (r.clone(), h.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                h.fetch_add(1, Ordering::SeqCst);
                let svc =
                    hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        r.fetch_add(1, Ordering::SeqCst);
                        async move {
                            Ok::<_, std::convert::Infallible>(http::Response::new(full(format!(
                                "secure {}",
                                req.uri().path()
                            ))))
                        }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    TlsServer {
        addr,
        requests,
        handshakes,
        task,
    }
}

fn server_config(leaf: Leaf) -> rustls::ServerConfig {
    rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(leaf.chain, leaf.key)
        .expect("server config")
}

fn client_config(ca: &Ca) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.cert.clone()).expect("root");
    rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth()
}

fn session(c: TcpConnector) -> ClientSession {
    ClientSession::builder()
        .connector(c)
        .build()
        .expect("session")
}

async fn get_text(s: &ClientSession, url: String) -> Result<String, aiohttp::ClientError> {
    let mut resp = s.get(url).await?;
    resp.text().await
}

#[tokio::test]
async fn valid_chain_for_localhost_and_ip_addresses() {
    let ca = new_ca("test CA");
    let server = tls_server(
        server_config(leaf(
            Some(&ca),
            &["localhost", "127.0.0.1", "::1"],
            false,
            false,
        )),
        "127.0.0.1:0",
    )
    .await;
    let s = session(
        TcpConnector::builder()
            .ssl_context(client_config(&ca))
            .build()
            .expect("connector"),
    );
    let port = server.addr.port();
    for host in ["localhost", "127.0.0.1"] {
        let body = get_text(&s, format!("https://{host}:{port}/ok"))
            .await
            .unwrap_or_else(|e| panic!("{host}: {e:?}"));
        assert_eq!(body, "secure /ok");
    }
    // Keep-alive works over TLS: localhost and 127.0.0.1 are two keys, two connections.
    for _ in 0..3 {
        get_text(&s, format!("https://127.0.0.1:{port}/again"))
            .await
            .expect("again");
    }
    assert_eq!(server.handshakes.load(Ordering::SeqCst), 2);

    if test_support::skip_without_ipv6("valid_chain_for_localhost_and_ip_addresses") {
        return;
    }
    let v6 = tls_server(
        server_config(leaf(
            Some(&ca),
            &["localhost", "127.0.0.1", "::1"],
            false,
            false,
        )),
        "[::1]:0",
    )
    .await;
    let body = get_text(&s, format!("https://[::1]:{}/six", v6.addr.port()))
        .await
        .expect("ipv6 certificate");
    assert_eq!(body, "secure /six");
}

async fn certificate_error(
    server_leaf: Leaf,
    connector: TcpConnector,
    host: &str,
) -> aiohttp::ClientError {
    let server = tls_server(server_config(server_leaf), "127.0.0.1:0").await;
    let s = session(connector);
    let err = s
        .get(format!("https://{host}:{}/", server.addr.port()))
        .await
        .expect_err("certificate must be rejected");
    assert_eq!(
        server.requests.load(Ordering::SeqCst),
        0,
        "nothing was served"
    );
    err
}

fn rustls_error(err: &aiohttp::ClientError) -> Option<String> {
    let mut src = std::error::Error::source(err);
    while let Some(s) = src {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            if let Some(r) = io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                return Some(format!("{r:?}"));
            }
        }
        src = s.source();
    }
    None
}

#[tokio::test]
async fn unknown_issuer_expired_wrong_host_and_self_signed_are_certificate_errors() {
    let ca = new_ca("test CA");
    let trusting = || {
        TcpConnector::builder()
            .ssl_context(client_config(&ca))
            .build()
            .expect("connector")
    };
    // Default roots do not include the test CA.
    let err = certificate_error(
        leaf(Some(&ca), &["localhost"], false, false),
        TcpConnector::new(),
        "localhost",
    )
    .await;
    assert_eq!(
        err.kind(),
        ErrorKind::ClientConnectorCertificateError,
        "{err:?}"
    );
    assert!(err.is_certificate() && err.is_client_ssl_error() && err.is_client_connector_error());
    assert!(
        rustls_error(&err).is_some_and(|r| r.contains("UnknownIssuer")),
        "{err:?}"
    );

    let err = certificate_error(
        leaf(Some(&ca), &["localhost"], true, false),
        trusting(),
        "localhost",
    )
    .await;
    assert!(err.is_certificate(), "{err:?}");
    assert!(
        rustls_error(&err).is_some_and(|r| r.contains("Expired")),
        "{err:?}"
    );

    let err = certificate_error(
        leaf(Some(&ca), &["other.test"], false, false),
        trusting(),
        "localhost",
    )
    .await;
    assert!(err.is_certificate(), "{err:?}");
    assert!(
        rustls_error(&err).is_some_and(|r| r.contains("NotValidForName")),
        "{err:?}"
    );

    let err = certificate_error(
        leaf(None, &["localhost"], false, false),
        trusting(),
        "localhost",
    )
    .await;
    assert!(err.is_certificate(), "{err:?}");
    assert_eq!(err.host(), Some("localhost"));
}

#[tokio::test]
async fn verify_ssl_false_accepts_a_self_signed_certificate() {
    let server = tls_server(
        server_config(leaf(None, &["localhost"], false, false)),
        "127.0.0.1:0",
    )
    .await;
    let s = session(
        TcpConnector::builder()
            .verify_ssl(false)
            .build()
            .expect("connector"),
    );
    let body = get_text(&s, format!("https://localhost:{}/any", server.addr.port()))
        .await
        .expect("unverified");
    assert_eq!(body, "secure /any");
}

#[tokio::test]
async fn mutual_tls_with_a_client_certificate() {
    let ca = new_ca("test CA");
    let client_ca = new_ca("client CA");
    let mut client_roots = rustls::RootCertStore::empty();
    client_roots.add(client_ca.cert.clone()).expect("root");
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(client_roots),
        provider(),
    )
    .build()
    .expect("client verifier");
    let server_leaf = leaf(Some(&ca), &["localhost"], false, false);
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_client_cert_verifier(verifier)
        .with_single_cert(server_leaf.chain, server_leaf.key)
        .expect("server config");
    let server = tls_server(config, "127.0.0.1:0").await;
    let url = format!("https://localhost:{}/mtls", server.addr.port());

    let without = session(
        TcpConnector::builder()
            .ssl_context(client_config(&ca))
            .build()
            .expect("connector"),
    );
    let err = get_text(&without, url.clone())
        .await
        .expect_err("no client certificate");
    assert!(err.is_client_connection_error(), "{err:?}");

    let client_leaf = leaf(Some(&client_ca), &["client.test"], false, true);
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.cert.clone()).expect("root");
    let with_cert = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_client_auth_cert(client_leaf.chain, client_leaf.key)
        .expect("client auth");
    let with = session(
        TcpConnector::builder()
            .ssl_context(with_cert)
            .build()
            .expect("connector"),
    );
    assert_eq!(get_text(&with, url).await.expect("mTLS"), "secure /mtls");
}

#[tokio::test]
async fn fingerprint_pinning() {
    let server_leaf = leaf(None, &["localhost"], false, false);
    let digest = sha2::Sha256::digest(server_leaf.chain[0].as_ref()).to_vec();
    let server = tls_server(server_config(server_leaf), "127.0.0.1:0").await;
    let url = format!("https://127.0.0.1:{}/pinned", server.addr.port());

    let right = session(
        TcpConnector::builder()
            .fingerprint(digest.clone())
            .build()
            .expect("connector"),
    );
    assert_eq!(
        get_text(&right, url.clone()).await.expect("pin matches"),
        "secure /pinned"
    );
    assert_eq!(server.requests.load(Ordering::SeqCst), 1);

    let mut wrong_digest = digest.clone();
    wrong_digest[0] ^= 0xff;
    let wrong = session(
        TcpConnector::builder()
            .fingerprint(wrong_digest.clone())
            .build()
            .expect("connector"),
    );
    let err = wrong.get(url).await.expect_err("pin mismatch");
    assert_eq!(err.kind(), ErrorKind::ServerFingerprintMismatch, "{err:?}");
    assert!(err.is_server_connection_error());
    let (expected, got) = err.fingerprint().expect("digests");
    assert_eq!(expected, wrong_digest.as_slice());
    assert_eq!(got, digest.as_slice());
    assert_eq!(err.host(), Some("127.0.0.1"));
    assert_eq!(err.port(), Some(server.addr.port()));
    // The handshake happened, but no request reached the server.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert_eq!(server.requests.load(Ordering::SeqCst), 1);
    assert_eq!(wrong.connector().pool().stats().open, 0);

    for n in [16, 20] {
        let err = TcpConnector::builder()
            .fingerprint(vec![0u8; n])
            .build()
            .expect_err("weak digest");
        assert!(err.is_invalid_argument());
    }
    let err = TcpConnector::builder()
        .verify_ssl(false)
        .fingerprint(vec![0u8; 32])
        .build()
        .expect_err("exclusive");
    assert!(err.is_invalid_argument());
}

#[tokio::test]
async fn https_and_http_pool_separately_and_share_the_limit() {
    let ca = new_ca("test CA");
    let tls = tls_server(
        server_config(leaf(Some(&ca), &["127.0.0.1"], false, false)),
        "127.0.0.1:0",
    )
    .await;
    let plain = test_support::HttpServer::echo().await;
    let s = session(
        TcpConnector::builder()
            .ssl_context(client_config(&ca))
            .limit(1)
            .build()
            .expect("connector"),
    );
    for _ in 0..2 {
        get_text(&s, format!("https://127.0.0.1:{}/", tls.addr.port()))
            .await
            .expect("https");
        let mut r = s.get(plain.url("/")).await.expect("http");
        r.read().await.expect("body");
    }
    // With one slot, each switch closes the idle connection of the other scheme.
    assert_eq!(tls.handshakes.load(Ordering::SeqCst), 2);
    assert_eq!(plain.connections_accepted(), 2);
    assert!(s.connector().pool().stats().open <= 1);
}

#[tokio::test]
async fn per_request_ssl_and_server_hostname() {
    let ca = new_ca("test CA");
    // The certificate names a service, not the address it is reached at.
    let server = tls_server(
        server_config(leaf(Some(&ca), &["api.internal"], false, false)),
        "127.0.0.1:0",
    )
    .await;
    let url = format!("https://127.0.0.1:{}/named", server.addr.port());
    let s = session(
        TcpConnector::builder()
            .ssl_context(client_config(&ca))
            .build()
            .expect("connector"),
    );
    let err = s.get(url.clone()).await.expect_err("name mismatch");
    assert!(err.is_certificate(), "{err:?}");
    let mut resp = s
        .get(url.clone())
        .server_hostname("api.internal")
        .await
        .expect("server_hostname override");
    assert_eq!(resp.text().await.expect("text"), "secure /named");

    // A default connector verifies against the system roots; the request can relax or pin.
    let plain = ClientSession::new();
    let err = plain.get(url.clone()).await.expect_err("unknown issuer");
    assert!(err.is_certificate());
    let mut resp = plain.get(url.clone()).ssl(false).await.expect("ssl=False");
    assert_eq!(resp.text().await.expect("text"), "secure /named");
    let err = plain
        .get(url.clone())
        .ssl(aiohttp::Ssl::fingerprint(vec![7u8; 32]).expect("pin"))
        .await
        .expect_err("wrong pin");
    assert!(err.is_server_fingerprint_mismatch());
    let mut resp = plain
        .get(url)
        .ssl(client_config(&ca))
        .server_hostname("api.internal")
        .await
        .expect("per-request config");
    assert_eq!(resp.text().await.expect("text"), "secure /named");
    // Unverified, pinned and configured connections never share a pool entry: the unverified
    // one, still idle, was not reused for the configured request.
    assert_eq!(plain.connector().pool().stats().idle, 2);
}

#[tokio::test]
async fn https_to_http_redirect_never_carries_secure_cookies() {
    let ca = new_ca("test CA");
    let plain = test_support::HttpServer::echo().await;
    let target = format!("http://localhost:{}/landed", plain.addr().port());
    let server_leaf = leaf(Some(&ca), &["localhost"], false, false);
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_config(server_leaf)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let task = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let target = target.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let svc = hyper::service::service_fn(
                    move |_req: http::Request<hyper::body::Incoming>| {
                        let target = target.clone();
                        async move {
                            let resp = http::Response::builder()
                                .status(302)
                                .header("location", target)
                                .header("set-cookie", "sec=1; Secure; Path=/")
                                .header("set-cookie", "plain=1; Path=/")
                                .body(full(""))
                                .expect("response");
                            Ok::<_, std::convert::Infallible>(resp)
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    let s = session(
        TcpConnector::builder()
            .ssl_context(client_config(&ca))
            .build()
            .expect("connector"),
    );
    let mut resp = s
        .get(format!("https://localhost:{port}/start"))
        .await
        .expect("redirected to http");
    assert_eq!(resp.history().len(), 1);
    assert_eq!(resp.url().scheme(), "http");
    let v: serde_json::Value = resp.json().await.expect("echo");
    let cookies: Vec<&str> = v["headers"]
        .as_array()
        .expect("headers")
        .iter()
        .filter(|p| p[0] == "cookie")
        .filter_map(|p| p[1].as_str())
        .collect();
    assert_eq!(cookies, ["plain=1"], "the Secure cookie stayed behind");
    task.abort();
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_connections_never_linger_when_the_peer_ignores_close_notify() {
    let ca = new_ca("test CA");
    // The server never closes and never answers a close_notify: it just holds its sockets.
    let server_leaf = leaf(Some(&ca), &["localhost"], false, false);
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_config(server_leaf)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            held.push(tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut buf = vec![0u8; 4096];
                if tls.read(&mut buf).await.is_ok() {
                    let _ = tls
                        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                        .await;
                    let _ = tls.flush().await;
                }
                // Hold the connection open whatever the client does.
                tokio::time::sleep(Duration::from_secs(30)).await;
            }));
        }
    });
    let s = session(
        TcpConnector::builder()
            .ssl_context(client_config(&ca))
            .force_close(true)
            .enable_cleanup_closed(true)
            .build()
            .expect("connector"),
    );
    let url = format!("https://localhost:{port}/");
    // Warm up the runtime's own descriptors before counting.
    get_text(&s, url.clone()).await.expect("warm-up");
    let before = open_fds();
    for _ in 0..50 {
        assert_eq!(get_text(&s, url.clone()).await.expect("request"), "ok");
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    // The server side still holds its ends; the client's own sockets are all gone. (The
    // server's accepted sockets live in this process too, so count only what the client adds:
    // at most one descriptor per held server connection.)
    let mut after = open_fds();
    while after > before + 50 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
        after = open_fds();
    }
    assert!(after <= before + 50, "fds before {before}, after {after}");
    assert_eq!(s.connector().pool().stats().open, 0);
    task.abort();
}

#[tokio::test]
async fn tls12_and_tls13_servers_both_work() {
    let ca = new_ca("test CA");
    let s = session(
        TcpConnector::builder()
            .ssl_context(client_config(&ca))
            .build()
            .expect("connector"),
    );
    for (version, name) in [
        (&rustls::version::TLS12, "TLSv1_2"),
        (&rustls::version::TLS13, "TLSv1_3"),
    ] {
        let server_leaf = leaf(Some(&ca), &["localhost"], false, false);
        let config = rustls::ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[version])
            .expect("version")
            .with_no_client_auth()
            .with_single_cert(server_leaf.chain, server_leaf.key)
            .expect("server config");
        let server = tls_server(config, "127.0.0.1:0").await;
        let body = get_text(
            &s,
            format!("https://localhost:{}/{name}", server.addr.port()),
        )
        .await
        .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(body, format!("secure /{name}"));
    }
}
