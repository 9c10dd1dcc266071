//! The fault matrix: every way a server, the network or a certificate can break an exchange, each
//! asserted with its exact error kind, what the server received, and a pool that recovers: no
//! connection left in use or waiting, every open connection idle, and a following request on the
//! same session (the same connector) to a healthy endpoint succeeds.
//!
//! | case | expected |
//! |---|---|
//! | RST mid-body, Content-Length | `ClientPayloadError` |
//! | RST mid-body, chunked | `ClientPayloadError` |
//! | FIN in the middle of the header lines (reused connection: not retried) | `ServerDisconnectedError` |
//! | stale keep-alive: GET on a connection the server closed | retried once on a new connection, succeeds |
//! | stale keep-alive: POST on a connection the server closed | `ServerDisconnectedError`, not retried |
//! | truncated chunk (cut in its data, in its size line; no last chunk), then FIN | `ClientPayloadError` |
//! | chunk size of 2^64; over-long size line (64 KiB of digits, 1 MiB extension) | `ClientPayloadError` |
//! | corrupt or truncated gzip / deflate / br / zstd body | `ClientPayloadError` (one test each) |
//! | Content-Length larger than the body, then close | `ClientPayloadError` |
//! | Content-Length smaller than the body, keep-alive | exactly CL bytes; the connection is not reused, the extra bytes are never a response |
//! | two different Content-Lengths | `ClientResponseError` |
//! | Transfer-Encoding: chunked and Content-Length on a final response | `ClientResponseError`, connection closed |
//! | slowloris head, a byte every 50 ms | passes `sock_read` while bytes come; `ServerTimeoutError` at `total`; `SocketTimeoutError` when it stalls |
//! | server never reads a large POST body, never answers | `SocketTimeoutError` (`sock_read`); `ServerTimeoutError` (`total` only) |
//! | 1 MiB header line | `ClientResponseError` |
//! | 10 000 headers | `ClientResponseError` |
//! | custom resolver failing (with an error of another kind); custom resolver finding no address | `ClientConnectorDNSError` |
//! | connect to a black hole | `ConnectionTimeoutError` (`sock_connect`); `ServerTimeoutError` (`total` only) |
//! | TLS server silent after the ClientHello | `ConnectionTimeoutError` (`sock_connect`); `ServerTimeoutError` (`total` only) |
//! | bad signature / expired / wrong host / self-signed certificate | `ClientConnectorCertificateError` (one test each) |

use std::future::Future;
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aiohttp::rustls;
use aiohttp::{
    BoxFuture, ClientError, ClientResponse, ClientSession, ClientTimeout, ErrorKind, Family,
    PoolStats, Resolver, TcpConnector,
};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use test_support::{full, HttpServer, RawConn, RawRequest, RawServer};
use tokio::io::AsyncReadExt as _;
use tokio::sync::Notify;
use tokio::time::Instant;

/// The bound on every single wait in these tests.
const LIMIT: Duration = Duration::from_secs(20);

/// How long a server waits for a client to close: longer than any wait of a test, so that a
/// read that ends within one ended because the client closed.
const HOLD: Duration = Duration::from_secs(60);

/// What every healthy endpoint answers.
const HEALTHY: &str = "healthy";

const MS: fn(u64) -> Duration = Duration::from_millis;

async fn within<F: Future>(what: &str, fut: F) -> F::Output {
    match tokio::time::timeout(LIMIT, fut).await {
        Ok(out) => out,
        Err(_) => panic!("{what}: nothing within {LIMIT:?}"),
    }
}

/// A `200 OK` with a Content-Length body.
fn ok(body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
    out.extend_from_slice(body);
    out
}

/// One chunk of the chunked transfer-coding.
fn chunk(data: &[u8]) -> Vec<u8> {
    let mut out = format!("{:x}\r\n", data.len()).into_bytes();
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
    out
}

const CHUNKED_HEAD: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";

/// `n` bytes of a recognisable pattern.
fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| b'a' + (i % 26) as u8).collect()
}

/// A keep-alive server: a request whose path starts with `/fault` is handed to `fault` (read
/// already, the connection is the fault's to end), every other request is answered with
/// `200 healthy`.
async fn fault_server<F, Fut>(fault: F) -> RawServer
where
    F: Fn(RawConn, RawRequest) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let fault = Arc::new(fault);
    RawServer::start(move |mut conn| {
        let fault = Arc::clone(&fault);
        async move {
            while let Some(req) = conn.read_request().await {
                if req.path.starts_with("/fault") {
                    fault(conn, req).await;
                    return;
                }
                if conn.write(ok(HEALTHY.as_bytes())).await.is_err() {
                    return;
                }
            }
        }
    })
    .await
}

/// Writes `bytes`, closes the write side (FIN) and reads until the client closes, so that
/// nothing is lost to a reset.
async fn write_and_close(mut conn: RawConn, bytes: impl AsRef<[u8]>) {
    conn.set_io_timeout(HOLD);
    if conn.write(bytes).await.is_ok() && conn.shutdown().await.is_ok() {
        conn.read_until_close().await;
    }
}

/// The pool holds no connection in use and nobody waiting, and every open connection is idle:
/// nothing leaked.
fn assert_pool_clean(s: &ClientSession, what: &str) -> PoolStats {
    let st = s.connector().pool().stats();
    assert!(
        st.in_use == 0 && st.waiting == 0 && st.open == st.idle,
        "{what}: the pool is not clean: {st:?}"
    );
    st
}

/// After a fault: the pool is clean, a request on the same session to `url` (a healthy endpoint)
/// succeeds, and then exactly its connection is open, idle.
async fn assert_recovers(s: &ClientSession, url: String) {
    assert_pool_clean(s, "after the fault");
    let mut resp = within("request after the fault", s.get(url.as_str()).send())
        .await
        .unwrap_or_else(|e| panic!("the request after the fault failed: {e:?}"));
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(
        within("healthy body", resp.text())
            .await
            .expect("healthy body"),
        HEALTHY
    );
    let st = assert_pool_clean(s, "after the healthy request");
    assert_eq!(
        (st.open, st.idle),
        (1, 1),
        "only the healthy connection is left: {st:?}"
    );
}

/// Reads `resp` piece by piece until it fails; returns what arrived before the failure.
async fn read_until_error(resp: &mut ClientResponse) -> (Vec<u8>, ClientError) {
    let mut got = Vec::new();
    loop {
        match within("body", resp.content().readany()).await {
            Ok(piece) if piece.is_empty() => {
                panic!("the body ended quietly after {} bytes", got.len())
            }
            Ok(piece) => got.extend_from_slice(&piece),
            Err(e) => return (got, e),
        }
    }
}

fn paths(server: &RawServer) -> Vec<(String, String, usize)> {
    server
        .requests()
        .iter()
        .map(|r| (r.method.clone(), r.path.clone(), r.connection))
        .collect()
}

// ---- Resets and closes in the middle of a response ----

#[tokio::test]
async fn rst_mid_body_with_content_length_is_a_payload_error() {
    let go = Arc::new(Notify::new());
    let reset = Arc::clone(&go);
    let server = fault_server(move |mut conn, _req| {
        let reset = Arc::clone(&reset);
        async move {
            let mut out = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n".to_vec();
            out.extend(pattern(30_000));
            if conn.write(out).await.is_err() {
                return;
            }
            // The reset waits until the client has the head and some of the body: a reset
            // discards what the peer has not read yet.
            let _ = tokio::time::timeout(LIMIT, reset.notified()).await;
            conn.reset();
        }
    })
    .await;
    let s = ClientSession::new();
    let mut resp = within("head", s.get(server.url("/fault")).send())
        .await
        .expect("the head arrives");
    let first = within("first bytes", resp.content().readany())
        .await
        .expect("first bytes");
    assert!(!first.is_empty());
    go.notify_one();
    let (rest, err) = read_until_error(&mut resp).await;
    assert_eq!(err.kind(), ErrorKind::ClientPayloadError, "{err:?}");
    let got = [&first[..], &rest[..]].concat();
    assert!(
        got.len() <= 30_000 && pattern(30_000).starts_with(&got),
        "{} bytes, not a prefix of what was sent",
        got.len()
    );
    let again = within("read again", resp.read())
        .await
        .expect_err("still failed");
    assert_eq!(again.kind(), ErrorKind::ClientPayloadError);
    assert_eq!(
        paths(&server),
        [("GET".to_string(), "/fault".to_string(), 0)]
    );

    assert_recovers(&s, server.url("/ok")).await;
    assert_eq!(
        server.connections_accepted(),
        2,
        "the reset connection was not reused"
    );
}

#[tokio::test]
async fn rst_mid_body_with_chunked_framing_is_a_payload_error() {
    let go = Arc::new(Notify::new());
    let reset = Arc::clone(&go);
    let server = fault_server(move |mut conn, _req| {
        let reset = Arc::clone(&reset);
        async move {
            let out = [CHUNKED_HEAD, &chunk(b"complete")[..], b"100\r\npartial"].concat();
            if conn.write(out).await.is_err() {
                return;
            }
            let _ = tokio::time::timeout(LIMIT, reset.notified()).await;
            conn.reset();
        }
    })
    .await;
    let s = ClientSession::new();
    let mut resp = within("head", s.get(server.url("/fault")).send())
        .await
        .expect("the head arrives");
    let first = within("first chunk", resp.content().readany())
        .await
        .expect("first chunk");
    assert!(!first.is_empty());
    go.notify_one();
    let (rest, err) = read_until_error(&mut resp).await;
    assert_eq!(err.kind(), ErrorKind::ClientPayloadError, "{err:?}");
    let got = [&first[..], &rest[..]].concat();
    assert!(
        b"completepartial".starts_with(&got) && got.starts_with(b"complete"),
        "{:?}",
        String::from_utf8_lossy(&got)
    );
    assert_eq!(
        paths(&server),
        [("GET".to_string(), "/fault".to_string(), 0)]
    );

    assert_recovers(&s, server.url("/ok")).await;
    assert_eq!(server.connections_accepted(), 2);
}

#[tokio::test]
async fn fin_in_the_middle_of_the_header_lines_is_server_disconnected() {
    let server = fault_server(|conn, req| async move {
        let cut: &[u8] = if req.path == "/fault-mid-line" {
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Cut: ab"
        } else {
            // After a complete header line, before the blank line.
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n"
        };
        write_and_close(conn, cut).await;
    })
    .await;
    let s = ClientSession::new();
    for (n, fault) in ["/fault-mid-line", "/fault-after-line"].iter().enumerate() {
        // A healthy exchange first, so that the fault hits a reused connection: bytes of the
        // response arrived, so it is no stale connection and the request is not sent again.
        let mut resp = within("warm-up", s.get(server.url("/warm")).send())
            .await
            .expect("warm-up");
        assert_eq!(
            within("warm-up body", resp.text()).await.expect("body"),
            HEALTHY
        );
        let err = within("fault", s.get(server.url(fault)).send())
            .await
            .expect_err("the head never completes");
        assert_eq!(
            err.kind(),
            ErrorKind::ServerDisconnectedError,
            "{fault}: {err:?}"
        );
        assert_eq!(err.url().map(|u| u.path()), Some(*fault));
        let sent: Vec<_> = server
            .requests()
            .into_iter()
            .filter(|r| r.path == *fault)
            .map(|r| r.connection)
            .collect();
        assert_eq!(sent, [n], "{fault} was sent once, on the reused connection");
        assert_recovers(&s, server.url("/ok")).await;
    }
    // One connection per fault, closed with it, and the last healthy one.
    assert_eq!(server.connections_accepted(), 3);
}

#[tokio::test]
async fn stale_keep_alive_retries_a_get_once_and_fails_a_post_with_server_disconnected() {
    // Each connection answers its first request and keeps the connection alive; a second
    // request on it is read whole and the connection closed (FIN) without an answer: what a
    // client sees when the server closed an idle connection just as it was reused.
    let server = RawServer::start(|mut conn| async move {
        if conn.read_request().await.is_none() {
            return;
        }
        if conn.write(ok(HEALTHY.as_bytes())).await.is_err() {
            return;
        }
        if conn.read_request().await.is_some() {
            let _ = conn.shutdown().await;
            conn.read_until_close().await;
        }
    })
    .await;
    let s = ClientSession::new();
    let mut resp = within("first", s.get(server.url("/first")).send())
        .await
        .expect("first");
    assert_eq!(within("body", resp.text()).await.expect("body"), HEALTHY);
    assert_eq!(assert_pool_clean(&s, "idle").idle, 1);

    let mut resp = within("GET", s.get(server.url("/again")).send())
        .await
        .expect("the GET is retried on a new connection");
    assert_eq!(within("body", resp.text()).await.expect("body"), HEALTHY);
    let get = |p: &str, c: usize| ("GET".to_string(), p.to_string(), c);
    assert_eq!(
        paths(&server),
        [get("/first", 0), get("/again", 0), get("/again", 1)],
        "sent twice: on the stale connection, then once more on a new one"
    );
    assert_eq!(server.connections_accepted(), 2);

    let err = within("POST", s.post(server.url("/post")).data("payload").send())
        .await
        .expect_err("a POST is not sent again");
    assert_eq!(err.kind(), ErrorKind::ServerDisconnectedError, "{err:?}");
    let posts: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .map(|r| (r.body_str(), r.connection))
        .collect();
    assert_eq!(posts, [("payload".to_string(), 1)], "the POST arrived once");
    assert_eq!(server.connections_accepted(), 2);

    assert_recovers(&s, server.url("/after")).await;
    assert_eq!(server.connections_accepted(), 3);
}

// ---- Broken framing ----

#[tokio::test]
async fn truncated_chunk_is_a_payload_error() {
    let server = fault_server(|conn, req| async move {
        let out = match req.path.as_str() {
            // Cut inside a chunk's data.
            "/fault-in-chunk" => [CHUNKED_HEAD, &chunk(b"complete")[..], b"10\r\nshort"].concat(),
            // Cut inside a chunk-size line.
            "/fault-in-size" => [CHUNKED_HEAD, &chunk(b"complete")[..], b"1"].concat(),
            // Whole chunks, but no last chunk before the close.
            _ => [CHUNKED_HEAD, &chunk(b"complete")[..]].concat(),
        };
        write_and_close(conn, out).await;
    })
    .await;
    let s = ClientSession::new();
    for fault in ["/fault-in-chunk", "/fault-in-size", "/fault-no-last-chunk"] {
        let mut resp = within("head", s.get(server.url(fault)).send())
            .await
            .expect("the head arrives");
        let (got, err) = read_until_error(&mut resp).await;
        assert_eq!(
            err.kind(),
            ErrorKind::ClientPayloadError,
            "{fault}: {err:?}"
        );
        assert!(got.starts_with(b"complete"), "{fault}: {got:?}");
        assert_recovers(&s, server.url("/ok")).await;
    }
    assert_eq!(server.connections_accepted(), 4);
}

#[tokio::test]
async fn chunk_size_overflow_and_over_long_size_lines_are_payload_errors() {
    let server = fault_server(|conn, req| async move {
        let size_line: Vec<u8> = match req.path.as_str() {
            // 2^64: one more than u64 holds.
            "/fault-u64" => b"10000000000000000\r\n".to_vec(),
            // A size line of 64 KiB of hex digits.
            "/fault-digits" => [&vec![b'f'; 64 * 1024][..], b"\r\n"].concat(),
            // A valid size with a 1 MiB chunk extension.
            _ => [
                &b"5;ext="[..],
                &vec![b'x'; 1 << 20][..],
                b"\r\nhello\r\n0\r\n\r\n",
            ]
            .concat(),
        };
        let out = [CHUNKED_HEAD, &chunk(b"first")[..], &size_line[..], b"data"].concat();
        write_and_close(conn, out).await;
    })
    .await;
    let s = ClientSession::new();
    for fault in ["/fault-u64", "/fault-digits", "/fault-extension"] {
        let mut resp = within("head", s.get(server.url(fault)).send())
            .await
            .expect("the head arrives");
        let (got, err) = read_until_error(&mut resp).await;
        assert_eq!(
            err.kind(),
            ErrorKind::ClientPayloadError,
            "{fault}: {err:?}"
        );
        assert_eq!(got, b"first", "{fault}");
        assert_recovers(&s, server.url("/ok")).await;
    }
    assert_eq!(server.connections_accepted(), 4);
}

// ---- Corrupt content codings ----

fn sample() -> Vec<u8> {
    (0..2000)
        .flat_map(|i| format!("line {i}: {} the quick brown fox\n", i * 7919 % 10007).into_bytes())
        .collect()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).expect("gzip");
    e.finish().expect("gzip")
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).expect("zlib");
    e.finish().expect("zlib")
}

async fn brotli(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    async_compression::tokio::bufread::BrotliEncoder::new(data)
        .read_to_end(&mut out)
        .await
        .expect("brotli");
    out
}

async fn zstd(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    async_compression::tokio::bufread::ZstdEncoder::new(data)
        .read_to_end(&mut out)
        .await
        .expect("zstd");
    out
}

/// Serves `compressed` as `coding` three ways, each with correct HTTP framing: intact,
/// corrupted in the middle (`corrupt` applied), and cut to its first half. The intact body
/// decodes; the other two are `ClientPayloadError`s, and the session recovers after each.
async fn assert_bad_coding(coding: &'static str, compressed: Vec<u8>, corrupt: fn(&mut [u8])) {
    let mut corrupted = compressed.clone();
    corrupt(&mut corrupted);
    assert_ne!(corrupted, compressed);
    let truncated = compressed[..compressed.len() / 2].to_vec();
    let bodies = Arc::new([compressed, corrupted, truncated]);
    let served = Arc::clone(&bodies);
    let server = RawServer::start(move |mut conn| {
        let served = Arc::clone(&served);
        async move {
            // Keep-alive throughout: the framing is fine, only the coding is broken.
            while let Some(req) = conn.read_request().await {
                let body = match req.path.as_str() {
                    "/fault-intact" => &served[0],
                    "/fault-corrupt" => &served[1],
                    "/fault-truncated" => &served[2],
                    _ => {
                        if conn.write(ok(HEALTHY.as_bytes())).await.is_err() {
                            return;
                        }
                        continue;
                    }
                };
                let mut out = format!(
                    "HTTP/1.1 200 OK\r\nContent-Encoding: {coding}\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                )
                .into_bytes();
                out.extend_from_slice(body);
                if conn.write(out).await.is_err() {
                    return;
                }
            }
        }
    })
    .await;
    let s = ClientSession::new();
    let mut resp = within("intact", s.get(server.url("/fault-intact")).send())
        .await
        .expect("intact");
    assert_eq!(
        within("intact body", resp.read()).await.expect("decodes"),
        sample(),
        "{coding}: the intact body decodes"
    );
    for fault in ["/fault-corrupt", "/fault-truncated"] {
        let mut resp = within("head", s.get(server.url(fault)).send())
            .await
            .expect("the head arrives");
        let err = within("body", resp.read())
            .await
            .expect_err("a broken coding is no body");
        assert_eq!(
            err.kind(),
            ErrorKind::ClientPayloadError,
            "{coding} {fault}: {err:?}"
        );
        assert_recovers(&s, server.url("/ok")).await;
    }
    for req in server.requests() {
        let accepted = req.header("accept-encoding").unwrap_or_default();
        assert!(
            accepted.contains(coding),
            "{coding} not offered: {accepted}"
        );
    }
}

/// Overwrites 16 bytes in the middle.
fn smash_middle(data: &mut [u8]) {
    let mid = data.len() / 2;
    for b in &mut data[mid..mid + 16] {
        *b ^= 0xa5;
    }
}

#[tokio::test]
async fn bad_gzip_body_is_a_payload_error() {
    assert_bad_coding("gzip", gzip(&sample()), smash_middle).await;
}

#[tokio::test]
async fn bad_deflate_body_is_a_payload_error() {
    assert_bad_coding("deflate", zlib(&sample()), smash_middle).await;
}

#[tokio::test]
async fn bad_br_body_is_a_payload_error() {
    assert_bad_coding("br", brotli(&sample()).await, smash_middle).await;
}

#[tokio::test]
async fn bad_zstd_body_is_a_payload_error() {
    // zstd frames carry no checksum by default: the corruption goes into the first block's
    // header (right after the 4-byte magic and the frame header), which makes it a reserved
    // block type.
    fn bad_block_header(data: &mut [u8]) {
        let descriptor = data[4];
        let single_segment = descriptor & 0x20 != 0;
        let fcs_bytes = match descriptor >> 6 {
            0 => usize::from(single_segment),
            1 => 2,
            2 => 4,
            _ => 8,
        };
        let window = usize::from(!single_segment);
        let dict = match descriptor & 3 {
            0 => 0,
            1 => 1,
            2 => 2,
            _ => 4,
        };
        let block = 4 + 1 + window + dict + fcs_bytes;
        // Block type is bits 1-2 of the first header byte; 3 is reserved.
        data[block] |= 0b110;
    }
    assert_bad_coding("zstd", zstd(&sample()).await, bad_block_header).await;
}

// ---- Content-Length against the body ----

#[tokio::test]
async fn content_length_larger_than_the_body_then_close_is_a_payload_error() {
    let server = fault_server(|conn, _req| async move {
        write_and_close(
            conn,
            "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this much",
        )
        .await;
    })
    .await;
    let s = ClientSession::new();
    let mut resp = within("head", s.get(server.url("/fault")).send())
        .await
        .expect("the head arrives");
    assert_eq!(resp.headers()["content-length"], "100");
    let (got, err) = read_until_error(&mut resp).await;
    assert_eq!(err.kind(), ErrorKind::ClientPayloadError, "{err:?}");
    assert_eq!(got, b"only this much");
    assert_recovers(&s, server.url("/ok")).await;
    assert_eq!(server.connections_accepted(), 2);
}

/// A second response hidden after the declared body.
const SMUGGLED: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled";

// Two worker threads: the client's tasks and the connection's may run at the same time, which is
// where reading the body's end could overtake the connection noticing the extra bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_length_smaller_than_the_body_reads_exactly_cl_and_never_reuses_the_extra_bytes() {
    // `/fault-together`: the declared body and the extra bytes (a whole response) in one write.
    // `/fault-later`: the extra bytes come once the client holds the connection idle.
    // Either way the server then keeps serving that connection as if nothing happened.
    // What happens: the body ends after exactly CL bytes, and the connection, holding bytes no
    // request asked for, is closed instead of carrying the next request, so the extra bytes are
    // never read as its response.
    let idle = Arc::new(Notify::new());
    let wait_idle = Arc::clone(&idle);
    let server = RawServer::start(move |mut conn| {
        let wait_idle = Arc::clone(&wait_idle);
        async move {
            // Only the client's close ends a connection within the test.
            conn.set_io_timeout(HOLD);
            while let Some(req) = conn.read_request().await {
                let written = match req.path.as_str() {
                    "/fault-together" => {
                        conn.write(
                            [
                                &b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"[..],
                                SMUGGLED,
                            ]
                            .concat(),
                        )
                        .await
                    }
                    "/fault-later" => {
                        if conn
                            .write("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
                            .await
                            .is_err()
                        {
                            return;
                        }
                        let _ = tokio::time::timeout(LIMIT, wait_idle.notified()).await;
                        conn.write(SMUGGLED).await
                    }
                    _ => conn.write(ok(HEALTHY.as_bytes())).await,
                };
                if written.is_err() {
                    return;
                }
            }
        }
    })
    .await;
    let s = ClientSession::new();

    let mut resp = within("head", s.get(server.url("/fault-together")).send())
        .await
        .expect("head");
    assert_eq!(within("body", resp.read()).await.expect("body"), "hello");
    assert_recovers(&s, server.url("/ok")).await;
    assert_eq!(server.connections_accepted(), 2, "not reused");
    assert!(
        server.wait_for_open_connections(1, LIMIT).await,
        "the client closed the connection with the extra bytes"
    );

    let mut resp = within("head", s.get(server.url("/fault-later")).send())
        .await
        .expect("head");
    assert_eq!(within("body", resp.read()).await.expect("body"), "hello");
    // The connection went back to the pool, idle; now the extra bytes arrive on it.
    assert_eq!(assert_pool_clean(&s, "idle").idle, 1);
    idle.notify_one();
    assert!(
        server.wait_for_open_connections(0, LIMIT).await,
        "the client closed the idle connection that received bytes"
    );
    assert_recovers(&s, server.url("/ok")).await;
    assert_eq!(server.connections_accepted(), 3, "not reused");

    // No request after a fault went out on the connection that had the extra bytes.
    let conns: Vec<_> = paths(&server).into_iter().map(|(_, p, c)| (p, c)).collect();
    assert_eq!(
        conns,
        [
            ("/fault-together".to_string(), 0),
            ("/ok".to_string(), 1),
            ("/fault-later".to_string(), 1),
            ("/ok".to_string(), 2),
        ]
    );
}

#[tokio::test]
async fn two_different_content_lengths_are_a_response_error() {
    let server = fault_server(|conn, req| async move {
        let head: &[u8] = if req.path == "/fault-two-lines" {
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"
        } else {
            b"HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\nhello!"
        };
        write_and_close(conn, head).await;
    })
    .await;
    let s = ClientSession::new();
    for fault in ["/fault-two-lines", "/fault-one-list"] {
        let err = within("head", s.get(server.url(fault)).send())
            .await
            .expect_err("conflicting lengths");
        assert_eq!(
            err.kind(),
            ErrorKind::ClientResponseError,
            "{fault}: {err:?}"
        );
        assert_recovers(&s, server.url("/ok")).await;
    }
    assert_eq!(server.connections_accepted(), 3);
}

#[tokio::test]
async fn chunked_with_a_content_length_is_a_response_error_and_closes_the_connection() {
    // RFC 9112 6.3: a message with both "ought to be handled as an error" (a sign of response
    // splitting); aiohttp's parser refuses it ("Transfer-Encoding can't be present with
    // Content-Length"). The server would keep the connection alive for more.
    let server = fault_server(|mut conn, _req| async move {
        let out = [
            &b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"[..],
            &chunk(b"hello")[..],
            b"0\r\n\r\n",
        ]
        .concat();
        if conn.write(out).await.is_ok() {
            while conn.read_request().await.is_some() {
                if conn.write(ok(b"reused")).await.is_err() {
                    return;
                }
            }
        }
    })
    .await;
    let s = ClientSession::new();
    let err = within("head", s.get(server.url("/fault")).send())
        .await
        .expect_err("both framings");
    assert_eq!(err.kind(), ErrorKind::ClientResponseError, "{err:?}");
    assert_recovers(&s, server.url("/ok")).await;
    assert_eq!(server.connections_accepted(), 2, "not reused");
    let get = |p: &str, c: usize| ("GET".to_string(), p.to_string(), c);
    assert_eq!(paths(&server), [get("/fault", 0), get("/ok", 1)]);
}

// ---- Slow and silent servers ----

#[tokio::test]
async fn slowloris_head_passes_sock_read_while_bytes_come_and_total_stops_it() {
    const GAP: Duration = Duration::from_millis(50);
    let server = fault_server(|mut conn, req| async move {
        match req.path.as_str() {
            // A whole head, a byte every 50 ms (about 3 s), then the body.
            "/fault-complete" => {
                let head = "HTTP/1.1 200 OK\r\nContent-Length: 7\r\nX-Slow: yes\r\n\
                            Connection: close\r\n\r\n";
                if conn.write_slowly(head, 1, GAP).await.is_ok() {
                    write_and_close(conn, HEALTHY).await;
                }
            }
            // A head that would take minutes.
            "/fault-endless" => {
                let head = format!("HTTP/1.1 200 OK\r\nX-Slow: {}\r\n\r\n", "y".repeat(5000));
                let _ = conn.write_slowly(head, 1, GAP).await;
            }
            // Nineteen bytes, then nothing.
            _ => {
                let _ = conn.write_slowly("HTTP/1.1 200 OK\r\nX-", 1, GAP).await;
                conn.set_io_timeout(HOLD);
                conn.read_until_close().await;
            }
        }
    })
    .await;
    let s = ClientSession::new();
    let sock_read = ClientTimeout {
        sock_read: Some(Duration::from_secs(1)),
        ..ClientTimeout::none()
    };

    let started = Instant::now();
    let mut resp = within(
        "slow head",
        s.get(server.url("/fault-complete"))
            .timeout(sock_read)
            .send(),
    )
    .await
    .expect("bytes keep coming: no timeout");
    assert!(
        started.elapsed() > Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(resp.headers()["x-slow"], "yes");
    assert_eq!(within("body", resp.text()).await.expect("body"), HEALTHY);
    assert_recovers(&s, server.url("/ok")).await;

    let started = Instant::now();
    let err = within(
        "endless head",
        s.get(server.url("/fault-endless"))
            .timeout(ClientTimeout {
                total: Some(Duration::from_secs(2)),
                ..sock_read
            })
            .send(),
    )
    .await
    .expect_err("total stops it");
    assert_eq!(err.kind(), ErrorKind::ServerTimeoutError, "{err:?}");
    let took = started.elapsed();
    assert!(
        took >= MS(1900) && took < Duration::from_secs(6),
        "{took:?}"
    );
    assert_recovers(&s, server.url("/ok")).await;

    let started = Instant::now();
    let err = within(
        "stalled head",
        s.get(server.url("/fault-stall")).timeout(sock_read).send(),
    )
    .await
    .expect_err("sock_read stops a stall");
    assert_eq!(err.kind(), ErrorKind::SocketTimeoutError, "{err:?}");
    // sock_read counts from the last byte: nineteen bytes 50 ms apart (0.9 s), then one second
    // of silence.
    assert!(started.elapsed() >= MS(1800), "{:?}", started.elapsed());
    assert_recovers(&s, server.url("/ok")).await;

    // The client closed every connection it gave up on: only the last healthy one is open.
    assert!(server.wait_for_open_connections(1, LIMIT).await);
    assert_eq!(server.connections_accepted(), 4);
}

#[tokio::test]
async fn a_server_that_never_reads_the_body_nor_answers_hits_sock_read_or_total() {
    // Reads the head of a `/fault` request, then neither reads the body nor answers until the
    // client has given up; then counts what the client had sent by the time it closed.
    let gave_up = Arc::new(Notify::new());
    let received = Arc::new(Mutex::new(Vec::new()));
    let (wait, record) = (Arc::clone(&gave_up), Arc::clone(&received));
    let server = RawServer::start(move |mut conn| {
        let (wait, record) = (Arc::clone(&wait), Arc::clone(&record));
        async move {
            while let Some(mut req) = conn.read_head_only().await {
                if req.path.starts_with("/fault") {
                    let _ = tokio::time::timeout(LIMIT, wait.notified()).await;
                    conn.set_io_timeout(HOLD);
                    let rest = conn.read_until_close().await;
                    if let Ok(mut r) = record.lock() {
                        r.push(rest.len());
                    }
                    return;
                }
                if conn.read_body(&mut req).await.is_err()
                    || conn.write(ok(HEALTHY.as_bytes())).await.is_err()
                {
                    return;
                }
            }
        }
    })
    .await;
    const BODY: usize = 32 << 20;
    let s = ClientSession::new();
    let cases = [
        (
            "/fault-sock-read",
            ClientTimeout {
                total: Some(Duration::from_secs(15)),
                sock_read: Some(MS(500)),
                ..ClientTimeout::none()
            },
            ErrorKind::SocketTimeoutError,
        ),
        (
            "/fault-total",
            ClientTimeout::total(MS(1500)),
            ErrorKind::ServerTimeoutError,
        ),
    ];
    for (n, (fault, timeout, kind)) in cases.into_iter().enumerate() {
        let started = Instant::now();
        let err = within(
            "upload",
            s.post(server.url(fault))
                .data(vec![b'x'; BODY])
                .timeout(timeout)
                .send(),
        )
        .await
        .expect_err("no answer");
        assert_eq!(err.kind(), kind, "{fault}: {err:?}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{fault}: {:?}",
            started.elapsed()
        );
        gave_up.notify_one();
        // The server got the head, and the client closed the connection with the body cut
        // short (the socket buffers hold far less than 32 MiB).
        let requests = server.requests();
        let req = requests
            .iter()
            .find(|r| r.path == fault)
            .expect("the head arrived");
        assert_eq!(req.method, "POST");
        assert_eq!(req.header("content-length"), Some("33554432"));
        assert!(req.body.is_empty(), "the body was never read");
        let start = Instant::now();
        let got = loop {
            if let Some(&got) = received.lock().expect("record").get(n) {
                break got;
            }
            assert!(
                start.elapsed() < LIMIT,
                "{fault}: the connection was never closed"
            );
            tokio::time::sleep(MS(10)).await;
        };
        assert!(
            got > 0 && got < BODY,
            "{fault}: {got} bytes of the body arrived"
        );
        assert_recovers(&s, server.url("/ok")).await;
    }
}

// ---- Oversized heads ----

#[tokio::test]
async fn a_one_megabyte_header_line_is_a_response_error() {
    let server = fault_server(|mut conn, _req| async move {
        let head = format!(
            "HTTP/1.1 200 OK\r\nX-Big: {}\r\nContent-Length: 2\r\n\r\nok",
            "a".repeat(1 << 20)
        );
        // The client stops reading; the write then fails.
        let _ = conn.write(head).await;
    })
    .await;
    let s = ClientSession::new();
    let err = within("head", s.get(server.url("/fault")).send())
        .await
        .expect_err("head too large");
    assert_eq!(err.kind(), ErrorKind::ClientResponseError, "{err:?}");
    assert_eq!(
        paths(&server),
        [("GET".to_string(), "/fault".to_string(), 0)]
    );
    assert_recovers(&s, server.url("/ok")).await;
    assert_eq!(server.connections_accepted(), 2);
}

#[tokio::test]
async fn ten_thousand_headers_are_a_response_error() {
    let server = fault_server(|conn, _req| async move {
        let mut head = String::from("HTTP/1.1 200 OK\r\n");
        for i in 0..10_000 {
            head.push_str(&format!("X-H{i}: v\r\n"));
        }
        head.push_str("Content-Length: 2\r\n\r\nok");
        write_and_close(conn, head).await;
    })
    .await;
    let s = ClientSession::new();
    let err = within("head", s.get(server.url("/fault")).send())
        .await
        .expect_err("too many headers");
    assert_eq!(err.kind(), ErrorKind::ClientResponseError, "{err:?}");
    assert_recovers(&s, server.url("/ok")).await;
    assert_eq!(server.connections_accepted(), 2);
}

// ---- Name resolution and connecting ----

/// A resolver as a program might write one: `healthy.test` is loopback, `empty.test` has no
/// address, and every other name is asked of an upstream DNS-over-HTTP service, whose failure
/// is the resolver's.
#[derive(Debug)]
struct UpstreamResolver {
    upstream: String,
    lookups: Arc<AtomicUsize>,
}

impl Resolver for UpstreamResolver {
    fn resolve<'a>(
        &'a self,
        host: &'a str,
        port: u16,
        _family: Family,
    ) -> BoxFuture<'a, Result<Vec<SocketAddr>, ClientError>> {
        Box::pin(async move {
            self.lookups.fetch_add(1, Ordering::SeqCst);
            match host {
                "healthy.test" => Ok(vec![SocketAddr::from(([127, 0, 0, 1], port))]),
                "empty.test" => Ok(Vec::new()),
                _ => {
                    let upstream = ClientSession::builder().raise_for_status(true).build()?;
                    let mut resp = upstream
                        .get(self.upstream.as_str())
                        .params([("name", host)])
                        .await?;
                    // An answer that is no address means no address.
                    let ip = resp.text().await?.trim().parse::<std::net::IpAddr>().ok();
                    Ok(ip.map(|ip| SocketAddr::new(ip, port)).into_iter().collect())
                }
            }
        })
    }
}

/// A session whose connector resolves with [`UpstreamResolver`] against `upstream` (through
/// the DNS cache, or not); also returns the lookup counter.
fn resolving_session(upstream: String, dns_cache: bool) -> (ClientSession, Arc<AtomicUsize>) {
    let lookups = Arc::new(AtomicUsize::new(0));
    let connector = TcpConnector::builder()
        .resolver(UpstreamResolver {
            upstream,
            lookups: Arc::clone(&lookups),
        })
        .use_dns_cache(dns_cache)
        .build()
        .expect("connector");
    let s = ClientSession::builder()
        .connector(connector)
        .build()
        .expect("session");
    (s, lookups)
}

async fn healthy_server() -> HttpServer {
    HttpServer::start(|_req| async { http::Response::new(full(HEALTHY)) }).await
}

#[tokio::test]
async fn a_resolver_error_is_a_dns_error() {
    // The upstream DNS service is down for maintenance.
    let upstream =
        RawServer::reply("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n").await;
    let healthy = healthy_server().await;
    let (s, lookups) = resolving_session(upstream.url("/resolve"), true);
    let err = within("request", s.get("http://broken.test:8080/x").send())
        .await
        .expect_err("the name cannot be resolved");
    assert_eq!(err.kind(), ErrorKind::ClientConnectorDNSError, "{err:?}");
    assert_eq!((err.host(), err.port()), (Some("broken.test"), Some(8080)));
    assert_eq!(
        err.status(),
        None,
        "the upstream's 503 is no response of the target"
    );
    assert!(err.to_string().contains("503"), "the cause is kept: {err}");
    assert_eq!(lookups.load(Ordering::SeqCst), 1);
    let asked: Vec<String> = upstream.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(asked, ["/resolve?name=broken.test"]);

    let port = healthy.addr().port();
    assert_recovers(&s, format!("http://healthy.test:{port}/")).await;
    assert_eq!(healthy.connections_accepted(), 1);
}

#[tokio::test]
async fn a_resolver_with_no_address_is_a_dns_error() {
    let healthy = healthy_server().await;
    let port = healthy.addr().port();
    for dns_cache in [true, false] {
        let (s, lookups) = resolving_session("http://127.0.0.1:1/unused".to_string(), dns_cache);
        for attempt in 1..=2 {
            let err = within("request", s.get("http://empty.test/x").send())
                .await
                .expect_err("no address to connect to");
            assert_eq!(
                err.kind(),
                ErrorKind::ClientConnectorDNSError,
                "cache {dns_cache}: {err:?}"
            );
            assert_eq!((err.host(), err.port()), (Some("empty.test"), Some(80)));
            // The failure is not cached: each request asks again.
            assert_eq!(lookups.load(Ordering::SeqCst), attempt);
        }
        assert_recovers(&s, format!("http://healthy.test:{port}/")).await;
    }
    assert_eq!(healthy.connections_accepted(), 2);
}

#[tokio::test]
async fn connecting_to_a_black_hole_is_a_connection_timeout() {
    let hole = test_support::BlackHole::new().expect("black hole");
    let healthy = healthy_server().await;
    let s = ClientSession::new();
    let url = format!("http://{}/", hole.addr());
    let cases = [
        (
            ClientTimeout {
                sock_connect: Some(MS(300)),
                ..ClientTimeout::none()
            },
            ErrorKind::ConnectionTimeoutError,
        ),
        (ClientTimeout::total(MS(300)), ErrorKind::ServerTimeoutError),
    ];
    for (timeout, kind) in cases {
        let started = Instant::now();
        let err = within("connect", s.get(url.as_str()).timeout(timeout).send())
            .await
            .expect_err("the connection never opens");
        assert_eq!(err.kind(), kind, "{timeout:?}: {err:?}");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        assert_recovers(&s, healthy.url("/")).await;
    }
    assert_eq!(healthy.connections_accepted(), 1);
}

#[tokio::test]
async fn a_tls_server_silent_after_the_client_hello_is_a_connection_timeout() {
    // Accepts TCP, reads the ClientHello and never answers it; records what it received once
    // the client has closed.
    let received = Arc::new(Mutex::new(Vec::<Vec<u8>>::new()));
    let record = Arc::clone(&received);
    let stall = RawServer::start(move |mut conn| {
        let record = Arc::clone(&record);
        async move {
            conn.set_io_timeout(HOLD);
            let got = conn.read_until_close().await;
            if let Ok(mut r) = record.lock() {
                r.push(got);
            }
        }
    })
    .await;
    let healthy = healthy_server().await;
    let s = ClientSession::new();
    let url = format!("https://127.0.0.1:{}/", stall.addr().port());
    let cases = [
        (
            ClientTimeout {
                sock_connect: Some(MS(400)),
                ..ClientTimeout::none()
            },
            ErrorKind::ConnectionTimeoutError,
        ),
        (ClientTimeout::total(MS(400)), ErrorKind::ServerTimeoutError),
    ];
    for (n, (timeout, kind)) in cases.into_iter().enumerate() {
        let started = Instant::now();
        let err = within("handshake", s.get(url.as_str()).timeout(timeout).send())
            .await
            .expect_err("the handshake never completes");
        assert_eq!(err.kind(), kind, "{timeout:?}: {err:?}");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        assert!(
            stall.wait_for_open_connections(0, LIMIT).await,
            "the client closed"
        );
        let got = received.lock().expect("record")[n].clone();
        // One TLS handshake record (the ClientHello), and nothing in the clear.
        assert!(got.len() > 5 && got[0] == 0x16 && got[1] == 0x03, "{got:?}");
        let record_len = usize::from(u16::from_be_bytes([got[3], got[4]]));
        assert_eq!(got.len(), 5 + record_len, "only the ClientHello was sent");
        assert_recovers(&s, healthy.url("/")).await;
    }
    assert_eq!(stall.connections_accepted(), 2);
}

// ---- Certificates ----

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

struct Ca {
    cert: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
}

fn new_ca() -> Ca {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "fault matrix CA");
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

/// A server certificate for `name`: signed by `ca` (else self-signed), expired if asked.
fn leaf(
    ca: Option<&Ca>,
    name: &str,
    expired: bool,
) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
    let mut params = CertificateParams::new(vec![name.to_string()]).expect("params");
    params.distinguished_name.push(DnType::CommonName, name);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    if expired {
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    }
    let key = KeyPair::generate().expect("key");
    let cert = match ca {
        Some(ca) => params.signed_by(&key, &ca.issuer).expect("signed"),
        None => params.self_signed(&key).expect("self-signed"),
    };
    (
        cert.der().clone(),
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    )
}

/// An HTTPS server (hyper over rustls) answering `healthy`, counting requests served.
struct TlsServer {
    port: u16,
    requests: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn tls_server(cert: CertificateDer<'static>, key: PrivateKeyDer<'static>) -> TlsServer {
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let requests = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&requests);
    let task = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let counter = Arc::clone(&counter);
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let svc = hyper::service::service_fn(
                    move |_req: http::Request<hyper::body::Incoming>| {
                        counter.fetch_add(1, Ordering::SeqCst);
                        async {
                            Ok::<_, std::convert::Infallible>(http::Response::new(full(HEALTHY)))
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    TlsServer {
        port,
        requests,
        task,
    }
}

/// The rustls error behind a TLS failure, as text.
fn rustls_reason(err: &ClientError) -> String {
    let mut src = std::error::Error::source(err);
    while let Some(s) = src {
        if let Some(r) = s.downcast_ref::<rustls::Error>() {
            return format!("{r:?}");
        }
        if let Some(r) = s
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|i| i.downcast_ref::<rustls::Error>())
        {
            return format!("{r:?}");
        }
        src = s.source();
    }
    String::new()
}

/// A session that trusts `ca` meets a server presenting `cert`: the exact kind is
/// `ClientConnectorCertificateError` for `reason`, nothing is served; then a server with a
/// good certificate from `ca` works on the same session.
async fn assert_certificate_rejected(
    ca: &Ca,
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
    reason: &str,
) {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.cert.clone()).expect("root");
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let s = ClientSession::builder()
        .connector(
            TcpConnector::builder()
                .ssl_context(config)
                .build()
                .expect("connector"),
        )
        .build()
        .expect("session");
    let bad = tls_server(cert, key).await;
    let err = within(
        "handshake",
        s.get(format!("https://localhost:{}/", bad.port)).send(),
    )
    .await
    .expect_err("the certificate is rejected");
    assert_eq!(
        err.kind(),
        ErrorKind::ClientConnectorCertificateError,
        "{err:?}"
    );
    assert!(rustls_reason(&err).contains(reason), "{reason}: {err:?}");
    assert_eq!(
        (err.host(), err.port()),
        (Some("localhost"), Some(bad.port))
    );
    assert_eq!(bad.requests.load(Ordering::SeqCst), 0, "nothing was served");

    let (cert, key) = leaf(Some(ca), "localhost", false);
    let good = tls_server(cert, key).await;
    assert_recovers(&s, format!("https://localhost:{}/", good.port)).await;
    assert_eq!(good.requests.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_certificate_with_a_bad_signature_is_a_certificate_error() {
    let ca = new_ca();
    let (cert, key) = leaf(Some(&ca), "localhost", false);
    // The last byte is in the signature: the certificate still parses, its signature fails.
    let mut der = cert.to_vec();
    let last = der.len() - 1;
    der[last] ^= 0x01;
    assert_certificate_rejected(&ca, CertificateDer::from(der), key, "BadSignature").await;
}

#[tokio::test]
async fn an_expired_certificate_is_a_certificate_error() {
    let ca = new_ca();
    let (cert, key) = leaf(Some(&ca), "localhost", true);
    assert_certificate_rejected(&ca, cert, key, "Expired").await;
}

#[tokio::test]
async fn a_certificate_for_another_host_is_a_certificate_error() {
    let ca = new_ca();
    let (cert, key) = leaf(Some(&ca), "other.test", false);
    assert_certificate_rejected(&ca, cert, key, "NotValidForName").await;
}

#[tokio::test]
async fn a_self_signed_certificate_is_a_certificate_error() {
    let ca = new_ca();
    let (cert, key) = leaf(None, "localhost", false);
    assert_certificate_rejected(&ca, cert, key, "UnknownIssuer").await;
}
