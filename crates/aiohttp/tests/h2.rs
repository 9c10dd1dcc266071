//! HTTP/2: ALPN over TLS, h2c prior knowledge, multiplexing on one connection, the server's
//! stream limit, GOAWAY and reset streams, and the HTTP/1.1 features over h2.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aiohttp::rustls;
use aiohttp::{ClientSession, ClientTimeout, TcpConnector, Version};
use bytes::Bytes;
use futures_util::future::join_all;
use http_body_util::BodyExt;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{CertificateParams, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use test_support::{full, BoxBody};

#[derive(Default)]
struct Counters {
    connections: AtomicUsize,
    requests: AtomicUsize,
    active: AtomicUsize,
    max_active: AtomicUsize,
    /// `/refuse`: the body bytes that arrived after the 417 went out, once the request's
    /// stream ended (`usize::MAX` until then).
    refused_body: AtomicUsize,
}

struct Server {
    addr: SocketAddr,
    counters: Arc<Counters>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Routes shared by the TLS and the cleartext servers.
async fn route(
    req: http::Request<hyper::body::Incoming>,
    c: Arc<Counters>,
) -> http::Response<BoxBody> {
    c.requests.fetch_add(1, Ordering::SeqCst);
    let now = c.active.fetch_add(1, Ordering::SeqCst) + 1;
    c.max_active.fetch_max(now, Ordering::SeqCst);
    let path = req.uri().path().to_string();
    let resp = match path.as_str() {
        "/slow" => {
            tokio::time::sleep(Duration::from_millis(100)).await;
            http::Response::new(full("slow"))
        }
        "/hold" => {
            // Answer only once 30 requests have arrived (or after 5 s): all 30 must be in
            // flight at the server at once.
            let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
            while c.requests.load(Ordering::SeqCst) < 31 && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            http::Response::new(full("held"))
        }
        "/very-slow" => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            http::Response::new(full("late"))
        }
        "/gzip" => {
            use std::io::Write;
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            let _ = enc.write_all(b"compressed over h2");
            let mut r = http::Response::new(full(enc.finish().unwrap_or_default()));
            r.headers_mut()
                .insert("content-encoding", http::HeaderValue::from_static("gzip"));
            r
        }
        "/redirect" => {
            let mut r = http::Response::new(full(""));
            *r.status_mut() = http::StatusCode::FOUND;
            r.headers_mut()
                .insert("location", http::HeaderValue::from_static("/cookie"));
            r.headers_mut().insert(
                "set-cookie",
                http::HeaderValue::from_static("h2=yes; Path=/"),
            );
            r
        }
        "/cookie" => {
            let cookie = req
                .headers()
                .get("cookie")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            http::Response::new(full(cookie))
        }
        "/echo" => {
            let authority = req
                .uri()
                .authority()
                .map(|a| a.to_string())
                .unwrap_or_default();
            let body = req
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            http::Response::new(full(format!("{authority} {}", body.len())))
        }
        "/big" => http::Response::new(full(vec![b'z'; 4 * 1024 * 1024])),
        "/expect" => {
            // How long after the head the body's first bytes came, and how many came.
            let start = tokio::time::Instant::now();
            let mut body = req.into_body();
            let (mut first, mut len) = (None, 0);
            while let Some(Ok(frame)) = body.frame().await {
                if let Some(data) = frame.data_ref() {
                    first.get_or_insert_with(|| start.elapsed().as_millis());
                    len += data.len();
                }
            }
            http::Response::new(full(format!("{} {len}", first.unwrap_or(0))))
        }
        "/refuse" => {
            // A final answer at once, the body unread; what arrives of it later is counted.
            c.refused_body.store(usize::MAX, Ordering::SeqCst);
            let counters = c.clone();
            tokio::spawn(async move {
                let mut body = req.into_body();
                let mut len = 0;
                let read = async {
                    while let Some(Ok(frame)) = body.frame().await {
                        len += frame.data_ref().map_or(0, Bytes::len);
                    }
                };
                if tokio::time::timeout(Duration::from_secs(5), read)
                    .await
                    .is_ok()
                {
                    counters.refused_body.store(len, Ordering::SeqCst);
                }
            });
            let mut r = http::Response::new(full("no"));
            *r.status_mut() = http::StatusCode::EXPECTATION_FAILED;
            r
        }
        _ => http::Response::new(full(format!("h2 {path}"))),
    };
    c.active.fetch_sub(1, Ordering::SeqCst);
    resp
}

fn builder(max_streams: Option<u32>) -> hyper::server::conn::http2::Builder<TokioExecutor> {
    let mut b = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    if let Some(n) = max_streams {
        b.max_concurrent_streams(n);
    }
    b
}

/// HTTP/2 over TLS, chosen by ALPN.
async fn tls_server(max_streams: Option<u32>) -> (Server, CertificateDer<'static>) {
    let key = KeyPair::generate().expect("key");
    let cert = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .expect("params")
        .self_signed(&key)
        .expect("cert");
    let der = cert.der().clone();
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(
        vec![der.clone()],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    )
    .expect("server config");
    config.alpn_protocols = vec![b"h2".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    (serve(Some(acceptor), max_streams).await, der)
}

/// Serves the routes with hyper's HTTP/2 server on a loopback port, over TLS with `acceptor`
/// or over cleartext TCP (prior knowledge) without. A connection counts once its transport is
/// up (for TLS, after the handshake).
async fn serve(acceptor: Option<tokio_rustls::TlsAcceptor>, max_streams: Option<u32>) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let counters = Arc::new(Counters::default());
    let c = counters.clone();
    let task = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let c = c.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn({
                    let c = c.clone();
                    move |req| {
                        let c = c.clone();
                        async move { Ok::<_, Infallible>(route(req, c).await) }
                    }
                });
                let builder = builder(max_streams);
                match acceptor {
                    Some(acceptor) => {
                        let Ok(tls) = acceptor.accept(tcp).await else {
                            return;
                        };
                        c.connections.fetch_add(1, Ordering::SeqCst);
                        let _ = builder.serve_connection(TokioIo::new(tls), svc).await;
                    }
                    None => {
                        c.connections.fetch_add(1, Ordering::SeqCst);
                        let _ = builder.serve_connection(TokioIo::new(tcp), svc).await;
                    }
                }
            });
        }
    });
    Server {
        addr,
        counters,
        task,
    }
}

/// HTTP/2 over cleartext TCP (prior knowledge).
async fn h2c_server() -> Server {
    serve(None, None).await
}

fn trusting(cert: &CertificateDer<'static>) -> ClientSession {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.clone()).expect("root");
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    ClientSession::builder()
        .connector(
            TcpConnector::builder()
                .ssl_context(config)
                .build()
                .expect("connector"),
        )
        .build()
        .expect("session")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_concurrent_requests_share_one_tls_connection() {
    let (server, cert) = tls_server(None).await;
    let s = trusting(&cert);
    let base = format!("https://localhost:{}", server.addr.port());
    let tasks = (0..100).map(|i| {
        let s = s.clone();
        let url = format!("{base}/slow?i={i}");
        tokio::spawn(async move {
            let mut r = s.get(url).await?;
            let version = r.version();
            r.text().await.map(|t| (version, t))
        })
    });
    for r in join_all(tasks).await {
        let (version, text) = r.expect("task").expect("request");
        assert_eq!(version, Version::HTTP_2);
        assert_eq!(text, "slow");
    }
    assert_eq!(server.counters.connections.load(Ordering::SeqCst), 1);
    assert!(
        server.counters.max_active.load(Ordering::SeqCst) >= 20,
        "streams ran concurrently: {}",
        server.counters.max_active.load(Ordering::SeqCst)
    );
    let stats = s.connector().pool().stats();
    assert_eq!(
        (stats.open, stats.in_use, stats.idle),
        (1, 0, 1),
        "{stats:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_connection_opens_past_the_servers_stream_limit() {
    let (server, cert) = tls_server(Some(10)).await;
    let s = trusting(&cert);
    let base = format!("https://localhost:{}", server.addr.port());
    // One request first, so the server's SETTINGS are known.
    s.get(format!("{base}/"))
        .await
        .expect("warm-up")
        .read()
        .await
        .expect("body");
    let tasks = (0..30).map(|_| {
        let s = s.clone();
        let url = format!("{base}/hold");
        tokio::spawn(async move { s.get(url).await?.read().await })
    });
    for r in join_all(tasks).await {
        r.expect("task").expect("request");
    }
    // The warm connection takes 10 streams, the server's limit; the rest open another
    // connection. A new connection's limit is known only once its SETTINGS arrive, and until
    // then hyper queues streams beyond it on that connection, so two or three connections.
    let conns = server.counters.connections.load(Ordering::SeqCst);
    assert!((2..=3).contains(&conns), "{conns} connections");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_prior_knowledge() {
    let server = h2c_server().await;
    let s = ClientSession::builder()
        .version(Version::HTTP_2)
        .build()
        .expect("session");
    let url = format!("http://127.0.0.1:{}/plain", server.addr.port());
    let tasks = (0..20).map(|_| {
        let s = s.clone();
        let url = url.clone();
        tokio::spawn(async move {
            let mut r = s.get(url).await?;
            assert_eq!(r.version(), Version::HTTP_2);
            r.text().await
        })
    });
    for r in join_all(tasks).await {
        assert_eq!(r.expect("task").expect("request"), "h2 /plain");
    }
    assert_eq!(server.counters.connections.load(Ordering::SeqCst), 1);
    // Without HTTP/2 asked for, the same session speaks HTTP/1.1, which this server rejects.
    let err = s
        .get(url)
        .version(Version::HTTP_11)
        .await
        .expect_err("an h2-only server");
    assert!(
        err.is_client_connection_error() || err.is_client_response_error(),
        "{err:?}"
    );
}

#[tokio::test]
async fn expect100_over_h2_holds_the_body_until_an_answer_or_a_second() {
    let server = h2c_server().await;
    let s = ClientSession::builder()
        .version(Version::HTTP_2)
        .build()
        .expect("session");
    let base = format!("http://127.0.0.1:{}", server.addr.port());
    // No final answer: the body goes after the wait (hyper does not report `100 Continue`
    // over HTTP/2), whole.
    let mut resp = s
        .post(format!("{base}/expect"))
        .data("hello")
        .expect100(true)
        .await
        .expect("response");
    let text = resp.text().await.expect("body");
    let (after, len) = text.split_once(' ').expect("two numbers");
    assert_eq!(len, "5");
    let after: u64 = after.parse().expect("ms");
    assert!(after >= 900, "the body came {after} ms after the head");
    // Without `expect100`, at once (the same measure, as a control).
    let mut resp = s
        .post(format!("{base}/expect"))
        .data("hello")
        .await
        .expect("response");
    let text = resp.text().await.expect("body");
    let after: u64 = text
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("ms");
    assert!(after < 900, "{after} ms");
    // A final answer first: the body is never sent; the stream's request side ends empty.
    let resp = s
        .post(format!("{base}/refuse"))
        .data("hello")
        .expect100(true)
        .await
        .expect("response");
    assert_eq!(resp.status(), 417);
    drop(resp);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while server.counters.refused_body.load(Ordering::SeqCst) == usize::MAX {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the request's stream never ended"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(server.counters.refused_body.load(Ordering::SeqCst), 0);
    // All on the one connection, still good.
    let mut resp = s.get(format!("{base}/plain")).await.expect("after");
    assert_eq!(resp.text().await.expect("body"), "h2 /plain");
    assert_eq!(server.counters.connections.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http11_features_work_over_h2() {
    let (server, cert) = tls_server(None).await;
    let s = ClientSession::builder()
        .connector(
            TcpConnector::builder()
                .ssl(aiohttp::Ssl::Config(Arc::new({
                    let mut roots = rustls::RootCertStore::empty();
                    roots.add(cert.clone()).expect("root");
                    rustls::ClientConfig::builder_with_provider(Arc::new(
                        rustls::crypto::ring::default_provider(),
                    ))
                    .with_safe_default_protocol_versions()
                    .expect("versions")
                    .with_root_certificates(roots)
                    .with_no_client_auth()
                })))
                .build()
                .expect("connector"),
        )
        .cookie_jar(aiohttp::CookieJar::new())
        .build()
        .expect("session");
    let base = format!("https://localhost:{}", server.addr.port());

    let mut r = s.get(format!("{base}/gzip")).await.expect("gzip");
    assert_eq!(r.text().await.expect("text"), "compressed over h2");
    let names: Vec<&[u8]> = r.raw_headers().iter().map(|(n, _)| n.as_ref()).collect();
    assert!(names.contains(&&b"content-encoding"[..]), "{names:?}");

    let mut r = s.get(format!("{base}/redirect")).await.expect("redirect");
    assert_eq!(r.history().len(), 1);
    assert_eq!(r.text().await.expect("text"), "h2=yes");

    let stream = futures_util::stream::iter(
        (0..64).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![1u8; 1024]))),
    );
    let mut r = s
        .post(format!("{base}/echo"))
        .data(aiohttp::Body::wrap_stream(stream))
        .await
        .expect("streamed upload");
    assert_eq!(
        r.text().await.expect("text"),
        format!("localhost:{} 65536", server.addr.port())
    );

    let mut r = s.get(format!("{base}/big")).await.expect("big");
    let mut total = 0;
    let mut chunks = r.content().iter_chunked(64 * 1024);
    while let Some(c) = futures_util::StreamExt::next(&mut chunks).await {
        total += c.expect("chunk").len();
    }
    assert_eq!(total, 4 * 1024 * 1024);

    let err = s
        .get(format!("{base}/very-slow"))
        .timeout(ClientTimeout {
            sock_read: Some(Duration::from_millis(200)),
            ..ClientTimeout::none()
        })
        .await
        .expect_err("timeout");
    assert!(err.is_socket_timeout(), "{err:?}");
    // Everything above shared one connection; the timed-out stream did not break it.
    let mut r = s.get(format!("{base}/after")).await.expect("after timeout");
    assert_eq!(r.text().await.expect("text"), "h2 /after");
    assert_eq!(server.counters.connections.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_required_over_tls_needs_alpn_h2() {
    // A TLS server that only speaks HTTP/1.1 (no ALPN).
    let key = KeyPair::generate().expect("key");
    let cert = CertificateParams::new(vec!["localhost".to_string()])
        .expect("params")
        .self_signed(&key)
        .expect("cert");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(
        vec![cert.der().clone()],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    )
    .expect("config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let task = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(tcp).await {
                    let svc = hyper::service::service_fn(|_req| async {
                        Ok::<_, Infallible>(http::Response::new(full("h1 only")))
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), svc)
                        .await;
                }
            });
        }
    });
    let s = ClientSession::new();
    let url = format!("https://localhost:{port}/");
    let mut r = s.get(&url).ssl(false).await.expect("h1 over TLS");
    assert_eq!(r.version(), Version::HTTP_11);
    assert_eq!(r.text().await.expect("text"), "h1 only");
    let err = s
        .get(&url)
        .ssl(false)
        .version(Version::HTTP_2)
        .await
        .expect_err("h2 required");
    assert!(err.is_client_ssl_error(), "{err:?}");
    task.abort();
}

/// A raw h2 server. On its first connection it answers the first stream, then either refuses
/// every later stream (`REFUSED_STREAM`: not processed) or sends a graceful GOAWAY; later
/// connections answer everything.
async fn first_connection_goes_away(
    refuse: bool,
) -> (SocketAddr, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let conns = Arc::new(AtomicUsize::new(0));
    let answered = Arc::new(AtomicUsize::new(0));
    let (c, a) = (conns.clone(), answered.clone());
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let index = c.fetch_add(1, Ordering::SeqCst);
            let a = a.clone();
            tokio::spawn(async move {
                let Ok(mut conn) = h2::server::handshake(tcp).await else {
                    return;
                };
                let mut served = 0;
                while let Some(Ok((_req, mut respond))) = conn.accept().await {
                    if index == 0 && served > 0 && refuse {
                        respond.send_reset(h2::Reason::REFUSED_STREAM);
                        continue;
                    }
                    if let Ok(mut send) = respond.send_response(http::Response::new(()), false) {
                        let _ = send.send_data(Bytes::from_static(b"answered"), true);
                        a.fetch_add(1, Ordering::SeqCst);
                    }
                    served += 1;
                    if index == 0 && !refuse {
                        conn.graceful_shutdown();
                    }
                }
            });
        }
    });
    (addr, conns, answered)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_streams_are_retried_on_a_new_connection() {
    let (addr, conns, answered) = first_connection_goes_away(true).await;
    let s = ClientSession::builder()
        .version(Version::HTTP_2)
        .build()
        .expect("session");
    let url = format!("http://127.0.0.1:{}/", addr.port());
    let first = s.post(&url).data("one").await.expect("first").text().await;
    assert_eq!(first.expect("text"), "answered");
    let tasks = (0..4).map(|_| {
        let s = s.clone();
        let url = url.clone();
        // POST: not idempotent, yet safe to resend because the server never processed it.
        tokio::spawn(async move { s.post(url).data("payload").await?.text().await })
    });
    for r in join_all(tasks).await {
        assert_eq!(r.expect("task").expect("request"), "answered");
    }
    assert_eq!(conns.load(Ordering::SeqCst), 2);
    assert_eq!(
        answered.load(Ordering::SeqCst),
        5,
        "each request processed once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_goaway_new_requests_use_a_new_connection() {
    let (addr, conns, answered) = first_connection_goes_away(false).await;
    let s = ClientSession::builder()
        .version(Version::HTTP_2)
        .build()
        .expect("session");
    let url = format!("http://127.0.0.1:{}/", addr.port());
    let first = s
        .get(&url)
        .await
        .expect("in flight when GOAWAY came")
        .text()
        .await;
    assert_eq!(first.expect("text"), "answered");
    tokio::time::sleep(Duration::from_millis(100)).await;
    for _ in 0..3 {
        let text = s.get(&url).await.expect("after GOAWAY").text().await;
        assert_eq!(text.expect("text"), "answered");
    }
    assert_eq!(conns.load(Ordering::SeqCst), 2);
    assert_eq!(answered.load(Ordering::SeqCst), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_stream_fails_only_its_request() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(mut conn) = h2::server::handshake(tcp).await else {
                    return;
                };
                while let Some(Ok((req, mut respond))) = conn.accept().await {
                    if req.uri().path() == "/reset" {
                        respond.send_reset(h2::Reason::INTERNAL_ERROR);
                        continue;
                    }
                    if let Ok(mut send) = respond.send_response(http::Response::new(()), false) {
                        let _ = send.send_data(Bytes::from_static(b"fine"), true);
                    }
                }
            });
        }
    });
    let s = ClientSession::builder()
        .version(Version::HTTP_2)
        .build()
        .expect("session");
    let base = format!("http://127.0.0.1:{}", addr.port());
    let (reset, fine) = tokio::join!(s.get(format!("{base}/reset")).send(), async {
        s.get(format!("{base}/fine")).await?.text().await
    });
    let err = reset.expect_err("reset stream");
    assert!(err.is_client_connection_error(), "{err:?}");
    assert_eq!(fine.expect("the other stream"), "fine");
    let mut again = s
        .get(format!("{base}/again"))
        .await
        .expect("connection still usable");
    assert_eq!(again.text().await.expect("text"), "fine");
    assert_eq!(s.connector().pool().stats().open, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_specific_headers_stay_off_http2() {
    let server = h2c_server().await;
    let s = ClientSession::builder()
        .version(Version::HTTP_2)
        .build()
        .expect("session");
    let url = format!("http://127.0.0.1:{}/plain", server.addr.port());
    // HTTP/2 forbids these (RFC 9113 §8.2.2): sent as they are, the request would fail.
    let mut r = s
        .get(url)
        .header("connection", "keep-alive")
        .header("keep-alive", "timeout=5")
        .header("proxy-connection", "keep-alive")
        .header("upgrade", "websocket")
        .header("x-kept", "1")
        .await
        .expect("request over h2");
    assert_eq!(r.version(), Version::HTTP_2);
    assert_eq!(r.text().await.expect("body"), "h2 /plain");
    // The request as reported keeps what the caller set.
    assert_eq!(r.request_info().headers()["connection"], "keep-alive");
}

#[tokio::test]
async fn sock_read_over_h2_counts_from_the_last_piece_of_the_upload() {
    let server = h2c_server().await;
    let s = ClientSession::builder()
        .version(Version::HTTP_2)
        .timeout(aiohttp::ClientTimeout {
            sock_read: Some(Duration::from_secs(1)),
            ..aiohttp::ClientTimeout::default()
        })
        .build()
        .expect("session");
    // 50 pieces, one every 50 ms: about 2.5 s of upload, never 1 s without a piece, and the
    // server answers only once it has the whole body.
    let pieces = futures_util::stream::unfold(0u32, |i| async move {
        if i == 50 {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        Some((Ok::<_, std::io::Error>(vec![b'u'; 1000]), i + 1))
    });
    let url = format!("http://127.0.0.1:{}/echo", server.addr.port());
    let req = s.post(url).data(aiohttp::Body::wrap_stream(pieces));
    let mut resp = tokio::time::timeout(Duration::from_secs(20), req)
        .await
        .expect("bounded")
        .expect("response");
    let text = resp.text().await.expect("body");
    assert!(text.ends_with(" 50000"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_through_a_connect_tunnel_multiplexes_over_one_tunnel() {
    let (server, cert) = tls_server(None).await;
    let proxy = test_support::HttpProxy::start().await;
    let s = trusting(&cert);
    let base = format!("https://localhost:{}", server.addr.port());
    let tasks = (0..20).map(|i| {
        let s = s.clone();
        let url = format!("{base}/slow?i={i}");
        let via = proxy.url();
        tokio::spawn(async move {
            let mut r = s.get(url).proxy(via).await?;
            let version = r.version();
            r.text().await.map(|t| (version, t))
        })
    });
    for r in join_all(tasks).await {
        let (version, text) = r.expect("task").expect("request");
        assert_eq!(
            version,
            Version::HTTP_2,
            "h2 chosen by ALPN inside the tunnel"
        );
        assert_eq!(text, "slow");
    }
    // One tunnel, one TLS connection to the origin, every stream on it.
    assert_eq!(proxy.connections(), 1);
    let connects: Vec<_> = proxy.requests().into_iter().map(|r| r.method).collect();
    assert_eq!(connects, ["CONNECT"]);
    assert_eq!(server.counters.connections.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_prior_knowledge_through_a_proxy_uses_a_tunnel() {
    let server = h2c_server().await;
    let proxy = test_support::HttpProxy::start().await;
    let s = ClientSession::builder()
        .version(Version::HTTP_2)
        .proxy(proxy.url())
        .build()
        .expect("session");
    let url = format!("http://127.0.0.1:{}/plain", server.addr.port());
    for _ in 0..3 {
        let mut r = s.get(&url).await.expect("request");
        assert_eq!(r.version(), Version::HTTP_2);
        assert_eq!(r.text().await.expect("text"), "h2 /plain");
    }
    // HTTP/2 is not forwarded: the proxy saw one CONNECT, the origin one connection.
    let reqs = proxy.requests();
    assert_eq!(
        reqs.len(),
        1,
        "{:?}",
        reqs.iter().map(|r| &r.method).collect::<Vec<_>>()
    );
    assert_eq!(reqs[0].method, "CONNECT");
    assert_eq!(reqs[0].target, format!("127.0.0.1:{}", server.addr.port()));
    assert_eq!(server.counters.connections.load(Ordering::SeqCst), 1);
}
