//! Interop over TLS and HTTP/2 against real third-party servers, started by
//! `scripts/interop.sh`, which sets the variables below and runs these with `--ignored`:
//!
//! - nginx (TLS; h2 and http/1.1 chosen by ALPN) serving `/small.txt` and a large sparse
//!   `/big.bin`: `AIOHTTP_NGINX_URL`, `AIOHTTP_NGINX_ACCESS_LOG` (one line per request:
//!   `$connection $connection_requests $server_protocol "$request" $status $body_bytes_sent`),
//!   `AIOHTTP_NGINX_BIG_BYTES` (the size of `/big.bin`);
//! - httpbin under hypercorn: `AIOHTTP_HYPERCORN_URL` (TLS, h2 by ALPN) and
//!   `AIOHTTP_HYPERCORN_H2C_URL` (cleartext, h2c with prior knowledge);
//! - `AIOHTTP_INTEROP_CA`: the PEM file of the CA both servers' certificate (for localhost,
//!   127.0.0.1 and ::1) chains to; `AIOHTTP_INTEROP_SERVER_CERT`: that certificate.
//!
//! Without the variables the tests fail loudly rather than pass without checking anything.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aiohttp::rustls;
use aiohttp::{Body, ClientSession, CookieJar, TcpConnector, Version};
use futures_util::StreamExt;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use serde_json::Value;
use sha2::Digest;

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} must be set; run scripts/interop.sh"))
}

fn nginx(path: &str) -> String {
    format!("{}{path}", env("AIOHTTP_NGINX_URL").trim_end_matches('/'))
}

fn hypercorn(path: &str) -> String {
    format!(
        "{}{path}",
        env("AIOHTTP_HYPERCORN_URL").trim_end_matches('/')
    )
}

fn h2c(path: &str) -> String {
    format!(
        "{}{path}",
        env("AIOHTTP_HYPERCORN_H2C_URL").trim_end_matches('/')
    )
}

/// `url` with the host `localhost` instead of the loopback IP.
fn on_localhost(url: String) -> String {
    url.replacen("127.0.0.1", "localhost", 1)
}

/// Runs `f`, failing the test if it is not done within `secs` seconds.
async fn within<F: Future>(secs: u64, f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(secs), f)
        .await
        .unwrap_or_else(|_| panic!("not done within {secs}s"))
}

/// A marker unique to this run, put in request URLs to find them in the access log.
fn nonce(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{tag}-{}-{nanos}", std::process::id())
}

/// A rustls configuration trusting only the interop CA; `alpn` empty leaves the choice of
/// protocols to the connector (`h2` and `http/1.1`).
fn client_config(alpn: &[&[u8]]) -> rustls::ClientConfig {
    let path = env("AIOHTTP_INTEROP_CA");
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(&path).expect("CA file") {
        roots.add(cert.expect("CA certificate")).expect("root");
    }
    assert!(!roots.is_empty(), "no certificate in {path}");
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    config
}

fn session_with(connector: TcpConnector) -> ClientSession {
    ClientSession::builder()
        .connector(connector)
        .build()
        .expect("session")
}

/// A session trusting the interop CA, offering h2 and http/1.1.
fn trusting() -> ClientSession {
    session_with(
        TcpConnector::builder()
            .ssl_context(client_config(&[]))
            .build()
            .expect("connector"),
    )
}

/// A session trusting the interop CA that offers only http/1.1.
fn http11_only() -> ClientSession {
    session_with(
        TcpConnector::builder()
            .ssl_context(client_config(&[b"http/1.1"]))
            .build()
            .expect("connector"),
    )
}

/// What the script writes to `/small.txt`.
fn small_txt() -> String {
    (0..500)
        .map(|i| format!("line {i:05} of the small static file\n"))
        .collect()
}

/// nginx access-log lines whose request contains `marker`, split into fields.
fn access_log_lines(marker: &str) -> Vec<Vec<String>> {
    let log = std::fs::read_to_string(env("AIOHTTP_NGINX_ACCESS_LOG")).expect("access log");
    log.lines()
        .filter(|l| l.contains(marker))
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect()
}

/// Waits (bounded) until the access log has `n` lines for `marker`; nginx writes a line when
/// it finishes a request, which may be just after the client has the whole response.
async fn wait_for_access_log(marker: &str, n: usize) -> Vec<Vec<String>> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let lines = access_log_lines(marker);
        if lines.len() >= n || Instant::now() > deadline {
            assert_eq!(lines.len(), n, "access log lines for {marker}: {lines:?}");
            return lines;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn rustls_error(err: &aiohttp::ClientError) -> Option<String> {
    let mut src = std::error::Error::source(err);
    while let Some(s) = src {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            if let Some(r) = io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                return Some(format!("{r:?}"));
            }
        }
        if let Some(r) = s.downcast_ref::<rustls::Error>() {
            return Some(format!("{r:?}"));
        }
        src = s.source();
    }
    None
}

// ---- nginx ----

#[tokio::test]
#[ignore = "needs nginx: scripts/interop.sh"]
async fn nginx_h2_by_alpn_serves_the_static_file() {
    within(60, async {
        let s = trusting();
        let want = small_txt();
        for url in [nginx("/small.txt"), on_localhost(nginx("/small.txt"))] {
            // The default Accept-Encoding offers br: nginx's brotli module answers.
            let mut resp = s.get(url.as_str()).await.expect(&url);
            assert_eq!(resp.status(), 200, "{resp:?}");
            assert_eq!(resp.version(), Version::HTTP_2, "{url}");
            assert_eq!(resp.headers()["content-encoding"], "br", "{resp:?}");
            assert_eq!(resp.content_type(), "text/plain");
            assert!(
                resp.raw_headers()
                    .iter()
                    .all(|(n, _)| !n.iter().any(u8::is_ascii_uppercase)),
                "h2 header names are lowercase: {:?}",
                resp.raw_headers()
            );
            assert_eq!(resp.text().await.expect("body"), want, "{url}");
        }
        for (accept, encoding) in [("gzip", Some("gzip")), ("identity", None)] {
            let mut resp = s
                .get(nginx("/small.txt"))
                .header("Accept-Encoding", accept)
                .await
                .expect(accept);
            assert_eq!(resp.version(), Version::HTTP_2);
            assert_eq!(
                resp.headers()
                    .get("content-encoding")
                    .map(|v| v.to_str().expect("ascii")),
                encoding,
                "{resp:?}"
            );
            if encoding.is_none() {
                assert_eq!(
                    resp.headers()["content-length"],
                    want.len().to_string().as_str()
                );
            }
            assert_eq!(resp.text().await.expect("body"), want, "{accept}");
        }
        let resp = s.get(nginx("/missing.txt")).await.expect("404");
        assert_eq!(
            (resp.status().as_u16(), resp.version()),
            (404, Version::HTTP_2)
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs nginx: scripts/interop.sh"]
async fn nginx_fifty_concurrent_requests_share_one_h2_connection() {
    within(60, async {
        let s = trusting();
        let marker = nonce("c50");
        let want = small_txt();
        let requests = (0..50).map(|i| {
            let s = &s;
            let url = nginx(&format!("/small.txt?{marker}&i={i}"));
            let want = &want;
            async move {
                let mut resp = s.get(url).await.expect("request");
                assert_eq!(resp.status(), 200);
                assert_eq!(resp.version(), Version::HTTP_2);
                assert_eq!(&resp.text().await.expect("body"), want);
            }
        });
        futures_util::future::join_all(requests).await;
        let stats = s.connector().pool().stats();
        assert_eq!(stats.open, 1, "{stats:?}");
        // nginx's own count: every request on one connection, over HTTP/2.
        let lines = wait_for_access_log(&marker, 50).await;
        let conns: std::collections::BTreeSet<&str> = lines.iter().map(|l| l[0].as_str()).collect();
        assert_eq!(conns.len(), 1, "nginx saw connections {conns:?}");
        assert!(lines.iter().all(|l| l[2] == "HTTP/2.0"), "{lines:?}");
    })
    .await;
}

#[tokio::test]
#[ignore = "needs nginx: scripts/interop.sh"]
async fn nginx_http11_only_alpn_gets_http11_with_keep_alive() {
    within(60, async {
        let s = http11_only();
        let marker = nonce("h1");
        for i in 0..5 {
            let mut resp = s
                .get(nginx(&format!("/small.txt?{marker}&i={i}")))
                .await
                .expect("request");
            assert_eq!(resp.status(), 200);
            assert_eq!(resp.version(), Version::HTTP_11);
            assert_eq!(resp.text().await.expect("body"), small_txt());
        }
        let stats = s.connector().pool().stats();
        assert_eq!(stats.open, 1, "{stats:?}");
        let lines = wait_for_access_log(&marker, 5).await;
        assert!(lines.iter().all(|l| l[2] == "HTTP/1.1"), "{lines:?}");
        assert!(lines.iter().all(|l| l[0] == lines[0][0]), "{lines:?}");
    })
    .await;
}

/// Streams nginx's large file in 256 KiB chunks and counts every byte; the rate is printed
/// (run with `--nocapture` to see it), not asserted.
async fn stream_big_file(s: &ClientSession, version: Version) {
    let want: u64 = env("AIOHTTP_NGINX_BIG_BYTES")
        .parse()
        .expect("AIOHTTP_NGINX_BIG_BYTES is a number");
    let started = Instant::now();
    let mut resp = s.get(nginx("/big.bin")).await.expect("big file");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.version(), version);
    assert_eq!(
        resp.headers()["content-length"],
        want.to_string().as_str(),
        "{resp:?}"
    );
    let mut total: u64 = 0;
    let mut chunks = resp.content().iter_chunked(256 * 1024);
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.expect("chunk");
        assert!(chunk.len() <= 256 * 1024);
        assert!(
            chunk.iter().all(|&b| b == 0),
            "a sparse file reads as zeros"
        );
        total += chunk.len() as u64;
    }
    drop(chunks);
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(total, want);
    println!(
        "nginx /big.bin over {version:?}: {total} bytes in {secs:.2}s = {:.0} MB/s",
        total as f64 / secs / 1e6
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs nginx: scripts/interop.sh"]
async fn nginx_large_file_streamed_over_h2_and_http11() {
    within(600, async {
        stream_big_file(&trusting(), Version::HTTP_2).await;
        stream_big_file(&http11_only(), Version::HTTP_11).await;
    })
    .await;
}

#[tokio::test]
#[ignore = "needs nginx: scripts/interop.sh"]
async fn nginx_certificate_rejected_by_the_default_roots() {
    within(60, async {
        let marker = nonce("untrusted");
        let url = nginx(&format!("/small.txt?{marker}"));
        let err = ClientSession::new()
            .get(url.as_str())
            .await
            .expect_err("the interop CA is not among the default roots");
        assert!(err.is_certificate(), "{err:?}");
        assert!(err.is_client_connector_error(), "{err:?}");
        assert!(
            rustls_error(&err).is_some_and(|r| r.contains("UnknownIssuer")),
            "{err:?}"
        );
        // Same URL with the CA: served, and only that request reached nginx.
        let resp = trusting().get(url.as_str()).await.expect("trusted");
        assert_eq!(resp.status(), 200);
        wait_for_access_log(&marker, 1).await;
    })
    .await;
}

#[tokio::test]
#[ignore = "needs nginx: scripts/interop.sh"]
async fn nginx_certificate_fingerprint_pinning() {
    within(60, async {
        let leaf = CertificateDer::pem_file_iter(env("AIOHTTP_INTEROP_SERVER_CERT"))
            .expect("server certificate file")
            .next()
            .expect("a certificate")
            .expect("PEM");
        let digest = sha2::Sha256::digest(leaf.as_ref()).to_vec();
        let marker = nonce("pin");
        let url = nginx(&format!("/small.txt?{marker}"));
        let pinned = session_with(
            TcpConnector::builder()
                .fingerprint(digest.clone())
                .build()
                .expect("connector"),
        );
        let mut resp = pinned.get(url.as_str()).await.expect("pin matches");
        assert_eq!(resp.version(), Version::HTTP_2);
        assert_eq!(resp.text().await.expect("body"), small_txt());

        let mut wrong = digest.clone();
        wrong[31] ^= 0x55;
        let err = session_with(
            TcpConnector::builder()
                .fingerprint(wrong.clone())
                .build()
                .expect("connector"),
        )
        .get(url.as_str())
        .await
        .expect_err("pin mismatch");
        assert!(err.is_server_fingerprint_mismatch(), "{err:?}");
        let (expected, got) = err.fingerprint().expect("digests");
        assert_eq!((expected, got), (wrong.as_slice(), digest.as_slice()));
        // Only the pinned request reached nginx.
        tokio::time::sleep(Duration::from_millis(200)).await;
        wait_for_access_log(&marker, 1).await;
    })
    .await;
}

// ---- httpbin under hypercorn ----

async fn json_h2(b: aiohttp::RequestBuilder) -> Value {
    let mut resp = b.await.expect("request");
    assert_eq!(resp.status(), 200, "{resp:?}");
    assert_eq!(resp.version(), Version::HTTP_2, "{resp:?}");
    resp.json().await.expect("json body")
}

#[tokio::test]
#[ignore = "needs hypercorn: scripts/interop.sh"]
async fn hypercorn_get_and_post_json_over_h2() {
    within(60, async {
        let s = trusting();
        let v = json_h2(
            s.get(hypercorn("/get"))
                .params([("a", "1"), ("a", "2")])
                .header("X-Test", "yes"),
        )
        .await;
        assert_eq!(v["args"]["a"], serde_json::json!(["1", "2"]));
        assert_eq!(v["headers"]["X-Test"], "yes");

        let body = serde_json::json!({"k": [1, 2], "s": "é"});
        let v = json_h2(s.post(hypercorn("/post")).json(&body)).await;
        assert_eq!(v["json"], body);
        assert_eq!(v["headers"]["Content-Type"], "application/json");

        let v = json_h2(s.post(hypercorn("/post")).data([("a", "1"), ("b", "x y")])).await;
        assert_eq!(v["form"], serde_json::json!({"a": "1", "b": "x y"}));

        // A streamed request body. httpbin under hypercorn reads no body without a
        // Content-Length (curl's streamed h2 upload gets `"data": ""` too), so one is given.
        let want: String = (0..10).map(|i| format!("chunk{i};")).collect();
        let chunks = futures_util::stream::iter(
            (0..10).map(|i| Ok::<_, std::io::Error>(format!("chunk{i};"))),
        );
        let v = json_h2(
            s.put(hypercorn("/put"))
                .data(Body::wrap_stream(chunks))
                .header("Content-Type", "text/plain")
                .header("Content-Length", want.len().to_string()),
        )
        .await;
        assert_eq!(v["data"], want);
        assert_eq!(s.connector().pool().stats().open, 1);

        // The same server over HTTP/1.1 when only that is offered.
        let mut resp = http11_only().get(hypercorn("/get")).await.expect("h1");
        assert_eq!(resp.version(), Version::HTTP_11);
        let v: Value = resp.json().await.expect("json");
        assert!(
            v["url"].as_str().is_some_and(|u| u.ends_with("/get")),
            "{v}"
        );
    })
    .await;
}

#[tokio::test]
#[ignore = "needs hypercorn: scripts/interop.sh"]
async fn hypercorn_compressed_responses_decoded_over_h2() {
    within(60, async {
        let s = trusting();
        for (path, flag) in [
            ("/gzip", "gzipped"),
            ("/deflate", "deflated"),
            ("/brotli", "brotli"),
        ] {
            let mut resp = s.get(hypercorn(path)).await.expect(path);
            assert_eq!(resp.status(), 200, "{path}");
            assert_eq!(resp.version(), Version::HTTP_2, "{path}");
            assert!(resp.headers().contains_key("content-encoding"), "{path}");
            let v: Value = resp.json().await.expect(path);
            assert_eq!(v[flag], true, "{path}");
        }
    })
    .await;
}

#[tokio::test]
#[ignore = "needs hypercorn: scripts/interop.sh"]
async fn hypercorn_redirects_over_h2() {
    within(60, async {
        let s = trusting();
        let mut resp = s.get(hypercorn("/redirect/3")).await.expect("redirects");
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.version(), Version::HTTP_2);
        assert_eq!(resp.url().path(), "/get");
        assert_eq!(resp.history().len(), 3);
        assert!(
            resp.history()
                .iter()
                .all(|r| r.status() == 302 && r.version() == Version::HTTP_2),
            "{:?}",
            resp.history()
        );
        let v: Value = resp.json().await.expect("json");
        assert!(
            v["url"].as_str().is_some_and(|u| u.ends_with("/get")),
            "{v}"
        );
        assert_eq!(s.connector().pool().stats().open, 1);
    })
    .await;
}

#[tokio::test]
#[ignore = "needs hypercorn: scripts/interop.sh"]
async fn hypercorn_cookies_over_h2() {
    within(60, async {
        // A domain name: the default jar takes its cookies.
        let s = trusting();
        let mut resp = s
            .get(on_localhost(hypercorn("/cookies/set")))
            .params([("a", "1"), ("b", "2")])
            .await
            .expect("set");
        assert_eq!(resp.version(), Version::HTTP_2);
        assert_eq!(resp.history().len(), 1);
        assert_eq!(resp.history()[0].cookies().len(), 2);
        let v: Value = resp.json().await.expect("json");
        assert_eq!(v["cookies"], serde_json::json!({"a": "1", "b": "2"}));
        assert_eq!(s.cookie_jar().len(), 2);
        let v = json_h2(s.get(on_localhost(hypercorn("/cookies")))).await;
        assert_eq!(v["cookies"], serde_json::json!({"a": "1", "b": "2"}));

        // The IP host, with a jar that accepts cookies from IP addresses.
        let s = ClientSession::builder()
            .connector(
                TcpConnector::builder()
                    .ssl_context(client_config(&[]))
                    .build()
                    .expect("connector"),
            )
            .cookie_jar(CookieJar::new().unsafe_(true))
            .build()
            .expect("session");
        let v = json_h2(s.get(hypercorn("/cookies/set?ip=1"))).await;
        assert_eq!(v["cookies"], serde_json::json!({"ip": "1"}));
        assert_eq!(s.cookie_jar().len(), 1);
    })
    .await;
}

#[tokio::test]
#[ignore = "needs hypercorn: scripts/interop.sh"]
async fn hypercorn_streamed_lines_over_h2() {
    within(60, async {
        let s = trusting();
        let mut resp = s.get(hypercorn("/stream/20")).await.expect("stream");
        assert_eq!(resp.version(), Version::HTTP_2);
        let mut lines = 0;
        loop {
            let line = resp.content().readline().await.expect("line");
            if line.is_empty() {
                break;
            }
            let v: Value = serde_json::from_slice(&line).expect("each line is JSON");
            assert_eq!(v["id"], lines);
            lines += 1;
        }
        assert_eq!(lines, 20);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs hypercorn: scripts/interop.sh"]
async fn hypercorn_h2c_prior_knowledge() {
    within(60, async {
        let s = ClientSession::builder()
            .version(Version::HTTP_2)
            .build()
            .expect("session");
        let v = json_h2(s.get(h2c("/get")).params([("x", "1")])).await;
        assert_eq!(v["args"]["x"], "1");
        assert!(
            v["url"].as_str().is_some_and(|u| u.starts_with("http://")),
            "{v}"
        );
        let v = json_h2(
            s.post(h2c("/post"))
                .json(&serde_json::json!({"over": "h2c"})),
        )
        .await;
        assert_eq!(v["json"]["over"], "h2c");
        let requests = (0..20).map(|i| {
            let s = &s;
            async move {
                let v = json_h2(s.get(h2c("/get")).params([("i", i)])).await;
                assert_eq!(v["args"]["i"], i.to_string());
            }
        });
        futures_util::future::join_all(requests).await;
        let stats = s.connector().pool().stats();
        assert_eq!(stats.open, 1, "{stats:?}");
        // Without prior knowledge the same port answers HTTP/1.1.
        let resp = ClientSession::new().get(h2c("/get")).await.expect("h1");
        assert_eq!(resp.version(), Version::HTTP_11);
    })
    .await;
}
