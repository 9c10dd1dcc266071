//! What a hostile or broken server can send, and what the client must do about it: typed errors,
//! bounded memory, bounded waits, and connections that are closed rather than reused when their
//! state is unknown.

use std::future::Future;
use std::time::Duration;

use aiohttp::{ClientResponse, ClientSession, RequestBuilder};
use test_support::RawServer;

/// The bound on every single wait in these tests.
const LIMIT: Duration = Duration::from_secs(20);

async fn within<F: Future>(what: &str, fut: F) -> F::Output {
    match tokio::time::timeout(LIMIT, fut).await {
        Ok(out) => out,
        Err(_) => panic!("{what}: nothing within {LIMIT:?}"),
    }
}

async fn send(req: RequestBuilder) -> ClientResponse {
    within("response head", req.send())
        .await
        .expect("response head")
}

/// A response head with these extra header lines and a body of `body`.
fn reply(status: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\n", body.len()).into_bytes();
    for (name, value) in headers {
        out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

// ---- Stacked Content-Encoding ----

#[tokio::test]
async fn thousands_of_stacked_codings_are_an_error_not_a_crash() {
    let codings = vec!["br"; 20_000].join(",");
    let server = RawServer::reply(reply("200 OK", &[("Content-Encoding", &codings)], b"xx")).await;
    // By default such a header is refused with the head (over `max_field_size`)...
    let err = within("head", ClientSession::new().get(server.url("/")).send())
        .await
        .expect_err("a 60 KB header value");
    assert!(err.message().contains("max_field_size"), "{err}");
    // ...and past that limit, the codings are counted.
    let session = ClientSession::builder()
        .max_field_size(1 << 20)
        .build()
        .expect("session");
    let mut resp = send(session.get(server.url("/"))).await;
    let err = within("read", resp.read())
        .await
        .expect_err("too many codings");
    assert!(err.is_client_payload_error(), "{err}");
    assert!(err.message().contains("content codings"), "{err}");
}

#[tokio::test]
async fn stacked_codings_in_a_redirect_do_not_crash_it() {
    let codings = vec!["gzip"; 20_000].join(",");
    let hop = reply(
        "302 Found",
        &[("Location", "/final"), ("Content-Encoding", &codings)],
        b"xx",
    );
    let server = redirecting(hop).await;
    let session = ClientSession::builder()
        .max_field_size(1 << 20)
        .build()
        .expect("session");
    let mut resp = send(session.get(server.url("/"))).await;
    assert_eq!(within("read", resp.read()).await.expect("body"), "done");
    assert_eq!(resp.history().len(), 1);
}

// ---- Decompression limits ----

fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(data).expect("gzip");
    e.finish().expect("gzip")
}

#[tokio::test]
async fn a_small_compressed_body_cannot_expand_past_max_body_size() {
    // 16 MiB of zeros compress to about 16 KiB.
    let bomb = gzip(&vec![0u8; 16 << 20]);
    assert!(bomb.len() < 64 * 1024);
    let server = RawServer::reply(reply("200 OK", &[("Content-Encoding", "gzip")], &bomb)).await;
    let session = ClientSession::builder()
        .max_body_size(Some(1 << 20))
        .build()
        .expect("session");
    assert_eq!(session.max_body_size(), Some(1 << 20));

    let mut resp = send(session.get(server.url("/"))).await;
    let err = within("read", resp.read())
        .await
        .expect_err("over the limit");
    assert!(err.is_client_payload_error(), "{err}");
    assert!(err.message().contains("max_body_size"), "{err}");
    // The failure stays: nothing reads as a truncated body afterwards.
    let again = within("text", resp.text())
        .await
        .expect_err("still over the limit");
    assert!(again.is_client_payload_error(), "{again}");

    // The request's own setting wins, and None lifts the limit.
    let mut resp = send(session.get(server.url("/")).max_body_size(None)).await;
    assert_eq!(
        within("read", resp.read()).await.expect("body").len(),
        16 << 20
    );
    let mut resp = send(session.get(server.url("/")).max_body_size(Some(16 << 20))).await;
    assert_eq!(
        within("read", resp.read()).await.expect("body").len(),
        16 << 20
    );
    let mut resp = send(
        session
            .get(server.url("/"))
            .max_body_size(Some((16 << 20) - 1)),
    )
    .await;
    assert!(within("read", resp.read()).await.is_err());

    // Streaming is not limited.
    let mut resp = send(session.get(server.url("/"))).await;
    let mut total = 0;
    loop {
        let chunk = within("chunk", resp.content().readany())
            .await
            .expect("chunk");
        if chunk.is_empty() {
            break;
        }
        total += chunk.len();
    }
    assert_eq!(total, 16 << 20);

    // The default is generous.
    assert_eq!(
        ClientSession::new().max_body_size(),
        Some(aiohttp::DEFAULT_MAX_BODY_SIZE)
    );
}

/// A server that answers `/final` with `done` and everything else with `hop`, counting the
/// connections it accepted.
async fn redirecting(hop: Vec<u8>) -> RawServer {
    RawServer::start(move |mut conn| {
        let hop = hop.clone();
        async move {
            while let Some(req) = conn.read_request().await {
                let out = if req.path == "/final" {
                    reply("200 OK", &[], b"done")
                } else {
                    hop.clone()
                };
                if conn.write(out).await.is_err() {
                    break;
                }
            }
        }
    })
    .await
}

#[tokio::test]
async fn redirect_bodies_are_drained_without_being_decoded() {
    // Not gzip at all: decoding it would fail and cost the connection.
    let hop = reply(
        "302 Found",
        &[("Location", "/final"), ("Content-Encoding", "gzip")],
        b"certainly not gzip data",
    );
    let server = redirecting(hop).await;
    let session = ClientSession::new();
    let mut resp = send(session.get(server.url("/"))).await;
    assert_eq!(within("read", resp.read()).await.expect("body"), "done");
    assert_eq!(
        server.connections_accepted(),
        1,
        "the connection was reused"
    );
    // Read afterwards, the kept body is decoded then, and fails as it should.
    let err = within("history", resp.history_mut()[0].read()).await;
    assert!(err.expect_err("corrupt").is_client_payload_error());
}

#[tokio::test]
async fn redirect_bodies_kept_in_history_decode_under_the_limit() {
    let body = gzip(&vec![b'a'; 1 << 20]);
    let hop = reply(
        "302 Found",
        &[("Location", "/final"), ("Content-Encoding", "gzip")],
        &body,
    );
    let server = redirecting(hop).await;
    let session = ClientSession::new();
    let mut resp = send(session.get(server.url("/"))).await;
    let history = resp.history_mut();
    assert_eq!(
        within("history", history[0].read())
            .await
            .expect("body")
            .len(),
        1 << 20
    );

    let mut resp = send(session.get(server.url("/")).max_body_size(Some(1000))).await;
    let err = within("history", resp.history_mut()[0].read()).await;
    assert!(err.expect_err("over the limit").is_client_payload_error());
}

#[tokio::test]
async fn an_endless_chunked_redirect_body_is_not_read_past_the_drain_limit() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let written = Arc::new(AtomicUsize::new(0));
    let counter = written.clone();
    let server = RawServer::start(move |mut conn| {
        let counter = counter.clone();
        async move {
            while let Some(req) = conn.read_request().await {
                if req.path == "/final" {
                    if conn.write(reply("200 OK", &[], b"done")).await.is_err() {
                        break;
                    }
                    continue;
                }
                // The chunked body never ends. (With a Content-Length as well, the head itself
                // is refused: tests/fault_matrix.rs.)
                let head =
                    "HTTP/1.1 302 Found\r\nLocation: /final\r\nTransfer-Encoding: chunked\r\n\r\n";
                if conn.write(head).await.is_err() {
                    break;
                }
                let chunk = format!("1000\r\n{}\r\n", "x".repeat(0x1000));
                // Bounded so that a client that reads everything still ends the test.
                while counter.load(Ordering::SeqCst) < 1 << 30 {
                    if conn.write(&chunk).await.is_err() {
                        return;
                    }
                    counter.fetch_add(chunk.len(), Ordering::SeqCst);
                }
                return;
            }
        }
    })
    .await;
    let session = ClientSession::new();
    let mut resp = send(session.get(server.url("/"))).await;
    assert_eq!(within("read", resp.read()).await.expect("body"), "done");
    assert_eq!(resp.history().len(), 1);
    // What the server got into the socket buffers before the client closed the connection.
    let sent = written.load(Ordering::SeqCst);
    assert!(sent < 32 << 20, "the client kept reading: {sent} bytes");
}

// ---- sock_read: the longest wait for the next bytes, head included ----

/// A session whose requests have this `sock_read` timeout.
fn with_sock_read(d: Duration) -> ClientSession {
    ClientSession::builder()
        .timeout(aiohttp::ClientTimeout {
            sock_read: Some(d),
            ..aiohttp::ClientTimeout::default()
        })
        .build()
        .expect("session")
}

#[tokio::test]
async fn a_head_sent_slowly_but_steadily_is_not_a_timeout() {
    let head = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Slow: yes\r\n\r\n";
    let server = RawServer::start(move |mut conn| async move {
        if conn.read_request().await.is_some() {
            // A byte every 50 ms: the head takes about 2.5 s, 20 times the gap.
            let _ = conn.write_slowly(head, 1, Duration::from_millis(50)).await;
            let _ = conn.write("ok").await;
        }
    })
    .await;
    let session = with_sock_read(Duration::from_secs(1));
    let mut resp = send(session.get(server.url("/"))).await;
    assert_eq!(resp.headers()["x-slow"], "yes");
    assert_eq!(within("read", resp.read()).await.expect("body"), "ok");
}

#[tokio::test]
async fn a_stall_in_the_middle_of_the_head_is_a_socket_timeout() {
    let server = RawServer::start(move |mut conn| async move {
        if conn.read_request().await.is_some() {
            let _ = conn
                .write_slowly("HTTP/1.1 200 OK\r\nConte", 1, Duration::from_millis(20))
                .await;
            conn.sleep(Duration::from_secs(30)).await;
        }
    })
    .await;
    let session = with_sock_read(Duration::from_millis(800));
    let err = within("head", session.get(server.url("/")).send())
        .await
        .expect_err("stalled head");
    assert!(err.is_socket_timeout(), "{err}");
}

#[tokio::test]
async fn a_stall_in_the_middle_of_the_body_is_a_socket_timeout() {
    let server = RawServer::start(move |mut conn| async move {
        if conn.read_request().await.is_some() {
            let _ = conn
                .write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nsome")
                .await;
            let _ = conn
                .write_slowly("more data", 1, Duration::from_millis(20))
                .await;
            conn.sleep(Duration::from_secs(30)).await;
        }
    })
    .await;
    let session = with_sock_read(Duration::from_millis(800));
    let mut resp = send(session.get(server.url("/"))).await;
    let err = within("body", resp.read()).await.expect_err("stalled body");
    assert!(err.is_socket_timeout(), "{err}");
}

// ---- A final response while the request body is still being sent ----

/// A server that answers the first request on each connection with a 413 after its head
/// without reading the body, then sleeps; other connections get `ok`.
async fn early_413() -> RawServer {
    RawServer::start(|mut conn| async move {
        let first = conn.index() == 0;
        if let Some(req) = conn.read_head_only().await {
            if first {
                let _ = conn
                    .write("HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\n\r\n")
                    .await;
                conn.sleep(Duration::from_secs(60)).await;
                return;
            }
            let mut req = req;
            if conn.read_body(&mut req).await.is_ok() {
                let _ = conn.write(reply("200 OK", &[], b"ok")).await;
            }
        }
    })
    .await
}

#[tokio::test]
async fn a_connection_still_uploading_a_stream_is_not_reused() {
    let server = early_413().await;
    let session = ClientSession::new();
    // A body that never ends while the test runs.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<aiohttp::Bytes, std::io::Error>>(1);
    tx.send(Ok(aiohttp::Bytes::from_static(b"first piece")))
        .await
        .expect("send");
    let body = aiohttp::Body::wrap_stream(tokio_stream_from(rx));
    let mut resp = send(session.post(server.url("/upload")).data(body)).await;
    assert_eq!(resp.status().as_u16(), 413);
    within("read", resp.read()).await.expect("empty body");
    drop(resp);

    let mut resp = send(session.get(server.url("/next"))).await;
    assert_eq!(within("read", resp.read()).await.expect("body"), "ok");
    assert_eq!(server.connections_accepted(), 2);
    drop(tx);
}

#[tokio::test]
async fn a_connection_whose_body_the_server_never_read_is_not_reused() {
    let server = early_413().await;
    let session = ClientSession::new();
    // Far more than the socket buffers hold, so the upload cannot complete.
    let big = vec![b'x'; 64 << 20];
    let mut resp = send(session.post(server.url("/upload")).data(big)).await;
    assert_eq!(resp.status().as_u16(), 413);
    within("read", resp.read()).await.expect("empty body");
    drop(resp);

    let mut resp = send(session.get(server.url("/next"))).await;
    assert_eq!(within("read", resp.read()).await.expect("body"), "ok");
    assert_eq!(server.connections_accepted(), 2);
}

fn tokio_stream_from<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> + Send + 'static {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

// ---- What a request sets for its origin stays with that origin ----

/// An HTTPS server with a self-signed certificate: `/` redirects to `location` (if any),
/// everything else answers with the path.
async fn self_signed_https(
    location: Option<String>,
) -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    use aiohttp::rustls;
    use std::sync::Arc;
    let key = rcgen::KeyPair::generate().expect("key");
    let params = rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
        .expect("params");
    let cert = params.self_signed(&key).expect("cert");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .expect("config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let location = location.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let svc =
                    hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        let location = location.clone();
                        async move {
                            let mut resp = http::Response::new(test_support::full(
                                req.uri().path().to_string(),
                            ));
                            if let (Some(to), "/") = (location, req.uri().path()) {
                                *resp.status_mut() = http::StatusCode::FOUND;
                                resp.headers_mut()
                                    .insert("location", to.parse().expect("location"));
                            }
                            Ok::<_, std::convert::Infallible>(resp)
                        }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    (addr, task)
}

#[tokio::test]
async fn ssl_false_does_not_follow_a_redirect_to_another_origin() {
    let (other, _b) = self_signed_https(None).await;
    let (first, _a) =
        self_signed_https(Some(format!("https://127.0.0.1:{}/final", other.port()))).await;
    let (same, _c) = self_signed_https(Some("/final".to_string())).await;
    let session = ClientSession::new();

    // Without verification on the first origin, a redirect within it still works.
    let mut resp = send(
        session
            .get(format!("https://127.0.0.1:{}/", same.port()))
            .ssl(false),
    )
    .await;
    assert_eq!(within("read", resp.read()).await.expect("body"), "/final");

    // The other origin's certificate is verified, and this one is self-signed.
    let err = within(
        "redirect",
        session
            .get(format!("https://127.0.0.1:{}/", first.port()))
            .ssl(false)
            .send(),
    )
    .await
    .expect_err("the other origin is verified");
    assert!(err.is_client_ssl_error(), "{err}");

    // Asked for directly with ssl(false), the other origin is reachable: the failure above
    // was verification.
    let mut resp = send(
        session
            .get(format!("https://127.0.0.1:{}/x", other.port()))
            .ssl(false),
    )
    .await;
    assert_eq!(within("read", resp.read()).await.expect("body"), "/x");
}

#[tokio::test]
async fn an_explicit_host_header_stays_with_its_origin() {
    let other = RawServer::reply(reply("200 OK", &[], b"other")).await;
    let to = other.url("/final");
    let first = RawServer::reply(reply("302 Found", &[("Location", &to)], b"")).await;
    let session = ClientSession::new();
    let mut resp = send(session.get(first.url("/")).header("Host", "app.example")).await;
    assert_eq!(within("read", resp.read()).await.expect("body"), "other");
    assert_eq!(first.requests()[0].header("host"), Some("app.example"));
    let expected = format!("127.0.0.1:{}", other.addr().port());
    assert_eq!(other.requests()[0].header("host"), Some(expected.as_str()));
}

// ---- Settings that must be refused or saturated, never a panic ----

#[tokio::test]
async fn unsupported_http_versions_are_invalid_arguments() {
    use aiohttp::Version;
    let server = RawServer::reply(reply("200 OK", &[], b"ok")).await;
    let session = ClientSession::new();
    for version in [Version::HTTP_09, Version::HTTP_3] {
        let err = within(
            "request",
            session.get(server.url("/")).version(version).send(),
        )
        .await
        .expect_err("unsupported version");
        assert!(err.is_invalid_argument(), "{version:?}: {err}");
        let err = ClientSession::builder()
            .version(version)
            .build()
            .expect_err("unsupported version");
        assert!(err.is_invalid_argument(), "{version:?}: {err}");
    }
    assert!(server.requests().is_empty());
}

/// Panics seen on any thread since [`watch_panics`], e.g. in a task the pool spawned.
static PANICS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

fn watch_panics() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if let Ok(mut seen) = PANICS.lock() {
            seen.push(info.to_string());
        }
        previous(info);
    }));
}

#[tokio::test]
async fn the_longest_durations_mean_no_limit() {
    watch_panics();
    let server = RawServer::reply(reply("200 OK", &[], b"ok")).await;
    let max = Some(Duration::MAX);
    let connector = aiohttp::TcpConnector::builder()
        .keepalive_timeout(max)
        .ttl_dns_cache(max)
        .build()
        .expect("connector");
    let session = ClientSession::builder()
        .connector(connector)
        .timeout(aiohttp::ClientTimeout {
            total: max,
            connect: max,
            sock_connect: max,
            sock_read: max,
        })
        .build()
        .expect("session");
    for path in ["/a", "/b", "/c"] {
        let url = server.url(path).replace("127.0.0.1", "localhost");
        let mut resp = send(session.get(url)).await;
        assert_eq!(within("read", resp.read()).await.expect("body"), "ok");
        // The idle reaper runs in between.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // One connection: reused, and the reaper (which computes deadlines from the keep-alive
    // timeout) neither closed it nor died.
    assert_eq!(server.connections_accepted(), 1);
    let url = server.url("/d").replace("127.0.0.1", "localhost");
    let mut resp = send(session.get(url).timeout(Duration::MAX)).await;
    assert_eq!(within("read", resp.read()).await.expect("body"), "ok");
    let seen = PANICS.lock().map(|p| p.clone()).unwrap_or_default();
    let overflows: Vec<&String> = seen.iter().filter(|p| p.contains("overflow")).collect();
    assert!(overflows.is_empty(), "{overflows:?}");
}

// ---- Secrets stay out of Debug output, error messages and logs ----

/// Every event logged while it is the thread's default subscriber, as text.
#[derive(Default, Clone)]
struct LogCapture(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

struct FieldText<'a>(&'a mut String);

impl tracing::field::Visit for FieldText<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!(" {}={:?}", field.name(), value));
    }
}

impl tracing::Subscriber for LogCapture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        let mut text = String::new();
        span.record(&mut FieldText(&mut text));
        if let Ok(mut lines) = self.0.lock() {
            lines.push(text);
        }
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, values: &tracing::span::Record<'_>) {
        let mut text = String::new();
        values.record(&mut FieldText(&mut text));
        if let Ok(mut lines) = self.0.lock() {
            lines.push(text);
        }
    }
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut text = String::new();
        event.record(&mut FieldText(&mut text));
        if let Ok(mut lines) = self.0.lock() {
            lines.push(text);
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[tokio::test(flavor = "current_thread")]
async fn credentials_never_show_in_debug_output_errors_or_logs() {
    use aiohttp::BasicAuth;
    const SECRET: &str = "s3cret";
    let logs = LogCapture::default();
    let _guard = tracing::subscriber::set_default(logs.clone());

    let other = RawServer::reply(reply("200 OK", &[], b"ok")).await;
    let to = format!(
        "http://user:{SECRET}@127.0.0.1:{}/final",
        other.addr().port()
    );
    let first = RawServer::reply(reply("302 Found", &[("Location", &to)], b"")).await;
    let session = ClientSession::builder()
        .header("Proxy-Authorization", format!("Basic {SECRET}-proxy"))
        .cookies([("sid", format!("{SECRET}-cookie"))])
        .build()
        .expect("session");
    let auth = BasicAuth::new("user", format!("{SECRET}-pass")).expect("auth");
    let builder = session.get(first.url("/")).auth(auth);
    let mut resp = send(builder).await;
    assert_eq!(within("read", resp.read()).await.expect("body"), "ok");

    // Sent for real, and shown nowhere.
    let hop = &resp.history()[0];
    let sent = hop.request_info().headers();
    for name in ["authorization", "proxy-authorization", "cookie"] {
        let value = sent.get(name).unwrap_or_else(|| panic!("{name} sent"));
        assert!(value.is_sensitive(), "{name}");
    }
    // The credentials of the Location went to the other origin.
    assert!(resp.request_info().headers().get("authorization").is_some());
    for shown in [
        format!("{:?}", hop.request_info()),
        format!("{resp:?}"),
        format!("{:?}", resp.request_info()),
        format!("{session:?}"),
    ] {
        assert!(!shown.contains(SECRET), "{shown}");
        // user:s3cret-pass in base64, as the Authorization header carries it.
        assert!(!shown.contains("dXNlcjpzM2NyZXQtcGFzcw"), "{shown}");
    }
    let logged = logs.0.lock().map(|l| l.join("\n")).unwrap_or_default();
    assert!(
        logged.contains("redirect"),
        "the redirect was logged: {logged}"
    );
    assert!(!logged.contains(SECRET), "{logged}");

    // Errors about URLs with credentials.
    let refused = format!("http://user:{SECRET}@127.0.0.1:1/");
    let builder = session.get(refused.as_str());
    assert!(!format!("{builder:?}").contains(SECRET));
    let err = within("refused", builder.send())
        .await
        .expect_err("refused");
    assert!(!err.to_string().contains(SECRET), "{err}");
    let err = within(
        "bad",
        session.get(format!("http://user:{SECRET}@[bad/")).send(),
    )
    .await
    .expect_err("invalid URL");
    assert!(!err.to_string().contains(SECRET), "{err}");
    let ftp = format!("ftp://user:{SECRET}@127.0.0.1/x");
    let bad_hop = RawServer::reply(reply("302 Found", &[("Location", &ftp)], b"")).await;
    let err = within("ftp", session.get(bad_hop.url("/")).send())
        .await
        .expect_err("not http");
    assert!(err.is_redirect_url_error(), "{err}");
    assert!(!err.to_string().contains(SECRET), "{err}");
}

#[tokio::test]
async fn uploads_of_declared_length_keep_their_connection() {
    let server = test_support::HttpServer::echo().await;
    let session = ClientSession::new();
    let dir = std::env::temp_dir().join(format!("aiohttp-upload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("body.bin");
    std::fs::write(&path, vec![b'f'; 100_000]).expect("file");
    for _ in 0..3 {
        let body = aiohttp::Body::file(&path).await.expect("file body");
        let mut resp = send(session.post(server.url("/file")).data(body)).await;
        within("read", resp.read()).await.expect("body");
    }
    // A stream with a Content-Length given by the caller.
    for _ in 0..2 {
        let chunks = futures_util::stream::iter([
            Ok::<_, std::io::Error>(aiohttp::Bytes::from_static(b"abc")),
            Ok(aiohttp::Bytes::from_static(b"def")),
        ]);
        let req = session
            .post(server.url("/stream"))
            .header("Content-Length", "6")
            .data(aiohttp::Body::wrap_stream(chunks));
        let mut resp = send(req).await;
        within("read", resp.read()).await.expect("body");
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(server.connections_accepted(), 1);
}

#[tokio::test]
async fn a_redirect_body_delimited_by_the_close_is_not_waited_for() {
    // No length, no chunking, and the server keeps the connection open: the body's end never
    // comes. The redirect is followed at once on a new connection.
    let server = RawServer::start(|mut conn| async move {
        while let Some(req) = conn.read_request().await {
            if req.path == "/final" {
                let _ = conn.write(reply("200 OK", &[], b"done")).await;
                continue;
            }
            let _ = conn
                .write("HTTP/1.1 302 Found\r\nLocation: /final\r\n\r\nsome body")
                .await;
            conn.sleep(Duration::from_secs(60)).await;
        }
    })
    .await;
    let session = ClientSession::builder()
        .timeout(aiohttp::ClientTimeout::total(Duration::from_secs(10)))
        .build()
        .expect("session");
    let started = std::time::Instant::now();
    let mut resp = send(session.get(server.url("/"))).await;
    assert_eq!(within("read", resp.read()).await.expect("body"), "done");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(server.connections_accepted(), 2);
}
