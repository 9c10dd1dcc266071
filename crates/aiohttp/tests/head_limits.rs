//! Limits on what a server sends (aiohttp's `max_line_size`, `max_field_size`, `max_headers`
//! and `read_bufsize`), per session and per request: the exact error, a refusal before the
//! rest of an oversized line is read, and a pool that goes on working.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aiohttp::{ClientSession, ErrorKind};
use test_support::RawServer;

async fn within<F: std::future::IntoFuture>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(20), f.into_future())
        .await
        .expect("not done within 20 s")
}

/// A server answering each request with `head` (plus an empty body), on keep-alive
/// connections.
async fn replying(head: String) -> RawServer {
    RawServer::start(move |mut conn| {
        let head = head.clone();
        async move {
            while conn.read_request().await.is_some() {
                let reply = format!("{head}Content-Length: 2\r\n\r\nok");
                if conn.write(reply).await.is_err() {
                    break;
                }
            }
        }
    })
    .await
}

#[tokio::test]
async fn the_defaults_are_aiohttps_sizes_and_a_hundred_headers() {
    let long = "v".repeat(8190);
    let server = replying(format!("HTTP/1.1 200 OK\r\nX-Long: {long}\r\n")).await;
    let s = ClientSession::new();
    let mut resp = within(s.get(server.url("/")))
        .await
        .expect("8190 bytes fit");
    assert_eq!(resp.headers()["x-long"].len(), 8190);
    resp.read().await.expect("body");

    let server = replying(format!("HTTP/1.1 200 OK\r\nX-Long: {long}v\r\n")).await;
    let err = within(s.get(server.url("/"))).await.expect_err("8191");
    assert_eq!(err.kind(), ErrorKind::ClientResponseError, "{err:?}");
    assert!(
        err.message().contains("max_field_size (8190 bytes)"),
        "{err}"
    );

    let many: String = (0..100).map(|i| format!("X-{i}: {i}\r\n")).collect();
    let server = replying(format!("HTTP/1.1 200 OK\r\n{many}")).await;
    // 100 lines here plus Content-Length: one too many.
    let err = within(s.get(server.url("/"))).await.expect_err("101 lines");
    assert!(err.message().contains("max_headers (100)"), "{err}");
}

#[tokio::test]
async fn session_and_request_limits() {
    let many: String = (0..149).map(|i| format!("X-{i}: {i}\r\n")).collect();
    let server = replying(format!("HTTP/1.1 200 OK With A Long Reason\r\n{many}")).await;
    // Raised past the parser's default capacity: 150 lines are taken.
    let s = ClientSession::builder()
        .max_headers(150)
        .build()
        .expect("session");
    let mut resp = within(s.get(server.url("/"))).await.expect("150 lines");
    assert_eq!(resp.headers().len(), 150);
    resp.read().await.expect("body");
    // The request's own limits win over the session's.
    let err = within(s.get(server.url("/")).max_headers(10))
        .await
        .expect_err("10 lines");
    assert!(err.message().contains("max_headers (10)"), "{err}");
    let err = within(s.get(server.url("/")).max_line_size(20))
        .await
        .expect_err("a long status line");
    assert_eq!(err.kind(), ErrorKind::ClientResponseError);
    assert!(err.message().contains("max_line_size (20 bytes)"), "{err}");
    let err = within(s.get(server.url("/")).max_field_size(2))
        .await
        .expect_err("a long name");
    assert!(err.message().contains("header name"), "{err}");
    // A refusal closes that connection; the pool goes on.
    let mut resp = within(s.get(server.url("/"))).await.expect("again");
    assert_eq!(resp.read().await.expect("body"), "ok");
}

#[tokio::test]
async fn an_endless_header_line_is_refused_before_it_is_read() {
    // The server streams one header value without end: 64 MiB unless the client hangs up.
    let written = Arc::new(AtomicUsize::new(0));
    let count = written.clone();
    let server = RawServer::start(move |mut conn| {
        let count = count.clone();
        async move {
            if conn.read_request().await.is_none() {
                return;
            }
            if conn.write("HTTP/1.1 200 OK\r\nX-Endless: ").await.is_err() {
                return;
            }
            let chunk = vec![b'a'; 64 * 1024];
            for _ in 0..1024 {
                if conn.write(&chunk).await.is_err() {
                    return;
                }
                count.fetch_add(chunk.len(), Ordering::SeqCst);
            }
        }
    })
    .await;
    let s = ClientSession::new();
    let err = within(s.get(server.url("/"))).await.expect_err("refused");
    assert_eq!(err.kind(), ErrorKind::ClientResponseError, "{err:?}");
    assert!(err.message().contains("header value"), "{err}");
    assert!(
        server
            .wait_for_open_connections(0, Duration::from_secs(10))
            .await,
        "the connection is closed"
    );
    // What the server got out before the client hung up is what socket buffers hold, far
    // from the 64 MiB it meant to send.
    let sent = written.load(Ordering::SeqCst);
    assert!(sent < 16 << 20, "{sent} bytes were written");
}

#[tokio::test]
async fn read_bufsize_sets_the_longest_line_readline_takes() {
    let line = format!("{}\n", "x".repeat(3000));
    let body = line.repeat(2);
    let server = RawServer::start(move |mut conn| {
        let body = body.clone();
        async move {
            while conn.read_request().await.is_some() {
                let reply = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                if conn.write(reply).await.is_err() {
                    break;
                }
            }
        }
    })
    .await;
    // Lines of up to twice `read_bufsize`, as aiohttp's: 3001 bytes fit in 2 × 2048...
    let s = ClientSession::builder()
        .read_bufsize(2048)
        .build()
        .expect("session");
    let mut resp = within(s.get(server.url("/"))).await.expect("response");
    assert_eq!(
        within(resp.content().readline()).await.expect("line").len(),
        3001
    );
    // ...and not in 2 × 1024 (the request's own setting).
    let mut resp = within(s.get(server.url("/")).read_bufsize(1024))
        .await
        .expect("response");
    let err = within(resp.content().readline())
        .await
        .expect_err("too long");
    assert!(err.message().contains("line too long"), "{err}");
}
